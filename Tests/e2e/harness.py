"""Fixtures for the end-to-end suites: the real `consumerd` binary as a
server and as a dev broker, producers and readers from confluent-kafka.

Every process is started on a free port it picks itself (port 0) and read
back, so suites never race for ports; every wait is on a condition.
"""

import collections
import functools
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import yaml
from confluent_kafka import Consumer, Producer, TopicPartition
from openapi_schema_validator import OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUPPORT = os.path.join(ROOT, "Tests", "support")
sys.path.insert(0, SUPPORT)
BINARY = os.environ.get("CONSUMERD_BINARY", os.path.join(ROOT, ".build", "debug", "consumerd"))
# The mock cluster answers an empty fetch only after fetch.wait.max.ms, and
# keeps a group rebalancing for the session timeout after its last member
# left: keep both short.
FAST = {"fetch.wait.max.ms": 10, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500}


def wait_for(condition, timeout=60, interval=0.1, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


class ServerLogOnFailure:
    """A TestCase mixin: when a test fails, print the tail of `self.server`'s log."""

    server = None

    def run(self, result=None):
        failed_before = len(result.failures) + len(result.errors) if result is not None else 0
        outcome = super().run(result)
        failed = result is not None and len(result.failures) + len(result.errors) > failed_before
        if failed and self.server and not self.server.log.closed:
            print(f"\n--- consumerd log (tail) ---\n{self.server.log_tail()}")
        return outcome


class DevBroker:
    """`consumerd dev-broker`, optionally taking fault commands (`--control`)."""

    def __init__(self, log_path, brokers=1, partitions=6, topics=(), control=False):
        self.log = open(log_path, "ab")
        command = [BINARY, "dev-broker", "--brokers", str(brokers), "--partitions", str(partitions), "--log-format", "text"]
        for topic in topics:
            command += ["--topic", topic]
        if control:
            command.append("--control")
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE if control else subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=self.log)
        self.bootstrap = self.process.stdout.readline().decode().strip()
        assert self.bootstrap.startswith("127.0.0.1:"), f"dev-broker printed {self.bootstrap!r}"

    def command(self, line):
        """A fault command (see `consumerd dev-broker --help`); fails unless the broker says ok."""
        self.process.stdin.write((line + "\n").encode())
        self.process.stdin.flush()
        answer = self.process.stdout.readline().decode().strip()
        assert answer == "ok", f"dev-broker answered {answer!r} to {line!r}"

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe:
                pipe.close()
        self.log.close()


class Server:
    """One `consumerd serve` process on a port of its own choosing."""

    def __init__(self, data_dir, bootstrap, log_path, extra=(), token=None, ca_file=None):
        """`token`: sent as a bearer token on every request; `ca_file`: the
        server speaks HTTPS with a certificate this CA file verifies."""
        self.token = token
        self.tls = ssl.create_default_context(cafile=ca_file) if ca_file else None
        self.log_path = log_path
        self.log = open(log_path, "ab")
        start = self.log.tell()
        self.process = subprocess.Popen(
            [BINARY, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--bootstrap-servers", bootstrap,
             "--health-interval", "1", "--log-format", "json", *extra],
            stdout=self.log, stderr=self.log)
        self.port = None
        wait_for(lambda: self._bound_port(start), timeout=30, message="consumerd to log its HTTP address")
        self.base = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"
        wait_for(self.alive, timeout=30, message="consumerd to answer /health/live")

    def _bound_port(self, start):
        if self.process.poll() is not None:
            raise AssertionError(f"consumerd exited with {self.process.returncode} while starting; see {self.log_path}")
        with open(self.log_path, "rb") as log:
            log.seek(start)
            for line in log:
                if not line.startswith(b"{"):
                    continue
                entry = json.loads(line)
                if entry.get("logger") == "consumerd.http" and entry.get("message") == "http server listening":
                    self.port = int(entry["address"].rsplit(":", 1)[1])
                    return True
        return False

    def alive(self):
        try:
            return self.request("GET", "/health/live")[0] == 200
        except OSError:
            return False

    def request(self, method, path, body=None, content_type="application/json", raw=None, timeout=120):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", content_type)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self.tls) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read(), dict(error.headers)

    def json(self, method, path, body=None, **kwargs):
        status, payload, _ = self.request(method, path, body, **kwargs)
        return status, (json.loads(payload) if payload else None)

    def status(self, name):
        status, body = self.json("GET", f"/consumers/{name}/status")
        assert status == 200, (status, body)
        return body

    def stop(self, timeout=60):
        """SIGTERM; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self.log.close()
        return code

    def kill(self):
        self.process.kill()
        self.process.wait()
        self.log.close()

    def log_tail(self, size=6000):
        with open(self.log_path, "rb") as log:
            return log.read()[-size:].decode(errors="replace")


def produce_ids(bootstrap, topic, ids, partitions, pace=0.0):
    """Produces {"id": i} to partition i % partitions with an idempotent
    producer; returns {partition: [ids in log order]} from the delivery reports."""
    # Broker faults make librdkafka log every reconnect; delivery reports say what matters.
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5, "log_level": 2})
    acked = collections.defaultdict(list)
    failures = []

    def report(error, message):
        if error is not None:
            failures.append(error)
        else:
            acked[message.partition()].append((message.offset(), json.loads(message.value())["id"]))

    for i in ids:
        producer.produce(topic, key=str(i).encode(), value=json.dumps({"id": i}).encode(),
                         partition=i % partitions, on_delivery=report)
        producer.poll(0)
        if pace:
            time.sleep(pace)
    remaining = producer.flush(60)
    assert remaining == 0 and not failures, f"produce: {remaining} unflushed, errors {failures[:3]}"
    return {partition: [i for _, i in sorted(entries)] for partition, entries in acked.items()}


class Producing(threading.Thread):
    """Runs ``produce(*args, **kwargs)`` in the background (``produce_ids``
    unless another is given); ``finish()`` returns what it returned, or raises
    what it raised."""

    def __init__(self, *args, produce=produce_ids, **kwargs):
        super().__init__(daemon=True)
        self.call = functools.partial(produce, *args, **kwargs)
        self.produced = None
        self.error = None

    def run(self):
        try:
            self.produced = self.call()
        except BaseException as error:  # reported by finish()
            self.error = error

    def finish(self, timeout=120):
        self.join(timeout)
        if self.error:
            raise self.error
        assert self.produced is not None, "the producer did not finish"
        return self.produced


def merge(*produced):
    merged = collections.defaultdict(list)
    for part in produced:
        for partition, ids in part.items():
            merged[partition].extend(ids)
    return merged


def committed(bootstrap, group, topic, partitions):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        return [tp.offset for tp in consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)]
    finally:
        consumer.close()


def high_watermarks(bootstrap, topic, partitions):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "e2e-watermarks"})
    try:
        return [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)]
    finally:
        consumer.close()


def sink_lines(path, live=False):
    """Every line of a file sink, parsed. A line that does not parse (torn,
    partial, garbled) fails the test: it is never skipped. `live`: the sink
    is being written right now, so its last line may still be arriving;
    only then is an unterminated last line left out."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        data = f.read()
    if live and data and not data.endswith(b"\n"):
        data = data[:data.rfind(b"\n") + 1]
    assert not data or data.endswith(b"\n"), f"{path} ends in a partial line: {data[-120:]!r}"
    lines = []
    for number, line in enumerate(data.splitlines(), 1):
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise AssertionError(f"{path}:{number} is not a JSON line ({error}): {line[:120]!r}") from None
    return lines


def sink_ids(path, live=False):
    return [(line["partition"], line["value"]["id"]) for line in sink_lines(path, live)]


def read_topic(bootstrap, topic):
    """Every record of a topic with its headers (Tests/support/read_topic.py)."""
    output = subprocess.run([sys.executable, os.path.join(SUPPORT, "read_topic.py"), bootstrap, topic],
                            check=True, capture_output=True, timeout=60).stdout
    return [json.loads(line) for line in output.splitlines()]


def _openapi_registry():
    with open(os.path.join(ROOT, "openapi.yaml"), encoding="utf-8") as f:
        document = yaml.safe_load(f)
    return Registry().with_resource("urn:consumerd:openapi", Resource.from_contents(document, default_specification=DRAFT202012))


_OPENAPI = _openapi_registry()


def assert_matches_schema(instance, schema_name):
    """Checks a response body against a schema of openapi.yaml (OpenAPI 3.1,
    JSON Schema 2020-12), so the document cannot drift from the server."""
    validator = OAS31Validator({"$ref": f"urn:consumerd:openapi#/components/schemas/{schema_name}"}, registry=_OPENAPI)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        details = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:200]}" for e in errors[:5])
        raise AssertionError(f"response does not match {schema_name} in openapi.yaml: {details}")
