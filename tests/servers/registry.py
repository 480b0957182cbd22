"""A registry of one image on 127.0.0.1, so tests can watch a real engine pull (no registry is reachable).

It speaks the part of the registry API (v2, schema 2 manifests) that `docker pull` uses, serving the
test image's own layer; the engines trust plain HTTP on loopback addresses by default.
"""

import gzip
import hashlib
import io
import json
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def _digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def blobs_of(saved: bytes) -> tuple[bytes, dict[str, bytes]]:
    """A `docker save` archive → (the schema 2 manifest, blobs by digest)."""
    with tarfile.open(fileobj=io.BytesIO(saved)) as archive:
        index = json.loads(archive.extractfile("manifest.json").read())[0]
        config = archive.extractfile(index["Config"]).read()
        layers = [gzip.compress(archive.extractfile(path).read(), mtime=0) for path in index["Layers"]]
    blobs = {_digest(config): config, **{_digest(layer): layer for layer in layers}}
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": len(config),
            "digest": _digest(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": len(layer),
                "digest": _digest(layer),
            }
            for layer in layers
        ],
    }
    return json.dumps(manifest).encode(), blobs


class Registry:
    """Serves one image under any name and tag; `requests` lists the paths asked for."""

    def __init__(self, saved: bytes):
        self.manifest, self.blobs = blobs_of(saved)
        self.requests: list[str] = []
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self):
                self.answer(body=False)

            def do_GET(self):
                self.answer(body=True)

            def answer(self, *, body: bool):
                registry.requests.append(self.path)
                kind, data = "application/json", b"{}"
                if "/manifests/" in self.path:
                    kind, data = MANIFEST, registry.manifest
                elif "/blobs/" in self.path:
                    data = registry.blobs.get(self.path.rsplit("/", 1)[-1])
                    kind = "application/octet-stream"
                    if data is None:
                        self.send_response(404)
                        self.end_headers()
                        return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Docker-Content-Digest", _digest(data))
                self.send_header("Docker-Distribution-API-Version", "registry/2.0")
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
