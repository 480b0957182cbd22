"""The panel as its users reach it: through the stack's proxy, over HTTPS and WSS."""

import json
import socket
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

from websockets.sync.client import connect

from bench.harness import Aborted, wait_until
from bench.prod_check.stack import BASE, HTTP_PORT, HTTPS_PORT


class Panel:
    """The panel's API through the proxy, over HTTPS, trusting only the proxy's own certificate."""

    def __init__(self, cafile: Path):
        self.context = ssl.create_default_context(cafile=str(cafile))
        self.token = ""

    def call(self, method: str, path: str, body: dict | None = None, *, timeout: float = 30):
        request = urllib.request.Request(  # noqa: S310 - the stack's own proxy
            f"{BASE}{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json", "Origin": BASE}
            | ({"Authorization": f"Bearer {self.token}"} if self.token else {}),
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self.context) as response:  # noqa: S310
                return response.status, json.load(response), response.headers.get("X-Hearth-Upstream", "")
        except urllib.error.HTTPError as error:
            try:
                answer = json.load(error)
            except ValueError:
                answer = {}
            return error.code, answer, error.headers.get("X-Hearth-Upstream", "")

    def ok(self, method: str, path: str, body: dict | None = None) -> dict:
        status, answer, _ = self.call(method, path, body)
        if status >= 300:
            raise Aborted(f"{method} {path} answered {status}: {answer}")
        return answer.get("data", answer)

    def up(self) -> bool:
        try:
            return self.call("GET", "/api/health", timeout=5)[0] == 200
        except OSError:
            return False

    def status(self, server_id: str) -> str:
        return self.ok("GET", f"/api/servers/{server_id}")["status"]

    def wait_status(self, server_id: str, wanted: str, timeout: float) -> None:
        wait_until(f"server to be {wanted}", lambda: self.status(server_id) == wanted, timeout, interval=0.5)

    def console(self, server_id: str, text: str, timeout: float = 30) -> str:
        """Open the console over WSS, say `text`, and see the game echo it: the replica that served it."""
        url = f"wss://127.0.0.1:{HTTPS_PORT}/ws?token={self.token}"
        with connect(url, origin=BASE, ssl=self.context, open_timeout=10) as ws:
            upstream = ws.response.headers.get("X-Hearth-Upstream", "?")
            ws.send(json.dumps({"type": "subscribe", "serverId": server_id}))
            deadline = time.monotonic() + timeout
            sent, seen = False, ""
            while f"[Server] {text}" not in seen:
                message = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
                if message.get("type") == "subscribed" and not sent:
                    ws.send(
                        json.dumps({"type": "console_input", "serverId": server_id, "data": f"say {text}"})
                    )
                    sent = True
                elif message.get("type") == "server_log":
                    seen += message["data"]
        return upstream


def http_redirect(url: str) -> str:
    """Where a plain-HTTP request is sent with a 301."""
    with socket.create_connection(("127.0.0.1", HTTP_PORT), timeout=5) as conn:
        path = url.split(str(HTTP_PORT), 1)[1]
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        head = conn.recv(4096).decode(errors="replace")
    if not head.startswith("HTTP/1.1 301"):
        return ""
    return next(
        (line.split(":", 1)[1].strip() for line in head.splitlines() if line.lower().startswith("location:")),
        "",
    )
