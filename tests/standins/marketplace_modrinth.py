"""Modrinth's API v2 (api.modrinth.com, labrinth), as the stand-in answers it under /modrinth.

Shapes follow labrinth's v2 compatibility layer (models/v2/projects.rs, models/v2/search.rs):
plugins and datapacks are `project_type: "mod"` in v2 answers, while the `project_type:` facet is
matched against the v3 project types, so `project_type:plugin` and `project_type:mod` both find a
plugin. An unknown project, version or hash is a 404 with an EMPTY body (v2 strips the JSON); an
unknown route is a 404 {"error": "not_found", ...}. Every answer carries X-Ratelimit-* headers from
a fixed window counter (300 a minute unless the tests set it), and a 429 once it is spent."""

import threading
import time

from tests.standins import marketplace_catalog as catalog
from tests.standins.marketplace_files import digest
from tests.standins.marketplace_http import (
    BadRequest,
    Request,
    empty,
    int_arg,
    json_arg,
    json_reply,
    page,
    redirect,
    route,
)

PROJECTS = {p["id"]: p for p in catalog.MODRINTH_PROJECTS}
VERSIONS = {v["id"]: v for v in catalog.MODRINTH_VERSIONS}
AUTHOR = catalog.MODRINTH_AUTHOR


class RateLimit:
    """A fixed window per process: `limit` answers, then 429 until `window` seconds have passed."""

    def __init__(self):
        self.lock = threading.Lock()
        self.configure()

    def configure(self, limit: int = 300, window: float = 60.0):
        with self.lock:
            self.limit, self.window, self.used, self.started = limit, window, 0, None

    def take(self) -> tuple[bool, dict]:
        with self.lock:
            now = time.monotonic()
            if self.started is None or now - self.started >= self.window:
                self.started, self.used = now, 0
            allowed = self.used < self.limit
            self.used += allowed
            reset = max(0, round(self.window - (now - self.started)))
            return allowed, {
                "X-Ratelimit-Limit": str(self.limit),
                "X-Ratelimit-Remaining": str(self.limit - self.used),
                "X-Ratelimit-Reset": str(reset),
            }


LIMIT = RateLimit()


def handle(request: Request):
    allowed, headers = LIMIT.take()
    if not allowed:
        wait_ms = int(headers["X-Ratelimit-Reset"]) * 1000
        reply = _error(
            429,
            "ratelimit_error",
            f"You are being rate-limited. Please wait {wait_ms} milliseconds. 0/{LIMIT.limit} remaining.",
        )
    else:
        try:
            reply = route(request, ROUTES, _no_route)
        except BadRequest as error:
            reply = _error(400, "json_error" if "JSON" in str(error) else "invalid_input", str(error))
    reply.headers.update(headers)
    return reply


def _error(status: int, code: str, description: str):
    return json_reply({"error": code, "description": description}, status)


def _no_route(request: Request):
    return _error(404, "not_found", "the requested route does not exist")


# ---- shapes ----------------------------------------------------------------------------------


def _versions_of(pid: str) -> list[dict]:
    """The project's versions, newest first."""
    found = [v for v in catalog.MODRINTH_VERSIONS if v["project_id"] == pid]
    return sorted(found, key=lambda v: v["date_published"], reverse=True)


def _game_versions(pid: str) -> list[str]:
    seen = {gv for v in _versions_of(pid) for gv in v["game_versions"]}
    return [gv for gv in catalog.GAME_VERSIONS if gv in seen]


def _file(version: dict, base: str) -> dict:
    data = catalog.content(version["path"], base)
    return {
        "hashes": {"sha512": digest(data, "sha512"), "sha1": digest(data, "sha1")},
        "url": base + version["path"],
        "filename": version["filename"],
        "primary": True,
        "size": len(data),
        "file_type": None,
    }


def version_json(version: dict, base: str) -> dict:
    return {
        "game_versions": version["game_versions"],
        "loaders": version["loaders"],
        "id": version["id"],
        "project_id": version["project_id"],
        "author_id": AUTHOR["id"],
        "featured": version["featured"],
        "name": version["name"],
        "version_number": version["version_number"],
        "changelog": version["changelog"],
        "changelog_url": None,
        "date_published": version["date_published"],
        "downloads": version["downloads"],
        "version_type": version["version_type"],
        "status": "listed",
        "requested_status": None,
        "files": [_file(version, base)],
        "dependencies": [
            {"version_id": vid, "project_id": pid, "file_name": None, "dependency_type": kind}
            for pid, vid, kind in version["dependencies"]
        ],
    }


def project_json(project: dict) -> dict:
    versions = _versions_of(project["id"])
    return {
        "client_side": project["client_side"],
        "server_side": project["server_side"],
        "game_versions": _game_versions(project["id"]),
        "id": project["id"],
        "slug": project["slug"],
        "project_type": project["project_type"],
        "team": project["team"],
        "organization": None,
        "title": project["title"],
        "description": project["description"],
        "body": f"# {project['title']}\n\n{project['description']}\n",
        "body_url": None,
        "published": project["published"],
        "updated": versions[0]["date_published"],
        "approved": project["published"],
        "queued": None,
        "status": "approved",
        "requested_status": None,
        "moderator_message": None,
        "license": project["license"],
        "downloads": project["downloads"],
        "followers": project["followers"],
        "categories": project["categories"],
        "additional_categories": [],
        "loaders": project["loaders"],
        "versions": [v["id"] for v in reversed(versions)],
        "icon_url": None,
        "issues_url": None,
        "source_url": None,
        "wiki_url": None,
        "discord_url": None,
        "donation_urls": [],
        "gallery": [],
        "color": project["color"],
        "thread_id": "thr" + project["id"][3:],
        "monetization_status": "monetized",
    }


def hit_json(project: dict) -> dict:
    versions = _versions_of(project["id"])
    categories = sorted(set(project["categories"]) | set(project["loaders"]))  # loaders are categories here
    return {
        "project_id": project["id"],
        "project_type": project["project_type"],
        "slug": project["slug"],
        "author": AUTHOR["username"],
        "author_id": AUTHOR["id"],
        "organization": None,
        "organization_id": None,
        "title": project["title"],
        "description": project["description"],
        "categories": categories,
        "display_categories": categories,
        "versions": _game_versions(project["id"]),
        "downloads": project["downloads"],
        "follows": project["followers"],
        "icon_url": "",
        "date_created": project["published"],
        "date_modified": versions[0]["date_published"],
        "latest_version": versions[0]["id"],
        "license": project["license"]["id"],
        "client_side": project["client_side"],
        "server_side": project["server_side"],
        "gallery": [],
        "featured_gallery": None,
        "color": project["color"],
    }


# ---- search ----------------------------------------------------------------------------------

SORTS = {
    "relevance": lambda hit: -hit["downloads"],
    "downloads": lambda hit: -hit["downloads"],
    "follows": lambda hit: -hit["follows"],
    "newest": lambda hit: hit["date_created"],
    "updated": lambda hit: hit["date_modified"],
}


def _facet_values(hit: dict, project: dict, key: str) -> set:
    return {
        "project_type": {hit["project_type"], *project["project_types"]},
        "project_types": {hit["project_type"], *project["project_types"]},
        "categories": set(hit["categories"]),
        "versions": set(hit["versions"]),
        "game_versions": set(hit["versions"]),
        "client_side": {hit["client_side"]},
        "server_side": {hit["server_side"]},
        "project_id": {hit["project_id"]},
        "license": {hit["license"]},
        "author": {hit["author"]},
        "title": {hit["title"]},
    }.get(key)


def _facet_matches(hit: dict, project: dict, facet: str) -> bool:
    for operator in ("!=", ":", "="):
        if operator in facet:
            key, value = (part.strip() for part in facet.split(operator, 1))
            break
    else:
        raise BadRequest(f"Invalid facet {facet!r}")
    values = _facet_values(hit, project, key)
    if values is None:
        raise BadRequest(f"Invalid facet key {key!r}")
    return (value in values) != (operator == "!=")


def search(request: Request):
    facets = json_arg(request, "facets") or []
    if not all(isinstance(group, list) for group in facets):
        raise BadRequest("Error while parsing JSON: facets must be a list of lists")
    text = request.arg("query", "").strip().lower()
    index = request.arg("index", "relevance")
    if index not in SORTS:
        raise BadRequest(f"Invalid index: {index}")
    offset, limit = int_arg(request, "offset", 0), min(int_arg(request, "limit", 10), 100)
    hits = []
    for project in catalog.MODRINTH_PROJECTS:
        hit = hit_json(project)
        haystack = " ".join((hit["title"], hit["slug"], hit["description"], hit["author"])).lower()
        if text and text not in haystack:
            continue
        # AND between the inner lists, OR inside one.
        if all(any(_facet_matches(hit, project, f) for f in group) for group in facets if group):
            hits.append(hit)
    hits.sort(key=SORTS[index], reverse=index in ("newest", "updated"))
    return json_reply(
        {"hits": page(hits, offset, limit), "offset": offset, "limit": limit, "total_hits": len(hits)}
    )


# ---- projects and versions ---------------------------------------------------------------------


def _project(id_or_slug: str):
    wanted = id_or_slug.lower()
    return PROJECTS.get(id_or_slug) or next(
        (p for p in catalog.MODRINTH_PROJECTS if p["slug"] == wanted or p["id"].lower() == wanted), None
    )


def project_get(request: Request, id_or_slug: str):
    project = _project(id_or_slug)
    return json_reply(project_json(project)) if project else empty(404)


def projects_get(request: Request):
    ids = json_arg(request, "ids")
    if not isinstance(ids, list):
        raise BadRequest("Error while parsing JSON: ids must be a list")
    found = [p for p in (_project(str(i)) for i in ids) if p]
    return json_reply([project_json(p) for p in found])


def _fits(version: dict, loaders, game_versions, version_types=None) -> bool:
    return (
        (not loaders or bool(set(loaders) & set(version["loaders"])))
        and (not game_versions or bool(set(game_versions) & set(version["game_versions"])))
        and (not version_types or version["version_type"] in version_types)
    )


def project_versions(request: Request, id_or_slug: str):
    project = _project(id_or_slug)
    if project is None:
        return empty(404)
    loaders, game_versions = json_arg(request, "loaders"), json_arg(request, "game_versions")
    featured = request.arg("featured")
    versions = [
        v
        for v in _versions_of(project["id"])
        if _fits(v, loaders, game_versions) and (featured is None or str(v["featured"]).lower() == featured)
    ]
    return json_reply([version_json(v, request.base) for v in versions])


def project_version(request: Request, id_or_slug: str, id_or_number: str):
    project = _project(id_or_slug)
    versions = _versions_of(project["id"]) if project else []
    found = next((v for v in versions if id_or_number in (v["id"], v["version_number"])), None)
    return json_reply(version_json(found, request.base)) if found else empty(404)


def version_get(request: Request, vid: str):
    version = VERSIONS.get(vid)
    return json_reply(version_json(version, request.base)) if version else empty(404)


def versions_get(request: Request):
    ids = json_arg(request, "ids")
    if not isinstance(ids, list):
        raise BadRequest("Error while parsing JSON: ids must be a list")
    return json_reply([version_json(VERSIONS[i], request.base) for i in ids if i in VERSIONS])


# ---- files by hash -----------------------------------------------------------------------------


def _by_hash(hash_value: str, algorithm: str | None, base: str):
    """The version whose file has this hash; Modrinth guesses the algorithm from the hash's length."""
    algorithm = algorithm or ("sha1" if len(hash_value) == 40 else "sha512")
    if algorithm not in ("sha1", "sha512"):
        raise BadRequest(f"Invalid algorithm {algorithm!r}")
    wanted = hash_value.lower()
    return next(
        (
            v
            for v in catalog.MODRINTH_VERSIONS
            if digest(catalog.content(v["path"], base), algorithm) == wanted
        ),
        None,
    )


def _latest_fitting(version: dict, data: dict):
    candidates = _versions_of(version["project_id"])
    wanted = (data.get("loaders"), data.get("game_versions"), data.get("version_types"))
    return next((v for v in candidates if _fits(v, *wanted)), None)


def version_file(request: Request, hash_value: str):
    version = _by_hash(hash_value, request.arg("algorithm"), request.base)
    return json_reply(version_json(version, request.base)) if version else empty(404)


def version_file_download(request: Request, hash_value: str):
    version = _by_hash(hash_value, request.arg("algorithm"), request.base)
    return redirect(request.base + version["path"], 307) if version else empty(404)


def version_file_update(request: Request, hash_value: str):
    version = _by_hash(hash_value, request.arg("algorithm"), request.base)
    latest = version and _latest_fitting(version, _body(request))
    return json_reply(version_json(latest, request.base)) if latest else empty(404)


def _body(request: Request) -> dict:
    try:
        data = request.json_body()
    except ValueError as error:
        raise BadRequest(f"Error while parsing JSON: {error}") from None
    if not isinstance(data, dict):
        raise BadRequest("Error while parsing JSON: expected an object")
    return data


def version_files(request: Request):
    data = _body(request)
    found = {}
    for hash_value in data.get("hashes") or []:
        version = _by_hash(hash_value, data.get("algorithm"), request.base)
        if version:
            found[hash_value] = version_json(version, request.base)
    return json_reply(found)


def version_files_update(request: Request):
    data = _body(request)
    found = {}
    for hash_value in data.get("hashes") or []:
        version = _by_hash(hash_value, data.get("algorithm"), request.base)
        latest = version and _latest_fitting(version, data)
        if latest:
            found[hash_value] = version_json(latest, request.base)
    return json_reply(found)


ID = r"([^/]+)"
ROUTES = [
    ("GET", r"/v2/search", search),
    ("GET", r"/v2/projects", projects_get),
    ("GET", rf"/v2/project/{ID}", project_get),
    ("GET", rf"/v2/project/{ID}/version", project_versions),
    ("GET", rf"/v2/project/{ID}/version/{ID}", project_version),
    ("GET", r"/v2/versions", versions_get),
    ("GET", rf"/v2/version/{ID}", version_get),
    ("GET", rf"/v2/version_file/{ID}", version_file),
    ("GET", rf"/v2/version_file/{ID}/download", version_file_download),
    ("POST", rf"/v2/version_file/{ID}/update", version_file_update),
    ("POST", r"/v2/version_files", version_files),
    ("POST", r"/v2/version_files/update", version_files_update),
]
