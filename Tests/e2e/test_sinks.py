"""Each sink through the real `consumerd serve`, with `kill -9` twice while
records flow, read back by the target's own client (psql, redis-cli, the
receiving HTTP server, confluent-kafka) and counted by the delivery checker.

PostgreSQL and Redis are exactly-once: 0 duplicates. HTTP is at-least-once.
The Kafka sink's exactly-once needs a real cluster: librdkafka 2.0.2's mock
ignores transactional offsets and abort markers, so there it is counted as
at-least-once (duplicates bounded by one batch per kill).
Each test also reports the records/s the sink sustained draining a backlog.
"""

import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

from confluent_kafka import Producer

from harness import FAST, DevBroker, Server, produce_ids, read_topic, wait_for
from delivery import check
from servers import Postgres, Redis

PARTITIONS = 4
COUNT = 6000
BATCH = 200


class Receiver(http.server.ThreadingHTTPServer):
    """Accepts NDJSON batches, failing the first few (an outage)."""

    def __init__(self, fail_first):
        self.records = []
        self.fail_left = fail_first
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), ReceiverHandler)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/ingest"


class ReceiverHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            if self.server.fail_left > 0:
                self.server.fail_left -= 1
                status = 503
            else:
                self.server.records.extend(json.loads(line) for line in body.splitlines())
                status = 204
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class Sinks(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="consumerd-sinks-")
        self.broker = DevBroker(os.path.join(self.workdir, "broker.log"), partitions=PARTITIONS)
        self.servers = []
        self.cleanups = []

    def tearDown(self):
        for server in self.servers:
            if server.process.poll() is None:
                server.kill()
            else:
                server.log.close()
        for cleanup in reversed(self.cleanups):
            cleanup()
        self.broker.stop()
        if os.environ.get("KEEP_E2E"):
            print(f"kept {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def server(self):
        server = Server(os.path.join(self.workdir, "data"), self.broker.bootstrap, os.path.join(self.workdir, "consumerd.log"))
        self.servers.append(server)
        return server

    def through_two_kills(self, name, sink, delivered, topic):
        """Registers a consumer with `sink`, produces COUNT records while
        killing the server twice, and waits until `delivered()` (a list of
        (partition, id)) has every record. Returns the checker's report."""
        server = self.server()
        status, body = server.json("POST", "/consumers", {
            "name": name, "topics": [topic], "sink": sink, "batch": {"max_records": BATCH, "max_wait_ms": 200},
            "retry": {"initial_backoff_ms": 100, "max_backoff_ms": 1000}, "kafka": FAST})
        self.assertEqual(status, 201, body)
        produced = {}
        producer = threading.Thread(target=lambda: produced.update(
            produce_ids(self.broker.bootstrap, topic, range(COUNT), PARTITIONS, pace=0.001)))
        producer.start()
        for mark in (COUNT // 4, COUNT // 2):
            wait_for(lambda: len(delivered()) >= mark, timeout=90, message=f"{mark} records in the sink")
            server.kill()
            server = self.server()
        producer.join(120)
        wait_for(lambda: len({i for _, i in delivered()}) >= COUNT, timeout=120, message=f"all {COUNT} records in the sink")
        time.sleep(1)  # anything still on its way would show as a duplicate
        report = check(produced, delivered())
        print(f"\n  {report.line(name + ', two kill -9')}", flush=True)
        self.assertEqual(report.lost, 0)
        self.assertEqual(report.unexpected, 0)
        return report, server

    def drain_rate(self, server, name, sink, delivered, topic, backlog=20000):
        """Records/s of a backlog through the sink, from the first record
        written to the last (not asserted: measured, for the note and bench/)."""
        produce_ids(self.broker.bootstrap, topic, range(backlog), PARTITIONS)
        status, body = server.json("POST", "/consumers", {
            "name": name, "topics": [topic], "sink": sink, "batch": {"max_records": 1000, "max_wait_ms": 200}, "kafka": FAST})
        self.assertEqual(status, 201, body)
        wait_for(lambda: len(delivered()) > 0, timeout=60, interval=0.02, message="the first records")
        started = time.monotonic()
        first = len(delivered())
        wait_for(lambda: len(delivered()) >= backlog, timeout=120, interval=0.05, message="the backlog drained")
        rate = (backlog - first) / (time.monotonic() - started)
        print(f"  {name}: drained a backlog of {backlog} at {rate:,.0f} records/s", flush=True)

    def test_postgresql_exactly_once(self):
        pg = Postgres()
        self.cleanups.append(pg.close)

        def rows(table):
            out = subprocess.run(["psql", pg.url, "-At", "-c", f"SELECT kafka_partition, value->>'id' FROM {table}"],
                                 capture_output=True, timeout=30).stdout.decode()
            return [(int(p), int(i)) for p, i in (line.split("|") for line in out.splitlines())]

        def safe_rows(table):
            try:
                return rows(table)
            except ValueError:
                return []

        report, server = self.through_two_kills(
            "pg", {"type": "postgresql", "url": pg.url, "table": "fills", "create_table": True}, lambda: safe_rows("fills"), "sinks.pg")
        self.assertEqual(report.duplicated, 0, "exactly once")
        offsets = subprocess.run(["psql", pg.url, "-At", "-c", "SELECT sum(next_offset) FROM consumerd_offsets"],
                                 capture_output=True, timeout=30).stdout.decode().strip()
        self.assertEqual(offsets, str(COUNT), "the stored offsets are the log end")
        self.drain_rate(server, "pg-rate", {"type": "postgresql", "url": pg.url, "table": "rate", "create_table": True},
                        lambda: safe_rows("rate"), "sinks.pg.rate")

    def test_redis_exactly_once(self):
        redis = Redis()
        self.cleanups.append(redis.close)

        def entries(stream):
            # [[id, [field, value, ...]], ...]
            found = json.loads(redis.cli("--json", "XRANGE", stream, "-", "+") or "[]")
            result = []
            for _, flat in found:
                fields = dict(zip(flat[0::2], flat[1::2]))
                result.append((int(fields["partition"]), json.loads(fields["value"])["id"]))
            return result

        report, server = self.through_two_kills(
            "rds", {"type": "redis", "url": redis.url, "stream": "out"}, lambda: entries("out"), "sinks.redis")
        self.assertEqual(report.duplicated, 0, "exactly once")
        self.drain_rate(server, "rds-rate", {"type": "redis", "url": redis.url, "stream": "rate"}, lambda: entries("rate"),
                        "sinks.redis.rate")

        # Aggregation counts each record once across a kill: three groups.
        producer = Producer({"bootstrap.servers": self.broker.bootstrap, "enable.idempotence": True})
        for i in range(2000):
            producer.produce("sinks.agg", value=json.dumps({"id": i, "group": f"g{i % 3}", "amount": 1}).encode())
        self.assertEqual(producer.flush(30), 0)
        status, body = server.json("POST", "/consumers", {
            "name": "agg", "topics": ["sinks.agg"], "kafka": FAST, "batch": {"max_records": 100, "max_wait_ms": 100},
            "sink": {"type": "redis", "url": redis.url, "mode": "aggregate", "key_field": "group", "value_field": "amount",
                     "window_s": 86400, "prefix": "agg"}})
        self.assertEqual(status, 201, body)

        def total():
            keys = [key for key in redis.cli("--scan", "--pattern", "agg:*").split() if key]
            return sum(int(redis.cli("HGET", key, "count").strip() or 0) for key in keys)

        wait_for(lambda: total() >= 600, timeout=60, message="part of the aggregation")
        server.kill()
        server = self.server()
        wait_for(lambda: total() >= 2000, timeout=60, message="the whole aggregation")
        time.sleep(1)
        print(f"  redis aggregate, one kill -9: produced 2000, counted {total()}", flush=True)
        self.assertEqual(total(), 2000, "every record counted exactly once")

    def test_http_at_least_once(self):
        receiver = Receiver(fail_first=3)
        threading.Thread(target=receiver.serve_forever, daemon=True).start()
        self.cleanups.append(receiver.shutdown)

        def received():
            with receiver.lock:
                return [(r["partition"], r["value"]["id"]) for r in receiver.records if r["topic"] == "sinks.http"]

        report, server = self.through_two_kills("web", {"type": "http", "url": receiver.url}, received, "sinks.http")
        self.assertLessEqual(report.max_duplicated_per_partition(), 2 * BATCH, "at most one batch per kill")

        def rate_received():
            with receiver.lock:
                return [r for r in receiver.records if r["topic"] == "sinks.http.rate"]

        self.drain_rate(server, "web-rate", {"type": "http", "url": receiver.url}, rate_received, "sinks.http.rate")

    def test_kafka_sink(self):
        def out():
            # The output topic spreads a source partition over its own
            # partitions: order is by key only, so count by id.
            return sorted((int(r["key"]) % PARTITIONS, int(r["key"])) for r in read_topic(self.broker.bootstrap, "sinks.kafka.out"))

        report, server = self.through_two_kills(
            "kfk", {"type": "kafka", "topic": "sinks.kafka.out", "delivery": "exactly_once"}, out, "sinks.kafka")
        # On the mock, at least once (see the module's note).
        self.assertLessEqual(report.max_duplicated_per_partition(), 2 * BATCH)
        self.drain_rate(server, "kfk-rate", {"type": "kafka", "topic": "sinks.kafka.rate"},
                        lambda: read_topic(self.broker.bootstrap, "sinks.kafka.rate"), "sinks.kafka.ratein")


if __name__ == "__main__":
    unittest.main()
