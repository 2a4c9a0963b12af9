"""A small Confluent Schema Registry for tests: the endpoints consumerd and
confluent-kafka's AvroSerializer call, with the registry's own JSON shapes.

  POST /subjects/{subject}/versions   {"schema": "..."} -> {"id": n}   (same schema, same id)
  POST /subjects/{subject}            look a schema up under a subject
  GET  /schemas/ids/{id}              {"schema": "..."}; 404 {"error_code": 40403}
  GET  /subjects, /subjects/{subject}/versions, /subjects/{subject}/versions/{v|latest}

Usage: schema_registry.py [--port N] [--state FILE] [--user USER:PASSWORD]
Prints "listening on PORT" once serving. With --state, schemas survive a
restart (tests stop the registry and start it again on the same port).
"""

import argparse
import base64
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Registry:
    def __init__(self, state_path):
        self.lock = threading.Lock()
        self.state_path = state_path
        self.schemas = {}  # id -> schema text
        self.subjects = {}  # subject -> [id, ...] (versions in order)
        if state_path and os.path.exists(state_path):
            with open(state_path) as f:
                state = json.load(f)
            self.schemas = {int(k): v for k, v in state["schemas"].items()}
            self.subjects = state["subjects"]

    def save(self):
        if self.state_path:
            with open(self.state_path + ".tmp", "w") as f:
                json.dump({"schemas": self.schemas, "subjects": self.subjects}, f)
            os.replace(self.state_path + ".tmp", self.state_path)

    def register(self, subject, schema):
        with self.lock:
            schema_id = next((i for i, s in self.schemas.items() if s == schema), None)
            if schema_id is None:
                schema_id = max(self.schemas, default=0) + 1
                self.schemas[schema_id] = schema
            versions = self.subjects.setdefault(subject, [])
            if schema_id not in versions:
                versions.append(schema_id)
            self.save()
            return schema_id, versions.index(schema_id) + 1


class Handler(BaseHTTPRequestHandler):
    registry = None
    credentials = None

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorized(self):
        if self.credentials is None:
            return True
        expected = "Basic " + base64.b64encode(self.credentials.encode()).decode()
        if self.headers.get("Authorization") == expected:
            return True
        self.reply(401, {"error_code": 40101, "message": "Unauthorized"})
        return False

    def parts(self):
        return [p for p in self.path.split("?")[0].split("/") if p]

    def do_GET(self):
        if not self.authorized():
            return
        parts = self.parts()
        reg = self.registry
        if len(parts) == 3 and parts[:2] == ["schemas", "ids"] and parts[2].isdigit():
            schema = reg.schemas.get(int(parts[2]))
            if schema is None:
                return self.reply(404, {"error_code": 40403, "message": "Schema not found"})
            return self.reply(200, {"schema": schema})
        if parts == ["subjects"]:
            return self.reply(200, sorted(reg.subjects))
        if len(parts) >= 3 and parts[0] == "subjects" and parts[2] == "versions":
            versions = reg.subjects.get(parts[1])
            if versions is None:
                return self.reply(404, {"error_code": 40401, "message": "Subject not found"})
            if len(parts) == 3:
                return self.reply(200, list(range(1, len(versions) + 1)))
            wanted = len(versions) if parts[3] == "latest" else int(parts[3])
            if not 1 <= wanted <= len(versions):
                return self.reply(404, {"error_code": 40402, "message": "Version not found"})
            schema_id = versions[wanted - 1]
            return self.reply(200, {"subject": parts[1], "version": wanted, "id": schema_id, "schema": reg.schemas[schema_id]})
        self.reply(404, {"error_code": 404, "message": "not found"})

    def do_POST(self):
        if not self.authorized():
            return
        parts = self.parts()
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if len(parts) == 3 and parts[0] == "subjects" and parts[2] == "versions":
            schema_id, _ = self.registry.register(parts[1], body["schema"])
            return self.reply(200, {"id": schema_id})
        if len(parts) == 2 and parts[0] == "subjects":
            for version, schema_id in enumerate(self.registry.subjects.get(parts[1], []), 1):
                if self.registry.schemas[schema_id] == body["schema"]:
                    return self.reply(200, {"subject": parts[1], "version": version, "id": schema_id, "schema": body["schema"]})
            return self.reply(404, {"error_code": 40403, "message": "Schema not found"})
        self.reply(404, {"error_code": 404, "message": "not found"})


def main():
    # A parent's thread may have had signals blocked (librdkafka's threads
    # block them all), and children inherit the mask: SIGTERM must work here.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--state")
    parser.add_argument("--user")
    args = parser.parse_args()
    Handler.registry = Registry(args.state)
    Handler.credentials = args.user
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
