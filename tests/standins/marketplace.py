"""A stand-in for the four public marketplaces the panel installs from, run as its own process by
the tests (tests/fixtures/marketplace.py):

    python tests/standins/marketplace.py --host 127.0.0.42 --host 127.0.0.1 --port 0

It prints `listening <port>` once ready (the same port on every --host). Each source answers under
its prefix as the real service does at its base URL, from the catalog in marketplace_catalog.py:

    /modrinth/...    api.modrinth.com (v2)       marketplace_modrinth.py
    /hangar/...      hangar.papermc.io (api/v1)  marketplace_hangar.py
    /spiget/...      api.spiget.org (v2)         marketplace_spiget.py
    /curseforge/...  api.curseforge.com (v1)     marketplace_curseforge.py
    /cdn/...         the files, FILES[path] (the modpack built for the address asked)

Absolute URLs in answers use the request's Host header. Every request but /_control/... is
recorded. Control (never recorded, on any host):

    POST /_control/reset      clear faults, recorded requests and the rate-limit counter (and its limits)
    GET  /_control/requests   the recorded requests: [{method, path, query, headers, body, local}]
    POST /_control/faults     append faults: a JSON list of {"match": path prefix, "times": N or null,
                              and one of "status" (+ "headers", "body"), "redirect": url,
                              "size": N (+ "length": false), "corrupt": true; "delay": seconds
                              combines with any of them or stands alone}
    POST /_control/ratelimit  {"limit": N, "window": seconds}: Modrinth's limit (300 a 60 s window)
"""

import argparse
import json
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

if __package__ in (None, ""):  # run as a script: make `tests.standins` importable from the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.standins import (
    marketplace_catalog,
    marketplace_curseforge,
    marketplace_hangar,
    marketplace_modrinth,
    marketplace_spiget,
)
from tests.standins.marketplace_http import Reply, Request

SOURCES = {
    "/modrinth": marketplace_modrinth.handle,
    "/hangar": marketplace_hangar.handle,
    "/spiget": marketplace_spiget.handle,
    "/curseforge": marketplace_curseforge.handle,
}
CONTENT_TYPES = {
    ".jar": "application/java-archive",
    ".zip": "application/zip",
    ".mrpack": "application/x-modrinth-modpack+zip",  # what Modrinth stores modpacks as
}
CHUNK = 64 * 1024

lock = threading.Lock()
recorded: list[dict] = []
faults: list[dict] = []


def serve_file(request: Request) -> Reply:
    path = "/cdn" + request.path
    try:
        data = marketplace_catalog.content(path, request.base)
    except KeyError:
        return Reply(404, b"Not Found", {"Content-Type": "text/plain"})
    content_type = CONTENT_TYPES.get(Path(path).suffix, "application/octet-stream")
    return Reply(200, data, {"Content-Type": content_type})


def answer(request: Request) -> Reply:
    """The normal answer: the source owning the prefix, or the CDN."""
    if request.prefix == "/cdn":
        return serve_file(request)
    return SOURCES[request.prefix](request)


def take_fault(path: str, full_path: str) -> dict | None:
    """The first fault matching this request that has uses left, one use taken."""
    with lock:
        for fault in faults:
            target = full_path if "?" in fault["match"] else path
            if target.startswith(fault["match"]) and fault.get("times") != 0:
                if fault.get("times") is not None:
                    fault["times"] -= 1
                return dict(fault)
    return None


def corrupted(data: bytes) -> bytes:
    """The same length, one byte in the middle flipped: a hash mismatch, not a short read."""
    if not data:
        return data
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, reply: Reply):
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, str(value))
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if reply.body and self.command != "HEAD":
            self.wfile.write(reply.body)

    def _send_size(self, fault: dict):
        """An oversized 200: `size` bytes in chunks, with or without a Content-Length."""
        size = int(fault["size"])
        self.send_response(200)
        for name, value in {"Content-Type": "application/octet-stream", **fault.get("headers", {})}.items():
            self.send_header(name, str(value))
        if fault.get("length", True):
            self.send_header("Content-Length", str(size))
        else:
            self.send_header("Connection", "close")  # the end of the body is the end of the connection
            self.close_connection = True
        self.end_headers()
        sent = 0
        try:
            while sent < size and self.command != "HEAD":
                chunk = min(CHUNK, size - sent)
                self.wfile.write(b"x" * chunk)
                sent += chunk
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up reading, as it should

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers, up to the blank line
                pass
            return body
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _control(self, path: str, body: bytes):
        if self.command == "GET" and path == "/_control/requests":
            with lock:
                data = json.dumps(recorded).encode()
            return self._send(Reply(200, data, {"Content-Type": "application/json"}))
        if self.command == "POST" and path == "/_control/reset":
            with lock:
                faults.clear()
                recorded.clear()
            marketplace_modrinth.LIMIT.configure()
            return self._send(Reply(204))
        if self.command == "POST" and path == "/_control/faults":
            with lock:
                faults.extend(json.loads(body or b"[]"))
            return self._send(Reply(204))
        if self.command == "POST" and path == "/_control/ratelimit":
            settings = json.loads(body or b"{}")
            marketplace_modrinth.LIMIT.configure(
                int(settings.get("limit", 300)), float(settings.get("window", 60))
            )
            return self._send(Reply(204))
        return self._send(Reply(404))

    def _handle(self):
        body = self._read_body()
        parts = urlsplit(self.path)
        if parts.path.startswith("/_control/"):
            return self._control(parts.path, body)
        local = self.connection.getsockname()[0]
        with lock:
            recorded.append(
                {
                    "method": self.command,
                    "path": parts.path,
                    "query": parts.query,
                    "headers": dict(self.headers.items()),
                    "body": body.decode("utf-8", "replace"),
                    "local": local,
                }
            )
        fault = take_fault(parts.path, self.path)
        if fault and fault.get("delay"):
            time.sleep(float(fault["delay"]))
        if fault and "status" in fault:
            headers = dict(fault.get("headers") or {})
            if fault.get("body"):
                headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            return self._send(Reply(int(fault["status"]), (fault.get("body") or "").encode(), headers))
        if fault and "redirect" in fault:
            return self._send(Reply(302, b"", {"Location": fault["redirect"]}))
        if fault and "size" in fault:
            return self._send_size(fault)
        self._send(
            self._normal(parts.path, parts.query, body, local, corrupt=bool(fault and fault.get("corrupt")))
        )

    def _normal(self, path: str, query: str, body: bytes, local: str, *, corrupt: bool) -> Reply:
        prefix = next((p for p in (*SOURCES, "/cdn") if path == p or path.startswith(p + "/")), None)
        if prefix is None:
            return Reply(404, b"Not Found", {"Content-Type": "text/plain"})
        host = self.headers.get("Host") or f"{local}:{self.server.server_address[1]}"
        request = Request(
            method=self.command,
            path=unquote(path[len(prefix) :]),
            raw_query=query,
            headers=dict(self.headers.items()),
            body=body,
            base=f"http://{host}",
            prefix=prefix,
        )
        try:
            reply = answer(request)
        except Exception:  # a bug in the stand-in: say so to the test rather than drop the connection
            reply = Reply(500, traceback.format_exc().encode(), {"Content-Type": "text/plain"})
        if corrupt:
            reply.body = corrupted(reply.body)
        return reply

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # a test may open many connections at once; the default backlog is 5


class IPv6Server(Server):
    address_family = socket.AF_INET6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", action="append", help="an address to listen on (repeatable)")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    port, servers = args.port, []
    for host in args.host or ["127.0.0.1"]:  # the same port on each address (the first picks it)
        server = (IPv6Server if ":" in host else Server)((host, port), Handler)
        port = server.server_address[1]
        servers.append(server)
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"listening {port}", flush=True)
    servers[0].serve_forever()  # until the test terminates the process


if __name__ == "__main__":
    main()
