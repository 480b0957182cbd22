"""A server's installed plugins, mods and datapacks, as its files say: every .jar/.zip (enabled) or
.jar.disabled/.zip.disabled (disabled) in plugins/, mods/ and world/datapacks/, matched to what the
marketplace installed; a file the customer uploaded by hand is recognised by its SHA-1 where Modrinth
knows it (one lookup for all of them, cached by the file's size and time). Enable and disable rename;
uninstall removes; updates are checked against the sources and installed as a job, the old file kept
until the new one is verified (marketplace/install.py)."""

import hashlib
import logging
import posixpath
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit
from config.errors import Conflict, InvalidInput, NotFound
from marketplace.install import DISABLED, STAGING, plugin_job_queue
from marketplace.models import InstalledPlugin
from marketplace.plan import (
    NAME_CHARS,
    VERSION_CHARS,
    Plan,
    best_version,
    install_plan,
    recordable,
    refuse_conflicts,
)
from marketplace.sources import SOURCES
from marketplace.sources.base import SourceNotFound, SourceUnavailable, within
from marketplace.target import server_target
from nodes.client import FileRefused
from servers.files.helper import session
from servers.files.service import Place, refusals

DIRECTORIES = {"/plugins": "plugin", "/mods": "mod", "/world/datapacks": "datapack"}
SUFFIXES = (".jar", ".zip")
HASH_MAX_BYTES = 128 * 1024 * 1024  # a hand-uploaded file larger than this is not hashed
HASH_FILES_PER_LISTING = 50
HASH_BYTES_PER_LISTING = 256 * 1024 * 1024
HASH_CACHE_SECONDS = 7 * 24 * 3600
UPDATE_CHECKS_PER_CALL = 20  # projects asked one by one (not Modrinth's) in one update check

logger = logging.getLogger(__name__)


def plugins_list(*, server) -> dict:
    """What is installed: {"plugins": [...], "modpack": {...} or None}; hand-uploaded files Modrinth
    knows are recorded as identified."""
    with session(server) as files, refusals(server.template.data_path):
        found = _files(files, server)
        records = {p.path: p for p in InstalledPlugin.objects.filter(server=server)}
        unknown = {
            path: (entry, on_disk)
            for path, (entry, on_disk) in found.items()
            if path not in records or records[path].size != entry.size
        }
        digests = _hashes(files, server, unknown)
    _identify(server, {p: d for p, d in digests.items() if d}, found, records)
    _forget_missing(server, found, records)
    answer = [
        _entry(path, entry, on_disk, records.get(path)) for path, (entry, on_disk) in sorted(found.items())
    ]
    modpack = records.get("/")
    return {"plugins": answer, "modpack": _modpack(modpack) if modpack else None}


def _files(files, server) -> dict:
    """{enabled path: (entry, path on disk)} of the plugin directories' files."""
    found = {}
    for directory in DIRECTORIES:
        place = Place(server, directory)
        try:
            entries = files.list(place.inside)
        except FileRefused:
            continue  # no such directory (or not one): nothing installed there
        for entry in entries:
            name = entry.name
            if not entry.is_regular or name.startswith(".") or name.endswith(STAGING):
                continue
            enabled_name = name[: -len(DISABLED)] if name.endswith(DISABLED) else name
            if enabled_name.lower().endswith(SUFFIXES):
                found[f"{directory}/{enabled_name}"] = (entry, f"{directory}/{name}")
    return found


def _hashes(files, server, unknown: dict) -> dict:
    """{path: SHA-1} of files not yet known (by path, size and time), cached; one listing reads at most
    HASH_FILES_PER_LISTING files and HASH_BYTES_PER_LISTING bytes (the rest are hashed by the next)."""
    keys = {
        path: f"marketplace:sha1:{server.pk}:{on_disk}:{e.size}:{int(e.modified)}"
        for path, (e, on_disk) in unknown.items()
    }
    cached = cache.get_many(list(keys.values()))
    digests, files_read, bytes_read = {}, 0, 0
    for path, (entry, on_disk) in unknown.items():
        if keys[path] in cached:
            digests[path] = cached[keys[path]]
            continue
        if entry.size > HASH_MAX_BYTES or files_read >= HASH_FILES_PER_LISTING:
            continue
        if bytes_read + entry.size > HASH_BYTES_PER_LISTING:
            continue
        hasher = hashlib.sha1()  # noqa: S324 - Modrinth looks files up by SHA-1; not a security check
        for chunk in files.read(Place(server, on_disk).inside):
            hasher.update(chunk)
        files_read, bytes_read = files_read + 1, bytes_read + entry.size
        digests[path] = hasher.hexdigest()
        cache.set(keys[path], digests[path], HASH_CACHE_SECONDS)
    return digests


def _identify(server, digests: dict, found: dict, records: dict) -> None:
    """Record the files Modrinth recognises; a recorded file changed by hand is forgotten if not."""
    if not digests:
        return
    try:
        with within(settings.MARKETPLACE_REQUEST_SECONDS):
            known = SOURCES["modrinth"].identify(sorted(set(digests.values())))
            projects = SOURCES["modrinth"].projects({v.project_id for v in known.values()})
    except (SourceUnavailable, InvalidInput) as exc:
        logger.info("Could not identify files of %s: %s", server.pk, exc)
        return
    with transaction.atomic():
        for path, digest in digests.items():
            version = known.get(digest)
            if not recordable(version):
                if path in records:
                    records.pop(path).delete()  # replaced by hand with something unknown
                continue
            records[path], _ = InstalledPlugin.objects.update_or_create(
                server=server,
                path=path,
                defaults={
                    "origin": InstalledPlugin.Origin.IDENTIFIED,
                    "source": "modrinth",
                    "project_id": version.project_id,
                    "project_name": (
                        projects[version.project_id].name
                        if version.project_id in projects
                        else version.project_id
                    )[:NAME_CHARS],
                    "project_type": DIRECTORIES[posixpath.dirname(path)],
                    "version_id": version.id,
                    "version_name": version.name[:VERSION_CHARS],
                    "size": found[path][0].size,
                    "hashes": {"sha1": digest},
                    "dependencies": [
                        {"projectId": d.project_id, "kind": d.kind} for d in version.dependencies
                    ],
                    "latest_version_id": "",
                    "latest_version_name": "",
                },
            )


def _forget_missing(server, found: dict, records: dict) -> None:
    gone = [path for path in records if path != "/" and path not in found]
    if gone:
        InstalledPlugin.objects.filter(server=server, path__in=gone).delete()
        for path in gone:
            records.pop(path)


def _entry(path: str, entry, on_disk: str, record) -> dict:
    return {
        "path": path,
        "file_name": posixpath.basename(on_disk),
        "directory": posixpath.dirname(path),
        "enabled": on_disk == path,
        "size": entry.size,
        "modified": datetime.fromtimestamp(entry.modified, UTC).isoformat(),
        "type": DIRECTORIES[posixpath.dirname(path)],
        "source": record.source if record else None,
        "origin": record.origin if record else "manual",
        "project_id": record.project_id if record else None,
        "name": record.project_name if record else posixpath.basename(path),
        "version_id": record.version_id if record else None,
        "version": record.version_name if record else None,
        "update": {"version_id": record.latest_version_id, "version": record.latest_version_name}
        if record and record.has_update
        else None,
        "checked_at": record.checked_at.isoformat() if record and record.checked_at else None,
    }


def _modpack(record) -> dict:
    return {
        "source": record.source,
        "project_id": record.project_id,
        "name": record.project_name,
        "version_id": record.version_id,
        "version": record.version_name,
        "files": len(record.files),
        "installed_at": record.installed_at.isoformat(),
    }


# ---- enable, disable, uninstall ----------------------------------------------------------------


def _existing(files, server, path) -> tuple[Place, bool]:
    """The file of an installed plugin (given by its enabled path) and whether it is enabled; 404 else."""
    place = Place(server, path)
    if place.path.endswith(DISABLED):
        place = Place(server, place.path[: -len(DISABLED)])
    if posixpath.dirname(place.path) not in DIRECTORIES or not place.path.lower().endswith(SUFFIXES):
        raise InvalidInput(
            {"path": "Give the path of a .jar or .zip in plugins/, mods/ or world/datapacks/."}
        )
    if files.exists(place.inside):
        return place, True
    if files.exists(Place(server, place.path + DISABLED).inside):
        return place, False
    raise NotFound(f"No plugin or mod at {place.path}.")


def plugin_set_enabled(*, server, actor, path, enabled: bool, request=None) -> dict:
    """Rename the file to (or back from) <name>.disabled, which the game does not load."""
    with session(server) as files, refusals(server.template.data_path):
        place, is_enabled = _existing(files, server, path)
        if is_enabled != enabled:
            off = Place(server, place.path + DISABLED)
            source, target = (off, place) if enabled else (place, off)
            files.rename(source.inside, target.inside)
    audit(
        "plugin.enable" if enabled else "plugin.disable",
        actor=actor,
        request=request,
        resource=server,
        path=place.path,
    )
    return {"path": place.path, "enabled": enabled}


def plugin_uninstall(*, server, actor, path, request=None) -> dict:
    """Remove the file (enabled or not) and what the panel knew of it."""
    with session(server) as files, refusals(server.template.data_path):
        place, is_enabled = _existing(files, server, path)
        files.remove(place.inside if is_enabled else Place(server, place.path + DISABLED).inside)
    record = InstalledPlugin.objects.filter(server=server, path=place.path).first()
    InstalledPlugin.objects.filter(server=server, path=place.path).delete()
    audit(
        "plugin.uninstall",
        actor=actor,
        request=request,
        resource=server,
        path=place.path,
        project=record.project_id if record else None,
    )
    return {"path": place.path}


# ---- updates -----------------------------------------------------------------------------------


def plugins_check_updates(*, server) -> int:
    """Ask each source for the newest version that fits the server, for every known plugin; how many
    have an update. Modrinth answers for all of its files at once."""
    with within(settings.MARKETPLACE_REQUEST_SECONDS):
        return _check_updates(server)


def _check_updates(server) -> int:
    now = timezone.now()
    target = server_target(server)
    records = list(InstalledPlugin.objects.filter(server=server).exclude(project_type="modpack"))
    newest = {}  # (source, project id): the newest Version that fits, or None
    modrinth = [r for r in records if r.source == "modrinth" and r.hashes.get("sha1")]
    if modrinth:
        answer = SOURCES["modrinth"].latest_for(
            [r.hashes["sha1"] for r in modrinth], loads=target.loads, game_version=target.game_version
        )
        newest.update({(r.source, r.project_id): answer.get(r.hashes["sha1"]) for r in modrinth})
    # The other sources are asked project by project: each project once, the least recently checked
    # first, at most UPDATE_CHECKS_PER_CALL of them (the rest at the next check).
    others = {
        (r.source, r.project_id): r
        for r in records
        if (r.source, r.project_id) not in newest and r.source in SOURCES and SOURCES[r.source].enabled()
    }
    for key, record in sorted(
        others.items(), key=lambda item: item[1].checked_at or datetime.min.replace(tzinfo=UTC)
    )[:UPDATE_CHECKS_PER_CALL]:
        try:
            newest[key] = best_version(SOURCES[record.source], record.project_id, target, fresh=True)
        except SourceNotFound:
            newest[key] = None
    checked = [r for r in records if (r.source, r.project_id) in newest]
    for record in checked:
        version = newest[record.source, record.project_id]
        version = version if recordable(version) else None
        InstalledPlugin.objects.filter(pk=record.pk).update(
            latest_version_id=version.id if version else "",
            latest_version_name=version.name if version else "",
            checked_at=now,
        )
    return sum(1 for r in checked if (v := newest[r.source, r.project_id]) and v.id != r.version_id)


def plugins_update(*, server, actor, paths=None, request=None):
    """Queue a job installing the newest fitting version of the given plugins (all with an update when
    `paths` is None), with any dependency the new versions need that the server lacks; 409 when none has
    an update (check for updates first) or when a new version conflicts."""
    records = InstalledPlugin.objects.filter(server=server).exclude(project_type="modpack")
    if paths is not None:
        records = records.filter(path__in=[Place(server, p).path for p in paths])
    records = [r for r in records if r.has_update]
    if not records:
        raise Conflict("None of these has an update: check for updates first.")
    plans = [
        install_plan(server=server, source=r.source, project_id=r.project_id, version_id=r.latest_version_id)
        for r in records
    ]
    refuse_conflicts([message for plan in plans for message in plan.conflicts])
    steps = {}
    with session(server) as files:
        for record, plan in zip(records, plans, strict=True):
            updated, *needed = plan.steps
            updated.reason, updated.replaces = "update", record.path
            updated.directory = posixpath.dirname(record.path)  # where the customer keeps it
            updated.disabled = not files.exists(Place(server, record.path).inside)
            for step in (updated, *needed):
                steps.setdefault((step.source, step.project_id), step)
    plan = Plan(steps=list(steps.values()), target=plans[0].target)
    job = plugin_job_queue(server=server, actor=actor, action="update", plan=plan)
    audit(
        "plugin.update",
        actor=actor,
        request=request,
        resource=server,
        files=[r.path for r in records],
        versions=[s.version_id for s in plan.steps],
    )
    return job
