"""A stand-in for a webhook receiver on the internet (a Discord channel, a Slack app, a customer's
endpoint), run as its own process by the tests:

    python tests/standins/webhook_receiver.py --host 0.0.0.0 --port 0

It prints `listening <port>` once ready. Every request (any method, any path but /_control/...) is
recorded (method, path, headers, body as base64 and text, the local address it arrived on, when its
body had been read: `received_at`, unix time) and
answered with the next entry of the script (then the last entry again; 204 when there is none). An
entry is a status, or {"status": 429, "headers": {...}, "body": "..."}.

Control (not recorded):
    GET  /_control/requests   the recorded requests, as JSON
    POST /_control/script     body: a JSON list of entries; also clears the recorded requests
"""

import argparse
import base64
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
recorded: list[dict] = []
script: list = []
served = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self, status: int, body: bytes = b"", headers: dict | None = None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, str(value))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _control(self, body: bytes):
        global script, served
        if self.command == "GET" and self.path == "/_control/requests":
            with lock:
                data = json.dumps(recorded).encode()
            return self._answer(200, data, {"Content-Type": "application/json"})
        if self.command == "POST" and self.path == "/_control/script":
            with lock:
                script, served = json.loads(body or b"[]"), 0
                recorded.clear()
            return self._answer(204)
        return self._answer(404)

    def _handle(self):
        global served
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        received_at = time.time()
        if self.path.startswith("/_control/"):
            return self._control(body)
        with lock:
            recorded.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers.items()),
                    "body": body.decode("utf-8", "replace"),
                    "body_b64": base64.b64encode(body).decode(),
                    "local": self.connection.getsockname()[0],
                    "received_at": received_at,
                }
            )
            entry = script[min(served, len(script) - 1)] if script else 204
            served += 1
        if isinstance(entry, int):
            entry = {"status": entry}
        self._answer(entry["status"], entry.get("body", "").encode(), entry.get("headers"))

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

    def log_message(self, *args):
        pass


class IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", action="append", help="an address to listen on (repeatable)")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    port, servers = args.port, []
    for host in args.host or ["127.0.0.1"]:  # the same port on each address (the first picks it)
        server = (IPv6Server if ":" in host else ThreadingHTTPServer)((host, port), Handler)
        server.daemon_threads = True
        port = server.server_address[1]
        servers.append(server)
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"listening {port}", flush=True)
    servers[0].serve_forever()  # until the test terminates the process


if __name__ == "__main__":
    main()
