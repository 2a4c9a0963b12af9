"""Throughput of consumerd against raw librdkafka and the seeds' Python
pattern: same embedded cluster, same records, one run.

Contenders: kcat reading raw to /dev/null (no group, no writes: the
ceiling), a raw C librdkafka consumer and the seeds' Python pattern (each
batch written durably, then committed), `consumerd run` (batch mode) and
`consumerd serve` with one consumer, both JSON -> file.

    /usr/bin/python3 bench/run.py [--records 300000] [--partitions 6] [--batch 1000]
                                  [--out DIR] [--smoke]

Writes DIR/results.json and DIR/results.md (default bench/results/, not in
git). --smoke: a few thousand records, only that nothing rots (make test).
Needs a release build (`swift build -c release`; CONSUMERD_BINARY to use
another), a C compiler, kcat and python3-confluent-kafka.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

from confluent_kafka import Producer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BINARY = os.environ.get("CONSUMERD_BINARY", os.path.join(ROOT, ".build", "release", "consumerd"))
TOPIC = "bench.trades"
TICKS = os.sysconf("SC_CLK_TCK")


def produce(bootstrap, count):
    """Produces `count` trades; returns the bytes of their values."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "batch.size": 1000000,
                         "compression.type": "lz4", "queue.buffering.max.messages": 1000000, "acks": 1})
    symbols = ["AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "TSLA", "META", "ASX:BHP"]
    total_bytes = 0
    for i in range(count):
        symbol = symbols[i % len(symbols)]
        value = json.dumps({"symbol": symbol, "sequence_number": i, "price": 100 + (i % 997) / 10,
                            "quantity": i % 500 + 1, "timestamp": "2026-11-23T17:00:00.000Z"})
        total_bytes += len(value)
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
    return total_bytes


def run_measured(command, timeout, first_output=False):
    """Runs a contender to completion: (stdout, seconds, CPU seconds, peak RSS in MiB).

    CPU comes from wait4's rusage of that child; peak RSS from sampling its
    VmHWM (wait4's ru_maxrss would count this script's memory, which the
    child had before exec). `first_output`: seconds count from the first
    byte it prints, leaving out start-up and metadata round trips."""
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    chunks, first = [], []

    def drain():
        while chunk := process.stdout.read1(1 << 16):
            if not first:
                first.append(time.monotonic())
            chunks.append(chunk)
    reader = threading.Thread(target=drain)
    reader.start()
    peak = 0.0
    while True:
        try:
            peak = max(peak, peak_rss_mib(process.pid))
        except (OSError, ValueError):
            pass
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - started > timeout:
            process.kill()
            raise SystemExit(f"{command[0]} did not finish in {timeout}s")
        time.sleep(0.005)
    ended = time.monotonic()
    reader.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{command[0]} exited {process.returncode}")
    seconds = ended - (first[0] if first_output and first else started)
    return b"".join(chunks).decode(), seconds, usage.ru_utime + usage.ru_stime, peak


def run_baseline(command, timeout):
    """A contender that prints `records seconds cpu_seconds` over its own active period."""
    output, _, _, rss = run_measured(command, timeout)
    records, seconds, cpu = output.split()[:3]
    return int(records), float(seconds), float(cpu), rss


def run_kcat(bootstrap, count, timeout):
    """kcat to /dev/null until the end of every partition: librdkafka's raw read, no group, no writes."""
    output, seconds, cpu, rss = run_measured(
        ["kcat", "-C", "-b", bootstrap, "-t", TOPIC, "-o", "beginning", "-e", "-q", "-X", "fetch.wait.max.ms=10",
         "-f", "%o\n"], timeout,
        first_output=True)
    records = output.count("\n")
    if records != count:
        raise SystemExit(f"kcat read {records} of {count} records")
    return records, seconds, cpu, rss


def run_batch_mode(bootstrap, count, batch, workdir, timeout):
    """`consumerd run`: throughput from its own report (first record to the last commit)."""
    spec = os.path.join(workdir, "run-spec.json")
    with open(spec, "w") as handle:
        json.dump({"name": "bench-run", "topics": [TOPIC], "group_id": "bench-consumerd-run",
                   "batch": {"max_records": batch, "max_wait_ms": 1000}, "kafka": {"fetch.wait.max.ms": 10}}, handle)
    output, _, cpu, rss = run_measured(
        [BINARY, "run", "--spec", spec, "--max-messages", str(count), "--bootstrap-servers", bootstrap,
         "--data-dir", os.path.join(workdir, "run-data"), "--log-level", "warning"], timeout)
    report = json.loads(output.strip().splitlines()[-1])
    # CPU over the whole process, the group join included (it is idle then).
    return report["written"], report["active_seconds"], cpu, rss


def peak_rss_mib(pid):
    """The process's peak resident set (VmHWM), MiB; 0 once it has exited."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def batch_latency(metrics_text):
    """p50 and p99 of consumerd_batch_duration_seconds (bucket upper bounds), in ms."""
    buckets = []
    for line in metrics_text.splitlines():
        if line.startswith("consumerd_batch_duration_seconds_bucket{"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float("inf") if bound == "+Inf" else float(bound), float(line.rsplit(" ", 1)[1])))
    buckets.sort()
    if not buckets or buckets[-1][1] == 0:
        return None, None
    total = buckets[-1][1]

    def quantile(q):
        return next(bound for bound, count in buckets if count >= q * total) * 1000
    return quantile(0.5), quantile(0.99)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def request(base, method, path, body=None, raw=False):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as response:
        payload = response.read()
        return payload.decode() if raw else json.loads(payload or b"null")


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
                elapsed, cpu = time.monotonic() - start, cpu_seconds(server.pid) - cpu_start
                latency = batch_latency(request(base, "GET", "/metrics", raw=True))
                return status["stats"]["records_written"], elapsed, cpu, peak_rss_mib(server.pid), latency
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
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--smoke", action="store_true", help="a few thousand records: checks that the bench still runs")
    args = parser.parse_args()
    if args.smoke:
        args.records, args.partitions, args.batch = 3000, 2, 500
    if not os.path.exists(BINARY):
        raise SystemExit(f"{BINARY} is missing: run `swift build -c release` first")

    workdir = tempfile.mkdtemp(prefix="consumerd-bench-")
    raw = os.path.join(workdir, "raw_consumer")
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("clang") or "gcc"
    subprocess.run([compiler, "-O2", "-o", raw, os.path.join(HERE, "raw_consumer.c"), "-lrdkafka"], check=True)
    broker = subprocess.Popen([BINARY, "dev-broker", "--brokers", "1", "--partitions", str(args.partitions),
                               "--topic", TOPIC, "--log-level", "warning"], stdout=subprocess.PIPE)
    try:
        bootstrap = broker.stdout.readline().decode().strip()
        started = time.monotonic()
        value_bytes = produce(bootstrap, args.records)
        print(f"produced {args.records} records ({value_bytes / 1e6:.1f} MB of values) to {args.partitions} partitions "
              f"in {time.monotonic() - started:.1f}s")

        n, b = str(args.records), str(args.batch)
        results = {}
        results["kcat -C to /dev/null (raw read)"] = run_kcat(bootstrap, args.records, args.timeout) + (None,)
        results["raw librdkafka (C), write + commit"] = run_baseline(
            [raw, bootstrap, TOPIC, "bench-raw", n, os.path.join(workdir, "raw.jsonl"), b], args.timeout) + (None,)
        results["seeds' Python pattern"] = run_baseline(
            ["/usr/bin/python3", os.path.join(HERE, "python_consumer.py"), bootstrap, TOPIC, "bench-python", n,
             os.path.join(workdir, "python.jsonl"), b], args.timeout) + (None,)
        results["consumerd run, JSON -> file"] = run_batch_mode(bootstrap, args.records, args.batch, workdir, args.timeout) + (None,)
        results["consumerd serve, JSON -> file"] = run_consumerd(bootstrap, args.records, args.batch, workdir, args.timeout)
    finally:
        broker.send_signal(signal.SIGTERM)
        broker.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)

    kcat_rate = rate_of(results["kcat -C to /dev/null (raw read)"])
    python_rate = rate_of(results["seeds' Python pattern"])
    rows = []
    for name, (records, seconds, cpu, rss, latency) in results.items():
        rate = records / seconds
        rows.append({
            "contender": name, "records": records, "seconds": round(seconds, 3), "records_per_second": round(rate),
            "mb_per_second": round(value_bytes / args.records * rate / 1e6, 2), "cpu_us_per_record": round(cpu / records * 1e6, 2),
            "peak_rss_mib": round(rss, 1), "vs_kcat": round(rate / kcat_rate, 2), "vs_python": round(rate / python_rate, 2),
            "batch_p50_ms": latency[0] if latency else None, "batch_p99_ms": latency[1] if latency else None,
        })
    table = markdown(rows, args)
    print("\n" + table)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as handle:
        json.dump({"records": args.records, "partitions": args.partitions, "batch": args.batch,
                   "value_bytes": value_bytes, "smoke": args.smoke, "results": rows}, handle, indent=2)
    with open(os.path.join(args.out, "results.md"), "w") as handle:
        handle.write(table + "\n")


def rate_of(result):
    return result[0] / result[1]


def markdown(rows, args):
    header = ("| contender | records/s | MB/s | CPU µs/record | peak RSS MiB | vs kcat | vs Python | batch p50 / p99 ms |\n"
              "|---|---|---|---|---|---|---|---|")
    lines = [f"{args.records:,} JSON records, {args.partitions} partitions, lz4, batches of {args.batch}; "
             "every contender but kcat writes each batch with fdatasync and commits it.", "", header]
    for row in rows:
        latency = (f"{row['batch_p50_ms']:.0f} / {row['batch_p99_ms']:.0f}" if row["batch_p50_ms"] is not None else "")
        lines.append(f"| {row['contender']} | {row['records_per_second']:,} | {row['mb_per_second']} | {row['cpu_us_per_record']} "
                     f"| {row['peak_rss_mib']} | {row['vs_kcat']} | {row['vs_python']} | {latency} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
