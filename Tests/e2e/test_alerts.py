"""Alert webhooks: the server's `--alert-webhook` and a consumer's
`alerts.webhook` receive a JSON event on every state or health change,
retried when the receiver fails."""

import http.server
import json
import os
import shutil
import tempfile
import threading
import unittest

from confluent_kafka import Producer

from harness import FAST, DevBroker, Server, wait_for


class Receiver(http.server.ThreadingHTTPServer):
    """Records every POSTed event by path; answers 500 to the first
    `failures[path]` requests on a path."""

    def __init__(self):
        self.events = {}
        self.failures = {}
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), Handler)

    def url(self, path):
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def received(self, path):
        with self.lock:
            return list(self.events.get(path, []))


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            if self.server.failures.get(self.path, 0) > 0:
                self.server.failures[self.path] -= 1
                self.send_response(500)
                self.end_headers()
                return
            assert self.headers["Content-Type"] == "application/json"
            self.server.events.setdefault(self.path, []).append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


class Alerts(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="consumerd-alerts-")
        self.receiver = Receiver()
        threading.Thread(target=self.receiver.serve_forever, daemon=True).start()
        self.broker = DevBroker(os.path.join(self.workdir, "broker.log"), partitions=1, topics=["alerts.t"])
        self.data_dir = os.path.join(self.workdir, "data")
        self.server = Server(self.data_dir, self.broker.bootstrap, os.path.join(self.workdir, "consumerd.log"),
                             ["--alert-webhook", self.receiver.url("/server")])

    def tearDown(self):
        self.server.stop()
        self.broker.stop()
        self.receiver.shutdown()
        self.receiver.server_close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def test_state_and_health_changes_reach_both_webhooks(self):
        # The sink's path is a directory: every run fails until it is removed.
        blocked = os.path.join(self.data_dir, "sinks", "flaky.jsonl")
        os.makedirs(blocked)
        self.receiver.failures["/consumer"] = 2
        status, body = self.server.json("POST", "/consumers", {
            "name": "flaky", "topics": ["alerts.t"], "kafka": FAST,
            "restart": {"initial_backoff_ms": 500, "max_backoff_ms": 1000},
            "alerts": {"webhook": self.receiver.url("/consumer?token=s3cret")}})
        self.assertEqual(status, 201, body)
        self.assertEqual(body["spec"]["alerts"]["webhook"], self.receiver.url("/********"), "the webhook URL is masked")

        def unhealthy_event(path):
            return any(e["consumer"] == "flaky" and e["health"] == "unhealthy" for e in self.receiver.received(path))

        wait_for(lambda: unhealthy_event("/server"), timeout=30, message="an unhealthy event on the server webhook")
        wait_for(lambda: unhealthy_event("/consumer?token=s3cret"), timeout=30,
                 message="the same event on the consumer's webhook, after two failed attempts")
        event = next(e for e in self.receiver.received("/server") if e["health"] == "unhealthy")
        self.assertEqual(event["event"], "consumer.changed")
        self.assertEqual(event["group_id"], "consumerd-flaky")
        self.assertFalse(event["is_healthy"])
        self.assertTrue(event["reason"])
        self.assertIn("previous_health", event)
        self.assertTrue(event["source"])

        os.rmdir(blocked)
        # Recovered means a committed batch (or a minute of running without failing).
        producer = Producer({"bootstrap.servers": self.broker.bootstrap})
        producer.produce("alerts.t", b'{"n": 1}')
        self.assertEqual(producer.flush(10), 0)
        wait_for(lambda: any(e["health"] == "healthy" and e["state"] == "running" for e in self.receiver.received("/server")),
                 timeout=30, message="a recovery event")
        status, _, _ = self.server.request("DELETE", "/consumers/flaky?wait=30")
        self.assertEqual(status, 204)
        wait_for(lambda: any(e["event"] == "consumer.deleted" for e in self.receiver.received("/server")),
                 timeout=10, message="a deletion event")
        metrics = self.server.request("GET", "/metrics")[1].decode()
        delivered = next(line for line in metrics.splitlines() if line.startswith('consumerd_alerts_total{result="delivered"}'))
        self.assertGreaterEqual(float(delivered.split()[-1]), 4)
        for path in ("/server", "/consumer?token=s3cret"):
            print(f"\n  {path}: " + ", ".join(f"{e['previous_state']}/{e['previous_health']} -> {e['state']}/{e['health']}"
                                            for e in self.receiver.received(path)), flush=True)


if __name__ == "__main__":
    unittest.main()
