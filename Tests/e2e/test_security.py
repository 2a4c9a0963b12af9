"""The control plane on a network: bearer tokens (admin and read-only), the
open probes, TLS with a certificate made here by openssl, the audit log,
the refusal to serve an open API off loopback, and client properties a spec
may not set. Requests go through curl, a client nobody here wrote."""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import BINARY, FAST, DevBroker, Server

ADMIN = "admin-token-0123456789abcdef"
READER = "reader-token-0123456789abcdef"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificate(directory, name):
    """A self-signed certificate for 127.0.0.1 and its key: NAME.crt, NAME.key."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
            "-subj", "/CN=consumerd-test", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", f"{name}.key", "-out", f"{name}.crt", cwd=directory)
    return os.path.join(directory, f"{name}.crt"), os.path.join(directory, f"{name}.key")


class Security(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="consumerd-security-")
        self.broker = DevBroker(os.path.join(self.workdir, "broker.log"), partitions=1, topics=["secure.t"])
        self.tokens = os.path.join(self.workdir, "tokens")
        with open(self.tokens, "w") as tokens:
            tokens.write(f"# operators\n{ADMIN}\n{READER}:read-only\n")
        self.certificate, self.key = make_certificate(self.workdir, "server")
        self.servers = []

    def tearDown(self):
        for server in self.servers:
            if server.process.poll() is None:
                server.stop()
        self.broker.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def start(self, *extra, tls=True, name="data"):
        server = Server(
            os.path.join(self.workdir, name), self.broker.bootstrap, os.path.join(self.workdir, f"{name}.log"),
            extra=("--api-token-file", self.tokens, *(("--tls-cert", self.certificate, "--tls-key", self.key) if tls else ()),
                   *extra),
            token=ADMIN, ca_file=self.certificate if tls else None)
        self.servers.append(server)
        return server

    def curl(self, server, method, path, token=None, body=None):
        """(status, headers text, body) through curl, verifying the test CA."""
        command = ["curl", "-sS", "-m", "30", "-X", method, "-D", "-", "--cacert", self.certificate]
        if token:
            command += ["-H", f"Authorization: Bearer {token}"]
        if body is not None:
            command += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
        output = subprocess.run(command + [server.base + path], capture_output=True, text=True, check=True).stdout
        head, _, payload = output.partition("\n\n")  # text mode turned CRLF into LF
        return int(head.split()[1]), head, payload

    def refused_start(self, *arguments, environment=None):
        """Runs `consumerd serve` expecting it to refuse; returns (exit code, stderr)."""
        result = subprocess.run(
            [BINARY, "serve", "--data-dir", os.path.join(self.workdir, "refused"), "--bootstrap-servers",
             self.broker.bootstrap, *arguments],
            capture_output=True, text=True, timeout=30, env={**os.environ, **(environment or {})})
        return result.returncode, result.stderr

    def test_tokens_roles_probes_and_audit(self):
        server = self.start()
        self.assertTrue(server.base.startswith("https://"))
        spec = {"name": "secured", "topics": ["secure.t"], "autostart": False, "kafka": FAST}

        status, head, body = self.curl(server, "POST", "/consumers", body=spec)
        self.assertEqual(status, 401, body)
        self.assertIn('www-authenticate: bearer realm="consumerd"', head.lower())
        self.assertEqual(json.loads(body)["error"]["code"], "unauthorized")
        status, head, _ = self.curl(server, "GET", "/consumers", token="not-a-real-token-at-all")
        self.assertEqual(status, 401)
        self.assertIn('error="invalid_token"', head)
        self.assertEqual(self.curl(server, "GET", "/nothing/here")[0], 401, "unknown paths say nothing without a token")

        self.assertEqual(self.curl(server, "GET", "/consumers", token=READER)[0], 200)
        status, _, body = self.curl(server, "POST", "/consumers", token=READER, body=spec)
        self.assertEqual(status, 403, body)
        self.assertEqual(json.loads(body)["error"]["code"], "forbidden")
        status, _, body = self.curl(server, "POST", "/consumers", token=ADMIN, body=spec)
        self.assertEqual(status, 201, body)
        self.assertEqual(self.curl(server, "DELETE", "/consumers/secured", token=ADMIN)[0], 204)

        for open_path in ("/health/live", "/health/ready", "/metrics"):
            self.assertEqual(self.curl(server, "GET", open_path)[0], 200, open_path)
        self.assertEqual(self.curl(server, "GET", "/health")[0], 401, "health detail names consumers: behind a token")

        audit = []
        with open(server.log_path) as log:
            text = log.read()
        for line in text.splitlines():
            if line.startswith("{"):
                entry = json.loads(line)
                if entry.get("logger") == "consumerd.audit":
                    audit.append(entry)
        self.assertNotIn(ADMIN, text, "a token never reaches the log")
        self.assertNotIn(READER, text)
        seen = [(entry["method"], entry["path"], entry["status"], entry["principal"]) for entry in audit]
        self.assertEqual([(method, path, status) for method, path, status, _ in seen], [
            ("POST", "/consumers", 401), ("POST", "/consumers", 403), ("POST", "/consumers", 201),
            ("DELETE", "/consumers/secured", 204)], seen)
        self.assertEqual(seen[0][3], "none")
        self.assertTrue(seen[1][3].startswith("token-") and seen[2][3].startswith("token-") and seen[1][3] != seen[2][3])
        self.assertEqual(audit[3]["consumer"], "secured")
        self.assertTrue(all(isinstance(entry["duration_ms"], float) and entry["duration_ms"] >= 0 for entry in audit))

    def test_metrics_auth_and_plain_http_rejected_on_tls(self):
        server = self.start("--metrics-auth")
        self.assertEqual(self.curl(server, "GET", "/metrics")[0], 401)
        self.assertEqual(self.curl(server, "GET", "/metrics", token=READER)[0], 200)
        self.assertEqual(self.curl(server, "GET", "/health/ready")[0], 200)
        plain = subprocess.run(["curl", "-s", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}",
                                server.base.replace("https://", "http://") + "/health/live"], capture_output=True, text=True)
        self.assertNotEqual(plain.stdout, "200", "the TLS port does not speak plain HTTP")

    def test_start_up_refusals(self):
        code, error = self.refused_start("--listen", "0.0.0.0:0")
        self.assertEqual(code, 1, error)
        self.assertIn("refusing to serve the API on 0.0.0.0 without authentication", error)
        self.assertIn("--insecure-no-auth", error)

        _, other_key = make_certificate(self.workdir, "other")
        code, error = self.refused_start("--tls-cert", self.certificate, "--tls-key", other_key)
        self.assertEqual(code, 1, error)
        self.assertIn("cannot use TLS certificate", error)
        code, error = self.refused_start("--tls-cert", self.certificate, "--tls-key", os.path.join(self.workdir, "missing.key"))
        self.assertEqual(code, 1, error)
        self.assertIn("cannot read the TLS key", error)

        short = os.path.join(self.workdir, "short-tokens")
        with open(short, "w") as tokens:
            tokens.write("abc\n")
        code, error = self.refused_start("--api-token-file", short)
        self.assertEqual(code, 1, error)
        self.assertIn("line 1: a token must be at least 16 characters", error)
        code, error = self.refused_start("--api-token-file", self.tokens, "--kafka-config", self.tokens)
        self.assertNotEqual(code, 0)
        self.assertIn("--kafka-config", error)

        # The operator may accept the risk explicitly.
        server = Server(os.path.join(self.workdir, "open"), self.broker.bootstrap, os.path.join(self.workdir, "open.log"),
                        extra=("--listen", "0.0.0.0:0", "--insecure-no-auth"))
        self.servers.append(server)
        self.assertEqual(server.request("GET", "/consumers")[0], 200, "no tokens: the API is open")

    def test_properties_a_spec_may_not_set(self):
        server = self.start(tls=False)
        base = {"topics": ["secure.t"], "autostart": False}
        refused = {
            "debug": "all",
            "enable.ssl.certificate.verification": "false",
            "sasl.kerberos.kinit.cmd": "touch /tmp/owned",
            "plugin.library.paths": "/tmp/evil.so",
            "ssl.ca.location": "/etc/shadow",
            "bootstrap.servers": "evil:9092",
            "sasl.kerberos.principal": "kafka/$(touch /tmp/owned)@REALM",
            "sasl.kerberos.service.name": "kafka;id",
        }
        for index, (name, value) in enumerate(sorted(refused.items())):
            status, body = server.json("POST", "/consumers", {**base, "name": f"bad{index}", "kafka": {name: value}})
            self.assertEqual(status, 400, (name, body))
            self.assertEqual(body["error"]["field"], f"kafka.{name}", body)
        status, body = server.json("POST", "/consumers", {
            **base, "name": "kerberos", "kafka": {"sasl.kerberos.principal": "kafka/broker.example.com@EXAMPLE.COM",
                                                  "sasl.kerberos.service.name": "kafka"}})
        self.assertEqual(status, 201, body)


if __name__ == "__main__":
    unittest.main()
