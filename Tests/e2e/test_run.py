"""Batch mode: `consumerd run --spec FILE` consumes through the same record
path and sink as `serve`, commits, prints its statistics as JSON and exits."""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import BINARY, FAST, DevBroker, committed, high_watermarks, produce_ids, sink_ids
from delivery import check

TOPIC = "e2e.batch"
PARTITIONS = 4


class BatchMode(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="consumerd-run-")
        cls.broker = DevBroker(os.path.join(cls.workdir, "broker.log"), partitions=PARTITIONS, topics=[TOPIC])
        cls.data_dir = os.path.join(cls.workdir, "data")

    @classmethod
    def tearDownClass(cls):
        cls.broker.stop()
        shutil.rmtree(cls.workdir, ignore_errors=True)

    def run_batch(self, spec, *arguments):
        path = os.path.join(self.workdir, f"{spec['name']}.json")
        with open(path, "w") as f:
            json.dump(spec, f)
        return subprocess.run(
            [BINARY, "run", "--spec", path, "--bootstrap-servers", self.broker.bootstrap, "--data-dir", self.data_dir,
             "--log-format", "json", *arguments], capture_output=True, timeout=120)

    def spec(self, name, **extra):
        return {"name": name, "topics": [TOPIC], "batch": {"max_records": 250, "max_wait_ms": 200}, "kafka": FAST, **extra}

    def test_consumes_n_commits_and_reports(self):
        produced = produce_ids(self.broker.bootstrap, TOPIC, range(1000), PARTITIONS)
        done = self.run_batch(self.spec("batch"), "--max-messages", "1000", "--timeout", "60")
        self.assertEqual(done.returncode, 0, done.stderr.decode()[-3000:])
        stats = json.loads(done.stdout.decode().strip().splitlines()[-1])
        self.assertEqual((stats["consumer"], stats["consumed"], stats["written"]), ("batch", 1000, 1000))
        self.assertEqual((stats["dead_lettered"], stats["dropped"], stats["errors"]), (0, 0, 0))
        for key in ["batches", "sequence_gaps", "duration_seconds", "active_seconds", "records_per_second"]:
            self.assertIn(key, stats)
        self.assertGreater(stats["records_per_second"], 0)
        report = check(produced, sink_ids(os.path.join(self.data_dir, "sinks", "batch.jsonl")))
        print(f"\n  {report.line('consumerd run --max-messages 1000')}", flush=True)
        self.assertEqual((report.lost, report.duplicated), (0, 0))
        self.assertEqual(committed(self.broker.bootstrap, "consumerd-batch", TOPIC, PARTITIONS),
                         high_watermarks(self.broker.bootstrap, TOPIC, PARTITIONS), "everything it wrote is committed")

        # The next run of the same group starts where this one committed.
        more = produce_ids(self.broker.bootstrap, TOPIC, range(1000, 1200), PARTITIONS)
        done = self.run_batch(self.spec("batch"), "--max-messages", "200", "--timeout", "60")
        self.assertEqual(done.returncode, 0, done.stderr.decode()[-3000:])
        stats = json.loads(done.stdout.decode().strip().splitlines()[-1])
        self.assertEqual(stats["consumed"], 200, "only the new records")
        produced_all = {p: produced.get(p, []) + more.get(p, []) for p in range(PARTITIONS)}
        report = check(produced_all, sink_ids(os.path.join(self.data_dir, "sinks", "batch.jsonl")))
        self.assertEqual((report.lost, report.duplicated), (0, 0))

        # Nothing left: the timeout ends the run, which reports what it did.
        done = self.run_batch(self.spec("batch"), "--timeout", "10")
        self.assertEqual(done.returncode, 0, done.stderr.decode()[-3000:])
        stats = json.loads(done.stdout.decode().strip().splitlines()[-1])
        self.assertEqual(stats["consumed"], 0)
        self.assertGreaterEqual(stats["duration_seconds"], 10)

    def test_a_bad_spec_exits_non_zero_naming_the_field(self):
        done = self.run_batch(self.spec("broken", batch={"max_records": 0}), "--max-messages", "1")
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("batch.max_records", done.stderr.decode())
        self.assertEqual(done.stdout, b"", "no statistics for a run that never started")

        missing = subprocess.run([BINARY, "run", "--spec", os.path.join(self.workdir, "absent.json"),
                                  "--bootstrap-servers", self.broker.bootstrap], capture_output=True, timeout=30)
        self.assertNotEqual(missing.returncode, 0)
        self.assertIn("absent.json", missing.stderr.decode())

    def test_a_failing_sink_exits_non_zero_with_the_reason(self):
        os.makedirs(os.path.join(self.data_dir, "sinks", "blocked"), exist_ok=True)
        with open(os.path.join(self.data_dir, "sinks", "blocked", "file"), "w"):
            pass
        done = self.run_batch(self.spec("stuck", sink={"type": "file", "path": "blocked/file/out.jsonl"}), "--timeout", "20")
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("sink", done.stderr.decode())


if __name__ == "__main__":
    unittest.main()
