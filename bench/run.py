"""Throughput of consumerd against raw librdkafka and the seeds' Python
pattern: same embedded cluster, same records, same at-least-once work
(write each batch durably, then commit), one run.

    /usr/bin/python3 bench/run.py [--records 300000] [--partitions 6] [--batch 1000]

Needs a release build (`swift build -c release`), gcc and python3-confluent-kafka.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

from confluent_kafka import Producer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BINARY = os.environ.get("CONSUMERD_BINARY", os.path.join(ROOT, ".build", "release", "consumerd"))
TOPIC = "bench.trades"
TICKS = os.sysconf("SC_CLK_TCK")


def produce(bootstrap, count):
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "batch.size": 1000000,
                         "compression.type": "lz4", "queue.buffering.max.messages": 1000000, "acks": 1})
    symbols = ["AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "TSLA", "META", "ASX:BHP"]
    for i in range(count):
        symbol = symbols[i % len(symbols)]
        value = json.dumps({"symbol": symbol, "sequence_number": i, "price": 100 + (i % 997) / 10,
                            "quantity": i % 500 + 1, "timestamp": "2026-11-23T17:00:00.000Z"})
        while True:
            try:
                producer.produce(TOPIC, key=symbol.encode(), value=value.encode())
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10000 == 0:
            producer.poll(0)
    if producer.flush(120):
        raise SystemExit("producer did not deliver everything")


def run_baseline(command, timeout):
    out = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True).stdout.split()
    return int(out[0]), float(out[1]), float(out[2])


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def request(base, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as response:
        return json.loads(response.read() or b"null")


def run_consumerd(bootstrap, count, batch, workdir, timeout):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    log = open(os.path.join(workdir, "consumerd.log"), "wb")
    server = subprocess.Popen([BINARY, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", os.path.join(workdir, "data"),
                               "--bootstrap-servers", bootstrap, "--log-level", "warning"], stdout=log, stderr=log)
    try:
        for _ in range(200):
            try:
                request(base, "GET", "/health/live")
                break
            except OSError:
                time.sleep(0.05)
        request(base, "POST", "/consumers", {
            "name": "bench", "topics": [TOPIC], "group_id": "bench-consumerd",
            "batch": {"max_records": batch, "max_wait_ms": 1000},
            "kafka": {"fetch.wait.max.ms": 10}})
        deadline = time.monotonic() + timeout
        start = cpu_start = None
        while time.monotonic() < deadline:
            status = request(base, "GET", "/consumers/bench/status")
            if start is None and status["assignment"]:
                start, cpu_start = time.monotonic(), cpu_seconds(server.pid)
            if status["stats"]["records_written"] >= count:
                return status["stats"]["records_written"], time.monotonic() - start, cpu_seconds(server.pid) - cpu_start
            time.sleep(0.02)
        raise SystemExit("consumerd did not finish in time")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        log.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--timeout", type=int, default=600)
    args = parser.parse_args()
    if not os.path.exists(BINARY):
        raise SystemExit(f"{BINARY} is missing: run `swift build -c release` first")

    workdir = tempfile.mkdtemp(prefix="consumerd-bench-")
    raw = os.path.join(workdir, "raw_consumer")
    subprocess.run(["gcc", "-O2", "-o", raw, os.path.join(HERE, "raw_consumer.c"), "-lrdkafka"], check=True)
    broker = subprocess.Popen([BINARY, "dev-broker", "--brokers", "1", "--partitions", str(args.partitions),
                               "--topic", TOPIC, "--log-level", "warning"], stdout=subprocess.PIPE)
    try:
        bootstrap = broker.stdout.readline().decode().strip()
        started = time.monotonic()
        produce(bootstrap, args.records)
        print(f"produced {args.records} records to {args.partitions} partitions in {time.monotonic() - started:.1f}s")

        n, b = str(args.records), str(args.batch)
        results = [
            ("raw librdkafka (C)", run_baseline(
                [raw, bootstrap, TOPIC, "bench-raw", n, os.path.join(workdir, "raw.jsonl"), b], args.timeout)),
            ("seeds' Python pattern", run_baseline(
                ["/usr/bin/python3", os.path.join(HERE, "python_consumer.py"), bootstrap, TOPIC, "bench-python", n,
                 os.path.join(workdir, "python.jsonl"), b], args.timeout)),
            ("consumerd", run_consumerd(bootstrap, args.records, args.batch, workdir, args.timeout)),
        ]
    finally:
        broker.send_signal(signal.SIGTERM)
        broker.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)

    raw_rate = results[0][1][0] / results[0][1][1]
    print(f"\n{'consumer':<24}{'records':>10}{'seconds':>10}{'records/s':>12}{'vs raw':>9}{'CPU s':>8}{'CPU µs/rec':>12}")
    for name, (records, seconds, cpu) in results:
        rate = records / seconds
        print(f"{name:<24}{records:>10}{seconds:>10.2f}{rate:>12.0f}{rate / raw_rate:>9.2f}{cpu:>8.2f}{cpu / records * 1e6:>12.2f}")
    print("\nEach writes every batch durably (write + fdatasync) and then commits it synchronously;"
          "\nconsumerd and the Python pattern also parse every value as JSON, the C baseline does not.")


if __name__ == "__main__":
    main()
