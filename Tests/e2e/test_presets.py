"""End-to-end: a consumer per preset, on records shaped like the seeds', and
Avro from confluent-kafka's own AvroSerializer through a Schema Registry,
all through the real `consumerd serve` binary.
"""

import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

from confluent_kafka import Producer

from harness import FAST, ROOT, DevBroker, Server, sink_lines, wait_for

NOW = datetime.datetime.now(datetime.timezone.utc)


def iso(delta_seconds=0):
    return (NOW + datetime.timedelta(seconds=delta_seconds)).isoformat().replace("+00:00", "Z")


def transactions(i):
    return {"transaction_id": f"t{i}", "user_id": f"u{i % 3}", "product_id": f"p{i}", "price": 10.0 + i,
            "quantity": 0 if i == 3 else 2, "discount_applied": 0.1, "currency": "EUR", "timestamp": iso(),
            "device_info": {"type": "mobile"}}


def user_behavior(i):
    pages = ["/product/1", "/category/shoes", "/cart", "/checkout", "/about"]
    return {"event_id": f"e{i}", "user_id": f"u{i}", "event_type": "page_view", "page_url": pages[i % 5],
            "timestamp": iso(), "duration_ms": 100 * i, "device_info": {"type": "mobile" if i % 2 else "desktop"}}


def market_trades(i):
    # A gap of two after the seventh trade. One key, one partition: the order holds.
    sequence = i + 1 if i < 7 else i + 3
    return {"symbol": "AAPL", "sequence_number": sequence, "price": 189.5, "quantity": 10, "side": "BUY", "timestamp": iso()}


def telemetry_metrics(i):
    return {"timestamp": iso(), "database_type": "postgresql", "instance_id": "prod-db-01",
            "metric_name": "cpu_usage_percent", "value": 50.0 + 10 * i, "tags": {"environment": "production"}}


def application_logs(i):
    levels = ["INFO", "WARN", "ERROR", "DEBUG", "FATAL"]
    return {"timestamp": iso(), "level": levels[i % 5], "service": "checkout", "message": f"event {i}", "trace_id": None}


SAMPLES = {
    "transactions": transactions, "user-behavior": user_behavior, "market-trades": market_trades,
    "telemetry-metrics": telemetry_metrics, "application-logs": application_logs,
}
COUNT = 10


class Presets(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="consumerd-e2e-presets-")
        cls.data_dir = os.path.join(cls.workdir, "data")
        cls.log_path = os.path.join(cls.workdir, "consumerd.log")
        cls.broker = DevBroker(os.path.join(cls.workdir, "broker.log"), partitions=1)
        cls.bootstrap = cls.broker.bootstrap
        cls.registry = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "Tests", "support", "schema_registry.py")], stdout=subprocess.PIPE)
        try:
            cls.registry_url = "http://127.0.0.1:" + cls.registry.stdout.readline().decode().split()[-1]
            cls.server = Server(cls.data_dir, cls.bootstrap, cls.log_path)
        except BaseException:
            cls.stop_fixtures()
            raise

    @classmethod
    def stop_fixtures(cls):
        cls.registry.send_signal(signal.SIGTERM)
        cls.registry.wait(timeout=30)
        cls.broker.stop()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.server.stop()
        finally:
            cls.stop_fixtures()
            shutil.rmtree(cls.workdir, ignore_errors=True)

    def lines(self, name, live=False):
        return sink_lines(os.path.join(self.data_dir, "sinks", f"{name}.jsonl"), live)

    def register(self, name, topic, **extra):
        spec = {"name": name, "topics": [topic], "batch": {"max_records": 50, "max_wait_ms": 200}, "kafka": FAST, **extra}
        status, body = self.server.json("POST", "/consumers", spec)
        self.assertEqual(status, 201, body)

    def test_presets_are_listed(self):
        status, body = self.server.json("GET", "/presets")
        self.assertEqual(status, 200)
        self.assertEqual({p["name"] for p in body["presets"]}, set(SAMPLES))
        trades = next(p for p in body["presets"] if p["name"] == "market-trades")
        self.assertEqual(trades["content"]["sequence"]["key_field"], "symbol")

    def test_a_consumer_per_preset(self):
        producer = Producer({"bootstrap.servers": self.bootstrap, "acks": "all"})
        for preset, sample in SAMPLES.items():
            topic = f"e2e.preset.{preset}"
            for i in range(COUNT):
                producer.produce(topic, key=preset.encode(), value=json.dumps(sample(i)).encode())
        self.assertEqual(producer.flush(30), 0)
        for preset in SAMPLES:
            self.register(preset, f"e2e.preset.{preset}", preset=preset)

        expected = {"transactions": COUNT - 1}  # One transaction has quantity 0: filtered out.
        for preset in SAMPLES:
            want = expected.get(preset, COUNT)
            wait_for(lambda: len(self.lines(preset, live=True)) == want, timeout=60, message=f"{want} records from the {preset} consumer")
            # The stage counters are published with the batch's progress, a moment after its write.
            wait_for(lambda: self.server.status(preset)["stages"][0]["kept"] == COUNT, timeout=30,
                     message=f"the {preset} consumer's decode counter")
            _, status = self.server.json("GET", f"/consumers/{preset}/status")
            self.assertEqual(status["state"], "running", status)
            self.assertEqual(status["health"]["status"], "healthy", status)
            decode = status["stages"][0]
            self.assertEqual((decode["stage"], decode["kept"]), ("decode", COUNT), status["stages"])
            self.assertEqual([s["stage"] for s in status["stages"][1:3]], ["validation", "quality"])
            self.assertEqual(status["stages"][1]["kept"], COUNT, "every sample is valid")

        # Auto-created topics have several partitions: look records up by their own ids.
        def by(preset, field):
            return {line["value"][field]: line["value"] for line in self.lines(preset)}

        transactions_ = by("transactions", "transaction_id")
        self.assertNotIn("t3", transactions_, "quantity 0 is filtered out")
        self.assertEqual(transactions_["t0"]["total_amount"], 18.0, "round(10.0 * 2 * (1 - 0.1), 2)")
        self.assertEqual(transactions_["t2"]["total_amount"], 21.6)
        self.assertIn("processing_time", transactions_["t0"])
        self.assertIn(transactions_["t0"]["day_of_week"], range(1, 8))
        self.assertEqual(transactions_["t0"]["hour_of_day"], NOW.hour)
        behaviour = by("user-behavior", "event_id")
        self.assertEqual([behaviour[f"e{i}"]["page_type"] for i in range(5)], ["product", "category", "cart", "checkout", "other"])
        self.assertEqual([behaviour[f"e{i}"]["is_mobile"] for i in range(2)], [False, True])
        self.assertEqual({v["notional"] for v in by("market-trades", "sequence_number").values()}, {1895.0})
        metrics_ = by("telemetry-metrics", "value")
        self.assertEqual([metrics_[50.0 + 10 * i]["alert_level"] for i in range(5)], ["normal", "normal", "normal", "normal", "high"])
        logs = by("application-logs", "message")
        self.assertEqual([logs[f"event {i}"]["is_error"] for i in range(5)], [False, False, True, False, True])

        _, trades = self.server.json("GET", "/consumers/market-trades/status")
        self.assertEqual(trades["sequence"]["gaps"], 1)
        self.assertEqual(trades["sequence"]["missing"], 2)
        self.assertEqual(trades["sequence"]["recent_gaps"][0]["expected"], 8)
        expected_series = [
            b'consumerd_sequence_gaps_total{consumer="market-trades"} 1',
            b'consumerd_stage_rejections_total{consumer="transactions",stage="transform",outcome="dropped",reason="filtered"} 1',
        ]
        wait_for(lambda: all(series in self.server.request("GET", "/metrics")[1] for series in expected_series),
                 timeout=10, message="the stage metrics")

    def test_avro_from_confluent_serializer(self):
        schema = json.dumps({"type": "record", "name": "Trade", "namespace": "market", "fields": [
            {"name": "symbol", "type": "string"},
            {"name": "sequence_number", "type": "long"},
            {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
            {"name": "quantity", "type": "int"},
            {"name": "timestamp", "type": {"type": "long", "logicalType": "timestamp-millis"}}]})
        schema_file = os.path.join(self.workdir, "trade.avsc")
        with open(schema_file, "w") as f:
            f.write(schema)
        records = [{"key": "AAPL", "value": {"symbol": "AAPL", "sequence_number": i, "price": "189.50", "quantity": 10,
                                             "timestamp": "2025-11-23T17:19:34.891Z"}} for i in range(1, 6)]
        subprocess.run([sys.executable, os.path.join(ROOT, "Tests", "support", "avro_produce.py"), self.bootstrap,
                        "e2e.avro.trades", self.registry_url, schema_file], input=json.dumps(records).encode(), check=True,
                       timeout=60)
        self.register("avro-trades", "e2e.avro.trades", preset="market-trades",
                      format={"type": "avro", "schema_registry": {"url": self.registry_url}})
        wait_for(lambda: len(self.lines("avro-trades", live=True)) == 5, timeout=60, message="5 Avro records")
        value = self.lines("avro-trades")[0]["value"]
        self.assertEqual(value["price"], "189.50")
        self.assertEqual(value["timestamp"], "2025-11-23T17:19:34.891Z")
        self.assertEqual(value["notional"], 1895.0)
        _, status = self.server.json("GET", "/consumers/avro-trades/status")
        self.assertEqual(status["sequence"]["gaps"], 0)
        # The registry password is a secret: it never comes back.
        status, body = self.server.json("PUT", "/consumers/avro-trades", {
            "name": "avro-trades", "topics": ["e2e.avro.trades"], "preset": "market-trades",
            "batch": {"max_records": 50, "max_wait_ms": 200}, "kafka": FAST,
            "format": {"type": "avro", "schema_registry": {"url": self.registry_url, "username": "u", "password": "s3cret"}}})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["spec"]["format"]["schema_registry"]["password"], "********")


    def test_avro_with_nothing_reading_fields_is_written_straight_as_json(self):
        """No stage and a file sink: datums are only checked, then written as
        JSON by the sink's writer, with the mapping the tree path uses."""
        schema = json.dumps({"type": "record", "name": "Quote", "namespace": "market", "fields": [
            {"name": "symbol", "type": "string"},
            {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
            {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "side", "type": {"type": "enum", "name": "Side", "symbols": ["BUY", "SELL"]}},
            {"name": "venue", "type": ["null", "string"], "default": None},
            {"name": "ratio", "type": "float"},
            {"name": "fills", "type": {"type": "array", "items": "int"}},
            {"name": "tags", "type": {"type": "map", "values": "double"}}]})
        schema_file = os.path.join(self.workdir, "quote.avsc")
        with open(schema_file, "w") as f:
            f.write(schema)
        records = [{"key": None, "value": {
            "symbol": f"Q\"{i}\n", "price": f"{i}.05", "at": "2025-11-23T17:19:34.891Z", "side": "SELL" if i % 2 else "BUY",
            "venue": None if i % 2 else "XNAS", "ratio": 0.1, "fills": list(range(i)), "tags": {"é": i / 4, "b": -1.5}}}
            for i in range(4)]
        subprocess.run([sys.executable, os.path.join(ROOT, "Tests", "support", "avro_produce.py"), self.bootstrap,
                        "e2e.avro.quotes", self.registry_url, schema_file], input=json.dumps(records).encode(), check=True,
                       timeout=60)
        self.register("avro-quotes", "e2e.avro.quotes", format={"type": "avro", "schema_registry": {"url": self.registry_url}})
        wait_for(lambda: len(self.lines("avro-quotes", live=True)) == 4, timeout=60, message="4 Avro records")
        # Keyless records spread over the topic's partitions: order by the record's own number.
        values = sorted((line["value"] for line in self.lines("avro-quotes")), key=lambda value: value["price"])
        self.assertEqual(values, [record["value"] for record in records])
        # Lines show in the file before the batch is durable and counted.
        wait_for(lambda: self.server.json("GET", "/consumers/avro-quotes/status")[1]["stats"]["records_written"] == 4,
                 timeout=30, message="4 records counted as written")

if __name__ == "__main__":
    unittest.main()
