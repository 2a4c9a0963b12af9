"""Throwaway PostgreSQL and Redis servers for the sink tests, from Debian's
packages (postgresql, redis-server), on Unix sockets in a temporary
directory: no ports to race for, nothing left behind.

As a command:  servers.py postgresql|redis
  prints the server's URL on its first line, then reads commands on stdin,
  answering "ok" (or "error: ...") to each:
    stop    stop the server (its data stays)      start   start it again
  and removes everything when stdin closes or on SIGTERM.
As a module:   with Postgres() as pg: pg.url ... pg.stop(); pg.start()

PostgreSQL refuses to run as root: as root the server runs as the
`postgres` system user (runuser).
"""

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PG_BIN = "/usr/lib/postgresql/15/bin"


def as_postgres(command):
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + command
    return command


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}")


class Server:
    """A server process in a session of its own, with its files under `self.base`."""
    stop_signal = signal.SIGTERM

    def stop(self):
        if self.process and self.process.poll() is None:
            # To the whole session: runuser (PostgreSQL's wrapper) does not pass signals on.
            os.killpg(self.process.pid, self.stop_signal)
            self.process.wait(timeout=30)
        self.process = None

    def close(self):
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()


class Postgres(Server):
    stop_signal = signal.SIGINT  # fast shutdown: disconnects clients

    def __init__(self):
        self.base = tempfile.mkdtemp(prefix="consumerd-pg-")
        self.data = os.path.join(self.base, "data")
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.base, user.pw_uid, user.pw_gid)
        self.url = f"postgresql:///postgres?host={self.base}&user=postgres"
        self.process = None
        self.log = os.path.join(self.base, "postgres.log")
        subprocess.run(as_postgres([f"{PG_BIN}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres",
                                    "-E", "UTF8", "--no-sync"]), check=True, capture_output=True)
        self.start()

    def start(self):
        log = open(self.log, "ab")
        self.process = subprocess.Popen(
            as_postgres([f"{PG_BIN}/postgres", "-D", self.data, "-k", self.base, "-c", "listen_addresses=",
                         "-c", "fsync=off", "-c", "max_connections=50"]),
            stdout=log, stderr=log, start_new_session=True)
        log.close()
        wait_until(self.ready, 30, "PostgreSQL to accept connections")

    def ready(self):
        if self.process.poll() is not None:
            raise RuntimeError(f"postgres exited with {self.process.returncode}; see {self.log}")
        return subprocess.run([f"{PG_BIN}/pg_isready", "-q", "-h", self.base, "-U", "postgres"]).returncode == 0

class Redis(Server):
    def __init__(self):
        self.base = tempfile.mkdtemp(prefix="consumerd-redis-")
        self.socket = os.path.join(self.base, "redis.sock")
        self.url = f"unix://{self.socket}"
        self.process = None
        self.start()

    def start(self):
        log = open(os.path.join(self.base, "redis.log"), "ab")
        # Append-only with fsync on every write: a stop and start keeps every key.
        self.process = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", self.socket, "--unixsocketperm", "700", "--dir", self.base,
             "--save", "", "--appendonly", "yes", "--appendfsync", "always"],
            stdout=log, stderr=log, start_new_session=True)
        log.close()
        wait_until(self.ready, 30, "Redis to accept connections")

    def ready(self):
        if self.process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {self.process.returncode}")
        return subprocess.run(["redis-cli", "-s", self.socket, "ping"], capture_output=True).stdout.strip() == b"PONG"

    def cli(self, *arguments):
        return subprocess.run(["redis-cli", "-s", self.socket, *arguments], capture_output=True, check=True).stdout.decode()



def main():
    # Processes started from the Swift test runner inherit a blocked signal mask.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    kinds = {"postgresql": Postgres, "redis": Redis}
    if len(sys.argv) != 2 or sys.argv[1] not in kinds:
        sys.exit(f"usage: {sys.argv[0]} postgresql|redis")
    server = kinds[sys.argv[1]]()
    signal.signal(signal.SIGTERM, lambda *_: (server.close(), sys.exit(0)))
    print(server.url, flush=True)
    try:
        for line in sys.stdin:
            command = line.strip()
            try:
                if command == "stop":
                    server.stop()
                elif command == "start":
                    server.start()
                else:
                    raise ValueError(f"unknown command {command!r} (stop, start)")
                print("ok", flush=True)
            except Exception as error:  # reported to the caller
                print(f"error: {error}", flush=True)
    finally:
        server.close()


if __name__ == "__main__":
    main()
