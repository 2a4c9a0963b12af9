"""An HTTP endpoint for the HTTP sink's tests: it records every POST and
can misbehave on purpose.

Usage: http_receiver.py [--fail-first N] [--refuse-id ID ...]
  prints "listening on PORT" first;
  --fail-first N   answers 503 to the first N POSTs (an outage);
  --refuse-id ID   answers 422 to any POST carrying a record whose value.id is ID.
GET /_received returns every accepted record (value objects, in arrival
order) with the Idempotency-Key of its request; GET /_requests returns
{count, statuses} for every POST answered.
"""

import argparse
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class State:
    def __init__(self, fail_first, refuse):
        self.lock = threading.Lock()
        self.fail_left = fail_first
        self.refuse = set(refuse)
        self.received = []
        self.statuses = []


def records(body, content_type):
    if content_type.startswith("application/x-ndjson"):
        return [json.loads(line) for line in body.decode().splitlines() if line]
    return json.loads(body)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        state = self.server.state
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        lines = records(body, self.headers.get("Content-Type", ""))
        with state.lock:
            if state.fail_left > 0:
                state.fail_left -= 1
                status = 503
            elif any(isinstance(r.get("value"), dict) and r["value"].get("id") in state.refuse for r in lines):
                status = 422
            else:
                status = 204
                key = self.headers.get("Idempotency-Key")
                auth = self.headers.get("Authorization")
                state.received.extend({"record": r, "idempotency_key": key, "authorization": auth} for r in lines)
            state.statuses.append(status)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        state = self.server.state
        with state.lock:
            if self.path == "/_received":
                payload = state.received
            elif self.path == "/_requests":
                payload = {"count": len(state.statuses), "statuses": state.statuses}
            else:
                self.send_response(404)
                self.end_headers()
                return
            data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def main():
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    parser = argparse.ArgumentParser()
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--refuse-id", type=int, action="append", default=[])
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.state = State(args.fail_first, args.refuse_id)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
