"""The status page at `/` in a real browser: headless Chromium (Debian's)
logs in with HTTP Basic and a token, renders the page, and the screenshot
shows what the API says (a green badge for the running consumer, a red one
for the failed one); the DOM Chromium built holds every consumer."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import urllib.request

from PIL import Image

from harness import FAST, DevBroker, Server, wait_for

TOKEN = "page-token-0123456789abcdef"
SIZE = (1280, 720)
# The badges' background colours in StatusPage.swift.
RUNNING_GREEN = (0xD1, 0xFA, 0xDF)
FAILED_RED = (0xFE, 0xE4, 0xE2)


def chromium(*args, timeout=90):
    """Headless Chromium; returns its stdout. No sandbox: tests may run as root."""
    result = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         f"--window-size={SIZE[0]},{SIZE[1]}", *args],
        capture_output=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"chromium exited {result.returncode}: {result.stderr.decode(errors='replace')[-2000:]}")
    return result.stdout.decode()


class StatusPage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="consumerd-page-")
        cls.broker = DevBroker(os.path.join(cls.workdir, "broker.log"), partitions=1, topics=["page.t"])
        tokens = os.path.join(cls.workdir, "tokens")
        with open(tokens, "w") as file:
            file.write(TOKEN + "\n")
        cls.data_dir = os.path.join(cls.workdir, "data")
        cls.server = Server(cls.data_dir, cls.broker.bootstrap, os.path.join(cls.workdir, "consumerd.log"),
                            extra=("--api-token-file", tokens), token=TOKEN)
        spec = {"name": "orders", "topics": ["page.t"], "batch": {"max_wait_ms": 100}, "kafka": FAST}
        assert cls.server.json("POST", "/consumers", spec)[0] == 201
        # A sink directory that is a file: the run fails at start, and the restart policy gives up.
        os.makedirs(os.path.join(cls.data_dir, "sinks"), exist_ok=True)
        open(os.path.join(cls.data_dir, "sinks", "blocked"), "w").close()
        broken = {"name": "broken", "topics": ["page.t"], "restart": {"policy": "never"},
                  "sink": {"type": "file", "path": "blocked/out.jsonl"}, "kafka": FAST}
        assert cls.server.json("POST", "/consumers", broken)[0] == 201
        wait_for(lambda: cls.server.status("orders")["state"] == "running", timeout=60, message="orders running")
        wait_for(lambda: cls.server.status("broken")["state"] == "failed", timeout=60, message="broken failed")

    @classmethod
    def tearDownClass(cls):
        try:
            cls.server.stop()
        finally:
            cls.broker.stop()
            shutil.rmtree(cls.workdir, ignore_errors=True)

    def url(self, with_token=True):
        host = self.server.base.split("://", 1)[1]
        return f"http://x:{TOKEN}@{host}/" if with_token else f"http://{host}/"

    def test_the_page_needs_a_token_and_a_browser_can_log_in(self):
        request = urllib.request.Request(self.url(with_token=False))
        with self.assertRaises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(request, timeout=30)
        self.assertEqual(raised.exception.code, 401)
        challenges = raised.exception.headers.get_all("WWW-Authenticate")
        self.assertTrue(any(c.startswith("Basic ") for c in challenges), challenges)
        self.assertTrue(any(c.startswith("Bearer ") for c in challenges), challenges)

        status, body, headers = self.server.request("GET", "/")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "text/html; charset=utf-8")
        self.assertIn("default-src 'none'", headers["Content-Security-Policy"])
        page = body.decode()
        self.assertIn('<meta http-equiv="refresh" content="5">', page)
        self.assertNotRegex(page, r"<script|src=\"http", "no script, no external asset")

    def test_chromium_renders_every_consumer(self):
        dom = chromium("--dump-dom", self.url())
        self.assertIn('id="consumer-orders"', dom)
        self.assertIn('id="consumer-broken"', dom)
        row = re.search(r'<tr id="consumer-broken">(.*?)</tr>', dom, re.S).group(1)
        self.assertIn('class="badge state-failed"', row)
        self.assertRegex(row, r"sink: .*blocked", "the failure is shown")
        overall = re.search(r'<strong class="overall-(\w+)" id="overall">', dom).group(1)
        _, health = self.server.json("GET", "/health")
        self.assertEqual(overall, health["overall_status"], "the page says what the API says")

    def test_screenshot_shows_the_states_in_colour(self):
        path = os.path.join(self.workdir, "page.png")
        chromium(f"--screenshot={path}", self.url())
        image = Image.open(path).convert("RGB")
        self.assertEqual(image.size, SIZE)
        colours = image.getcolors(maxcolors=SIZE[0] * SIZE[1])
        counts = {colour: count for count, colour in colours}
        self.assertGreater(len(counts), 50, "text was rendered, not a blank page")
        # Badges are a few hundred pixels each; exact colours, so no error page passes.
        self.assertGreater(counts.get(RUNNING_GREEN, 0), 200, "the running badge")
        self.assertGreater(counts.get(FAILED_RED, 0), 200, "the failed badge")


if __name__ == "__main__":
    unittest.main()
