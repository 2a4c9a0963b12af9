"""Schemathesis, a fuzzer nobody here wrote, against the served
openapi.yaml on a live server with a token: every operation gets generated
requests, valid and not; no answer may be a 5xx, and every answer must match
the document (status code, content type, headers, body schema)."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from harness import DevBroker, Server

TOKEN = "fuzz-token-0123456789abcdef"
EXAMPLES = 25  # per operation: bounded, so CI stays fast


class Fuzz(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="consumerd-fuzz-")
        self.broker = DevBroker(os.path.join(self.workdir, "broker.log"), partitions=1)
        tokens = os.path.join(self.workdir, "tokens")
        with open(tokens, "w") as handle:
            handle.write(TOKEN + "\n")
        self.server = Server(os.path.join(self.workdir, "data"), self.broker.bootstrap,
                             os.path.join(self.workdir, "server.log"), extra=("--api-token-file", tokens), token=TOKEN)

    def tearDown(self):
        self.server.stop()
        self.broker.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def test_every_operation_answers_as_documented(self):
        schemathesis = os.path.join(os.path.dirname(sys.executable), "st")
        result = subprocess.run(
            [schemathesis, "run", f"{self.server.base}/openapi.yaml", "--base-url", self.server.base,
             "-H", f"Authorization: Bearer {TOKEN}",
             "--checks", "all", "--hypothesis-max-examples", str(EXAMPLES), "--hypothesis-deadline", "None",
             "--hypothesis-seed", "20261126", "--hypothesis-suppress-health-check", "all",
             "--request-timeout", "20000", "--no-color", "--experimental=openapi-3.1"],
            capture_output=True, text=True, timeout=900, cwd=self.workdir,
            env={**os.environ, "SCHEMATHESIS_HOOKS": "fuzz_hooks", "PYTHONPATH": os.path.dirname(os.path.abspath(__file__))})
        summary = [line for line in result.stdout.splitlines() if "passed" in line or "failed" in line or "errored" in line]
        print("\n  schemathesis: " + (summary[-1].strip("= ") if summary else "(no summary)"))
        self.assertEqual(result.returncode, 0, result.stdout[-12000:] + result.stderr[-3000:])
        self.assertTrue(self.server.alive())


if __name__ == "__main__":
    unittest.main()
