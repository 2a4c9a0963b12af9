"""End-to-end: `consumerd ctl export DIR` on one server, `ctl apply -f DIR`
on another, the way from a single-node consumerd to a cluster (or back).

    CONSUMERD_BINARY=... .venv/bin/python -m unittest discover -s Tests/e2e -p test_ctl_export.py -v
"""

import json
import os
import shutil
import stat
import tempfile
import unittest

from harness import FAST, DevBroker, Server, ServerLogOnFailure
from test_ctl import ctl

TOPIC = "export.orders"
MASK = "********"  # KafkaConfig.redactedValue
PASSWORD = "s3cret-pw"
WARNING = "warning: these specs hold masked secrets; put the real values back before `ctl apply`"

BROKER = None
WORKDIR = None


def setUpModule():
    global BROKER, WORKDIR
    WORKDIR = tempfile.mkdtemp(prefix="consumerd-e2e-export-")
    BROKER = DevBroker(os.path.join(WORKDIR, "broker.log"), partitions=1, topics=[TOPIC])


def tearDownModule():
    BROKER.stop()
    if os.environ.get("KEEP_E2E"):
        print(f"kept {WORKDIR}")
    else:
        shutil.rmtree(WORKDIR, ignore_errors=True)


def keys_sorted(text):
    """Whether every object in the JSON text has its keys in sorted order."""
    ordered = []
    json.loads(text, object_pairs_hook=lambda pairs: ordered.append([k for k, _ in pairs]) or dict(pairs))
    return all(keys == sorted(keys) for keys in ordered)


class CtlExport(ServerLogOnFailure, unittest.TestCase):
    server = None

    def start_server(self, name):
        workdir = tempfile.mkdtemp(prefix=f"{name}-", dir=WORKDIR)
        data_dir = os.path.join(workdir, "data")
        server = Server(data_dir, BROKER.bootstrap, os.path.join(workdir, "consumerd.log"))
        self.addCleanup(server.stop)
        return server, data_dir

    def specs(self, server):
        status, body = server.json("GET", "/consumers")
        self.assertEqual(status, 200, body)
        result = {}
        for name in sorted(c["name"] for c in body["consumers"]):
            status, resource = server.json("GET", f"/consumers/{name}")
            self.assertEqual(status, 200, resource)
            result[name] = resource["spec"]
        return result

    def test_export_then_apply_on_a_fresh_server(self):
        self.server, _ = self.start_server("one")
        pg_url = f"postgresql://app:{PASSWORD}@127.0.0.1:5432/orders"
        for spec in (
            {"name": "orders", "topics": [TOPIC], "batch": {"max_records": 100, "max_wait_ms": 100},
             "sink": {"type": "file"}, "kafka": dict(FAST)},
            {"name": "pg-orders", "topics": [TOPIC], "autostart": False, "kafka": dict(FAST),
             "sink": {"type": "postgresql", "url": pg_url, "table": "orders", "create_table": True}},
        ):
            status, body = self.server.json("POST", "/consumers", spec)
            self.assertEqual(status, 201, body)
        before = self.specs(self.server)
        self.assertEqual(sorted(before), ["orders", "pg-orders"])
        self.assertEqual(before["pg-orders"]["sink"]["url"], f"postgresql://app:{MASK}@127.0.0.1:5432/orders")

        # Export into a directory that does not exist yet (nor its parent).
        directory = os.path.join(WORKDIR, "exported", "specs")
        files = {name: os.path.join(directory, f"{name}.json") for name in before}
        result = ctl("export", directory, base=self.server.base)
        self.assertEqual(result.returncode, 0, result.stderr + result.stdout)
        self.assertEqual(result.stdout, "".join(f"wrote {files[name]}\n" for name in sorted(files)))
        self.assertEqual(result.stderr, f"{WARNING}: {files['pg-orders']}\n")
        self.assertEqual(stat.S_IMODE(os.stat(directory).st_mode), 0o700)
        self.assertEqual(sorted(os.listdir(directory)), ["orders.json", "pg-orders.json"])
        for name, path in files.items():
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600, path)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            self.assertEqual(json.loads(text), before[name], path)
            self.assertTrue(keys_sorted(text), f"{path}: keys not sorted:\n{text}")
            self.assertIn("\n  ", text, f"{path} is not pretty-printed")
            self.assertEqual(MASK in text, name == "pg-orders", path)

        # Existing files are kept unless --force.
        with open(files["orders"], "a", encoding="utf-8") as f:
            f.write("\n")
        again = ctl("export", directory, base=self.server.base)
        self.assertEqual(again.returncode, 1, again.stdout)
        self.assertIn("already exist", again.stderr)
        self.assertIn(files["orders"], again.stderr)
        self.assertEqual(again.stdout, "")
        with open(files["orders"], encoding="utf-8") as f:
            self.assertTrue(f.read().endswith("}\n\n"), "the refused export wrote anyway")
        forced = ctl("export", directory, "--force", "-o", "json", base=self.server.base)
        self.assertEqual(forced.returncode, 0, forced.stderr)
        document = json.loads(forced.stdout)
        self.assertEqual(document["files"], [
            {"name": "orders", "path": files["orders"], "masked_secrets": False},
            {"name": "pg-orders", "path": files["pg-orders"], "masked_secrets": True}])
        self.assertEqual(forced.stderr, f"{WARNING}: {files['pg-orders']}\n")
        with open(files["orders"], encoding="utf-8") as f:
            self.assertEqual(json.loads(f.read()), before["orders"])
        self.assertEqual(sorted(os.listdir(directory)), ["orders.json", "pg-orders.json"], "a temporary file was left")

        # Put the real password back, as the warning says, and apply on a fresh server.
        with open(files["pg-orders"], encoding="utf-8") as f:
            text = f.read()
        with open(files["pg-orders"], "w", encoding="utf-8") as f:
            f.write(text.replace(MASK, PASSWORD))
        two, data_two = self.start_server("two")
        self.assertEqual(self.specs(two), {})
        applied = ctl("apply", "-f", directory, base=two.base)
        self.assertEqual(applied.returncode, 0, applied.stderr + applied.stdout)
        self.assertEqual(applied.stderr, "")
        self.assertIn("Applied: 2 ok, 0 failed.", applied.stdout)
        self.assertEqual(self.specs(two), before)
        # The real password arrived (GET shows it masked on both servers).
        with open(os.path.join(data_two, "consumers", "pg-orders.json"), encoding="utf-8") as f:
            stored = f.read()
        self.assertIn(pg_url, stored)
        self.assertNotIn(MASK, stored)
        # Applying the same files again changes nothing.
        plan = ctl("apply", "-f", directory, "--dry-run", "-o", "json", base=two.base)
        self.assertEqual(plan.returncode, 0, plan.stderr)
        self.assertEqual([s["action"] for s in json.loads(plan.stdout)["steps"]], ["unchanged", "unchanged"])

    def test_export_of_an_empty_server(self):
        self.server, _ = self.start_server("empty")
        directory = os.path.join(WORKDIR, "empty-export")
        result = ctl("export", directory, base=self.server.base)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr, "")
        self.assertEqual(os.listdir(directory), [])


if __name__ == "__main__":
    unittest.main()
