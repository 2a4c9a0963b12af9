"""The scale run: many consumers registered on one `consumerd serve`.

    /usr/bin/python3 bench/scale.py [--consumers 1000] [--out DIR] [--smoke]

Registers N consumers (each on a topic of its own, one partition, in the
embedded cluster), then measures: extra RSS and threads per idle (registered,
stopped) and per active (running) consumer; the time to start all of them and
to stop and start all again (`?wait=` until every one is there); and the time
and size of `GET /metrics` and `GET /consumers` with all of them running.
Writes DIR/scale.json and DIR/scale.md (default bench/results/).
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

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BINARY = os.environ.get("CONSUMERD_BINARY", os.path.join(ROOT, ".build", "release", "consumerd"))


def process_status(pid):
    """(resident MiB, threads) from /proc."""
    fields = {}
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            name, _, value = line.partition(":")
            fields[name] = value.split()
    return int(fields["VmRSS"][0]) / 1024, int(fields["Threads"][0])


def call(base, method, path, body=None, timeout=600):
    """(seconds, bytes, status) of one request."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        payload, status = error.read(), error.code
    return time.monotonic() - started, len(payload), status


def settle(pid, seconds=3.0):
    time.sleep(seconds)
    return process_status(pid)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--consumers", type=int, default=1000)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    count = 20 if args.smoke else args.consumers
    workdir = tempfile.mkdtemp(prefix="consumerd-scale-")
    broker = subprocess.Popen([BINARY, "dev-broker", "--brokers", "1", "--partitions", "1", "--log-level", "warning"],
                              stdout=subprocess.PIPE)
    server = None
    try:
        bootstrap = broker.stdout.readline().decode().strip()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        base = f"http://127.0.0.1:{port}"
        log = open(os.path.join(workdir, "serve.log"), "wb")
        server = subprocess.Popen(
            [BINARY, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", os.path.join(workdir, "data"),
             "--bootstrap-servers", bootstrap, "--max-consumers", str(max(count, 1)), "--log-level", "warning"],
            stdout=log, stderr=log)
        for _ in range(400):
            try:
                call(base, "GET", "/health/live", timeout=2)
                break
            except OSError:
                time.sleep(0.05)
        base_rss, base_threads = settle(server.pid, 1.0)

        started = time.monotonic()
        for index in range(count):
            seconds, _, status = call(base, "POST", "/consumers", {
                "name": f"c{index}", "topics": [f"scale.{index}"], "autostart": False,
                # The embedded cluster holds a group for the session timeout after its
                # last member left (real brokers do not): keep it short for the restart.
                "kafka": {"fetch.wait.max.ms": 100, "allow.auto.create.topics": True, "session.timeout.ms": 6000}})
            if status != 201:
                raise SystemExit(f"registering c{index}: HTTP {status}")
        register_seconds = time.monotonic() - started
        idle_rss, idle_threads = settle(server.pid)

        start_seconds, _, status = call(base, "POST", "/consumers/start-all?wait=300")
        if status != 200:
            raise SystemExit(f"start-all: HTTP {status}")
        active_rss, active_threads = settle(server.pid)
        metrics_seconds, metrics_bytes, _ = call(base, "GET", "/metrics")
        list_seconds, list_bytes, _ = call(base, "GET", "/consumers")

        restarted = time.monotonic()
        for verb in ("stop-all", "start-all"):
            _, _, status = call(base, "POST", f"/consumers/{verb}?wait=300")
            if status != 200:
                raise SystemExit(f"{verb}: HTTP {status}")
        restart_seconds = time.monotonic() - restarted
    finally:
        if server:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=300)
        broker.send_signal(signal.SIGTERM)
        broker.wait(timeout=60)
        shutil.rmtree(workdir, ignore_errors=True)

    result = {
        "consumers": count,
        "register_seconds": round(register_seconds, 2),
        "idle_rss_mib_per_consumer": round((idle_rss - base_rss) / count, 3),
        "idle_threads_per_consumer": round((idle_threads - base_threads) / count, 2) + 0.0,
        "active_rss_mib_per_consumer": round((active_rss - base_rss) / count, 3),
        "active_threads_per_consumer": round((active_threads - base_threads) / count, 2),
        "start_all_seconds": round(start_seconds, 2),
        "stop_and_start_all_seconds": round(restart_seconds, 2),
        "metrics_ms": round(metrics_seconds * 1000, 1), "metrics_kib": round(metrics_bytes / 1024, 1),
        "list_ms": round(list_seconds * 1000, 1), "list_kib": round(list_bytes / 1024, 1),
    }
    table = "\n".join([
        f"{count} consumers on one `consumerd serve`, one topic each:", "",
        "| measure | value |", "|---|---|",
        *[f"| {name.replace('_', ' ')} | {value} |" for name, value in result.items() if name != "consumers"],
    ])
    print(table)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "scale.json"), "w") as handle:
        json.dump(result, handle, indent=2)
    with open(os.path.join(args.out, "scale.md"), "w") as handle:
        handle.write(table + "\n")


if __name__ == "__main__":
    main()
