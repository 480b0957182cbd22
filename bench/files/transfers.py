"""The measured transfers: for each node and method, the big file up and down, then the small files
up and down; each timed by the client from its first byte's request to its last byte on disk, with
the panel's processes watched (measure.py) and the result checked untimed afterwards (data.py)."""

import contextlib
import time
import traceback

from bench import adapter
from bench.files import api as files_api
from bench.files import data as dataset
from bench.files.common import REMOTE, Transfer
from bench.rawsftp import OpenSshSftp, ParamikoSftp

SFTP_METHODS = ("raw-openssh", "raw-paramiko", "gateway-paramiko", "gateway-openssh")
METHODS = (
    "raw-openssh", "raw-paramiko", "api", "api-archive", "gateway-paramiko", "gateway-openssh",
)  # fmt: skip
# api-archive moves only the small files (its big file would be the api's); the api's small-file
# download is one GET per file, over a sample (`--api-get-sample`).
PLAIN_API = ("api",)
WHATS = {m: ("big-up", "big-down", "small-up", "small-down") for m in METHODS}
WHATS["api-archive"] = ("small-up", "small-down")


class Transfers:
    """The transfer steps of a files Bench (a mixin of bench.files.run.Bench)."""

    def remote_root(self, t, method: str) -> str:
        """Where `method` puts the benchmark's directory: the raw baselines' directory on the node's
        host, or the server's own root as the gateway and the API show it."""
        return f"{t.raw_dir}/{REMOTE}" if method.startswith("raw-") else f"/{REMOTE}"

    def host_root(self, t, method: str) -> str:
        """The same directory as seen on the node's host (for untimed checks and clean-up)."""
        return (
            f"{t.raw_dir}/{REMOTE}"
            if method.startswith("raw-")
            else f"{adapter.server_dir(t.server)}/{REMOTE}"
        )

    # -- clients ----------------------------------------------------------------------------------

    def sftp_client(self, t, method: str):
        """A connected client for an SFTP method (paramiko: its connection is made here, not timed)."""
        key = self.args.ssh_key
        if method == "raw-paramiko":
            return ParamikoSftp(t.sshd_port, t.node_user, key_path=key, pinned=t.pinned)
        if method == "raw-openssh":
            return OpenSshSftp(t.sshd_port, t.node_user, key_path=key, known_hosts=self.args.known_hosts,
                               timeout=self.args.timeout)  # fmt: skip
        username = self.gateway_username(t)
        if method == "gateway-paramiko":
            return ParamikoSftp(self.gateway_port, username, password=self.password, pinned=self.gateway_key)
        return OpenSshSftp(self.gateway_port, username, key_path=str(self.client_key),
                           known_hosts=str(self.gateway_known_hosts), timeout=self.args.timeout)  # fmt: skip

    def api_client(self, t):
        return files_api.FilesApi(self.http, self.base_url, t.server.pk, self.args.timeout)

    # -- one transfer -----------------------------------------------------------------------------

    def measure(self, t, method: str, what: str, round_no: int, body) -> Transfer:
        """Run `body()` (which returns (bytes, files, detail)) under the clock and the process watch."""
        record = Transfer(node=t.key, method=method, what=what, round=round_no)
        self.processes.check()
        self.watch.start()
        started = time.monotonic()
        try:
            record.bytes, record.files, record.detail = body()
            record.seconds = record.detail.pop("seconds", None) or time.monotonic() - started
            record.connect_seconds = record.detail.pop("connect_seconds", None)
        except Exception as exc:  # recorded: the run goes on with the next transfer
            record.seconds = time.monotonic() - started
            record.error = f"{exc.__class__.__name__}: {exc}"[:500]
            (self.logdir / "errors.log").open("a").write(
                f"{t.key} {method} {what}\n{traceback.format_exc()}\n"
            )
        record.start_rss_kb, record.peak_rss_kb, record.cpu_seconds = self.watch.stop()
        self.records.append(record)
        rate = record.mb_per_s
        shown = (
            "failed: " + record.error
            if record.error
            else f"{record.seconds:.2f} s"
            + (f", {rate:.1f} MB/s" if what.startswith("big") else f", {record.files_per_s:.0f} files/s")
        )
        print(f"  {t.key:5} {method:16} {what:10} {shown}", flush=True)
        return record

    def run_method(self, t, method: str, round_no: int) -> None:
        """The method's transfers on node `t`, then the benchmark's directory emptied (untimed)."""
        root = self.remote_root(t, method)
        self.prepare_remote(t, method)
        if method.startswith("api"):
            self.fresh_web(method)
        ok = {}
        for what in WHATS[method]:
            if what.endswith("down") and not ok.get(what.replace("down", "up")):
                self.records.append(
                    Transfer(t.key, method, what, round_no, error="skipped: its upload failed")
                )
                continue
            record = self.measure(t, method, what, round_no, lambda w=what: self.body(t, method, w, root))
            if what.endswith("up") and not record.error:
                record.error = self.check_upload(t, method, what)
            ok[what] = not record.error
        self.clear_remote(t, method)

    def body(self, t, method: str, what: str, root: str):
        data = self.data
        landing = data.landing(f"{t.key}-{method}-{what}")
        if method.startswith("api"):
            return self.api_body(t, method, what, root, landing)
        client = self.sftp_client(t, method)
        try:
            connect = getattr(client, "connect_seconds", None)
            started = time.monotonic()
            if what == "big-up":
                client.put_file(data.big, f"{root}/big.bin")
            elif what == "big-down":
                client.get_file(f"{root}/big.bin", landing / "big.bin")
            elif what == "small-up":
                client.put_tree(data.small, f"{root}/small")
            else:
                client.get_tree(f"{root}/small", landing)
            seconds = time.monotonic() - started
        finally:
            with contextlib.suppress(Exception):
                getattr(client, "close", lambda: None)()
        detail = {"seconds": getattr(client, "last_seconds", None) or seconds, "connect_seconds": connect}
        self.note_exit(client, detail)
        return self.result(what, landing, detail)

    def note_exit(self, client, detail: dict) -> None:
        """An OpenSSH client that did not end by itself once its commands were done (its time stops
        at the last answer; the wait is recorded and reported)."""
        waited = getattr(client, "exit_seconds", None)
        if waited is not None:
            detail["exit_seconds"] = round(waited, 3)
            if waited >= client.exit_timeout:
                detail["exit_hung"] = True

    def api_body(self, t, method: str, what: str, root: str, landing):
        data, files = self.data, self.api_client(t)
        detail = {}

        def remove(path: str) -> None:  # an archive, untimed: on the node's host, as the node's user
            adapter.node_remove_tree(t.node, f"{adapter.server_dir(t.server)}{path}")

        started = time.monotonic()
        if what == "big-up":
            files.upload(root, [data.big])
        elif what == "big-down":
            files.download(f"{root}/big.bin", landing / "big.bin")
        elif what == "small-up" and method in PLAIN_API:
            sources = sorted(data.small.iterdir())  # into /bench/small, made by prepare_remote
            files.upload_batches(f"{root}/small", sources, self.args.api_batch)
            detail["requests"] = -(-len(sources) // self.args.api_batch)
        elif what == "small-up":
            detail = files_api.small_up_archive(files, data, f"{root}/small", data.root, remove)
        elif method in PLAIN_API:
            names = sorted(data.sizes)[: self.args.api_get_sample]
            for name in names:
                files.download(f"{root}/small/{name}", landing / name)
            detail["sample"] = len(names)
            detail["seconds"] = time.monotonic() - started
            sample_bytes = sum(data.sizes[n] for n in names)
            error = self.check_sample(landing, names)
            if error:
                raise RuntimeError(error)
            return sample_bytes, len(names), detail
        else:
            detail, landing = files_api.small_down_archive(files, f"{root}/small", landing, remove)
        detail.setdefault("seconds", time.monotonic() - started)
        return self.result(what, landing, detail)

    def result(self, what: str, landing, detail: dict):
        """(bytes, files, detail) of a finished transfer; a download is checked against the source."""
        data = self.data
        if what == "big-down":
            error = dataset.check_big(data, landing / "big.bin")
        elif what == "small-down":
            error = dataset.check_small(data, landing)
        else:
            error = ""
        if error:
            raise RuntimeError(error)
        data.clear_landing()
        if what.startswith("big"):
            return data.big_bytes, 1, detail
        return data.small_bytes, len(data.sizes), detail

    def check_sample(self, landing, names) -> str:
        for name in names:
            if (landing / name).read_bytes() != (self.data.small / name).read_bytes():
                return f"{name} differs"
        self.data.clear_landing()
        return ""

    # -- the remote side, untimed -----------------------------------------------------------------

    def check_upload(self, t, method: str, what: str) -> str:
        """'' when the node holds what was uploaded (sizes; the download then checks the bytes)."""
        base = self.host_root(t, method)
        if what == "big-up":
            out = adapter.node_output(t.node, ["stat", "-c", "%s", f"{base}/big.bin"], check=False).strip()
            return "" if out == str(self.data.big_bytes) else f"the node has {out or 'no'} big.bin bytes"
        listing = adapter.node_output(t.node, ["ls", "-1", f"{base}/small"], check=False).split()
        missing = len(set(self.data.sizes) - set(listing))
        return f"{missing} of {len(self.data.sizes)} small files missing on the node" if missing else ""

    def prepare_remote(self, t, method: str) -> None:
        """The benchmark's (empty) directory: made as the node's user for the raw baselines (through
        their own sshd), through the panel for the panel's methods."""
        if method.startswith("raw-"):
            with ParamikoSftp(t.sshd_port, t.node_user, key_path=self.args.ssh_key, pinned=t.pinned) as sftp:
                with contextlib.suppress(OSError):
                    sftp.sftp.mkdir(t.raw_dir)
                sftp.sftp.mkdir(f"{t.raw_dir}/{REMOTE}")
        else:
            adapter.files_mkdir(t.server, f"/{REMOTE}")
            if method in PLAIN_API:  # the upload writes into an existing directory
                adapter.files_mkdir(t.server, f"/{REMOTE}/small")

    def clear_remote(self, t, method: str) -> None:
        adapter.node_remove_tree(t.node, self.host_root(t, method))
