"""The monitoring assets in deploy/: the Grafana dashboard
(deploy/grafana/consumerd.json) and the Prometheus alert rules
(deploy/prometheus/consumerd-rules.yml).

promtool checks the rules and runs their unit tests
(consumerd-rules.test.yml) and checks the dashboard's queries too. Every
metric name the dashboard and the rules query, and every label they select
or group by, must be one a real server exports: the names are read from
/metrics of a `consumerd serve` whose consumers consume, dead-letter, fail
and restart, so no name comes from the Swift sources.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

import yaml
from confluent_kafka import Producer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # also when run by path, not discover
from harness import FAST, ROOT, DevBroker, Server, ServerLogOnFailure, sink_lines, wait_for  # noqa: E402

DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "consumerd.json")
RULES_DIR = os.path.join(ROOT, "deploy", "prometheus")
RULES = os.path.join(RULES_DIR, "consumerd-rules.yml")
RULE_TESTS = os.path.join(RULES_DIR, "consumerd-rules.test.yml")
ALERTS = {"ConsumerdConsumerFailed", "ConsumerdLagGrowing", "ConsumerdConsumerStalled", "ConsumerdDeadLetterRate",
          "ConsumerdCrashLoop"}
# Labels every scraped series gets from Prometheus, not from the server.
TARGET_LABELS = {"job", "instance"}

STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
METRIC = re.compile(r"\b(consumerd_[a-zA-Z0-9_:]*)")
SELECTOR = re.compile(r"\b(consumerd_[a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
LEGEND = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
LABEL_VALUES = re.compile(r"\blabel_values\(\s*consumerd_[a-zA-Z0-9_:]*\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)")
ANNOTATION_LABEL = re.compile(r"\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)")
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h", "$consumer": ".+"}


def load_dashboard():
    with open(DASHBOARD, encoding="utf-8") as f:
        return json.load(f)


def load_rules():
    with open(RULES, encoding="utf-8") as f:
        return [rule for group in yaml.safe_load(f)["groups"] for rule in group["rules"]]


def dashboard_queries(dashboard):
    """(where, expr, legendFormat) for every panel target and query variable."""
    queries = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            queries.append((f"panel {panel['title']!r} target {target['refId']}", target["expr"], target.get("legendFormat", "")))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            queries.append((f"variable {variable['name']}", variable["definition"], ""))
    return queries


def where_used(name, queries):
    return ", ".join(where for where, expr, _ in queries if name in metric_names(expr))


def without_strings(expr):
    return STRING.sub('""', expr)


def metric_names(expr):
    return set(METRIC.findall(without_strings(expr)))


def run(command, cwd=ROOT):
    done = subprocess.run(command, cwd=cwd, capture_output=True, timeout=60)
    return done.returncode, done.stdout.decode() + done.stderr.decode()


def parse_exposition(text):
    """{sample name: set of label names} from the Prometheus text format, and
    {family: type} from its # TYPE lines."""
    samples, families = {}, {}
    label = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            families[name] = kind
            continue
        if not line.strip() or line.startswith("#"):
            continue
        name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
        labels = samples.setdefault(name, set())
        rest = line[len(name):]
        if rest.startswith("{"):
            rest = rest[1:]
            while not rest.startswith("}"):
                match = label.match(rest)
                assert match, f"cannot parse the labels of {line!r}"
                labels.add(match.group(1))
                rest = rest[match.end():]
    return samples, families


def base_name(name):
    """A sample name without its histogram or counter suffix."""
    for suffix in ("_bucket", "_sum", "_count", "_total"):
        if name.endswith(suffix):
            return name[:-len(suffix)]
    return name


class AlertRules(unittest.TestCase):
    def test_promtool_check_rules(self):
        code, output = run(["promtool", "check", "rules", RULES])
        self.assertEqual(code, 0, output)
        self.assertIn(f"SUCCESS: {len(ALERTS)} rules found", output)

    def test_promtool_unit_tests(self):
        # rule_files in the test file are relative to it.
        code, output = run(["promtool", "test", "rules", os.path.basename(RULE_TESTS)], cwd=RULES_DIR)
        self.assertEqual(code, 0, output)
        self.assertIn("SUCCESS", output)

    def test_every_alert_names_the_consumer(self):
        rules = load_rules()
        self.assertEqual({rule.get("alert") for rule in rules}, ALERTS)
        for rule in rules:
            with self.subTest(rule["alert"]):
                self.assertIn("for", rule)
                self.assertIn(rule["labels"]["severity"], {"warning", "critical"})
                for annotation in ("summary", "description"):
                    self.assertIn("{{ $labels.consumer }}", rule["annotations"][annotation])

    def test_every_alert_has_unit_tests_that_fire_and_stay_quiet(self):
        with open(RULE_TESTS, encoding="utf-8") as f:
            tests = yaml.safe_load(f)["tests"]
        cases = [case for test in tests for case in test.get("alert_rule_test", [])]
        for alert in ALERTS:
            with self.subTest(alert):
                own = [case for case in cases if case["alertname"] == alert]
                self.assertTrue(any(case.get("exp_alerts") for case in own), f"no test where {alert} fires")
                self.assertTrue(any(not case.get("exp_alerts") for case in own), f"no test where {alert} stays quiet")


class Dashboard(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dashboard = load_dashboard()

    def test_variables(self):
        self.assertEqual(self.dashboard["schemaVersion"], 39)
        variables = {variable["name"]: variable for variable in self.dashboard["templating"]["list"]}
        self.assertEqual((variables["datasource"]["type"], variables["datasource"]["query"]), ("datasource", "prometheus"))
        consumer = variables["consumer"]
        self.assertEqual(consumer["type"], "query")
        self.assertTrue(consumer["multi"])
        self.assertTrue(consumer["definition"].startswith("label_values("))
        self.assertEqual(consumer["datasource"]["uid"], "${datasource}")

    def test_every_panel_has_targets_on_the_datasource_variable(self):
        panels = self.dashboard["panels"]
        self.assertEqual(len({panel["id"] for panel in panels}), len(panels), "panel ids are unique")
        self.assertTrue({"stat", "state-timeline"} & {panel["type"] for panel in panels}, "a state panel")
        for panel in panels:
            with self.subTest(panel["title"]):
                self.assertTrue(panel.get("targets"), "no targets")
                self.assertEqual(panel["datasource"]["uid"], "${datasource}")
                self.assertEqual(len({target["refId"] for target in panel["targets"]}), len(panel["targets"]))
                for target in panel["targets"]:
                    self.assertTrue(target["expr"].strip())
                    self.assertEqual(target["datasource"]["uid"], "${datasource}")
                    self.assertIn('consumer=~"$consumer"', target["expr"], "filtered by the consumer variable")

    def test_no_external_assets(self):
        with open(DASHBOARD, encoding="utf-8") as f:
            self.assertNotRegex(f.read(), r"https?://")

    def test_queries_pass_promtool(self):
        # The queries as recording rules, Grafana's variables replaced: promtool parses each.
        rules = []
        for index, (where, expr, _) in enumerate(dashboard_queries(self.dashboard)):
            if where.startswith("variable"):
                continue
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            self.assertNotIn("$", expr, f"{where}: a Grafana variable promtool cannot parse")
            rules.append({"record": f"dashboard:query_{index}", "expr": expr})
        with tempfile.NamedTemporaryFile("w", suffix=".yml", prefix="consumerd-dashboard-") as f:
            yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
            f.flush()
            code, output = run(["promtool", "check", "rules", f.name])
        self.assertEqual(code, 0, output)


class MetricNamesExist(ServerLogOnFailure, unittest.TestCase):
    """Against the series of a real server: `healthy` consumes and
    dead-letters a poison record; `broken` writes to an HTTP sink nobody
    listens on, so its attempts fail, it fails and is restarted."""

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="consumerd-deploy-")
        cls.data_dir = os.path.join(cls.workdir, "data")
        # Bound but not listening: connections are refused, and no one else gets the port.
        cls.refusing = socket.socket()
        cls.refusing.bind(("127.0.0.1", 0))
        cls.broker = DevBroker(os.path.join(cls.workdir, "broker.log"), partitions=2, topics=["deploy.ok", "deploy.broken"])
        try:
            cls.server = Server(cls.data_dir, cls.broker.bootstrap, os.path.join(cls.workdir, "consumerd.log"))
        except BaseException:
            cls.broker.stop()
            cls.refusing.close()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.server.process.poll() is None:
            cls.server.stop()
        cls.broker.stop()
        cls.refusing.close()
        if os.environ.get("KEEP_E2E"):
            print(f"kept {cls.workdir}")
        else:
            shutil.rmtree(cls.workdir, ignore_errors=True)

    def register(self, name, topic, **extra):
        status, body = self.server.json("POST", "/consumers", {
            "name": name, "topics": [topic], "batch": {"max_records": 100, "max_wait_ms": 200},
            "kafka": dict(FAST, **{"auto.offset.reset": "earliest"}), **extra})
        self.assertEqual(status, 201, body)

    def metrics(self):
        status, payload, _ = self.server.request("GET", "/metrics")
        self.assertEqual(status, 200)
        return parse_exposition(payload.decode())

    def test_every_queried_metric_and_label_is_exported(self):
        self.register("healthy", "deploy.ok", dead_letter={"topic": "{topic}.dlq"})
        port = self.refusing.getsockname()[1]
        self.register("broken", "deploy.broken", sink={"type": "http", "url": f"http://127.0.0.1:{port}/ingest"},
                      retry={"max_attempts": 2, "initial_backoff_ms": 100, "max_backoff_ms": 200, "on_exhausted": "fail"},
                      restart={"initial_backoff_ms": 200, "max_backoff_ms": 500})
        producer = Producer({"bootstrap.servers": self.broker.bootstrap})
        for i in range(20):
            producer.produce("deploy.ok", json.dumps({"id": i}).encode(), partition=i % 2)
        producer.produce("deploy.ok", b'{"id": ', partition=0)  # not JSON: dead-lettered
        for i in range(4):
            producer.produce("deploy.broken", json.dumps({"id": i}).encode(), partition=i % 2)
        self.assertEqual(producer.flush(30), 0)
        sink = os.path.join(self.data_dir, "sinks", "healthy.jsonl")
        wait_for(lambda: len(sink_lines(sink, live=True)) >= 20, timeout=60, message="20 records in healthy's sink")
        self.assertEqual(self.server.status("healthy")["state"], "running")

        dashboard = load_dashboard()
        queries = [(where, expr, legend) for where, expr, legend in dashboard_queries(dashboard)]
        queries += [(f"alert {rule['alert']}", rule["expr"],
                     " ".join(rule.get("annotations", {}).values()) + " " + " ".join(rule.get("labels", {}).values()))
                    for rule in load_rules()]
        used = set().union(*(metric_names(expr) for _, expr, _ in queries))
        self.assertTrue(used)
        for where, expr, _ in queries:
            self.assertTrue(metric_names(expr), f"{where} queries no consumerd metric")

        # Some series exist only once their event happened (a dead letter,
        # a sink error, a restart): wait for them rather than for a time.
        try:
            wait_for(lambda: used <= set(self.metrics()[0]), timeout=60,
                     message="every metric the dashboard and the rules use in /metrics")
        except AssertionError:
            pass  # the assertions below name what is missing
        samples, families = self.metrics()
        print(f"\n  {len(used)} metric names used, {len(samples)} exported: {', '.join(sorted(used))}", flush=True)
        for name in sorted(used):
            # PromQL selects sample names: a histogram by its _bucket/_sum/_count
            # series, a counter with its _total suffix.
            if name not in samples:
                related = sorted(n for n in samples if base_name(n) == base_name(name))
                kinds = {kind for family, kind in families.items() if base_name(family) == base_name(name)}
                hint = f"; the server exports the {'/'.join(sorted(kinds)) or 'family'} as {related}" if related else ""
                self.fail(f"{where_used(name, queries)} query {name}, which the server does not export{hint}")

        for where, expr, text in queries:
            stripped = without_strings(expr)
            with self.subTest(where):
                known = set(TARGET_LABELS)
                for name in metric_names(expr):
                    known |= samples[name]
                # Label matchers name labels of the series they select.
                for name, matchers in SELECTOR.findall(expr):
                    for label in MATCHER.findall(without_strings(matchers)):
                        if label not in samples[name] | TARGET_LABELS:
                            self.fail(f"{where}: {name} has no label {label!r}, only {sorted(samples[name])}")
                # by/without/on, label_values() and the legend or annotations name labels of some series queried.
                grouped = {label.strip() for labels in GROUPING.findall(stripped) for label in labels.split(",") if label.strip()}
                grouped |= set(LABEL_VALUES.findall(stripped))
                named = set(LEGEND.findall(text)) | set(ANNOTATION_LABEL.findall(text))
                unknown = (grouped | named) - known
                if unknown:
                    self.fail(f"{where}: labels no series it queries has: {sorted(unknown)} (they have {sorted(known)})")


if __name__ == "__main__":
    unittest.main()
