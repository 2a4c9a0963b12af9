"""Throughput of consumerd against raw librdkafka and the seeds' Python
pattern: same embedded cluster, same records, one run; then the control plane
under paced load while consumers drain, and the issue-9 targets checked.

Contenders (each drains the same backlog; all but kcat write every batch to a
file, fdatasync it, then commit its offsets):

  kcat -C to /dev/null           librdkafka's raw read: no group, no writes
  raw librdkafka (C)             raw_consumer.c in a group, manual commits
  seeds' Python pattern          python_consumer.py (confluent-kafka)
  consumerd run, JSON -> file    batch mode, JSON validated
  consumerd run, Avro -> file    the same trades Confluent-framed Avro, decoded
                                 through a schema registry, written as JSON Lines
  consumerd serve, 1 consumer    registered over the REST API
  consumerd serve, 4 consumers   one per topic, four times as many records

Control plane: `wrk` paced to about 1,000 requests/s (bench/pace.lua) against
GET /health and GET /metrics of a `serve` whose 4 consumers drain flat out;
REST latency, and the drain's rate against the same drain without requests.

    .venv/bin/python bench/run.py [--records 480000] [--partitions 12] [--batch 1000] [--repeat 3]
                                  [--out DIR] [--smoke]

Writes DIR/results.json and DIR/results.md (default bench/results/, not in
git); reads DIR/scale.json (bench/scale.py) for the idle-consumer target when
it is there. --smoke: a few thousand records and a second of requests, only
that nothing rots (make test). Needs a release build (CONSUMERD_BINARY to use
another), a C compiler, kcat, wrk, python3-confluent-kafka and fastavro.
"""
import argparse
import glob
import http.client
import http.server
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import fastavro
from confluent_kafka import Producer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BINARY = os.environ.get("CONSUMERD_BINARY", os.path.join(ROOT, ".build", "release", "consumerd"))
TOPIC = "bench.trades"
AVRO_TOPIC = "bench.trades.avro"
SERVE_TOPICS = [f"bench.trades.{index}" for index in range(4)]
TICKS = os.sysconf("SC_CLK_TCK")
SYMBOLS = ["AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "TSLA", "META", "ASX:BHP"]
TRADE_SCHEMA = {
    "type": "record", "name": "Trade", "namespace": "market", "fields": [
        {"name": "symbol", "type": "string"},
        {"name": "sequence_number", "type": "long"},
        {"name": "price", "type": "double"},
        {"name": "quantity", "type": "int"},
        {"name": "timestamp", "type": "string"},
    ]}
SCHEMA_ID = 1
KCAT = "kcat -C to /dev/null (raw read)"
LIVENESS = "GET /health/live (the floor)"
RAW = "raw librdkafka (C), write + commit"
PYTHON = "seeds' Python pattern"
RUN_JSON = "consumerd run, JSON -> file"
RUN_AVRO = "consumerd run, Avro -> file"
SERVE_1 = "consumerd serve, 1 consumer, JSON -> file"
SERVE_4 = "consumerd serve, 4 consumers, JSON -> file"


def trade(index):
    symbol = SYMBOLS[index % len(SYMBOLS)]
    return symbol, {"symbol": symbol, "sequence_number": index, "price": 100 + (index % 997) / 10,
                    "quantity": index % 500 + 1, "timestamp": "2026-11-23T17:00:00.000Z"}


def json_value(record):
    return json.dumps(record).encode()


PARSED_SCHEMA = fastavro.parse_schema(TRADE_SCHEMA)


def avro_value(record):
    """Confluent's wire format: magic byte 0, the schema id (big endian), Avro binary."""
    out = io.BytesIO()
    out.write(b"\0" + SCHEMA_ID.to_bytes(4, "big"))
    fastavro.schemaless_writer(out, PARSED_SCHEMA, record)
    return out.getvalue()


def produce(bootstrap, topic, count, encode):
    """Produces `count` trades; returns the bytes of their values."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "batch.size": 1000000,
                         "compression.type": "lz4", "queue.buffering.max.messages": 1000000, "acks": 1})
    total_bytes = 0
    for index in range(count):
        symbol, record = trade(index)
        value = encode(record)
        total_bytes += len(value)
        while True:
            try:
                producer.produce(topic, key=symbol.encode(), value=value)
                break
            except BufferError:
                producer.poll(0.05)
        if index % 10000 == 0:
            producer.poll(0)
    if producer.flush(120):
        raise SystemExit("producer did not deliver everything")
    return total_bytes


class SchemaRegistry:
    """Answers the one call consumerd makes of a Confluent Schema Registry,
    `GET /schemas/ids/{id}`, for the trades' schema."""

    def __init__(self):
        body = json.dumps({"schema": json.dumps(TRADE_SCHEMA)}).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.split("?")[0] != f"/schemas/ids/{SCHEMA_ID}":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


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
    """A contender that prints `records seconds cpu_seconds p50_ms p99_ms` over its own active period."""
    output, _, _, rss = run_measured(command, timeout)
    records, seconds, cpu, p50, p99 = output.split()[:5]
    return int(records), float(seconds), float(cpu), rss, (float(p50), float(p99))


def run_kcat(bootstrap, count, timeout):
    """kcat to /dev/null until the end of every partition: librdkafka's raw read, no group, no writes."""
    output, seconds, cpu, rss = run_measured(
        ["kcat", "-C", "-b", bootstrap, "-t", TOPIC, "-o", "beginning", "-e", "-q", "-X", "fetch.wait.max.ms=10",
         "-f", "%o\n"], timeout,
        first_output=True)
    records = output.count("\n")
    if records != count:
        raise SystemExit(f"kcat read {records} of {count} records")
    return records, seconds, cpu, rss, None


def run_batch_mode(bootstrap, topic, count, batch, workdir, timeout, name, format_spec=None):
    """`consumerd run`: throughput and batch latency from its own report (first record to the last commit)."""
    spec_path = os.path.join(workdir, f"{name}.json")
    spec = {"name": name, "topics": [topic], "group_id": f"bench-{name}",
            "batch": {"max_records": batch, "max_wait_ms": 1000}, "kafka": {"fetch.wait.max.ms": 10}}
    if format_spec:
        spec["format"] = format_spec
    with open(spec_path, "w") as handle:
        json.dump(spec, handle)
    data_dir = os.path.join(workdir, f"{name}-data")
    output, _, cpu, rss = run_measured(
        [BINARY, "run", "--spec", spec_path, "--max-messages", str(count), "--bootstrap-servers", bootstrap,
         "--data-dir", data_dir, "--log-level", "warning"], timeout)
    discard(data_dir)
    report = json.loads(output.strip().splitlines()[-1])
    if report["written"] != count:
        raise SystemExit(f"{name} wrote {report['written']} of {count} records: {report}")
    # Its own CPU measurement from the first batch on, as the baselines count
    # from their first record; the whole process's (start-up and group join
    # included) only when there was a single batch.
    if report.get("cpu_us_per_record") is not None:
        cpu = report["cpu_us_per_record"] * report["written"] / 1e6
    return report["written"], report["active_seconds"], cpu, rss, (report["batch_p50_ms"], report["batch_p99_ms"])


def discard(path):
    """Removes a drain's output once it is counted. Kept, a run's files
    (about 4 GB, most of them the control plane's twelve drains) fill the
    page cache, and the later drains pay for the kernel reclaiming it: the
    control plane's drains without requests ran at 848,526 records/s in a
    run that kept them and at 1,218,656 and 1,366,366 in two that did not
    (their drops under requests moved from run to run as before)."""
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.exists(path):
        os.remove(path)


def peak_rss_mib(pid):
    """The process's peak resident set (VmHWM), MiB; 0 once it has exited."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def api_cpu_seconds(pid):
    """CPU seconds of the process's libmicrohttpd threads (named MHD-*),
    which read, answer and send every API request (schedstat counts ns)."""
    total = 0
    for task in glob.glob(f"/proc/{pid}/task/*"):
        try:
            with open(f"{task}/comm") as comm, open(f"{task}/schedstat") as stat:
                if comm.read().startswith("MHD"):
                    total += int(stat.read().split()[0])
        except OSError:  # the thread ended meanwhile
            pass
    return total / 1e9


def batch_latency(metrics_text, consumers):
    """p50 and p99 of consumerd_batch_duration_seconds over `consumers`, in ms,
    interpolated inside the bucket as Prometheus' histogram_quantile does."""
    buckets = {}
    for line in metrics_text.splitlines():
        if not line.startswith("consumerd_batch_duration_seconds_bucket{"):
            continue
        labels, value = line.rsplit(" ", 1)
        if re.search(r'consumer="([^"]*)"', labels).group(1) not in consumers:
            continue
        bound = labels.split('le="', 1)[1].split('"', 1)[0]
        bound = float("inf") if bound == "+Inf" else float(bound)
        buckets[bound] = buckets.get(bound, 0) + float(value)
    ordered = sorted(buckets.items())
    if not ordered or ordered[-1][1] == 0:
        return None
    total = ordered[-1][1]

    def quantile(q):
        rank, lower, below = q * total, 0.0, 0.0
        for bound, count in ordered:
            if count >= rank:
                if bound == float("inf"):
                    return lower * 1000
                return (lower + (bound - lower) * (rank - below) / max(count - below, 1e-9)) * 1000
            lower, below = bound, count
    return round(quantile(0.5), 1), round(quantile(0.99), 1)


class Serve:
    """A `consumerd serve` of its own, driven over its REST API."""

    def __init__(self, bootstrap, workdir, name):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.requests = 0
        self.last_used = time.monotonic()
        self.log = open(os.path.join(workdir, f"{name}.log"), "wb")
        self.data_dir = os.path.join(workdir, f"{name}-data")
        self.process = subprocess.Popen(
            [BINARY, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", self.data_dir,
             "--bootstrap-servers", bootstrap, "--log-level", "warning"], stdout=self.log, stderr=self.log)
        for _ in range(400):
            try:
                self.request("GET", "/health/live")
                return
            except OSError:
                self.connection.close()
                time.sleep(0.05)
        raise SystemExit("consumerd serve did not come up")

    def request(self, method, path, body=None, raw=False):
        """One request on the kept-alive connection. The drains poll status
        every 20 ms; with a new connection per request, as urllib makes them,
        consumerd's API threads spent about 120 µs more CPU a request (wrk,
        /health/live: 16-22 µs kept alive, 138-148 µs with Connection: close)
        and the polling took about 0.4 of the two cores from every drain (0.2
        in Python, 0.17-0.19 in the API threads)."""
        data = json.dumps(body).encode() if body is not None else None
        if time.monotonic() - self.last_used > 10:
            # consumerd gives a kept-alive connection 15 s to send its next request.
            self.connection.close()
        for attempt in (1, 2):
            try:
                self.connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
                response = self.connection.getresponse()
                payload = response.read()
                break
            except (http.client.HTTPException, OSError):
                # Closed by the server or refused: connect again; a GET is
                # asked again, anything else is not.
                self.connection.close()
                if attempt == 2 or method != "GET":
                    raise
        self.requests += 1
        self.last_used = time.monotonic()
        if response.status >= 400:
            raise SystemExit(f"{method} {path}: HTTP {response.status}: {payload[:300]!r}")
        return payload.decode() if raw else json.loads(payload or b"null")

    def register(self, name, topic, group, batch):
        self.request("POST", "/consumers", {
            "name": name, "topics": [topic], "group_id": group,
            "batch": {"max_records": batch, "max_wait_ms": 1000}, "kafka": {"fetch.wait.max.ms": 10}})

    def drain(self, names, total, timeout):
        """Waits until `names` have written `total` records together: (records,
        seconds, CPU seconds, the API threads' CPU seconds) from the first
        assignment (polled every 20 ms)."""
        deadline = time.monotonic() + timeout
        start = cpu_start = api_start = None
        while time.monotonic() < deadline:
            statuses = [self.request("GET", f"/consumers/{name}/status") for name in names]
            if start is None and any(status["assignment"] for status in statuses):
                start, cpu_start, api_start = time.monotonic(), cpu_seconds(self.process.pid), api_cpu_seconds(self.process.pid)
            written = sum(status["stats"]["records_written"] for status in statuses)
            if start is not None and written >= total:
                return (written, time.monotonic() - start, cpu_seconds(self.process.pid) - cpu_start,
                        api_cpu_seconds(self.process.pid) - api_start)
            time.sleep(0.02)
        raise SystemExit(f"consumerd serve did not drain {total} records in {timeout}s")

    def delete(self, name):
        """Deletes a consumer and its sink file."""
        self.request("DELETE", f"/consumers/{name}")
        discard(os.path.join(self.data_dir, "sinks", f"{name}.jsonl"))

    def close(self):
        self.connection.close()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=120)
        self.log.close()
        discard(self.data_dir)


def run_serve(bootstrap, topics, per_topic, batch, workdir, timeout, name):
    """One fresh server, one consumer per topic: records/s, CPU, peak RSS, batch latency."""
    server = Serve(bootstrap, workdir, name)
    try:
        names = [f"{name}-{index}" for index in range(len(topics))]
        for consumer, topic in zip(names, topics):
            server.register(consumer, topic, f"bench-{consumer}", batch)
        records, seconds, cpu, _ = server.drain(names, per_topic * len(topics), timeout)
        latency = batch_latency(server.request("GET", "/metrics", raw=True), set(names))
        return records, seconds, cpu, peak_rss_mib(server.process.pid), latency
    finally:
        server.close()


class PacedLoad:
    """wrk against one URL at about `rate` requests/s (bench/pace.lua), until stopped."""

    CONNECTIONS = 20

    def __init__(self, url, rate):
        env = dict(os.environ, PACE_MS=str(1000 * self.CONNECTIONS // rate))
        self.process = subprocess.Popen(
            ["wrk", "-t1", f"-c{self.CONNECTIONS}", "-d3600s", "--timeout", "5s", "-s", os.path.join(HERE, "pace.lua"), url],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)

    def stop(self):
        """(requests, requests/s, p50 ms, p99 ms, max ms, errors, wrk's cores):
        wrk shares the two cores with the drain, so its CPU is part of the drop."""
        cpu = cpu_seconds(self.process.pid)
        self.process.send_signal(signal.SIGINT)
        output = self.process.communicate(timeout=30)[0].decode()
        match = re.search(r"^PACED (\d+) ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+) (\d+)$", output, re.M)
        if not match:
            raise SystemExit(f"wrk printed no result:\n{output}")
        requests, seconds, p50, p99, worst, errors = match.groups()
        seconds = max(float(seconds), 1e-9)
        return int(requests), int(requests) / seconds, float(p50), float(p99), float(worst), int(errors), cpu / seconds


def run_control_plane(bootstrap, per_topic, batch, workdir, timeout, rounds, request_rate):
    """The same 4-consumer drain with no requests, then with GET /health/live,
    GET /health and GET /metrics at `request_rate`/s; each `rounds` times,
    new groups each time. /health/live answers without looking at the
    consumers: its drop is what any request at that rate costs here (wrk's
    CPU, the API threads waking), the floor under the other two."""
    server = Serve(bootstrap, workdir, "control-plane")
    conditions = [("no requests", None), (LIVENESS, "/health/live"), ("GET /health", "/health"), ("GET /metrics", "/metrics")]
    drains = {label: [] for label, _ in conditions}
    try:
        # Every condition once per round, as the contenders above: the
        # machine's drift between rounds touches the baseline drain too.
        # Every other round runs them in reverse, so that neither a drift
        # within a round nor the server's age favours the first condition.
        for round_index in range(rounds):
            ordered = list(enumerate(conditions))
            for condition, (label, path) in ordered if round_index % 2 == 0 else reversed(ordered):
                slug = f"cp{condition}r{round_index}"
                names = [f"{slug}-{index}" for index in range(len(SERVE_TOPICS))]
                for consumer, topic in zip(names, SERVE_TOPICS):
                    server.register(consumer, topic, f"bench-{consumer}", batch)
                load = PacedLoad(server.base + path, request_rate) if path else None
                api_cpu, polls = api_cpu_seconds(server.process.pid), server.requests
                try:
                    records, seconds, cpu, api_drain_cpu = server.drain(names, per_topic * len(SERVE_TOPICS), timeout)
                finally:
                    paced = load.stop() if load else None
                # Every request the API threads answered during the drain:
                # wrk's and the benchmark's own status polls.
                answered = server.requests - polls + (paced[0] if paced else 0)
                drains[label].append({"run": (records, seconds), "paced": paced, "cores": cpu / seconds,
                                      "api_cores": api_drain_cpu / seconds,
                                      "api_cpu_us": (api_cpu_seconds(server.process.pid) - api_cpu) * 1e6 / max(answered, 1)})
                for consumer in names:
                    server.delete(consumer)
    finally:
        server.close()
    baseline = [drain["run"] for drain in drains["no requests"]]
    baseline_cores = lower_middle([drain["cores"] for drain in drains["no requests"]])
    baseline_api_cores = lower_middle([drain["api_cores"] for drain in drains["no requests"]])
    results = {}
    for label, runs in drains.items():
        # The drop is the median over rounds of the drain's rate to the
        # same round's drain without requests, as the ratios above.
        entry = {"records_per_second": round(rate(median_run([drain["run"] for drain in runs]))),
                 "drain_drop_percent": round(100 * (1 - median_ratio([drain["run"] for drain in runs], baseline)), 1),
                 "api_cpu_us_per_request": round(lower_middle([drain["api_cpu_us"] for drain in runs]), 1),
                 "api_cores": round(lower_middle([drain["api_cores"] for drain in runs]), 3)}
        if loads := [drain["paced"] for drain in runs if drain["paced"]]:
            p99s = [load[3] for load in loads]
            entry.update({
                "requests": sum(load[0] for load in loads),
                "requests_per_second": round(lower_middle([load[1] for load in loads])),
                "p50_ms": lower_middle([load[2] for load in loads]),
                # A round's p99 of about 2,500 requests; percentiles of separate
                # runs do not add up, so the median round's, and the worst.
                "p99_ms": upper_middle(p99s), "worst_round_p99_ms": max(p99s),
                "max_ms": max(load[4] for load in loads), "errors": sum(load[5] for load in loads),
                "wrk_cores": round(lower_middle([load[6] for load in loads]), 3),
            })
            # What the requests took on both ends (the API threads beyond the
            # drain without requests, and wrk) against what consumerd used
            # in that drain: the drop this CPU alone accounts for, steadier
            # from run to run than the drop itself.
            entry["requests_cpu_percent"] = round(
                100 * (entry["api_cores"] - baseline_api_cores + entry["wrk_cores"]) / baseline_cores, 1)
        results[label] = entry
    return results


def main():
    parser = argparse.ArgumentParser()
    # 40,000 trades a partition keep each under the mock broker's 5 MiB;
    # twelve of them make kcat's drain about a quarter of a second, twice
    # what it was with six, so that start-up jitter weighs half as much.
    parser.add_argument("--records", type=int, default=480_000)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each contender; the table shows the median")
    parser.add_argument("--rounds", type=int, default=4, help="drains per control-plane condition")
    parser.add_argument("--rate", type=int, default=1000, help="control-plane requests per second")
    parser.add_argument("--timeout", type=int, default=600)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--smoke", action="store_true", help="a few thousand records: checks that the bench still runs")
    args = parser.parse_args()
    if args.smoke:
        args.records, args.partitions, args.batch, args.rounds, args.repeat = 3000, 2, 500, 1, 1
    if not os.path.exists(BINARY):
        raise SystemExit(f"{BINARY} is missing: run `swift build -c release` first")

    workdir = tempfile.mkdtemp(prefix="consumerd-bench-")
    raw = os.path.join(workdir, "raw_consumer")
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("clang") or "gcc"
    subprocess.run([compiler, "-O2", "-o", raw, os.path.join(HERE, "raw_consumer.c"), "-lrdkafka"], check=True)
    topics = [TOPIC, AVRO_TOPIC, *SERVE_TOPICS]
    broker = subprocess.Popen([BINARY, "dev-broker", "--brokers", "1", "--partitions", str(args.partitions),
                               *[f"--topic={topic}" for topic in topics], "--log-level", "warning"], stdout=subprocess.PIPE)
    registry = SchemaRegistry()
    results = {}
    try:
        bootstrap = broker.stdout.readline().decode().strip()
        started = time.monotonic()
        n = args.records
        value_bytes = {TOPIC: produce(bootstrap, TOPIC, n, json_value), AVRO_TOPIC: produce(bootstrap, AVRO_TOPIC, n, avro_value)}
        for topic in SERVE_TOPICS:
            value_bytes[topic] = produce(bootstrap, topic, n, json_value)
        print(f"produced {n:,} trades to each of {len(topics)} topics ({args.partitions} partitions, lz4) "
              f"in {time.monotonic() - started:.1f}s: JSON {value_bytes[TOPIC] / n:.0f} B, Avro {value_bytes[AVRO_TOPIC] / n:.0f} B a value",
              flush=True)

        def record(name, result, topic_bytes):
            results.setdefault(name, []).append(result + (topic_bytes / n,))
            records, seconds = result[0], result[1]
            print(f"  {name}: {records / seconds:,.0f} records/s", flush=True)

        json_bytes = value_bytes[TOPIC]
        # Every contender once per round, rounds one after another, so that
        # the machine's drift touches all alike; each round reads with new groups.
        for round_index in range(args.repeat):
            print(f"round {round_index + 1} of {args.repeat}", flush=True)
            tag = f"r{round_index}"
            # kcat's drain is the shortest, and one run of it moved by half
            # within a round: the round's ratios are to the middle of three.
            record(KCAT, median_run([run_kcat(bootstrap, n, args.timeout) for _ in range(3)]), json_bytes)
            record(RAW, run_baseline([raw, bootstrap, TOPIC, f"bench-raw-{tag}", str(n), os.path.join(workdir, "raw.jsonl"),
                                      str(args.batch)], args.timeout), json_bytes)
            record(PYTHON, run_baseline(["/usr/bin/python3", os.path.join(HERE, "python_consumer.py"), bootstrap, TOPIC,
                                         f"bench-python-{tag}", str(n), os.path.join(workdir, "python.jsonl"), str(args.batch)],
                                        args.timeout), json_bytes)
            discard(os.path.join(workdir, "raw.jsonl"))
            discard(os.path.join(workdir, "python.jsonl"))
            record(RUN_JSON, run_batch_mode(bootstrap, TOPIC, n, args.batch, workdir, args.timeout, f"run-json-{tag}"), json_bytes)
            record(RUN_AVRO, run_batch_mode(bootstrap, AVRO_TOPIC, n, args.batch, workdir, args.timeout, f"run-avro-{tag}",
                                            {"type": "avro", "schema_registry": {"url": registry.url}}), value_bytes[AVRO_TOPIC])
            # One consumer drains one topic; four drain four topics (four times the records).
            record(SERVE_1, run_serve(bootstrap, [SERVE_TOPICS[0]], n, args.batch, workdir, args.timeout, f"serve1-{tag}"),
                   json_bytes)
            record(SERVE_4, run_serve(bootstrap, SERVE_TOPICS, n, args.batch, workdir, args.timeout, f"serve4-{tag}"), json_bytes)
        control = run_control_plane(bootstrap, n, args.batch, workdir, args.timeout, args.rounds, args.rate)
    finally:
        registry.close()
        broker.send_signal(signal.SIGTERM)
        broker.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)

    rows = summarize(results)
    scale = load_scale(args.out)
    targets = check_targets(rows, control, scale)
    table = markdown(rows, control, targets, args)
    print("\n" + table)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as handle:
        json.dump({"records": args.records, "partitions": args.partitions, "batch": args.batch, "smoke": args.smoke,
                   "machine": machine(), "results": rows, "control_plane": control, "targets": targets}, handle, indent=2)
    with open(os.path.join(args.out, "results.md"), "w") as handle:
        handle.write(table + "\n")


def rate(run):
    return run[0] / run[1]


def lower_middle(items, key=None):
    """The middle of `items` in order (of an even count, the lower middle one)."""
    return sorted(items, key=key)[(len(items) - 1) // 2]


def upper_middle(items):
    """The middle of `items` in order (of an even count, the upper one: for
    a latency, the worse middle)."""
    return sorted(items)[len(items) // 2]


def median_run(runs):
    """The run with the median records/s (of an even count, the slower middle one)."""
    return lower_middle(runs, key=rate)


def median_ratio(runs, baseline):
    """The median over rounds of a run's rate to the baseline's in the same
    round: the VM's speed drifts between rounds more than within one."""
    return lower_middle([rate(run) / rate(base) for run, base in zip(runs, baseline)])


def summarize(results):
    rows = []
    for name, runs in results.items():
        records, seconds, cpu, rss, latency, bytes_per_record = median_run(runs)
        rates = [rate(run) for run in runs]
        cpus = [run[2] / run[0] * 1e6 for run in runs]
        rows.append({
            "contender": name, "records": records, "seconds": round(seconds, 3), "records_per_second": round(records / seconds),
            "mb_per_second": round(bytes_per_record * records / seconds / 1e6, 2), "cpu_us_per_record": round(cpu / records * 1e6, 2),
            "peak_rss_mib": round(rss, 1), "vs_kcat": round(median_ratio(runs, results[KCAT]), 2),
            "vs_python": round(median_ratio(runs, results[PYTHON]), 2),
            "batch_p50_ms": latency[0] if latency else None, "batch_p99_ms": latency[1] if latency else None,
            "runs": len(runs), "records_per_second_range": [round(min(rates)), round(max(rates))],
            "cpu_us_per_record_range": [round(min(cpus), 2), round(max(cpus), 2)],
        })
    return rows


def load_scale(out):
    try:
        with open(os.path.join(out, "scale.json")) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def check_targets(rows, control, scale):
    """Issue 9's targets against this run: (target, measured, met)."""
    by_name = {row["contender"]: row for row in rows}
    kcat, python, run_json, run_avro = by_name[KCAT], by_name[PYTHON], by_name[RUN_JSON], by_name[RUN_AVRO]
    targets = []

    def check(target, measured, met):
        targets.append({"target": target, "measured": measured, "met": bool(met)})
    check("JSON -> file >= 0.6x kcat's records/s", f"{run_json['vs_kcat']}x", run_json["vs_kcat"] >= 0.6)
    cpu_ratio = run_json["cpu_us_per_record"] / kcat["cpu_us_per_record"]
    check("JSON -> file CPU/record <= 2x kcat's", f"{cpu_ratio:.2f}x", cpu_ratio <= 2)
    check("Avro -> file >= 0.4x kcat's records/s", f"{run_avro['vs_kcat']}x", run_avro["vs_kcat"] >= 0.4)
    check("JSON -> file >= 4x the Python pattern's records/s", f"{run_json['vs_python']}x", run_json["vs_python"] >= 4)
    python_cpu = run_json["cpu_us_per_record"] / python["cpu_us_per_record"]
    check("JSON -> file CPU/record <= 0.2x the Python pattern's", f"{python_cpu:.2f}x", python_cpu <= 0.2)
    worst = max((row["batch_p99_ms"] for row in rows if row["contender"].startswith("consumerd") and row["batch_p99_ms"] is not None),
                default=None)
    check("p99 per 1,000-record batch <= 20 ms (every consumerd contender)", f"{worst} ms", worst is not None and worst <= 20)
    if scale:
        check("<= 4 MB extra RSS per idle registered consumer", f"{scale['idle_rss_mib_per_consumer']} MiB",
              scale["idle_rss_mib_per_consumer"] * 1.048576 <= 4)
    for label in ("GET /health", "GET /metrics"):
        entry = control[label]
        check(f"{label}: REST p99 <= 5 ms at ~1,000 requests/s while consuming", f"{entry['p99_ms']} ms", entry["p99_ms"] <= 5)
        check(f"{label}: consumers' drain drops <= 10 %", f"{entry['drain_drop_percent']} %", entry["drain_drop_percent"] <= 10)
    return targets


def machine():
    with open("/proc/cpuinfo") as handle:
        model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "unknown CPU")
    with open("/proc/meminfo") as handle:
        memory = int(handle.readline().split()[1]) / 1024 / 1024
    return f"{os.cpu_count()} cores ({model}), {memory:.0f} GiB"


def markdown(rows, control, targets, args):
    lines = [f"{args.records:,} trades per topic, {args.partitions} partitions, lz4, batches of {args.batch}; every contender "
             "but kcat writes each batch with fdatasync and commits it. Each contender ran "
             f"{args.repeat} time(s), once a round; the row is the median run by records/s, the ranges span all runs, and the "
             f"ratios are the median of each round's ratio. Machine: {machine()}.", "",
             "| contender | records/s | (range) | MB/s | CPU µs/record | (range) | peak RSS MiB | vs kcat | vs Python | batch p50 / p99 ms |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        latency = f"{row['batch_p50_ms']} / {row['batch_p99_ms']}" if row["batch_p50_ms"] is not None else ""
        low, high = row["records_per_second_range"]
        cpu_low, cpu_high = row["cpu_us_per_record_range"]
        lines.append(f"| {row['contender']} | {row['records_per_second']:,} | {low:,}–{high:,} | {row['mb_per_second']} "
                     f"| {row['cpu_us_per_record']} | {cpu_low}–{cpu_high} | {row['peak_rss_mib']} | {row['vs_kcat']} | {row['vs_python']} "
                     f"| {latency} |")
    lines += ["", f"Control plane: wrk paced to ~{args.rate:,} requests/s while `serve` drains with 4 consumers, "
              f"{args.rounds} round(s) of the {len(control)} conditions in turn, every other round in reverse. p50/p99 are the median round's (p99 of an even count the "
              "worse middle one), the worst round's p99 and the max beside them; the drop is the median of each round's drain "
              "against that round's drain without requests; API CPU is the libmicrohttpd threads' CPU over every request they "
              "answered during the drain (wrk's and the benchmark's status polls, 4 every 20 ms), and the cores they kept busy while it ran; "
              "wrk's cores are its own CPU, on the same two cores; the requests' CPU is the API threads' cores beyond the drain without "
              "requests plus wrk's, as a share of what consumerd used in that drain: the drop that CPU alone accounts for. "
              f"{LIVENESS} answers without looking at the consumers: its drop is what any request at this rate costs here:", "",
              "| requests | requests/s | p50 ms | p99 ms | worst round p99 ms | max ms | errors | API CPU µs/request "
              "| API cores | wrk cores | requests' CPU | drain records/s | drain drop |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, entry in control.items():
        if "requests" in entry:
            lines.append(f"| {label} | {entry['requests_per_second']:,} | {entry['p50_ms']} | {entry['p99_ms']} "
                         f"| {entry['worst_round_p99_ms']} | {entry['max_ms']} | {entry['errors']} | {entry['api_cpu_us_per_request']} "
                         f"| {entry['api_cores']} | {entry['wrk_cores']} | {entry['requests_cpu_percent']} % | {entry['records_per_second']:,} "
                         f"| {entry['drain_drop_percent']} % |")
        else:
            lines.append(f"| {label} | | | | | | | {entry['api_cpu_us_per_request']} | {entry['api_cores']} | | "
                         f"| {entry['records_per_second']:,} | |")
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    for target in targets:
        lines.append(f"| {target['target']} | {target['measured']} | {'yes' if target['met'] else '**no**'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
