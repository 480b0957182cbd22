"""Installing a Modrinth modpack (.mrpack, docs.modrinth.com's "Modrinth modpack format"): the pack is
downloaded and verified, its index read (format 1, game minecraft), every file the server needs (env
server not "unsupported") downloaded from the hosts the format allows and checked against both its
SHA-1 and SHA-512, and `overrides/` then `server-overrides/` written over them. Paths in the index and
the archive are the pack author's: each must be a plain relative path (no `..`, no absolute, no
backslash), symlinks are refused, and everything is staged and moved into place only when all of it is
in, as plain installs are (marketplace/install.py)."""

import json
import stat
import tempfile
import zipfile

from django.db import transaction

from config.errors import InvalidInput
from marketplace.download import DownloadRefused, download
from marketplace.install import staged
from marketplace.models import InstalledPlugin
from marketplace.plan import VERSION_CHARS, recordable
from marketplace.sources import SOURCES
from marketplace.sources.base import SourceUnavailable
from marketplace.sources.modrinth import MODPACK_FILE_HOSTS
from marketplace.target import server_target
from servers import jobs
from servers.files import quota
from servers.files.access import check_files_access
from servers.files.denylist import check_writable, for_server
from servers.files.helper import session
from servers.files.service import Place, make_parents

INDEX = "modrinth.index.json"
OVERRIDES = ("overrides/", "server-overrides/")  # in this order: the server's own win
MAX_INDEX_BYTES = 16 * 1024 * 1024
MAX_ENTRIES = 20_000
CHUNK = 256 * 1024
LOADERS = {"fabric-loader": "fabric", "quilt-loader": "quilt", "forge": "forge", "neoforge": "neoforge"}


def modpack_install(server, job, step) -> list:
    """Install the .mrpack of `step` into the server's root; the paths written."""
    modrinth = SOURCES["modrinth"]
    mount = server.template.data_path
    with tempfile.TemporaryFile() as spool:
        with download(
            modrinth, step.url, filename=step.filename, hashes=step.hashes, size=step.size
        ) as verified:
            for chunk in verified:
                spool.write(chunk)
        spool.seek(0)
        try:
            pack = zipfile.ZipFile(spool)
        except zipfile.BadZipFile as exc:
            raise DownloadRefused(f"{step.filename} is not a readable archive.") from exc
        index = read_index(pack)
        jobs.job_log(job.pk, [needs(index, server)])
        wanted = [f for f in index["files"] if (f.get("env") or {}).get("server") != "unsupported"]
        overrides = override_entries(pack)
        hosts = {h.lower() for h in MODPACK_FILE_HOSTS} | modrinth.allowed_download_hosts()
        budget = quota.budget(server, incoming=sum(int(f.get("fileSize") or 0) for f in wanted))
        # One write per path: the index's files, then the overrides over them (a path named twice
        # would otherwise be staged twice under one staging name).
        writes = {entry["path"]: ("download", entry) for entry in wanted}
        writes.update({name: ("override", info) for name, info in overrides.items()})
        server.refresh_from_db()  # the pack took a while to come: suspended or moved meanwhile?
        check_files_access(job.actor, server, "file.write")
        written, mods = [], []
        with session(server) as files, staged(files, mount) as stage:
            for number, (path, (kind, item)) in enumerate(writes.items()):
                jobs.job_progress(job.pk, number * 90 // len(writes), step=f"writing {path}")
                place = _place(files, server, path)
                if kind == "download":
                    with download(
                        modrinth,
                        item["downloads"][0],
                        filename=path,
                        hashes=item["hashes"],
                        size=item.get("fileSize"),
                        hosts=hosts,
                    ) as verified:
                        stage.write(place.inside, budget.metered(verified))
                    mods.append((place.path, verified))
                else:
                    with pack.open(item) as source:
                        stage.write(place.inside, budget.metered(iter(lambda: source.read(CHUNK), b"")))
                written.append(place.path)
            jobs.job_progress(job.pk, 95, step="moving into place")
            stage.commit()
    _record(server, job, step, mods, written)
    return written


def read_index(pack: zipfile.ZipFile) -> dict:
    """The pack's index, checked: format 1, game minecraft, files each with a safe path, both hashes
    and at least one download."""
    try:
        info = pack.getinfo(INDEX)
    except KeyError as exc:
        raise DownloadRefused(f"The modpack has no {INDEX}.") from exc
    if info.file_size > MAX_INDEX_BYTES:
        raise DownloadRefused(f"The modpack's {INDEX} is larger than {MAX_INDEX_BYTES} bytes.")
    try:
        index = json.loads(pack.read(info))
    except ValueError as exc:
        raise DownloadRefused(f"The modpack's {INDEX} is not JSON.") from exc
    if not isinstance(index, dict) or index.get("formatVersion") != 1 or index.get("game") != "minecraft":
        raise DownloadRefused("The modpack is not a Minecraft modpack of format 1.")
    files = index.get("files")
    if not isinstance(files, list) or len(files) > MAX_ENTRIES:
        raise DownloadRefused("The modpack's file list is missing or too long.")
    for entry in files:
        if not isinstance(entry, dict):
            raise DownloadRefused("The modpack's file list is malformed.")
        safe_path(entry.get("path"))
        hashes = entry.get("hashes") or {}
        if not (isinstance(hashes, dict) and hashes.get("sha1") and hashes.get("sha512")):
            raise DownloadRefused(f"{entry['path']} has no SHA-1 and SHA-512 in the modpack.")
        downloads = entry.get("downloads")
        if not (isinstance(downloads, list) and downloads and all(isinstance(u, str) for u in downloads)):
            raise DownloadRefused(f"{entry['path']} has no download in the modpack.")
    return index


def safe_path(path) -> str:
    """A path the pack may write: relative, plain, as written (the format forbids anything else)."""
    if not isinstance(path, str) or not path or path.startswith("/") or "\\" in path or "\x00" in path:
        raise DownloadRefused(f"The modpack names a path the panel refuses: {path!r}.")
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise DownloadRefused(f"The modpack names a path the panel refuses: {path!r}.")
    return path


def override_entries(pack: zipfile.ZipFile) -> dict:
    """{path in the server: zip entry} of overrides then server-overrides (later wins); symlinks and
    unsafe names refuse the pack."""
    found = {}
    entries = pack.infolist()
    if len(entries) > MAX_ENTRIES:
        raise DownloadRefused(f"The modpack has more than {MAX_ENTRIES} entries.")
    for prefix in OVERRIDES:
        for info in entries:
            if not info.filename.startswith(prefix) or info.is_dir():
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                raise DownloadRefused(f"The modpack holds a symbolic link ({info.filename}): refused.")
            found[safe_path(info.filename[len(prefix) :])] = info
    return found


def needs(index: dict, server) -> str:
    """What the pack says it runs on, beside what the server runs (a line for the job's log)."""
    deps = index.get("dependencies") or {}
    loader = next((f"{LOADERS[k]} {v}" for k, v in deps.items() if k in LOADERS), "vanilla")
    target = server_target(server)
    line = f"The pack needs {loader} on Minecraft {deps.get('minecraft', '?')}"
    return (
        f"{line}; the server runs {target.loader or 'an unknown loader'} {target.game_version}".rstrip() + "."
    )


def _place(files, server, path: str) -> Place:
    place = Place(server, "/" + safe_path(path))
    make_parents(files, place)
    if for_server(server):
        check_writable(files, place.inside)
    return place


def _record(server, job, step, mods: list, written: list) -> None:
    """The modpack itself (path "/"), and each of its files Modrinth recognises, as installed."""
    modrinth = SOURCES["modrinth"]
    try:
        known = modrinth.identify([verified.digests["sha1"] for _path, verified in mods])
    except (SourceUnavailable, InvalidInput):
        known = {}
    with transaction.atomic():
        InstalledPlugin.objects.update_or_create(
            server=server,
            path="/",
            defaults={
                "source": step.source,
                "project_id": step.project_id,
                "project_name": step.project_name,
                "project_type": "modpack",
                "version_id": step.version_id,
                "version_name": step.version_name,
                "hashes": step.hashes,
                "files": written,
                "installed_by": job.actor,
            },
        )
        for path, verified in mods:
            version = known.get(verified.digests["sha1"])
            if not recordable(version):
                continue
            InstalledPlugin.objects.update_or_create(
                server=server,
                path=path,
                defaults={
                    "source": "modrinth",
                    "project_id": version.project_id,
                    "project_name": path.rsplit("/", 1)[-1],
                    "project_type": "mod",
                    "version_id": version.id,
                    "version_name": version.name[:VERSION_CHARS],
                    "size": verified.received,
                    "hashes": {k: verified.digests[k] for k in ("sha1", "sha512")},
                    "installed_by": job.actor,
                },
            )
