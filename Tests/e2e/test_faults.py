"""Fault injection against the real binaries, each test ending with the
delivery checker's counts (Tests/support/delivery.py): produced, delivered,
dead-lettered, lost, duplicated.

Faults: `kill -9` of the server mid-stream; a full disk under the file sink;
broker faults from `consumerd dev-broker --control` (failed commits, fetch
transport errors, a moving coordinator, brokers down and up, slow brokers);
poison records; two servers in one group with one killed; SIGTERM under load.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import (FAST, DevBroker, Producing, Server, assert_matches_schema, committed, high_watermarks, merge, produce_ids, read_topic,
                     sink_ids, sink_lines, wait_for)
from delivery import check

PARTITIONS = 4



class Faults(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="consumerd-faults-")
        self.servers = []
        self.brokers = []
        self.cleanups = []

    def tearDown(self):
        result = self._outcome.result
        failed = any(test is self for test, _ in result.failures + result.errors)
        for server in self.servers:
            if failed:
                print(f"\n--- {server.log_path} (tail) ---\n{server.log_tail()}")
            if server.process.poll() is None:
                server.kill()
            else:
                server.log.close()
        for broker in self.brokers:
            broker.stop()
        for cleanup in reversed(self.cleanups):
            cleanup()
        if os.environ.get("KEEP_E2E"):
            print(f"kept {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # Fixtures

    def broker(self, topic, brokers=1, control=False):
        broker = DevBroker(os.path.join(self.workdir, "broker.log"), brokers=brokers, partitions=PARTITIONS,
                           topics=[topic], control=control)
        self.brokers.append(broker)
        return broker

    def server(self, bootstrap, name="data", extra=()):
        server = Server(os.path.join(self.workdir, name), bootstrap, os.path.join(self.workdir, f"{name}.log"), extra)
        self.servers.append(server)
        return server

    def register(self, server, name, topic, **extra):
        spec = {"name": name, "topics": [topic], "batch": {"max_records": 200, "max_wait_ms": 200},
                "kafka": dict(FAST), **extra}
        status, body = server.json("POST", "/consumers", spec)
        self.assertEqual(status, 201, body)
        return os.path.join(server_data(server), "sinks", f"{name}.jsonl")

    def report(self, name, produced, delivered, dead_lettered=()):
        report = check(produced, delivered, dead_lettered)
        print(f"\n  {report.line(name)}", flush=True)
        return report

    # The faults

    def test_kill_9_mid_stream_then_restart(self):
        topic = "faults.kill9"
        broker = self.broker(topic)
        server = self.server(broker.bootstrap)
        sink = self.register(server, "k9", topic)
        producing = Producing(broker.bootstrap, topic, range(8000), PARTITIONS, pace=0.0005)
        producing.start()
        wait_for(lambda: len(sink_lines(sink, live=True)) >= 1500, timeout=60, message="1500 records before the kill")
        server.kill()
        server = self.server(broker.bootstrap)
        produced = producing.finish()
        wait_for(lambda: len(set(sink_ids(sink, live=True))) >= 8000, timeout=90, message="every record after the restart")
        report = self.report("kill -9 mid-stream", produced, sink_ids(sink))
        self.assertEqual(report.lost, 0)
        self.assertLessEqual(report.max_duplicated_per_partition(), 200, "at most one batch is written twice")

    def test_full_disk_under_the_sink(self):
        if os.geteuid() != 0:
            self.skipTest("mounting a tmpfs needs root")
        topic = "faults.disk"
        broker = self.broker(topic)
        server = self.server(broker.bootstrap)
        volume = os.path.join(server_data(server), "sinks", "volume")
        os.makedirs(volume)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", volume], check=True)
        self.cleanups.append(lambda: subprocess.run(["umount", "-l", volume], check=False))
        self.register(server, "disk", topic, sink={"type": "file", "path": "volume/out.jsonl"},
                      retry={"initial_backoff_ms": 100, "max_backoff_ms": 500})
        sink = os.path.join(volume, "out.jsonl")
        first = produce_ids(broker.bootstrap, topic, range(500), PARTITIONS)
        wait_for(lambda: len(sink_lines(sink, live=True)) == 500, message="500 records before the disk fills")
        before = high_watermarks(broker.bootstrap, topic, PARTITIONS)
        wait_for(lambda: committed(broker.bootstrap, "consumerd-disk", topic, PARTITIONS) == before,
                 message="the first 500 committed")

        filler = os.path.join(volume, "filler")
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=4k"], capture_output=True)  # until ENOSPC
        second = produce_ids(broker.bootstrap, topic, range(500, 3000), PARTITIONS)
        wait_for(lambda: server.status("disk")["health"]["status"] == "degraded", timeout=30,
                 message="health degraded while the disk is full")
        status = server.status("disk")
        assert_matches_schema(status, "ConsumerStatus")
        self.assertEqual(status["state"], "running")
        self.assertEqual(status["retrying"]["stage"], "sink", status["retrying"])
        self.assertIn("No space left on device", status["last_error"]["message"])
        self.assertFalse(status["last_error"]["resolved"])
        self.assertEqual(server.request("GET", "/health/ready")[0], 200, "degraded is still ready")
        # The outage lasts: retries go on (three more attempts), nothing is committed past the sink.
        attempts = status["retrying"]["attempts"]
        wait_for(lambda: server.status("disk")["retrying"]["attempts"] >= attempts + 3, timeout=30,
                 message="the sink write retried while the disk is full")
        self.assertEqual(committed(broker.bootstrap, "consumerd-disk", topic, PARTITIONS), before,
                         "nothing past the full disk is committed")
        sink_lines(sink, live=True)  # every complete line parses; the last is checked once writes are over

        os.remove(filler)
        produced = merge(first, second)
        wait_for(lambda: len(sink_lines(sink, live=True)) >= 3000, timeout=60, message="every record after the disk has room")
        wait_for(lambda: server.status("disk")["health"]["status"] == "healthy", timeout=30, message="healthy again")
        status = server.status("disk")
        self.assertTrue(status["last_error"]["resolved"], status["last_error"])
        report = self.report("full disk under the sink", produced, sink_ids(sink))
        self.assertEqual((report.lost, report.duplicated), (0, 0))

    def test_broker_faults(self):
        topic = "faults.brokers"
        group = "consumerd-brokers"
        broker = self.broker(topic, brokers=3, control=True)
        server = self.server(broker.bootstrap)
        sink = self.register(server, "brokers", topic, group_id=group)
        producing = Producing(broker.bootstrap, topic, range(6000), PARTITIONS, pace=0.002)
        producing.start()
        faults = [
            "fail 8 15 5",        # OffsetCommit: COORDINATOR_NOT_AVAILABLE, five times
            "fail 1 -195 5",      # Fetch: the connection drops (_TRANSPORT), five times
            "coordinator consumerd-brokers 2",
            "rtt 2 500",
            "rtt 2 0",
            "down 1",
            "up 1",
            "coordinator consumerd-brokers 3",
            "down 3",
            "up 3",
        ]
        for fault in faults:
            time.sleep(1)
            broker.command(fault)
        produced = producing.finish()
        wait_for(lambda: len(set(sink_ids(sink, live=True))) >= 6000, timeout=120, message="every record after the broker faults")
        highs = high_watermarks(broker.bootstrap, topic, PARTITIONS)
        wait_for(lambda: committed(broker.bootstrap, group, topic, PARTITIONS) == highs, timeout=60,
                 message="committed offsets at the log end")
        report = self.report("broker faults", produced, sink_ids(sink))
        self.assertEqual(report.lost, 0)
        self.assertEqual(report.unexpected, 0)
        self.assertEqual(server.status("brokers")["state"], "running")

    def test_poison_records_go_to_the_dead_letter_topic(self):
        topic = "faults.poison"
        broker = self.broker(topic)
        server = self.server(broker.bootstrap)
        sink = self.register(server, "poison", topic, dead_letter={"topic": "{topic}.dlq"},
                             validation={"schema": {"type": "object", "required": ["id"],
                                                    "properties": {"id": {"type": "integer"}}}})
        from confluent_kafka import Producer
        producer = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True})
        produced = {}
        poison = {}
        for i in range(400):
            partition = i % PARTITIONS
            if i % 50 == 7:
                value, stage = b'{"id": ', "decode"          # not JSON
            elif i % 50 == 19:
                value, stage = json.dumps({"id": f"x{i}"}).encode(), "validation"  # not an integer id
            else:
                value, stage = json.dumps({"id": i}).encode(), None
            producer.produce(topic, key=f"k{i}".encode(), value=value, partition=partition,
                             headers=[("trace", f"t{i}".encode())])
            produced.setdefault(partition, []).append(i)
            if stage:
                poison[f"k{i}"] = (stage, partition)
        self.assertEqual(producer.flush(30), 0)

        good = len(range(400)) - len(poison)
        wait_for(lambda: len(sink_lines(sink, live=True)) >= good, message=f"{good} good records in the sink")
        highs = high_watermarks(broker.bootstrap, topic, PARTITIONS)
        wait_for(lambda: committed(broker.bootstrap, "consumerd-poison", topic, PARTITIONS) == highs,
                 message="offsets committed past the poison records")
        letters = read_topic(broker.bootstrap, f"{topic}.dlq")
        self.assertEqual(sorted(r["key"] for r in letters), sorted(poison), "exactly the poison records")
        for record in letters:
            headers = record["headers"]
            stage, partition = poison[record["key"]]
            self.assertEqual(headers["consumerd.original.topic"], topic)
            self.assertEqual(int(headers["consumerd.original.partition"]), partition)
            self.assertGreaterEqual(int(headers["consumerd.original.offset"]), 0)
            self.assertGreater(int(headers["consumerd.original.timestamp"]), 0)
            self.assertEqual((headers["consumerd.consumer"], headers["consumerd.group"]), ("poison", "consumerd-poison"))
            self.assertEqual(headers["consumerd.stage"], stage)
            self.assertTrue(headers["consumerd.error.type"] and headers["consumerd.error.message"])
            self.assertIn("consumerd.failed_at", headers)
            self.assertEqual(headers["consumerd.attempts"], "1")
            self.assertEqual(headers["trace"], "t" + record["key"][1:], "the original headers travel along")
        dead_lettered = [(int(r["headers"]["consumerd.original.partition"]), int(r["key"][1:])) for r in letters]
        report = self.report("poison records", produced, sink_ids(sink), dead_lettered)
        self.assertEqual((report.lost, report.duplicated, report.total("dead_lettered")), (0, 0, len(poison)))
        status = server.status("poison")
        self.assertEqual(status["stats"]["records_dead_lettered"], len(poison))
        self.assertEqual(status["health"]["status"], "healthy")

    def test_two_servers_one_group_kill_one(self):
        topic = "faults.failover"
        broker = self.broker(topic)
        first = self.server(broker.bootstrap, "first")
        second = self.server(broker.bootstrap, "second")
        sinks = [self.register(server, "shared", topic, group_id="consumerd-shared") for server in (first, second)]
        wait_for(lambda: all(server.status("shared")["assignment"] for server in (first, second)), timeout=60,
                 message="both members own partitions")
        producing = Producing(broker.bootstrap, topic, range(6000), PARTITIONS, pace=0.001)
        producing.start()
        wait_for(lambda: len(sink_lines(sinks[0], live=True)) >= 500, timeout=60, message="the first member to write")
        first.kill()
        produced = producing.finish()
        wait_for(lambda: len({i for s in sinks for i in sink_ids(s, live=True)}) >= 6000, timeout=120,
                 message="the survivor to take over every partition")
        self.assertEqual(len(second.status("shared")["assignment"]), PARTITIONS)
        report = self.report("two servers, one killed", produced, sink_ids(sinks[0]) + sink_ids(sinks[1]))
        self.assertEqual(report.lost, 0)
        self.assertLessEqual(report.max_duplicated_per_partition(), 200, "at most one batch is written twice")

    def test_sigterm_under_load(self):
        topic = "faults.sigterm"
        broker = self.broker(topic)
        server = self.server(broker.bootstrap, extra=["--shutdown-timeout", "20"])
        sink = self.register(server, "drain", topic)
        producing = Producing(broker.bootstrap, topic, range(6000), PARTITIONS, pace=0.0005)
        producing.start()
        wait_for(lambda: len(sink_lines(sink, live=True)) >= 1000, timeout=60, message="1000 records before SIGTERM")
        started = time.monotonic()
        self.assertEqual(server.stop(timeout=30), 0, "a drained shutdown exits 0")
        self.assertLess(time.monotonic() - started, 20, "within the shutdown timeout")
        last = {}
        for line in sink_lines(sink):
            last[line["partition"]] = max(last.get(line["partition"], -1), line["offset"])
        offsets = committed(broker.bootstrap, "consumerd-drain", topic, PARTITIONS)
        self.assertEqual(offsets, [last[p] + 1 for p in range(PARTITIONS)], "committed offsets are the sink's last records + 1")
        self.assertEqual(len(sink_lines(sink)), len(set(sink_ids(sink))), "no duplicates before the restart")

        produced = producing.finish()
        self.server(broker.bootstrap)
        wait_for(lambda: len(sink_lines(sink, live=True)) >= 6000, timeout=90, message="every record after the restart")
        report = self.report("SIGTERM under load", produced, sink_ids(sink))
        self.assertEqual((report.lost, report.duplicated), (0, 0))

    def test_a_drain_that_cannot_finish_exits_non_zero_and_a_second_signal_at_once(self):
        for second_signal in (False, True):
            topic = f"faults.stuck{int(second_signal)}"
            broker = self.broker(topic)
            server = self.server(broker.bootstrap, f"stuck{int(second_signal)}", extra=["--shutdown-timeout", "3"])
            sink = self.register(server, "stuck", topic)
            produce_ids(broker.bootstrap, topic, range(100), PARTITIONS)
            wait_for(lambda: len(sink_lines(sink, live=True)) == 100, message="100 records")
            # A broker that accepts connections and never answers: leaving the group hangs.
            broker.process.send_signal(signal.SIGSTOP)
            self.cleanups.append(lambda process=broker.process: process.send_signal(signal.SIGCONT))
            started = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            if second_signal:
                wait_for(lambda: b"stopping consumers" in open(server.log_path, "rb").read(), timeout=10,
                         message="the drain to begin")
                server.process.send_signal(signal.SIGTERM)
            code = server.process.wait(timeout=30)
            elapsed = time.monotonic() - started
            if second_signal:
                self.assertEqual(code, 130, "a second signal exits at once")
                self.assertLess(elapsed, 3)
            else:
                self.assertEqual(code, 1, "a drain that did not finish is a failure")
                self.assertGreaterEqual(elapsed, 3)
                self.assertIn(b"did not finish draining", open(server.log_path, "rb").read())
            broker.process.send_signal(signal.SIGCONT)


def server_data(server):
    """The server's data directory (the `--data-dir` it was started with)."""
    arguments = server.process.args
    return arguments[arguments.index("--data-dir") + 1]


if __name__ == "__main__":
    unittest.main()
