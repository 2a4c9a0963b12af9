"""Records/s through each sink: `consumerd run` (the release binary, batch
mode) drains the same backlog into each target, started here as throwaway
servers (Tests/support/servers.py) or a local HTTP endpoint.

Usage: bench/sinks.py [--records N] [--batch B]   (after `swift build -c release`)
A measurement, not a test: nothing is asserted.
"""

import argparse
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Tests", "support"))
from servers import Postgres, Redis  # noqa: E402

BINARY = os.path.join(ROOT, ".build", "release", "consumerd")
PARTITIONS = 4
ICEBERG = {"type": "iceberg", "table": "bench.trades", "schema": {"type": "object", "properties": {
    "id": {"type": "integer"}, "symbol": {"type": "string"}, "price": {"type": "number"}, "quantity": {"type": "integer"}}}}


class Sink(http.server.BaseHTTPRequestHandler):
    """Accepts every batch at once (the HTTP sink's cost, not a server's)."""

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def produce(bootstrap, topic, count):
    from confluent_kafka import Producer
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.num.messages": 10000})
    for i in range(count):
        value = json.dumps({"id": i, "symbol": f"S{i % 50}", "price": 100.0 + i % 97, "quantity": i % 13})
        while True:
            try:
                producer.produce(topic, key=str(i).encode(), value=value.encode(), partition=i % PARTITIONS)
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(60) == 0


def run(bootstrap, workdir, name, topic, sink, count, batch):
    """`batch` None: the sink's own batching (an Iceberg table's commit interval and file size)."""
    spec = {"name": name, "topics": [topic], "sink": sink, "kafka": {"fetch.wait.max.ms": 10}}
    if batch:
        spec["batch"] = {"max_records": batch, "max_wait_ms": 500}
    path = os.path.join(workdir, f"{name}.json")
    with open(path, "w") as f:
        json.dump(spec, f)
    done = subprocess.run([BINARY, "run", "--spec", path, "--bootstrap-servers", bootstrap, "--data-dir",
                           os.path.join(workdir, "data"), "--max-messages", str(count), "--timeout", "300",
                           "--log-level", "error"], capture_output=True, timeout=400)
    if done.returncode != 0:
        return f"failed: {done.stderr.decode()[-300:]}"
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    if not os.path.exists(BINARY):
        sys.exit("build the release binary first: swift build -c release")

    workdir = tempfile.mkdtemp(prefix="consumerd-bench-sinks-")
    broker = subprocess.Popen([BINARY, "dev-broker", "--partitions", str(PARTITIONS), "--log-level", "error"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    bootstrap = broker.stdout.readline().decode().strip()
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    with Postgres() as pg, Redis() as redis:
        sinks = [
            ("file", {"type": "file", "path": "bench.jsonl"}),
            ("http", {"type": "http", "url": f"http://127.0.0.1:{receiver.server_address[1]}/ingest"}),
            ("kafka at least once", {"type": "kafka", "topic": "bench.out.alo"}),
            ("kafka exactly once", {"type": "kafka", "topic": "bench.out.eos", "delivery": "exactly_once"}),
            ("postgresql jsonb", {"type": "postgresql", "url": pg.url, "table": "bench", "create_table": True}),
            ("redis stream", {"type": "redis", "url": redis.url, "stream": "bench"}),
            ("redis aggregate", {"type": "redis", "url": redis.url, "mode": "aggregate", "key_field": "symbol",
                                 "value_field": "price"}),
            ("iceberg", ICEBERG),
            ("iceberg, own batching", dict(ICEBERG, commit_interval_ms=5000, table="bench.own")),
        ]
        print(f"{args.records:,} JSON records of ~70 bytes, {PARTITIONS} partitions, batches of {args.batch}, "
              f"release build, `consumerd run` (poll, validate, write, commit):")
        print(f"{'sink':<22} {'records/s':>12} {'seconds':>9}")
        for index, (label, sink) in enumerate(sinks):
            topic = f"bench.in.{index}"
            produce(bootstrap, topic, args.records)
            own_batching = label.endswith("own batching")
            stats = run(bootstrap, workdir, f"bench{index}", topic, sink, args.records, None if own_batching else args.batch)
            if isinstance(stats, str):
                print(f"{label:<22} {stats}")
                continue
            line = f"{label:<22} {stats['records_per_second']:>12,.0f} {stats['duration_seconds']:>9.2f}"
            if sink["type"] == "iceberg":
                table = os.path.join(workdir, "data", "sinks", "warehouse", *sink["table"].split("."), "data")
                sizes = [os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(table) for f in files]
                line += f"   {len(sizes)} Parquet files, {sum(sizes) / max(len(sizes), 1) / 1024:,.0f} KiB each on average"
            print(line)
    receiver.shutdown()
    broker.terminate()
    broker.wait()
    subprocess.run(["rm", "-rf", workdir])


if __name__ == "__main__":
    main()
