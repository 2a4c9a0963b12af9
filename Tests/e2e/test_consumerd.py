"""End-to-end: the real consumerd binary against a `consumerd dev-broker`.

Records are produced with kcat and python3-confluent-kafka (clients nobody
here wrote), the REST API is driven over HTTP, committed offsets are read
back with confluent-kafka and /metrics is checked with promtool.

Run with Debian's interpreter (it has confluent_kafka):
    /usr/bin/python3 -m unittest discover -s Tests/e2e -v
"""

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

from confluent_kafka import Producer

from harness import (FAST, ROOT, DevBroker, Server, ServerLogOnFailure, assert_matches_schema, committed, high_watermarks,
                     sink_lines, wait_for)

TOPIC = "e2e.trades"
PARTITIONS = 6
GROUP = "consumerd-trades"


class EndToEnd(ServerLogOnFailure, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="consumerd-e2e-")
        cls.data_dir = os.path.join(cls.workdir, "data")
        cls.log_path = os.path.join(cls.workdir, "consumerd.log")
        cls.broker = DevBroker(os.path.join(cls.workdir, "broker.log"), brokers=3, partitions=PARTITIONS, topics=[TOPIC])
        cls.bootstrap = cls.broker.bootstrap
        try:
            cls.server = Server(cls.data_dir, cls.bootstrap, cls.log_path)
        except BaseException:
            cls.broker.stop()
            raise
        cls.sink = os.path.join(cls.data_dir, "sinks", "trades.jsonl")
        cls.produced = 0

    @classmethod
    def tearDownClass(cls):
        if cls.server.process.poll() is None:
            cls.server.stop()
        cls.broker.stop()
        if os.environ.get("KEEP_E2E"):
            print(f"kept {cls.workdir}")
        else:
            shutil.rmtree(cls.workdir, ignore_errors=True)

    # Helpers

    def produce_kcat(self, count, start):
        lines = "".join(f'SYM{i % 7}|{{"symbol":"SYM{i % 7}","sequence_number":{i},"price":{100 + i % 13}.5}}\n'
                        for i in range(start, start + count))
        subprocess.run(["kcat", "-P", "-b", self.bootstrap, "-t", TOPIC, "-K", "|"],
                       input=lines.encode(), check=True, timeout=60)

    def produce_python(self, count, start, pace=0.0):
        producer = Producer({"bootstrap.servers": self.bootstrap, "acks": "all", "linger.ms": 5})
        for i in range(start, start + count):
            producer.produce(TOPIC, key=f"py{i % 11}".encode(),
                             value=json.dumps({"symbol": f"PY{i % 11}", "sequence_number": i}).encode())
            producer.poll(0)
            if pace:
                time.sleep(pace)
        self.assertEqual(producer.flush(30), 0)

    def high_watermarks(self):
        return high_watermarks(self.bootstrap, TOPIC, PARTITIONS)

    def committed(self):
        return committed(self.bootstrap, GROUP, TOPIC, PARTITIONS)

    def sink_lines(self, live=False):
        return sink_lines(self.sink, live)

    def coordinates(self, live=False):
        return [(line["partition"], line["offset"]) for line in self.sink_lines(live)]

    def assert_everything_delivered(self, timeout=90):
        highs = self.high_watermarks()
        expected = {(p, o) for p in range(PARTITIONS) for o in range(highs[p])}
        self.assertEqual(sum(highs), self.produced)
        wait_for(lambda: expected <= set(self.coordinates(live=True)), timeout=timeout,
                 message=f"all {len(expected)} records in the sink")
        wait_for(lambda: self.committed() == highs, timeout=30, message="committed offsets at the log end")
        return highs

    # The scenario, in order.

    def test_01_register_and_deliver_everything(self):
        status, body = self.server.json("POST", "/consumers", {
            "name": "trades", "topics": [TOPIC], "group_id": GROUP, "format": {"type": "json"},
            "batch": {"max_records": 200, "max_wait_ms": 200}, "sink": {"type": "file", "path": "trades.jsonl"},
            "kafka": dict(FAST, **{"auto.offset.reset": "earliest"}), "autostart": True})
        self.assertEqual(status, 201, body)
        self.assertEqual(body["spec"]["group_id"], GROUP)

        self.produce_kcat(500, 0)
        self.produce_python(500, 500)
        type(self).produced += 1000
        highs = self.assert_everything_delivered()

        lines = self.sink_lines()
        self.assertEqual(len(lines), 1000, "a clean run writes each record once")
        first = lines[0]
        self.assertEqual(set(first), {"topic", "partition", "offset", "timestamp", "key", "value"})
        self.assertEqual(first["topic"], TOPIC)
        self.assertIsInstance(first["value"], dict)

        status, body = self.server.json("GET", "/consumers/trades/status")
        self.assertEqual(status, 200)
        self.assertEqual(body["state"], "running")
        wait_for(lambda: self.server.json("GET", "/consumers/trades/status")[1]["lag_total"] == 0,
                 message="status lag 0")
        _, body = self.server.json("GET", "/consumers/trades/status")
        self.assertEqual(sorted(p["committed_offset"] for p in body["assignment"]), sorted(highs))
        self.assertEqual(body["stats"]["records_written"], 1000)

    def test_02_restart_mid_stream_loses_nothing(self):
        producer = threading.Thread(target=self.produce_python, args=(1500, 1000, 0.002))
        producer.start()
        for _ in range(2):
            time.sleep(1)
            status, body = self.server.json("POST", "/consumers/trades/restart?wait=60")
            self.assertEqual(status, 200, body)
            self.assertEqual(body["state"], "running")
        producer.join()
        type(self).produced += 1500
        self.assert_everything_delivered()
        _, body = self.server.json("GET", "/consumers/trades/status")
        self.assertEqual(body["generation"], 3)
        self.assertEqual(body["restarts"], 2)

    def test_03_pause_stops_progress_and_resume_continues(self):
        status, body = self.server.json("POST", "/consumers/trades/pause?wait=20")
        self.assertEqual((status, body["state"]), (200, "paused"), body)
        before = len(self.sink_lines())
        self.produce_kcat(100, 2500)
        type(self).produced += 100
        # The consumer sees the 100 new records (its lag) and still writes none of them.
        wait_for(lambda: self.server.status("trades")["lag_total"] == 100, timeout=30, message="the new records as lag")
        self.assertEqual(len(self.sink_lines()), before, "nothing is written while paused")
        _, body = self.server.json("GET", "/consumers/trades/status")
        self.assertTrue(body["assignment"] and all(p["paused"] for p in body["assignment"]))
        self.assertEqual(body["lag_total"], 100)

        status, body = self.server.json("POST", "/consumers/trades/resume?wait=20")
        self.assertEqual((status, body["state"]), (200, "running"), body)
        self.assert_everything_delivered()

    def test_04_server_restart_restores_and_continues_from_committed_offsets(self):
        before = len(self.sink_lines())
        self.assertEqual(self.server.stop(), 0, "graceful shutdown exits 0")
        self.produce_kcat(200, 2600)
        type(self).produced += 200
        type(self).server = Server(self.data_dir, self.bootstrap, self.log_path)
        status, body = self.server.json("GET", "/consumers/trades/status")
        self.assertEqual(status, 200)
        self.assertEqual(body["desired_state"], "running")
        self.assert_everything_delivered()
        time.sleep(1)
        self.assertEqual(len(self.sink_lines()) - before, 200, "continued from the committed offsets, no replay")

    def test_05_metrics_pass_promtool(self):
        status, payload, headers = self.server.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain"))
        check = subprocess.run(["promtool", "check", "metrics"], input=payload, capture_output=True, timeout=30)
        self.assertEqual(check.returncode, 0, check.stdout.decode() + check.stderr.decode())
        text = payload.decode()
        for name in ["consumerd_messages_consumed_total", "consumerd_records_written_total", "consumerd_batches_total",
                     "consumerd_batch_duration_seconds_bucket", "consumerd_sink_write_duration_seconds_bucket",
                     "consumerd_commits_total", "consumerd_rebalances_total", "consumerd_consumer_lag_messages",
                     "consumerd_consumer_state", "consumerd_http_requests_total",
                     "consumerd_http_request_duration_seconds_bucket", "consumerd_build_info"]:
            self.assertIn(name, text)

    def test_06_malformed_requests_get_json_errors(self):
        def error(method, path, body=None, raw=None, content_type="application/json"):
            status, payload, headers = self.server.request(method, path, body, raw=raw, content_type=content_type)
            parsed = json.loads(payload)["error"]
            self.assertEqual(set(parsed), {"code", "message", "field"})
            return status, parsed["code"], parsed["field"], headers

        self.assertEqual(error("POST", "/consumers", raw=b'{"name": "x", "topics": [')[:2], (400, "invalid_json"))
        self.assertEqual(error("POST", "/consumers", {"name": "x", "topics": ["t"], "batch": {"max_records": 0}})[:3],
                         (400, "invalid_spec", "batch.max_records"))
        self.assertEqual(error("POST", "/consumers", {"name": "x", "topics": ["t"], "sink": {"type": "file", "path": "../../x"}})[:3],
                         (400, "invalid_spec", "sink.path"))
        self.assertEqual(error("POST", "/consumers", {"name": "x", "topics": ["t"], "kafka": {"sasl.kerberos.kinit.cmd": "id"}})[:3],
                         (400, "invalid_spec", "kafka.sasl.kerberos.kinit.cmd"))
        self.assertEqual(error("POST", "/consumers", {"name": "x", "topics": ["t"], "nmae": 1})[:3],
                         (400, "invalid_spec", "nmae"))
        self.assertEqual(error("POST", "/consumers", raw=b"name=x", content_type="application/x-www-form-urlencoded")[:2],
                         (415, "unsupported_media_type"))
        self.assertEqual(error("POST", "/consumers", {"name": "trades", "topics": ["t"]})[:2], (409, "consumer_exists"))
        self.assertEqual(error("POST", "/consumers", raw=b"x" * (2 << 20))[:2], (413, "payload_too_large"))
        self.assertEqual(error("GET", "/consumers/ghost")[:2], (404, "consumer_not_found"))
        self.assertEqual(error("POST", "/consumers/trades/start?wait=forever")[:3], (400, "invalid_parameter", "wait"))
        status, code, _, headers = error("PATCH", "/consumers/trades")
        self.assertEqual((status, code), (405, "method_not_allowed"))
        self.assertEqual(headers["Allow"], "DELETE, GET, HEAD, PUT")
        self.assertTrue(self.server.alive(), "the server survives every malformed request")

    def test_07_health_and_openapi(self):
        status, body = self.server.json("GET", "/health")
        self.assertEqual(status, 200)
        assert_matches_schema(body, "HealthSummary")
        assert_matches_schema(self.server.json("GET", "/consumers/trades/status")[1], "ConsumerStatus")
        assert_matches_schema(self.server.json("GET", "/consumers/trades")[1], "ConsumerResource")
        assert_matches_schema(self.server.json("GET", "/consumers")[1], "ConsumerList")
        assert_matches_schema(self.server.json("GET", "/health/ready")[1], "Probe")
        self.assertEqual(body["overall_status"], "healthy")
        self.assertEqual(body["consumer_details"]["trades"]["status"], "healthy")
        self.assertEqual(self.server.request("GET", "/health/ready")[0], 200)
        status, payload, _ = self.server.request("GET", "/openapi.yaml")
        with open(os.path.join(ROOT, "openapi.yaml"), "rb") as f:
            self.assertEqual((status, payload), (200, f.read()))

    def test_07b_stdout_sink(self):
        status, body = self.server.json("POST", "/consumers", {
            "name": "echo", "topics": [TOPIC], "group_id": "consumerd-echo", "sink": {"type": "stdout"},
            "batch": {"max_wait_ms": 200}, "kafka": FAST})
        self.assertEqual(status, 201, body)
        wait_for(lambda: self.server.json("GET", "/consumers/echo/status")[1]["stats"]["records_written"] == self.produced,
                 message="the stdout consumer to write every record")
        with open(self.log_path) as log:
            records = [json.loads(line) for line in log if line.startswith('{"topic":')]
        # The server log file also holds an earlier run's output; count this consumer's distinct records.
        self.assertEqual(len({(r["partition"], r["offset"]) for r in records}), self.produced)
        status, _, _ = self.server.request("DELETE", "/consumers/echo?wait=30")
        self.assertEqual(status, 204)

    def test_08_stop_and_delete(self):
        status, body = self.server.json("POST", "/consumers/trades/stop?wait=30")
        self.assertEqual((status, body["state"]), (200, "stopped"), body)
        self.assertEqual(self.committed(), self.high_watermarks(), "a graceful stop commits everything written")
        status, _, _ = self.server.request("DELETE", "/consumers/trades")
        self.assertEqual(status, 204)
        self.assertFalse(os.path.exists(os.path.join(self.data_dir, "consumers", "trades.json")))
        self.assertEqual(self.server.json("GET", "/consumers")[1]["count"], 0)


if __name__ == "__main__":
    unittest.main()
