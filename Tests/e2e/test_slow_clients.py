"""Slow and hostile HTTP clients must not keep others from being served:
slowloris (a header byte at a time), a flood of connections from one
address, a huge header, a body that never ends. A normal client's latency
is measured while they hold their connections."""

import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import unittest

from harness import DevBroker, Server, wait_for

REQUEST_TIMEOUT = 3  # --http-request-timeout for these servers, seconds


class Trickler:
    """Holds `count` connections from `source`, each sending a request head
    one byte every `interval` seconds, and notes which the server closed."""

    def __init__(self, port, count, source="127.0.0.1", interval=0.5,
                 head=b"GET /health/live HTTP/1.1\r\nHost: consumerd\r\nX-Slow: " + b"a" * 200):
        self.sockets = []
        for _ in range(count):
            connection = socket.socket()
            connection.bind((source, 0))
            connection.connect(("127.0.0.1", port))
            self.sockets.append(connection)
        self.closed = set()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(head, interval), daemon=True)
        self.thread.start()

    def _run(self, head, interval):
        for byte in head:
            if self.stopping.is_set():
                return
            for index, connection in enumerate(self.sockets):
                if index in self.closed:
                    continue
                try:
                    connection.send(bytes([byte]))
                except OSError:
                    self.closed.add(index)
            time.sleep(interval)

    def open_count(self):
        """Connections the server still holds (a closed one reads EOF or errors)."""
        still_open = 0
        for index, connection in enumerate(self.sockets):
            if index in self.closed:
                continue
            connection.setblocking(False)
            try:
                if connection.recv(1, socket.MSG_PEEK) == b"":
                    self.closed.add(index)
                    continue
            except BlockingIOError:
                pass
            except OSError:
                self.closed.add(index)
                continue
            still_open += 1
        return still_open

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=5)
        for connection in self.sockets:
            connection.close()


def timed_get(base, path, source="127.0.0.1"):
    """Seconds for one curl GET from `source`, and its status."""
    started = time.monotonic()
    result = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "10", "--interface", source,
                             base + path], capture_output=True, text=True)
    return time.monotonic() - started, result.stdout


class SlowClients(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="consumerd-slow-")
        self.broker = DevBroker(os.path.join(self.workdir, "broker.log"), partitions=1)
        self.server = Server(os.path.join(self.workdir, "data"), self.broker.bootstrap, os.path.join(self.workdir, "server.log"),
                             extra=("--http-request-timeout", str(REQUEST_TIMEOUT)))
        self.port = int(self.server.base.rsplit(":", 1)[1])
        self.tricklers = []

    def tearDown(self):
        for trickler in self.tricklers:
            trickler.stop()
        self.server.stop()
        self.broker.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def latencies(self, count=20, source="127.0.0.1"):
        timings = []
        for index in range(count):
            seconds, status = timed_get(self.server.base, "/health/live" if index % 2 else "/consumers", source)
            self.assertEqual(status, "200", f"request {index} from {source}")
            timings.append(seconds)
        return timings

    def test_slowloris_is_cut_off_and_others_are_served_meanwhile(self):
        baseline = self.latencies()
        slow = Trickler(self.port, 50)
        self.tricklers.append(slow)
        time.sleep(1)
        self.assertEqual(slow.open_count(), 50, "the slow clients are connected")
        during = self.latencies()
        print(f"\n  latency with 50 slow clients: p50 {statistics.median(during) * 1000:.1f} ms, "
              f"max {max(during) * 1000:.1f} ms (alone: p50 {statistics.median(baseline) * 1000:.1f} ms, "
              f"max {max(baseline) * 1000:.1f} ms)")
        self.assertLess(max(during), 1.0, during)
        wait_for(lambda: slow.open_count() == 0, timeout=REQUEST_TIMEOUT + 5,
                 message="the server to disconnect clients that do not finish a request in time")

    def test_a_flood_from_one_address_leaves_room_for_others(self):
        flood = Trickler(self.port, 300)
        self.tricklers.append(flood)
        time.sleep(1)
        held = flood.open_count()
        self.assertLessEqual(held, 64, "one address holds at most --http-connections-per-client connections")
        during = self.latencies(source="127.0.0.2")
        print(f"\n  300 connections from one address: {held} held; another address: p50 "
              f"{statistics.median(during) * 1000:.1f} ms, max {max(during) * 1000:.1f} ms")
        self.assertLess(max(during), 1.0, during)

    def test_huge_headers_and_endless_bodies(self):
        huge = socket.create_connection(("127.0.0.1", self.port))
        try:
            huge.sendall(b"GET /consumers HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
        except OSError:
            pass  # refused part-way: fine
        endless = socket.create_connection(("127.0.0.1", self.port))
        endless.sendall(b"POST /consumers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
        self.assertEqual(self.latencies(count=6)[0] < 1.0, True)

        def closed(connection):
            connection.settimeout(0.2)
            try:
                while True:
                    if connection.recv(65536) == b"":
                        return True
            except socket.timeout:
                return False
            except OSError:
                return True

        wait_for(lambda: closed(huge), timeout=REQUEST_TIMEOUT + 5, message="the huge header's connection to close")
        wait_for(lambda: closed(endless), timeout=REQUEST_TIMEOUT + 5, message="the endless body's connection to close")
        huge.close()
        endless.close()


if __name__ == "__main__":
    unittest.main()
