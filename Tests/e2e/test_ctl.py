"""End-to-end: `consumerd ctl` against a live `consumerd serve` and a
`consumerd dev-broker`, and `serve --specs` (spec files applied at start and
on SIGHUP).

The CLI runs as a subprocess, as an operator would run it: the server comes
from $CONSUMERD_URL (or --server), the token from $CONSUMERD_API_TOKEN or
--token-file. What it changed is checked through the REST API (harness) and
the file sink, never through the CLI alone.

    CONSUMERD_BINARY=... .venv/bin/python -m unittest discover -s Tests/e2e -p test_ctl.py -v
"""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest

import yaml
from confluent_kafka import Producer

from harness import BINARY, FAST, DevBroker, Server, ServerLogOnFailure, sink_lines, wait_for

ORDERS = "ctl.orders"  # one partition: the order of the records holds
AUDIT = "ctl.audit"
ADMIN = "ctl-admin-token-0123456789abcdef"
READER = "ctl-reader-token-0123456789abcdef"
LIST_HEADER = ["NAME", "STATE", "DESIRED", "HEALTH", "LAG", "IN/S", "OUT/S", "RESTARTS", "SINK"]
OFFSETS_HEADER = ["TOPIC", "PARTITION", "COMMITTED", "POSITION", "LOW", "HIGH", "LAG", "PENDING"]
LIFECYCLE_HEADER = ["NAME", "STATE", "DESIRED", "ERROR"]

BROKER = None
WORKDIR = None


def setUpModule():
    global BROKER, WORKDIR
    WORKDIR = tempfile.mkdtemp(prefix="consumerd-e2e-ctl-")
    BROKER = DevBroker(os.path.join(WORKDIR, "broker.log"), partitions=1, topics=[ORDERS, AUDIT, "ctl.prices", "ctl.prices.dlq"])


def tearDownModule():
    BROKER.stop()
    if os.environ.get("KEEP_E2E"):
        print(f"kept {WORKDIR}")
    else:
        shutil.rmtree(WORKDIR, ignore_errors=True)


def spec(name, topic, **extra):
    """A consumer with a file sink (<data-dir>/sinks/<name>.jsonl), quick to start and to flush."""
    return {"name": name, "topics": [topic], "batch": {"max_records": 100, "max_wait_ms": 100},
            "sink": {"type": "file"}, "kafka": dict(FAST), **extra}


def write_yaml(path, *documents):
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump_all(documents, f, sort_keys=False)


def ctl_env(base=None, token=None):
    """The test's environment without any CONSUMERD_URL or token of its own."""
    env = {k: v for k, v in os.environ.items() if k not in ("CONSUMERD_URL", "CONSUMERD_API_TOKEN")}
    if base:
        env["CONSUMERD_URL"] = base
    if token:
        env["CONSUMERD_API_TOKEN"] = token
    return env


def ctl(*args, base=None, token=None, timeout=90):
    return subprocess.run([BINARY, "ctl", *args], env=ctl_env(base, token), capture_output=True, text=True, timeout=timeout)


def table(text):
    """Rows of an aligned table (header first) as dicts. Fails unless every
    cell starts exactly under its header: the columns are aligned."""
    lines = text.rstrip("\n").split("\n")
    header = lines[0]
    names = header.split()
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    assert len(starts) == len(names)
    for a, b in zip(starts, starts[1:]):
        assert header[a:b].endswith("   "), f"columns are three spaces apart: {header!r}"
    rows = []
    for line in lines[1:]:
        row = {}
        for i, name in enumerate(names):
            end = starts[i + 1] if i + 1 < len(names) else None
            cell = line[starts[i]:end]
            if cell.strip():
                assert not cell.startswith(" ") and (starts[i] == 0 or line[starts[i] - 1] == " "), \
                    f"{name} is not aligned under its header in {line!r} (header {header!r})"
            if end is not None and len(line) > end:
                assert line[end - 1] == " ", f"a cell runs into {names[i + 1]} in {line!r}"
            row[name] = cell.strip()
        rows.append(row)
    return names, rows


def facts(text):
    """`Key:   value` lines of `ctl status` (up to the blank line)."""
    block = text.split("\n\n", 1)[0]
    result = {}
    for line in block.split("\n"):
        match = re.fullmatch(r"([A-Z][a-z ]*):\s+(.*)", line)
        assert match, f"not a fact line: {line!r}"
        result[match.group(1)] = match.group(2)
    return result


class CtlTestCase(ServerLogOnFailure, unittest.TestCase):
    server = None

    def ctl(self, *args, ok=True, **kwargs):
        kwargs.setdefault("base", self.server.base)
        kwargs.setdefault("token", getattr(self, "token", None))
        result = ctl(*args, **kwargs)
        if ok:
            self.assertEqual(result.returncode, 0, f"ctl {' '.join(args)}: {result.stderr}{result.stdout}")
            self.assertEqual(result.stderr, "", f"ctl {' '.join(args)} wrote to stderr")
        return result

    def ctl_json(self, *args, **kwargs):
        return json.loads(self.ctl(*args, "-o", "json", **kwargs).stdout)

    def names(self, server=None):
        status, body = (server or self.server).json("GET", "/consumers")
        self.assertEqual(status, 200, body)
        return sorted(c["name"] for c in body["consumers"])

    def spec_of(self, name, server=None):
        status, body = (server or self.server).json("GET", f"/consumers/{name}")
        self.assertEqual(status, 200, body)
        return body["spec"]

    def state(self, name, server=None):
        return (server or self.server).status(name)["state"]


class CtlOneServer(CtlTestCase):
    """create/list/status/get, offsets, errors and lifecycle verbs on one server."""

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="server-", dir=WORKDIR)
        cls.data_dir = os.path.join(cls.workdir, "data")
        cls.server = Server(cls.data_dir, BROKER.bootstrap, os.path.join(cls.workdir, "consumerd.log"))
        cls.spec_file = os.path.join(cls.workdir, "orders.yaml")
        cls.orders_spec = spec("orders", ORDERS)
        write_yaml(cls.spec_file, cls.orders_spec)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def sink(self, name="orders", live=False):
        return sink_lines(os.path.join(self.data_dir, "sinks", f"{name}.jsonl"), live)

    def offsets(self):
        return self.ctl_json("offsets", "orders")

    def test_1_create_list_status_get(self):
        created = self.ctl("create", "-f", self.spec_file)
        self.assertRegex(created.stdout, r"\Acreated orders \((starting|running)\)\n\Z")
        self.assertEqual(self.names(), ["orders"])

        listed = self.ctl("list")
        header, rows = table(listed.stdout)
        self.assertEqual(header, LIST_HEADER)
        self.assertEqual(len(rows), 1, listed.stdout)
        row = rows[0]
        self.assertEqual((row["NAME"], row["DESIRED"], row["RESTARTS"]), ("orders", "running", "0"), listed.stdout)
        self.assertIn(row["STATE"], ("starting", "running"))
        self.assertEqual(row["SINK"], f"file {self.data_dir}/sinks/orders.jsonl")

        document = self.ctl_json("list")
        self.assertEqual([c["name"] for c in document["consumers"]], ["orders"])
        self.assertEqual(document["count"], 1)

        wait_for(lambda: self.state("orders") == "running" and self.server.status("orders")["assignment"],
                 timeout=30, message="orders to run with its partition")
        status = self.ctl("status", "orders").stdout
        known = facts(status)
        self.assertEqual(known["Name"], "orders")
        self.assertRegex(known["State"], r"\Arunning \(desired running, generation 1\)\Z")
        self.assertEqual(known["Group"], "consumerd-orders")
        self.assertEqual(known["Sink"], f"file {self.data_dir}/sinks/orders.jsonl")
        self.assertEqual(known["Restarts"], "0 (0 failures in a row)")
        header, partitions = table(status.split("\n\n", 1)[1])
        self.assertEqual(header, ["TOPIC", "PARTITION", "COMMITTED", "POSITION", "HIGH", "LAG", "PAUSED"])
        self.assertEqual([(p["TOPIC"], p["PARTITION"], p["PAUSED"]) for p in partitions], [(ORDERS, "0", "no")])
        status_json = self.ctl_json("status", "orders")
        self.assertEqual((status_json["name"], status_json["state"]), ("orders", "running"))

        resource = self.ctl_json("get", "orders")
        self.assertEqual(set(resource), {"name", "spec", "status"})
        self.assertEqual(resource["name"], "orders")
        self.assertEqual(resource["spec"], self.spec_of("orders"))
        self.assertEqual(resource["spec"]["topics"], [ORDERS])
        self.assertEqual(resource["spec"]["batch"]["max_wait_ms"], 100)
        self.assertEqual(resource["spec"]["kafka"], FAST)
        self.assertEqual(resource["spec"]["sink"], {"type": "file", "path": "orders.jsonl"})
        # The table form is the spec alone, ready to edit and apply.
        self.assertEqual(json.loads(self.ctl("get", "orders").stdout), resource["spec"])

        again = self.ctl("create", "-f", self.spec_file, ok=False)
        self.assertEqual(again.returncode, 1)
        self.assertEqual(again.stderr, "Error: POST /consumers: a consumer named 'orders' already exists (HTTP 409, consumer_exists)\n")

    def test_2_offsets_reset(self):
        producer = Producer({"bootstrap.servers": BROKER.bootstrap, "acks": "all"})
        for i in range(20):
            producer.produce(ORDERS, key=str(i).encode(), value=json.dumps({"id": i}).encode(), partition=0)
        self.assertEqual(producer.flush(30), 0)
        wait_for(lambda: len(self.sink(live=True)) >= 20, timeout=60, message="20 records in the sink")
        self.assertEqual([line["value"]["id"] for line in self.sink()], list(range(20)))
        wait_for(lambda: [(p["committed_offset"], p["position"]) for p in self.offsets()["partitions"]] == [(20, 20)],
                 timeout=30, message="committed offset and position 20")

        shown = self.ctl("offsets", "orders").stdout
        first, rest = shown.split("\n\n", 1)
        self.assertEqual(first, "orders (group consumerd-orders, running): lag 0")
        header, rows = table(rest)
        self.assertEqual(header, OFFSETS_HEADER)
        self.assertEqual(rows, [dict(zip(OFFSETS_HEADER, [ORDERS, "0", "20", "20", "0", "20", "0", "-"]))])

        refused = self.ctl("offsets", "orders", "--reset-to", "earliest", ok=False)
        self.assertEqual(refused.returncode, 1)
        self.assertEqual(refused.stdout, "")
        self.assertEqual(refused.stderr,
                         "Error: PATCH /consumers/orders/offsets: 'orders' has a run: offsets can only be changed while "
                         "the consumer is stopped (POST /consumers/orders/stop) (HTTP 409, conflict)\n")
        self.assertIsNone(self.offsets()["pending_reset"], "a refused reset is not stored")

        stopped = self.ctl("stop", "orders", "--wait", "30")
        self.assertRegex(stopped.stdout, r"\Aorders: stopped \(desired stopped, generation \d+\)\n\Z")
        self.assertEqual(self.state("orders"), "stopped")

        # A time: resolved by the cluster (the mock cluster does not implement
        # ListOffsets by timestamp, so the resolved offsets are not checked).
        by_time = self.ctl_json("offsets", "orders", "--reset-to", "2020-01-01T00:00:00Z")
        self.assertEqual(by_time["state"], "stopped")
        self.assertEqual(by_time["pending_reset"]["requested"], "timestamp 1577836800000")
        self.assertRegex(by_time["pending_reset"]["requested_at"], r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")

        # Out of range or not a partition: the server's 400, nothing stored.
        outside = self.ctl("offsets", "orders", "--set", "0=21", ok=False)
        self.assertEqual(outside.returncode, 1)
        self.assertIn("ctl.orders[0] holds offsets 0 to 20 (the log end); 21 is outside (HTTP 400", outside.stderr)
        unknown = self.ctl("offsets", "orders", "--set", "3=1", ok=False)
        self.assertEqual(unknown.returncode, 1)
        self.assertIn("ctl.orders[3] is not a partition of the consumer's topics", unknown.stderr)
        both = self.ctl("offsets", "orders", "--set", "0=1", "--reset-to", "earliest", ok=False)
        self.assertNotEqual(both.returncode, 0)
        self.assertIn("give --reset-to or --set, not both", both.stderr)
        self.assertEqual(self.offsets()["pending_reset"]["requested"], "timestamp 1577836800000")

        # The single-topic shorthand; it replaces the reset by time.
        reset = self.ctl("offsets", "orders", "--set", "0=15").stdout
        first, middle, last = reset.split("\n\n")
        self.assertEqual(first, "orders (group consumerd-orders, stopped): lag 0")
        header, rows = table(middle)
        self.assertEqual(rows, [dict(zip(OFFSETS_HEADER, [ORDERS, "0", "20", "-", "0", "20", "0", "15"]))])
        self.assertRegex(last, r"\APending reset \(explicit offsets, asked \S+\): applied when the consumer next starts\.\n\Z")
        pending = self.offsets()
        self.assertEqual(pending["pending_reset"]["offsets"], [{"topic": ORDERS, "partition": 0, "offset": 15}])
        self.assertEqual(len(self.sink()), 20, "a reset reads nothing by itself")

        started = self.ctl("start", "orders", "--wait", "30")
        self.assertRegex(started.stdout, r"\Aorders: running \(desired running, generation \d+\)\n\Z")
        self.assertEqual(self.state("orders"), "running")

        def settled():
            document = self.offsets()
            return document["pending_reset"] is None and [p["committed_offset"] for p in document["partitions"]] == [20]

        wait_for(settled, timeout=30, message="the reset applied and committed offset 20 again")
        wait_for(lambda: len(self.sink(live=True)) >= 25, timeout=30, message="25 records in the sink")
        lines = self.sink()
        self.assertEqual([line["value"]["id"] for line in lines], list(range(20)) + list(range(15, 20)))
        self.assertEqual([line["offset"] for line in lines], list(range(20)) + list(range(15, 20)))
        final = self.offsets()
        self.assertEqual(final["partitions"][0]["pending_offset"], None)
        self.assertEqual(final["lag_total"], 0)

    def test_3_errors(self):
        missing = self.ctl("start", "nope", ok=False)
        self.assertEqual(missing.returncode, 1)
        self.assertEqual(missing.stdout, "")
        self.assertEqual(missing.stderr, "Error: POST /consumers/nope/start: no consumer named 'nope' (HTTP 404, consumer_not_found)\n")
        for verb in ("status", "get", "offsets"):
            result = self.ctl(verb, "nope", ok=False)
            self.assertEqual(result.returncode, 1, verb)
            self.assertIn("no consumer named 'nope' (HTTP 404, consumer_not_found)", result.stderr, verb)

        # A bad spec among good ones: refused before any call, even with --prune.
        before = self.names()
        directory = os.path.join(self.workdir, "bad-specs")
        os.makedirs(directory)
        write_yaml(os.path.join(directory, "a-fresh.yaml"), spec("fresh", AUDIT))
        broken = os.path.join(directory, "broken.yaml")
        write_yaml(broken, spec("broken", AUDIT, batch={"max_records": -1}))
        for extra in ((), ("--prune",), ("--dry-run",)):
            result = self.ctl("apply", "-f", directory, *extra, ok=False)
            self.assertEqual(result.returncode, 1, extra)
            self.assertEqual(result.stdout, "", extra)
            self.assertEqual(result.stderr, f"Error: {broken}: consumer 'broken': batch.max_records: must be between 1 and 1000000\n")
        created = self.ctl("create", "-f", directory, ok=False)
        self.assertEqual(created.returncode, 1)
        self.assertIn(f"{broken}: consumer 'broken': batch.max_records", created.stderr)
        self.assertEqual(self.names(), before, "nothing created, nothing pruned")
        self.assertEqual(self.spec_of("orders")["batch"]["max_records"], 100)

        absent = self.ctl("apply", "-f", os.path.join(self.workdir, "no-such-dir"), ok=False)
        self.assertEqual(absent.returncode, 1)
        self.assertEqual(absent.stderr, f"Error: {self.workdir}/no-such-dir: no such file or directory\n")

        # Nobody listening.
        for args, base in ((("list", "--server", "http://127.0.0.1:1"), self.server.base), (("list",), "http://127.0.0.1:1")):
            unreachable = self.ctl(*args, base=base, ok=False)
            self.assertEqual(unreachable.returncode, 1)
            self.assertEqual(unreachable.stdout, "")
            self.assertRegex(unreachable.stderr,
                             r"\AError: cannot reach consumerd at http://127\.0\.0\.1:1: GET http://127\.0\.0\.1:1/consumers: .+\n\Z")
        # The option before the subcommand is refused (it belongs to each
        # subcommand); either way the exit is non-zero with a message.
        before_subcommand = self.ctl("--server", "http://127.0.0.1:1", "list", ok=False)
        self.assertNotEqual(before_subcommand.returncode, 0)
        self.assertEqual(before_subcommand.stdout, "")
        self.assertTrue("--server" in before_subcommand.stderr or "cannot reach consumerd" in before_subcommand.stderr,
                        before_subcommand.stderr)
        not_a_url = self.ctl("list", "--server", "127.0.0.1:1", ok=False)
        self.assertEqual(not_a_url.returncode, 1)
        self.assertEqual(not_a_url.stderr, "Error: --server must be an http:// or https:// URL, not 127.0.0.1:1\n")

        both = self.ctl("start", "orders", "--all", ok=False)
        self.assertNotEqual(both.returncode, 0)
        self.assertIn("give a consumer name or --all, not both", both.stderr)
        self.assertEqual(self.state("orders"), "running")

    def test_4_lifecycle_all(self):
        audit = os.path.join(self.workdir, "audit.yaml")
        write_yaml(audit, spec("audit", AUDIT))
        self.ctl("create", "-f", audit)
        wait_for(lambda: self.state("audit") == "running", timeout=30, message="audit to run")

        stopped = self.ctl("stop", "--all", "--wait", "30")
        header, rows = table(stopped.stdout)
        self.assertEqual(header, LIFECYCLE_HEADER)
        self.assertEqual(rows, [{"NAME": n, "STATE": "stopped", "DESIRED": "stopped", "ERROR": ""} for n in ("audit", "orders")])
        self.assertEqual([self.state(n) for n in ("audit", "orders")], ["stopped", "stopped"])

        started = self.ctl("start", "--all", "--wait", "30")
        _, rows = table(started.stdout)
        self.assertEqual(rows, [{"NAME": n, "STATE": "running", "DESIRED": "running", "ERROR": ""} for n in ("audit", "orders")])
        self.assertEqual([self.state(n) for n in ("audit", "orders")], ["running", "running"])

        paused = self.ctl("pause", "orders", "--wait", "10")
        self.assertRegex(paused.stdout, r"\Aorders: paused \(desired paused, generation \d+\)\n\Z")
        self.assertEqual((self.state("orders"), self.state("audit")), ("paused", "running"))
        status = self.server.status("orders")
        self.assertEqual(status["desired_state"], "paused")
        resumed = self.ctl("resume", "orders", "--wait", "10")
        self.assertRegex(resumed.stdout, r"\Aorders: running \(desired running, generation \d+\)\n\Z")
        self.assertEqual(self.state("orders"), "running")

        # pause and resume --all: one call per consumer.
        _, rows = table(self.ctl("pause", "--all", "--wait", "10").stdout)
        self.assertEqual(rows, [{"NAME": n, "STATE": "paused", "DESIRED": "paused", "ERROR": ""} for n in ("audit", "orders")])
        self.assertEqual([self.state(n) for n in ("audit", "orders")], ["paused", "paused"])
        _, rows = table(self.ctl("resume", "--all", "--wait", "10").stdout)
        self.assertEqual(rows, [{"NAME": n, "STATE": "running", "DESIRED": "running", "ERROR": ""} for n in ("audit", "orders")])
        self.assertEqual([self.state(n) for n in ("audit", "orders")], ["running", "running"])

        # Out of range --wait is refused by the CLI.
        refused = self.ctl("stop", "--all", "--wait", "301", ok=False)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("--wait must be between 0 and 300 seconds", refused.stderr)
        self.assertEqual(self.state("orders"), "running")

        wait_for(lambda: self.ctl("health").stdout.startswith("healthy: 2 healthy, 0 degraded, 0 unhealthy\n\n"),
                 timeout=30, message="ctl health to report both healthy")
        _, rows = table(self.ctl("health").stdout.split("\n\n", 1)[1])
        self.assertEqual([(r["NAME"], r["HEALTH"], r["STATE"]) for r in rows],
                         [("audit", "healthy", "running"), ("orders", "healthy", "running")])


class CtlDeadLetters(CtlTestCase):
    """`ctl dlq list` and `ctl dlq redrive`: records a validation stage turned
    away are listed with why, and after the fix each reaches the sink once."""

    @classmethod
    def setUpClass(cls):
        cls.data_dir = os.path.join(WORKDIR, "dlq-data")
        cls.server = Server(cls.data_dir, BROKER.bootstrap, os.path.join(WORKDIR, "dlq.log"))

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_list_and_redrive(self):
        def poison(price_type):
            return spec("prices", "ctl.prices", dead_letter={"topic": "ctl.prices.dlq"},
                        validation={"schema": {"type": "object", "properties": {"price": {"type": price_type}}}})

        status, body = self.server.json("POST", "/consumers", poison("number"))
        self.assertEqual(status, 201, body)
        wait_for(lambda: self.state("prices") == "running", timeout=60, message="prices running")
        producer = Producer({"bootstrap.servers": BROKER.bootstrap, "acks": "all"})
        for value in ['{"price": 1}', '{"price": "2"}', '{"price": "3"}', '{"price": 4}']:
            producer.produce("ctl.prices", value=value.encode(), partition=0)
        self.assertEqual(producer.flush(30), 0)
        sink = os.path.join(self.data_dir, "sinks", "prices.jsonl")
        wait_for(lambda: len(sink_lines(sink, live=True)) == 2, timeout=60, message="the two valid records")
        wait_for(lambda: self.ctl_json("dlq", "list", "prices")["count"] == 2, timeout=60, message="two dead letters")

        listing = self.ctl("dlq", "list", "prices").stdout
        heading, rendered = listing.split("\n\n", 1)
        self.assertEqual(heading, "2 dead letters in ctl.prices.dlq")
        header, rows = table(rendered)
        self.assertEqual(header, ["PARTITION", "OFFSET", "ORIGINAL", "STAGE", "ERROR", "MESSAGE", "VALUE"])
        self.assertEqual([(r["OFFSET"], r["ORIGINAL"], r["STAGE"], r["ERROR"], r["VALUE"]) for r in rows], [
            ("0", "ctl.prices[0]@1", "validation", "type_mismatch", '{"price": "2"}'),
            ("1", "ctl.prices[0]@2", "validation", "type_mismatch", '{"price": "3"}'),
        ])

        # The fix, then the redrive once the fixed spec runs.
        status, body = self.server.json("PUT", "/consumers/prices", poison("string"))
        self.assertEqual(status, 200, body)
        wait_for(lambda: self.server.status("prices")["generation"] == 2 and self.state("prices") == "running",
                 timeout=60, message="the fixed spec running")
        report = self.ctl_json("dlq", "redrive", "prices", "--error-type", "type_mismatch")
        self.assertEqual(report, {"matched": 2, "redriven": 2, "already_redriven": 0, "failed": 0, "errors": []})
        wait_for(lambda: len(sink_lines(sink, live=True)) == 4, timeout=60, message="the redriven records in the sink")
        again = self.ctl("dlq", "redrive", "prices").stdout
        self.assertEqual(again, "matched 2, redriven 0, already redriven 2, failed 0\n")
        wait_for(lambda: self.server.status("prices")["lag_total"] == 0, timeout=60, message="the topic read to its end")
        prices = sorted(str(line["value"]["price"]) for line in sink_lines(sink))
        self.assertEqual(prices, ["1", "2", "3", "4"], "each record once")


class CtlApply(CtlTestCase):
    """`ctl apply -f DIR`: the plan, --dry-run, --prune, -o json."""

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="apply-", dir=WORKDIR)
        cls.server = Server(os.path.join(cls.workdir, "data"), BROKER.bootstrap, os.path.join(cls.workdir, "consumerd.log"))

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_apply_plan_dry_run_prune(self):
        keep = spec("keep", AUDIT, autostart=False)
        change = spec("change", AUDIT, autostart=False)
        old = spec("old", AUDIT)  # running: pruning it drains it
        for body in (keep, change, old):
            status, answer = self.server.json("POST", "/consumers", body)
            self.assertEqual(status, 201, answer)
        wait_for(lambda: self.state("old") == "running", timeout=30, message="old to run")

        directory = os.path.join(self.workdir, "specs")
        os.makedirs(directory)
        write_yaml(os.path.join(directory, "keep.yaml"), keep)
        with open(os.path.join(directory, "change.json"), "w") as f:
            json.dump({**change, "batch": {"max_records": 500, "max_wait_ms": 100}}, f)
        # Two YAML documents in one file, the second a list.
        write_yaml(os.path.join(directory, "new.yml"), spec("new-a", AUDIT, autostart=False), [spec("new-b", AUDIT, autostart=False)])
        with open(os.path.join(directory, "README.txt"), "w") as f:
            f.write("not a spec: ignored\n")

        plan_rows = [
            {"ACTION": "update", "NAME": "change", "CHANGES": "batch"},
            {"ACTION": "unchanged", "NAME": "keep", "CHANGES": ""},
            {"ACTION": "create", "NAME": "new-a", "CHANGES": ""},
            {"ACTION": "create", "NAME": "new-b", "CHANGES": ""},
            {"ACTION": "delete", "NAME": "old", "CHANGES": ""},
        ]
        dry = self.ctl("apply", "-f", directory, "--prune", "--dry-run").stdout
        rendered, summary = dry.split("\n\n")
        header, rows = table(rendered)
        self.assertEqual(header, ["ACTION", "NAME", "CHANGES"])
        self.assertEqual(rows, plan_rows)
        self.assertEqual(summary, "Plan: 2 to create, 1 to update, 1 unchanged, 1 to delete (dry run: nothing changed)\n")
        # Without --prune nothing is deleted.
        _, rows = table(self.ctl("apply", "-f", directory, "--dry-run").stdout.split("\n\n")[0])
        self.assertEqual(rows, plan_rows[:4])
        dry_json = self.ctl_json("apply", "-f", directory, "--prune", "--dry-run")
        self.assertEqual(dry_json, {"dry_run": True, "steps": [
            {"name": "change", "action": "update", "changed_fields": ["batch"]},
            {"name": "keep", "action": "unchanged", "changed_fields": []},
            {"name": "new-a", "action": "create", "changed_fields": []},
            {"name": "new-b", "action": "create", "changed_fields": []},
            {"name": "old", "action": "delete", "changed_fields": []},
        ]})
        kept = self.spec_of("keep")
        self.assertEqual(self.names(), ["change", "keep", "old"], "a dry run changes nothing")
        self.assertEqual(self.spec_of("change")["batch"]["max_records"], 100)
        self.assertEqual(self.state("old"), "running")

        applied = self.ctl("apply", "-f", directory, "--prune").stdout
        rendered, summary = applied.split("\n\n")
        header, rows = table(rendered)
        self.assertEqual(header, ["ACTION", "NAME", "CHANGES", "RESULT"])
        self.assertEqual(rows, [{**row, "RESULT": "ok"} for row in plan_rows])
        self.assertEqual(summary, "Plan: 2 to create, 1 to update, 1 unchanged, 1 to delete.\nApplied: 5 ok, 0 failed.\n")
        self.assertEqual(self.names(), ["change", "keep", "new-a", "new-b"])
        self.assertEqual(self.spec_of("change")["batch"]["max_records"], 500)
        self.assertEqual(self.spec_of("new-b")["topics"], [AUDIT])
        self.assertEqual(self.spec_of("keep"), kept, "an unchanged consumer is left alone")

        again = self.ctl_json("apply", "-f", directory, "--prune")
        self.assertEqual(again, {"dry_run": False, "steps": [
            {"name": n, "action": "unchanged", "changed_fields": [], "result": "ok"} for n in ("change", "keep", "new-a", "new-b")]})
        table_again = self.ctl("apply", "-f", directory, "--prune").stdout
        self.assertTrue(table_again.endswith("\n\nPlan: 0 to create, 0 to update, 4 unchanged, 0 to delete.\nApplied: 4 ok, 0 failed.\n"), table_again)
        self.assertEqual(self.names(), ["change", "keep", "new-a", "new-b"])


class CtlDeclarative(CtlTestCase):
    """`serve --specs PATH [--prune-specs]`: applied at start and on SIGHUP."""

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="declarative-", dir=WORKDIR)

    def log_entries(self, server):
        with open(server.log_path, "rb") as log:
            return [json.loads(line) for line in log if line.startswith(b"{")]

    def reconciled(self, server):
        return [e for e in self.log_entries(server) if e.get("message") == "spec files reconciled"]

    def test_specs_at_start_and_on_sighup(self):
        path = os.path.join(self.workdir, "consumers.yaml")
        one = spec("one", AUDIT, autostart=False)
        two = spec("two", AUDIT, autostart=False)
        write_yaml(path, {"consumers": [one, two]})
        self.server = Server(os.path.join(self.workdir, "data"), BROKER.bootstrap, os.path.join(self.workdir, "consumerd.log"),
                             extra=("--specs", path, "--prune-specs"))
        try:
            self.assertEqual(self.names(), ["one", "two"], "registered before the API answers")
            self.assertEqual(self.spec_of("one")["batch"]["max_records"], 100)
            self.assertEqual(self.state("one"), "stopped")
            first = self.reconciled(self.server)
            self.assertEqual([(e["created"], e["updated"], e["failed"]) for e in first], [("2", "0", "0")])

            # Change one, add one.
            write_yaml(path, {"consumers": [{**one, "batch": {"max_records": 7, "max_wait_ms": 100}}, two,
                                            spec("three", AUDIT, autostart=False)]})
            self.server.process.send_signal(signal.SIGHUP)
            wait_for(lambda: self.names() == ["one", "three", "two"] and self.spec_of("one")["batch"]["max_records"] == 7,
                     timeout=30, message="the registry to match the edited file")
            wait_for(lambda: len(self.reconciled(self.server)) == 2, timeout=10, message="the reload to be logged")
            second = self.reconciled(self.server)[-1]
            self.assertEqual((second["created"], second["updated"], second["unchanged"], second["deleted"], second["failed"]),
                             ("1", "1", "1", "0", "0"))
            applied = [e for e in self.log_entries(self.server) if e.get("message") == "spec applied" and e.get("consumer") == "one"]
            self.assertEqual([(e["action"], e["changed"]) for e in applied], [("create", ""), ("update", "batch")])

            # A broken file on SIGHUP: logged, the registry keeps what it has, the server serves on.
            with open(path, "w") as f:
                f.write("consumers:\n  - name: one\n    topics: [x]\n    batch: {max_records: -1}\n")
            self.server.process.send_signal(signal.SIGHUP)

            def refused():
                return any(e.get("message") == "spec files not applied" and path in e.get("error", "")
                           and "batch.max_records" in e.get("error", "") for e in self.log_entries(self.server))

            wait_for(refused, timeout=30, message="the broken file to be logged")
            self.assertIsNone(self.server.process.poll())
            self.assertEqual(self.names(), ["one", "three", "two"])
            self.assertEqual(self.spec_of("one")["batch"]["max_records"], 7)

            # With --prune-specs a consumer left out of the file is deleted.
            write_yaml(path, {"consumers": [{**one, "batch": {"max_records": 7, "max_wait_ms": 100}},
                                            spec("three", AUDIT, autostart=False)]})
            self.server.process.send_signal(signal.SIGHUP)
            wait_for(lambda: self.names() == ["one", "three"], timeout=30, message="two to be pruned")
        finally:
            self.assertEqual(self.server.stop(), 0)

    def test_invalid_specs_refuse_start(self):
        directory = os.path.join(self.workdir, "bad")
        os.makedirs(directory)
        write_yaml(os.path.join(directory, "a-good.yaml"), spec("good", AUDIT))
        broken = os.path.join(directory, "b-broken.yaml")
        write_yaml(broken, spec("broken", AUDIT, batch={"max_records": -1}))
        data_dir = os.path.join(self.workdir, "bad-data")
        log_path = os.path.join(self.workdir, "bad.log")
        with open(log_path, "wb") as log:
            result = subprocess.run(
                [BINARY, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--bootstrap-servers", BROKER.bootstrap,
                 "--log-format", "json", "--specs", directory],
                stdout=log, stderr=log, timeout=60)
        self.assertNotEqual(result.returncode, 0)
        with open(log_path, encoding="utf-8") as f:
            text = f.read()
        self.assertIn(f"Error: --specs {directory}: {broken}: consumer 'broken': batch.max_records: must be between 1 and 1000000", text)
        self.assertNotIn("http server listening", text)
        consumers = os.path.join(data_dir, "consumers")
        self.assertEqual(os.listdir(consumers) if os.path.isdir(consumers) else [], [], "the good spec was not registered either")


class CtlTokens(CtlTestCase):
    """A server with API tokens: the CLI's token from the environment or a file."""

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="tokens-", dir=WORKDIR)
        cls.tokens = os.path.join(cls.workdir, "tokens")
        with open(cls.tokens, "w") as f:
            f.write(f"# operators\n\n{ADMIN}\n{READER}:read-only\n")
        cls.reader_file = os.path.join(cls.workdir, "reader-token")
        with open(cls.reader_file, "w") as f:
            f.write(f"{READER}:read-only\n")
        cls.server = Server(os.path.join(cls.workdir, "data"), BROKER.bootstrap, os.path.join(cls.workdir, "consumerd.log"),
                            extra=("--api-token-file", cls.tokens), token=ADMIN)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_tokens(self):
        anonymous = self.ctl("list", ok=False)
        self.assertEqual(anonymous.returncode, 1)
        self.assertEqual(anonymous.stdout, "")
        self.assertEqual(anonymous.stderr,
                         "Error: GET /consumers: this endpoint needs an API token: Authorization: Bearer <token> "
                         "(HTTP 401, unauthorized)\n")
        wrong = self.ctl("list", token="not-the-token-0123456789", ok=False)
        self.assertEqual(wrong.returncode, 1)
        self.assertEqual(wrong.stderr, "Error: GET /consumers: the API token is not valid (HTTP 401, unauthorized)\n")

        header, rows = table(self.ctl("list", token=ADMIN).stdout)
        self.assertEqual((header, rows), (LIST_HEADER, []))
        # The server's own token file: its first token (after the comment).
        header, rows = table(self.ctl("list", "--token-file", self.tokens).stdout)
        self.assertEqual((header, rows), (LIST_HEADER, []))
        # --token-file wins over the environment.
        self.ctl("list", "--token-file", self.tokens, token="not-the-token-0123456789")

        # A read-only token reads, and may not write.
        self.assertEqual(self.ctl_json("list", "--token-file", self.reader_file)["count"], 0)
        spec_file = os.path.join(self.workdir, "secured.yaml")
        write_yaml(spec_file, spec("secured", AUDIT, autostart=False))
        refused = self.ctl("create", "-f", spec_file, "--token-file", self.reader_file, ok=False)
        self.assertEqual(refused.returncode, 1)
        self.assertIn("a read-only token may only GET; POST needs an admin token (HTTP 403, forbidden)", refused.stderr)
        self.assertEqual(self.names(), [])
        self.assertEqual(self.ctl("create", "-f", spec_file, token=ADMIN).stdout, "created secured (stopped)\n")
        self.assertEqual(self.names(), ["secured"])

        missing = self.ctl("list", "--token-file", os.path.join(self.workdir, "absent"), ok=False)
        self.assertEqual(missing.returncode, 1)
        self.assertEqual(missing.stderr, f"Error: --token-file: cannot read {self.workdir}/absent\n")


if __name__ == "__main__":
    unittest.main()
