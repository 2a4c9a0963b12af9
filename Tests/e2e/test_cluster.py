"""Cluster mode end to end: several `consumerd serve --cluster-id ...`
processes sharing one registry (the compacted topic
`_consumerd-<cluster>-configs`) and publishing their status to
`_consumerd-<cluster>-status`, against one `consumerd dev-broker`.

Each test starts its own instances (`--instance-id a`, `b`, `c`, each with
its own `--data-dir`) under a cluster id of its own, so tests sharing the
class's broker never see each other's registry, groups or topics.

What is checked: a registration on one instance runs on all and Kafka
spreads the partitions (`members` in every instance's status); restart,
pause and resume cluster-wide and for one instance (`?instance=`); kill -9
of one instance mid-stream loses nothing (delivery checker over the union of
the instances' file sinks); DELETE everywhere with a tombstone; the registry
survives restarting every instance and reaches a new one; concurrent creates
of one name; secrets sealed in the config topic (`--secrets-key-file`) and
refused without a key.

    cd Tests/e2e && ../../.venv/bin/python -m unittest test_cluster -v
"""

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from confluent_kafka import Consumer, TopicPartition

from harness import BINARY, FAST, DevBroker, Producing, Server, produce_ids, sink_ids, sink_lines
from delivery import check

PARTITIONS = 6
INSTANCES = ("a", "b", "c")
SECRET = "hunter2-secret"
SINK_SECRET = "pw-sink-secret"
# Topics of the tests (the broker creates them with PARTITIONS partitions).
TOPICS = ["cluster.spread", "cluster.restart", "cluster.pause", "cluster.kill", "cluster.delete", "cluster.registry",
          "cluster.fresh", "cluster.race", "cluster.health", "cluster.sealed", "cluster.refused", "cluster.plain",
          "cluster.wrongkey"]
# The mock cluster does not answer CreateTopics, so an instance waits for that
# request to time out before it falls back on the broker's auto-creation. The
# cluster topics are made up front here, except for the cluster "fresh", which
# goes through that fallback.
TOPICS += [f"_consumerd-{cluster}-{kind}" for kind in ("configs", "status")
           for cluster in ("spread", "health", "restart", "pause", "kill", "delete", "registry", "race", "sealed",
                           "refused", "plain", "wrongkey")]


def eventually(probe, timeout, message, interval=0.25):
    """Polls `probe() -> (ok, observed)` until ok; on timeout fails with the
    last thing observed, so a failure says what the server showed instead."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            ok, last = probe()
        except (AssertionError, OSError, KeyError, TypeError, ValueError, AttributeError) as error:
            ok, last = False, f"{type(error).__name__}: {error}"
        if ok:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}; last seen: {str(last)[:3000]}")
        time.sleep(interval)


def config_topic(cluster):
    return f"_consumerd-{cluster}-configs"


def raw_records(bootstrap, topic):
    """Every record of a topic as raw bytes: [(key, value, headers)], read by
    partition assignment (no group membership, nothing committed)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "e2e-cluster-raw", "enable.auto.commit": False})
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        if topic not in metadata.topics or metadata.topics[topic].error is not None:
            return []
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                for p in metadata.topics[topic].partitions}
        wanted = {p: high for p, (low, high) in ends.items() if high > low}
        consumer.assign([TopicPartition(topic, p, ends[p][0]) for p in wanted])
        records, done = [], set()
        deadline = time.monotonic() + 30
        while len(done) < len(wanted):
            assert time.monotonic() < deadline, f"timed out reading {topic}"
            message = consumer.poll(1)
            if message is None:
                continue
            assert not message.error(), str(message.error())
            records.append((message.key(), message.value(), message.headers() or []))
            if message.offset() + 1 >= wanted[message.partition()]:
                done.add(message.partition())
        return records
    finally:
        consumer.close()


def secret_forms(secret):
    """The secret as bytes, hex, and base64 (standard and URL-safe) at each of
    the three alignments it can take inside a longer base64 text: encoding is
    not sealing."""
    raw = secret.encode()
    forms = {raw, raw.hex().encode()}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for shift, skip in ((0, 0), (1, 2), (2, 3)):
            forms.add(encode(b"\0" * shift + raw)[skip:-4])
    return forms


def leaks(records, secret):
    """The records whose key, value or headers hold the secret in any of secret_forms."""
    forms = secret_forms(secret)
    found = []
    for key, value, headers in records:
        blobs = [key or b"", value or b""] + [(name or "").encode() + b"=" + (raw or b"") for name, raw in headers]
        if any(form in blob for blob in blobs for form in forms):
            found.append((key, (value or b"")[:200]))
    return found


def write_key(path):
    """A 32-byte key as 64 hex characters in a file of mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(os.urandom(32).hex())
    return path



class Instance(Server):
    """A Server that is on `started` from the moment its process exists, so
    that one failing to come up is still killed by tearDown."""

    def __init__(self, started, *args, **kwargs):
        started.append(self)
        super().__init__(*args, **kwargs)


class Cluster(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="consumerd-cluster-")
        cls.broker = DevBroker(os.path.join(cls.workdir, "broker.log"), brokers=3, partitions=PARTITIONS, topics=TOPICS)
        cls.bootstrap = cls.broker.bootstrap

    @classmethod
    def tearDownClass(cls):
        cls.broker.stop()
        if os.environ.get("KEEP_E2E"):
            print(f"kept {cls.workdir}")
        else:
            shutil.rmtree(cls.workdir, ignore_errors=True)

    def setUp(self):
        self.servers = []
        self.logs = []  # (label, path) of every process this test started, for the failure output

    def tearDown(self):
        result = self._outcome.result
        failed = any(test is self for test, _ in result.failures + result.errors)
        for server in self.servers:
            if not hasattr(server, "process"):
                continue
            if server.process.poll() is None:
                server.process.kill()
                server.process.wait()
            server.log.close()
        if failed:
            for label, path in self.logs:
                with open(path, "rb") as log:
                    tail = log.read()[-5000:].decode(errors="replace")
                print(f"\n--- {label}: {path} (tail) ---\n{tail}")

    # Fixtures

    def data_dir(self, cluster, instance):
        return os.path.join(self.workdir, f"{cluster}-{instance}")

    def start(self, cluster, instance, extra=()):
        """One instance; the same cluster and instance id always get the same data dir and log."""
        log_path = os.path.join(self.workdir, f"{cluster}-{instance}.log")
        if (f"instance {instance} of {cluster}", log_path) not in self.logs:
            self.logs.append((f"instance {instance} of {cluster}", log_path))
        server = Instance(self.servers, self.data_dir(cluster, instance), self.bootstrap, log_path,
                          ["--cluster-id", cluster, "--instance-id", instance, *extra])
        server.instance = instance
        server.sinks = os.path.join(self.data_dir(cluster, instance), "sinks")
        return server

    def start_cluster(self, cluster, instances=INSTANCES, extra=()):
        return [self.start(cluster, instance, extra) for instance in instances]

    def start_refused(self, cluster, instance, extra=(), timeout=60):
        """Starts an instance that is expected to refuse to start: returns (exit code, output)."""
        log_path = os.path.join(self.workdir, f"{cluster}-{instance}-refused.log")
        self.logs.append((f"instance {instance} of {cluster} (expected to refuse)", log_path))
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [BINARY, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir(cluster, instance),
                 "--bootstrap-servers", self.bootstrap, "--health-interval", "1", "--log-format", "json",
                 "--cluster-id", cluster, "--instance-id", instance, *extra],
                stdout=log, stderr=log)
            try:
                code = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                code = None
        with open(log_path, "rb") as log:
            output = log.read().decode(errors="replace")
        self.assertIsNotNone(code, f"the server kept running for {timeout}s instead of refusing to start: {output[-2000:]}")
        self.assertNotIn("Unknown option", output, "the binary does not know a flag")
        return code, output

    def stop_all(self, servers, timeout=60):
        """SIGTERM to every instance at once (one signal each: a second one
        exits at once), then the exit codes."""
        for server in servers:
            server.process.send_signal(signal.SIGTERM)
        codes = []
        for server in servers:
            try:
                codes.append(server.process.wait(timeout=timeout))
            except subprocess.TimeoutExpired:
                codes.append(None)
            server.log.close()
        return codes

    def spec(self, name, topic, **extra):
        spec = {"name": name, "topics": [topic], "batch": {"max_records": 200, "max_wait_ms": 200},
                "sink": {"type": "file", "path": f"{name}.jsonl"},
                "kafka": dict(FAST, **{"auto.offset.reset": "earliest"})}
        spec.update(extra)
        return spec

    def register(self, server, name, topic, **extra):
        status, body = server.json("POST", "/consumers", self.spec(name, topic, **extra))
        self.assertEqual(status, 201, f"POST /consumers on {server.instance}: {body}")
        return body

    def report(self, label, produced, delivered):
        report = check(produced, delivered)
        print(f"\n  {report.line(label)}", flush=True)
        return report

    # Probes

    @staticmethod
    def state_is(server, name, state):
        def probe():
            status, body = server.json("GET", f"/consumers/{name}/status")
            return status == 200 and body["state"] == state, (server.instance, status, body and body.get("state"))
        return probe

    def wait_state(self, servers, name, state, timeout=30):
        for server in servers:
            eventually(self.state_is(server, name, state), timeout, f"{name} {state} on instance {server.instance}")

    @staticmethod
    def generation(server, name):
        status, body = server.json("GET", f"/consumers/{name}/status")
        assert status == 200, (server.instance, status, body)
        return body["generation"]

    @staticmethod
    def members(server, name):
        status, body = server.json("GET", f"/consumers/{name}/status")
        assert status == 200, (server.instance, status, body)
        return body["members"]

    def wait_spread(self, servers, name, topic, instances, timeout=60, state="running"):
        """On every instance in `servers`: `members` lists exactly `instances`,
        each in `state` with at least one partition, the assignments disjoint
        and together covering every partition of the topic. Returns the last
        members seen per instance."""
        wanted = {(topic, p) for p in range(PARTITIONS)}

        def probe(server):
            members = self.members(server, name)
            owned = [(entry["topic"], entry["partition"]) for member in members for entry in member["assignment"]]
            view = [(m["instance"], m["state"], sorted(e["partition"] for e in m["assignment"])) for m in members]
            ok = (sorted(m["instance"] for m in members) == sorted(instances)
                  and all(m["state"] == state and m["assignment"] and m.get("updated_at") for m in members)
                  and len(owned) == len(set(owned)) and set(owned) == wanted)
            return ok, view

        views = {}
        for server in servers:
            views[server.instance] = eventually(lambda: probe(server), timeout,
                                                f"members {sorted(instances)} {state} sharing the {PARTITIONS} partitions "
                                                f"of {topic} in the status of instance {server.instance}")
        return views

    def delivered(self, servers, name, dead=()):
        """Every (partition, id) in the instances' file sinks; a killed
        instance's file may end in a torn line, which is no delivery."""
        ids = []
        for server in servers:
            ids += sink_ids(os.path.join(server.sinks, f"{name}.jsonl"), live=server in dead or server.process.poll() is None)
        return ids

    def resource(self, server, name):
        status, body = server.json("GET", f"/consumers/{name}")
        assert status == 200, (server.instance, name, status, body)
        return body

    def registry(self, server):
        """{name: (spec, desired state)} of every consumer the instance lists."""
        status, body = server.json("GET", "/consumers")
        assert status == 200, (server.instance, status, body)
        result = {}
        for entry in body["consumers"]:
            resource = self.resource(server, entry["name"])
            result[entry["name"]] = (resource["spec"], resource["status"]["desired_state"])
        return result

    # 1

    def test_01_registered_on_one_runs_on_all_and_partitions_spread(self):
        topic = "cluster.spread"
        a, b, c = self.start_cluster("spread")
        self.register(a, "spread", topic)
        for server in (b, c):
            eventually(lambda: (server.request("GET", "/consumers/spread")[0] == 200, server.request("GET", "/consumers/spread")[:2]),
                       15, f"the consumer registered on a to appear on {server.instance}")
        self.wait_state((a, b, c), "spread", "running")
        views = self.wait_spread((a, b, c), "spread", topic, INSTANCES)
        print(f"\n  members: {views['a']}", flush=True)

        produced = produce_ids(self.bootstrap, topic, range(600), PARTITIONS)
        eventually(lambda: (len(set(self.delivered((a, b, c), "spread"))) >= 600, len(set(self.delivered((a, b, c), "spread")))),
                   60, "600 records in the union of the sinks")
        report = self.report("cluster of three, spread", produced, self.delivered((a, b, c), "spread"))
        self.assertEqual((report.lost, report.unexpected), (0, 0))
        for server in (a, b, c):
            self.assertTrue(os.path.exists(os.path.join(server.sinks, "spread.jsonl")),
                            f"instance {server.instance} wrote into its own data dir")

    def test_01b_health_has_a_cluster_object(self):
        a, b = self.start_cluster("health", ("a", "b"))

        def probe(server):
            status, body = server.json("GET", "/health")
            cluster = body["cluster"]
            ok = (status == 200 and cluster["id"] == "health" and cluster["instance"] == server.instance
                  and sorted(i["instance"] for i in cluster["instances"]) == ["a", "b"])
            return ok, (status, cluster)

        for server in (a, b):
            eventually(lambda: probe(server), 15, f"/health on {server.instance} to show cluster health with instances a, b")

    # 2

    def test_02_restart_cluster_wide_and_one_instance(self):
        topic = "cluster.restart"
        a, b, c = self.start_cluster("restart")
        self.register(a, "rs", topic)
        self.wait_state((a, b, c), "rs", "running")
        self.wait_spread((a, b, c), "rs", topic, INSTANCES)
        before = {server.instance: self.generation(server, "rs") for server in (a, b, c)}

        status, body = c.json("POST", "/consumers/rs/restart?wait=30")
        self.assertEqual(status, 200, f"POST /consumers/rs/restart?wait=30 on c: {body}")
        self.assertEqual(body["state"], "running", body)
        for server in (a, b, c):
            want = before[server.instance] + 1
            eventually(lambda: (self.generation(server, "rs") == want, self.generation(server, "rs")), 20,
                       f"generation {want} on {server.instance} after a cluster-wide restart (before: {before})")
        self.wait_state((a, b, c), "rs", "running")

        status, body = a.json("POST", "/consumers/rs/restart?instance=b&wait=30")
        self.assertIn(status, (200, 202), f"POST /consumers/rs/restart?instance=b&wait=30 on a: {status} {body}")
        want = before["b"] + 2
        eventually(lambda: (self.generation(b, "rs") == want, self.generation(b, "rs")), 20,
                   f"generation {want} on b after restart?instance=b")
        # What is tested is an absence (a and c do not restart again, nobody
        # restarts twice): it needs a window, not a condition.
        time.sleep(4)
        final = {server.instance: self.generation(server, "rs") for server in (a, b, c)}
        self.assertEqual(final, {"a": before["a"] + 1, "b": before["b"] + 2, "c": before["c"] + 1},
                         f"each instance restarted once for the cluster-wide restart, only b for the second (before: {before})")
        self.wait_state((a, b, c), "rs", "running")

    # 3

    def test_03_pause_cluster_wide_and_resume(self):
        topic = "cluster.pause"
        a, b, c = self.start_cluster("pause")
        self.register(a, "pz", topic)
        self.wait_spread((a, b, c), "pz", topic, INSTANCES)
        first = produce_ids(self.bootstrap, topic, range(120), PARTITIONS)
        eventually(lambda: (len(set(self.delivered((a, b, c), "pz"))) >= 120, len(set(self.delivered((a, b, c), "pz")))),
                   60, "the first 120 records delivered")

        status, body = b.json("POST", "/consumers/pz/pause?wait=20")
        self.assertEqual((status, body and body.get("state")), (200, "paused"), f"POST /consumers/pz/pause?wait=20 on b: {body}")
        self.wait_state((a, b, c), "pz", "paused", timeout=15)
        self.wait_spread((a, b, c), "pz", topic, INSTANCES, timeout=15, state="paused")
        before = len(self.delivered((a, b, c), "pz"))
        second = produce_ids(self.bootstrap, topic, range(120, 240), PARTITIONS)
        time.sleep(4)  # an absence is what is tested: a window in which nothing may be written
        self.assertEqual(len(self.delivered((a, b, c), "pz")), before, "nothing is written while paused cluster-wide")

        status, body = a.json("POST", "/consumers/pz/resume?wait=20")
        self.assertEqual((status, body and body.get("state")), (200, "running"), f"POST /consumers/pz/resume?wait=20 on a: {body}")
        self.wait_state((a, b, c), "pz", "running", timeout=15)
        self.wait_spread((a, b, c), "pz", topic, INSTANCES, timeout=15)
        eventually(lambda: (len(set(self.delivered((a, b, c), "pz"))) >= 240, len(set(self.delivered((a, b, c), "pz")))),
                   60, "the 120 records produced while paused delivered after resume")
        report = self.report("pause and resume cluster-wide", {p: first.get(p, []) + second.get(p, []) for p in range(PARTITIONS)},
                             self.delivered((a, b, c), "pz"))
        self.assertEqual(report.lost, 0)

    # 4

    def test_04_kill_9_one_instance_mid_stream(self):
        topic = "cluster.kill"
        a, b, c = self.start_cluster("kill")
        self.register(a, "k9", topic)
        self.wait_spread((a, b, c), "k9", topic, INSTANCES)
        producing = Producing(self.bootstrap, topic, range(8000), PARTITIONS, pace=0.0005)
        producing.start()
        b_sink = os.path.join(b.sinks, "k9.jsonl")
        eventually(lambda: (len(sink_lines(b_sink, live=True)) >= 300, len(sink_lines(b_sink, live=True))), 60,
                   "300 records written by b before the kill")
        b.process.kill()
        b.process.wait()
        produced = producing.finish()
        eventually(lambda: (len(set(self.delivered((a, b, c), "k9", dead=(b,)))) >= 8000,
                            len(set(self.delivered((a, b, c), "k9", dead=(b,))))),
                   120, "every record in the union of the sinks after b's kill")
        report = self.report("cluster kill -9 of b", produced, self.delivered((a, b, c), "k9", dead=(b,)))
        self.assertEqual(report.lost, 0)
        self.assertEqual(report.unexpected, 0)
        views = self.wait_spread((a, c), "k9", topic, ("a", "c"), timeout=30)
        print(f"  members after the kill: {views['a']}", flush=True)

    # 5

    def test_05_delete_on_one_is_gone_everywhere(self):
        topic = "cluster.delete"
        a, b, c = self.start_cluster("delete")
        self.register(a, "gone", topic)
        self.wait_state((a, b, c), "gone", "running")
        status, payload, _ = a.request("DELETE", "/consumers/gone")
        self.assertEqual(status, 204, f"DELETE /consumers/gone on a: {payload[:300]}")
        for server in (a, b, c):
            eventually(lambda: (server.request("GET", "/consumers/gone")[0] == 404, server.request("GET", "/consumers/gone")[:2]),
                       30, f"GET /consumers/gone to answer 404 on {server.instance}")
            names = [entry["name"] for entry in server.json("GET", "/consumers")[1]["consumers"]]
            self.assertNotIn("gone", names, f"GET /consumers on {server.instance}")
        records = raw_records(self.bootstrap, config_topic("delete"))
        tombstones = [key for key, value, _ in records if value is None and b"gone" in (key or b"")]
        self.assertTrue(tombstones, f"a tombstone for 'gone' in {config_topic('delete')}: keys and value sizes "
                                    f"{[(key, None if value is None else len(value)) for key, value, _ in records]}")
        # Gone means not consuming either: nothing produced now reaches a
        # sink (an absence, so a window rather than a condition).
        before = len(self.delivered((a, b, c), "gone"))
        produce_ids(self.bootstrap, topic, range(60), PARTITIONS)
        time.sleep(4)
        self.assertEqual(len(self.delivered((a, b, c), "gone")), before, "a deleted consumer writes nothing on any instance")

    # 6

    def test_06_restart_every_instance_restores_the_registry(self):
        topic = "cluster.registry"
        a, b, c = self.start_cluster("registry")
        self.register(a, "keep", topic)
        self.register(b, "idle", topic, batch={"max_records": 50, "max_wait_ms": 300})
        status, body = b.json("POST", "/consumers/idle/stop?wait=30")
        self.assertEqual((status, body and body.get("state")), (200, "stopped"), f"POST /consumers/idle/stop?wait=30 on b: {body}")

        def agreed(server):
            registry = self.registry(server)
            states = {name: desired for name, (_, desired) in registry.items()}
            return states == {"keep": "running", "idle": "stopped"}, registry

        before = {server.instance: eventually(lambda: agreed(server), 15, f"keep running, idle stopped on {server.instance}")
                  for server in (a, b, c)}
        self.assertEqual(before["b"], before["a"], "b lists what a lists")
        self.assertEqual(before["c"], before["a"], "c lists what a lists")

        codes = self.stop_all((a, b, c))
        self.assertEqual(codes, [0, 0, 0], "every instance shuts down cleanly")
        a, b, c = self.start_cluster("registry")
        for server in (a, b, c):
            eventually(lambda: (self.registry(server) == before["a"], self.registry(server)), 30,
                       f"instance {server.instance} after the restart to list the registry it listed before: {before['a']}")
        self.wait_state((a, b, c), "keep", "running")
        self.wait_state((a, b, c), "idle", "stopped")

    def test_06b_a_new_instance_reads_the_registry_from_the_topic(self):
        topic = "cluster.fresh"
        a = self.start("fresh", "a")
        self.register(a, "one", topic)
        self.register(a, "two", topic, autostart=False)
        status, body = a.json("POST", "/consumers/one/pause?wait=20")
        self.assertEqual(status, 200, f"POST /consumers/one/pause?wait=20 on a: {body}")
        expected = self.registry(a)
        self.assertEqual({name: desired for name, (_, desired) in expected.items()}, {"one": "paused", "two": "stopped"})
        d = self.start("fresh", "d")  # a data dir of its own, empty
        eventually(lambda: (self.registry(d) == expected, self.registry(d)), 30,
                   f"the new instance d to list what a lists: {expected}")
        self.wait_state((d,), "one", "paused")

    # 7

    def test_07_concurrent_create_of_one_name(self):
        topic = "cluster.race"
        a, b = self.start_cluster("race", ("a", "b"))
        for round_ in range(3):
            name = f"race{round_}"
            barrier = threading.Barrier(2)
            answers = {}

            def create(server, wait_ms):
                spec = self.spec(name, topic, batch={"max_records": 100, "max_wait_ms": wait_ms})
                barrier.wait(timeout=10)
                answers[server.instance] = server.json("POST", "/consumers", spec)

            threads = [threading.Thread(target=create, args=(a, 211)), threading.Thread(target=create, args=(b, 322))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            self.assertEqual(sorted(answers), ["a", "b"], f"both requests answered: {answers}")
            statuses = sorted(status for status, _ in answers.values())
            self.assertEqual(statuses, [201, 409], f"round {round_}: one 201 and one 409: {answers}")
            winner = next(i for i, (status, _) in answers.items() if status == 201)
            loser = next(i for i, (status, _) in answers.items() if status == 409)
            code = answers[loser][1]["error"]["code"]
            self.assertIn(code, ("consumer_exists", "conflict"), answers[loser])
            wait_ms = {"a": 211, "b": 322}[winner]
            for server in (a, b):
                eventually(lambda: (self.resource(server, name)["spec"]["batch"]["max_wait_ms"] == wait_ms,
                                    self.resource(server, name)["spec"]["batch"]),
                           15, f"{server.instance} to hold the winner's ({winner}) spec of {name}")
            time.sleep(1)  # the loser's spec must not arrive later: an absence, checked over a window
            for server in (a, b):
                self.assertEqual(self.resource(server, name)["spec"]["batch"]["max_wait_ms"], wait_ms,
                                 f"the loser's spec never replaces the winner's on {server.instance}")
            print(f"\n  round {round_}: {winner} got 201, {loser} got 409 {code}", flush=True)

    # 8

    def test_08a_secrets_are_sealed_in_the_config_topic(self):
        topic = "cluster.sealed"
        key = write_key(os.path.join(self.workdir, "sealed.key"))
        a, b = self.start_cluster("sealed", ("a", "b"), extra=["--secrets-key-file", key])
        kafka = dict(FAST, **{"auto.offset.reset": "earliest", "sasl.username": "app", "sasl.password": SECRET})
        self.register(a, "sealed", topic, kafka=kafka)
        self.register(a, "redis", topic, autostart=False,
                      sink={"type": "redis", "url": f"redis://:{SINK_SECRET}@127.0.0.1:6390/0", "mode": "stream"})
        for server in (a, b):
            eventually(lambda: (server.request("GET", "/consumers/redis")[0] == 200, server.request("GET", "/consumers/redis")[:2]),
                       15, f"both consumers on {server.instance}")
            status, payload, _ = server.request("GET", "/consumers/sealed")
            self.assertEqual(status, 200)
            self.assertNotIn(SECRET.encode(), payload, f"GET /consumers/sealed on {server.instance}")
            self.assertEqual(json.loads(payload)["spec"]["kafka"]["sasl.password"], "********")
            status, payload, _ = server.request("GET", "/consumers/redis")
            self.assertNotIn(SINK_SECRET.encode(), payload, f"GET /consumers/redis on {server.instance}")
            self.assertEqual(json.loads(payload)["spec"]["sink"]["url"], "redis://:********@127.0.0.1:6390/0")

        records = raw_records(self.bootstrap, config_topic("sealed"))
        self.assertTrue(records, f"{config_topic('sealed')} holds the registry")
        self.assertEqual(leaks(records, SECRET), [], "the Kafka password is not in the config topic")
        self.assertEqual(leaks(records, SINK_SECRET), [], "the sink URL's password is not in the config topic")

        self.wait_spread((a, b), "sealed", topic, ("a", "b"))
        produced = produce_ids(self.bootstrap, topic, range(300), PARTITIONS)
        eventually(lambda: (len(set(self.delivered((a, b), "sealed"))) >= 300, len(set(self.delivered((a, b), "sealed")))),
                   60, "the consumer with a sealed secret delivers on both instances")
        report = self.report("sealed secrets", produced, self.delivered((a, b), "sealed"))
        self.assertEqual(report.lost, 0)

    def test_08b_a_secret_without_a_key_is_refused(self):
        topic = "cluster.refused"
        (a,) = self.start_cluster("refused", ("a",))
        kafka = dict(FAST, **{"sasl.username": "app", "sasl.password": SECRET})
        status, body = a.json("POST", "/consumers", self.spec("refused", topic, kafka=kafka))
        self.assertEqual(status, 400, f"POST /consumers with kafka.sasl.password and no key: {body}")
        self.assertIn("--secrets-key-file", body["error"]["message"], body)
        self.assertEqual(a.request("GET", "/consumers/refused")[0], 404, "nothing registered")
        self.assertEqual(leaks(raw_records(self.bootstrap, config_topic("refused")), SECRET), [])
        status, body = a.json("POST", "/consumers", self.spec("refused2", topic, sink={
            "type": "redis", "url": f"redis://:{SINK_SECRET}@127.0.0.1:6390/0"}, autostart=False))
        self.assertEqual(status, 400, f"POST /consumers with a password in the sink URL and no key: {body}")
        self.assertIn("--secrets-key-file", body["error"]["message"], body)

    def test_08c_plaintext_secrets_in_the_topic_need_a_flag_to_start(self):
        topic = "cluster.plain"
        a = self.start("plain", "a", ["--allow-plaintext-secrets"])
        kafka = dict(FAST, **{"sasl.username": "app", "sasl.password": SECRET})
        self.register(a, "plain", topic, kafka=kafka)
        print(f"\n  with --allow-plaintext-secrets the topic holds the secret: "
              f"{bool(leaks(raw_records(self.bootstrap, config_topic('plain')), SECRET))}", flush=True)
        self.assertEqual(self.stop_all((a,)), [0])

        code, output = self.start_refused("plain", "x")
        self.assertNotEqual(code, 0, "a start on a topic with plaintext secrets and neither flag fails")
        self.assertIn("--secrets-key-file", output, f"exit {code}; output: {output[-2000:]}")
        # The refusal is about the secrets: with the flag the same start works.
        x = self.start("plain", "x", ["--allow-plaintext-secrets"])
        eventually(lambda: (x.request("GET", "/consumers/plain")[0] == 200, x.request("GET", "/consumers/plain")[:2]), 15,
                   "the registry on an instance started with --allow-plaintext-secrets")

    def test_08d_a_wrong_key_refuses_to_start(self):
        topic = "cluster.wrongkey"
        right = write_key(os.path.join(self.workdir, "right.key"))
        wrong = write_key(os.path.join(self.workdir, "wrong-cluster-key.hex"))
        a = self.start("wrongkey", "a", ["--secrets-key-file", right])
        kafka = dict(FAST, **{"sasl.username": "app", "sasl.password": SECRET})
        self.register(a, "locked", topic, kafka=kafka)
        self.assertEqual(self.stop_all((a,)), [0])

        code, output = self.start_refused("wrongkey", "b", ["--secrets-key-file", wrong])
        self.assertNotEqual(code, 0, "a start with a key that does not open the topic's secrets fails")
        self.assertIn("--secrets-key-file", output, f"exit {code}; output: {output[-2000:]}")
        self.assertIn("wrong-cluster-key.hex", output,
                      f"the message names the key file (its path, {wrong}); exit {code}; output: {output[-2000:]}")
        # The right key opens them.
        b = self.start("wrongkey", "b", ["--secrets-key-file", right])
        eventually(lambda: (b.request("GET", "/consumers/locked")[0] == 200, b.request("GET", "/consumers/locked")[:2]), 15,
                   "the registry on an instance with the right key")


if __name__ == "__main__":
    unittest.main()
