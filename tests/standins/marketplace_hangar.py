"""Hangar's API v1 (hangar.papermc.io, PaperMC), as the stand-in answers it under /hangar.

Shapes follow Hangar's backend (model/api/project/Project.java, .../version/Version.java) and its
pagination resolver, which is strict: an unknown query parameter, an unknown sort or a `version`
filter without `platform` is a 400, and errors are {"message", "messageArgs",
"isHangarApiException", "httpError": {"statusCode"}}. `q` is the deprecated spelling of `query`.
A version's download redirects (301) to the CDN file, as Hangar does for files on its S3."""

from tests.standins import marketplace_catalog as catalog
from tests.standins.marketplace_http import BadRequest, Reply, Request, json_reply, page, redirect, route

PLATFORMS = ("PAPER", "WATERFALL", "VELOCITY")
ALL_VERSIONS = {"PAPER": catalog.PAPER_VERSIONS, "WATERFALL": [], "VELOCITY": catalog.VELOCITY_VERSIONS}
PROJECT_SORTS = {
    "views": lambda p: p["stats"]["views"],
    "downloads": lambda p: p["stats"]["downloads"],
    "newest": lambda p: p["createdAt"],
    "stars": lambda p: p["stats"]["stars"],
    "updated": lambda p: p["versions"][0]["createdAt"],
    "recent_downloads": lambda p: p["stats"]["recentDownloads"],
    "recent_views": lambda p: p["stats"]["recentViews"],
    "slug": lambda p: p["name"].lower(),
}
PROJECT_PARAMS = {"sort", "limit", "offset", "prioritizeExactMatch", "query", "q", "platform", "version",
                  "category", "owner", "license", "tag", "member"}  # fmt: skip
VERSION_PARAMS = {"limit", "offset", "channel", "platform", "platformVersion", "includeHiddenChannels"}


def handle(request: Request) -> Reply:
    try:
        return route(request, ROUTES, lambda r: _error(404, "Not Found"))
    except BadRequest as error:
        return _error(400, str(error))


def _error(status: int, message: str) -> Reply:
    return json_reply(
        {
            "message": message,
            "messageArgs": [],
            "isHangarApiException": True,
            "httpError": {"statusCode": status},
        },
        status,
    )


def _unknown(value: str, name: str) -> Reply:
    return _error(404, f"Unknown value '{value}' for path variable '{name}'")


def _check_params(request: Request, allowed: set):
    extra = sorted(set(request.query) - allowed)
    if extra:
        raise BadRequest(f"[{', '.join(extra)}] are invalid parameters/filters for this request")


def _pagination(request: Request, default: int, maximum: int) -> tuple[int, int]:
    def number(name, fallback):
        value = request.arg(name)
        if value is None:
            return fallback
        if not value.lstrip("-").isdigit():
            raise BadRequest(f"{value} is not a valid long")
        return int(value)

    limit = number("limit", default)
    if limit < 1:
        raise BadRequest("Limit should be greater than 0")
    return min(limit, maximum), max(number("offset", 0), 0)


def _platforms(request: Request) -> list[str]:
    platforms = [p.upper() for p in request.args("platform")]
    bad = [p for p in platforms if p not in PLATFORMS]
    if bad:
        raise BadRequest(f"Failed to convert value '{bad[0]}' to Platform")
    return platforms


# ---- shapes ----------------------------------------------------------------------------------


def format_versions(versions: list[str], platform: str) -> list[str]:
    """Hangar's VersionFormatter: consecutive runs (in the platform's full list) become ranges."""
    known = ALL_VERSIONS[platform]
    ordered = sorted(versions, key=known.index)
    runs: list[list[str]] = []
    for version in ordered:
        if runs and known.index(version) == known.index(runs[-1][-1]) + 1:
            runs[-1].append(version)
        else:
            runs.append([version])
    return [run[0] if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs]


def version_json(project: dict, version: dict, base: str) -> dict:
    platform = version["platform"]
    data = catalog.content(version["path"])
    return {
        "createdAt": version["createdAt"],
        "id": version["id"],
        "projectId": project["id"],
        "name": version["name"],
        "visibility": "public",
        "description": version["description"],
        "stats": {
            "totalDownloads": version["downloads"],
            "platformDownloads": {platform: version["downloads"]},
        },
        "author": project["owner"],
        "reviewState": "reviewed",
        "channel": {
            "createdAt": project["createdAt"],
            "name": version["channel"],
            "description": None,
            "color": "#14b8a6",
            "flags": ["PINNED", "SENDS_NOTIFICATIONS"],
        },
        "pinnedStatus": "NONE",
        "downloads": {
            platform: {
                "fileInfo": {
                    "name": version["filename"],
                    "sizeBytes": len(data),
                    "sha256Hash": catalog.sha256(version["path"]),
                },
                "externalUrl": None,
                "downloadUrl": base + version["path"],
            }
        },
        "pluginDependencies": version["pluginDependencies"],
        "platformDependencies": version["platformDependencies"],
        "platformDependenciesFormatted": {
            p: format_versions(vs, p) for p, vs in version["platformDependencies"].items()
        },
        "memberNames": [project["owner"]],
    }


def _supported(project: dict) -> dict:
    found: dict[str, set] = {}
    for version in project["versions"]:
        for platform, versions in version["platformDependencies"].items():
            found.setdefault(platform, set()).update(versions)
    return {p: sorted(found[p], key=ALL_VERSIONS[p].index) for p in PLATFORMS if p in found}


def project_json(project: dict, base: str, *, full: bool = False) -> dict:
    return {
        "createdAt": project["createdAt"],
        "id": project["id"],
        "name": project["name"],
        "namespace": {"owner": project["owner"], "slug": project["name"]},
        "stats": project["stats"],
        "category": project["category"],
        "lastUpdated": project["versions"][0]["createdAt"],
        "visibility": "public",
        "avatarUrl": f"{base}/cdn/hangar/avatars/project/{project['id']}.webp",
        "description": project["description"],
        "userActions": {"starred": False, "watching": False, "flagged": False},
        "settings": {
            "links": [],
            "tags": [],
            "license": {"name": "MIT", "url": None, "type": "MIT"},
            "keywords": project["keywords"],
            "sponsors": "",
            "donation": {"enable": False, "subject": ""},
            "unlisted": False,
        },
        "publishedAt": project["versions"][-1]["createdAt"],
        "supportedPlatforms": _supported(project),
        "mainPageContent": f"# {project['name']}\n\n{project['description']}\n" if full else None,
        "memberNames": [project["owner"]],
    }


# ---- routes ----------------------------------------------------------------------------------


def _project(slug_or_id: str):
    wanted = slug_or_id.lower()
    return next(
        (p for p in catalog.HANGAR_PROJECTS if p["name"].lower() == wanted or str(p["id"]) == wanted), None
    )


def projects(request: Request):
    _check_params(request, PROJECT_PARAMS)
    if "query" in request.query and "q" in request.query:
        raise BadRequest("Cannot have both 'query' and 'q' parameters")
    limit, offset = _pagination(request, 25, 50)
    text = (request.arg("query") or request.arg("q") or "").strip().lower()
    platforms = _platforms(request)
    versions = request.args("version")
    if versions and not platforms:
        raise BadRequest("Platform parameter is required for platform version filter")
    found = []
    for project in catalog.HANGAR_PROJECTS:
        supported = _supported(project)
        haystack = " ".join([project["name"], project["description"], *project["keywords"]]).lower()
        if text and text not in haystack:
            continue
        if platforms and not set(platforms) & set(supported):
            continue
        if versions and not any(v in supported.get(p, []) for p in platforms for v in versions):
            continue
        if request.args("category") and project["category"] not in request.args("category"):
            continue
        if request.arg("owner") and project["owner"] != request.arg("owner"):
            continue
        found.append(project)
    for sort in reversed(request.args("sort")):  # the first sort given is the primary one
        key = sort.lstrip("-")
        if key not in PROJECT_SORTS:
            raise BadRequest(f"{key} is an invalid sort type for this request")
        found.sort(key=PROJECT_SORTS[key], reverse=sort.startswith("-"))
    return json_reply(
        {
            "pagination": {"limit": limit, "offset": offset, "count": len(found)},
            "result": [project_json(p, request.base) for p in page(found, offset, limit)],
        }
    )


def project_get(request: Request, slug_or_id: str, owner: str | None = None):
    project = _project(slug_or_id)
    if project is None:
        return _unknown(slug_or_id, "slugOrId")
    return json_reply(project_json(project, request.base, full=True))


def versions(request: Request, slug_or_id: str):
    _check_params(request, VERSION_PARAMS)
    project = _project(slug_or_id)
    if project is None:
        return _unknown(slug_or_id, "slugOrId")
    limit, offset = _pagination(request, 10, 25)
    platforms = _platforms(request)
    platform_versions = request.args("platformVersion")
    if platform_versions and not platforms:
        raise BadRequest("Platform parameter is required for platform version filter")
    found = [
        v
        for v in project["versions"]
        if (not platforms or v["platform"] in platforms)
        and (not platform_versions or set(platform_versions) & set(v["platformDependencies"][v["platform"]]))
        and (not request.args("channel") or v["channel"] in request.args("channel"))
    ]
    return json_reply(
        {
            "pagination": {"limit": limit, "offset": offset, "count": len(found)},
            "result": [version_json(project, v, request.base) for v in page(found, offset, limit)],
        }
    )


def _version(project: dict, name_or_id: str):
    return next((v for v in project["versions"] if name_or_id in (v["name"], str(v["id"]))), None)


def version_get(request: Request, slug_or_id: str, name_or_id: str):
    project = _project(slug_or_id)
    if project is None:
        return _unknown(slug_or_id, "slugOrId")
    version = _version(project, name_or_id)
    if version is None:
        return _unknown(name_or_id, "nameOrId")
    return json_reply(version_json(project, version, request.base))


def download(request: Request, slug_or_id: str, name_or_id: str, platform: str):
    project = _project(slug_or_id)
    version = project and _version(project, name_or_id)
    if not version or version["platform"] != platform.upper():
        return _error(404, "Not Found")
    return redirect(request.base + version["path"], 301)


def latest_release(request: Request, slug_or_id: str):
    project = _project(slug_or_id)
    if project is None:
        return _unknown(slug_or_id, "slugOrId")
    return Reply(200, project["versions"][0]["name"].encode(), {"Content-Type": "text/plain;charset=UTF-8"})


P = r"([^/]+)"
ROUTES = [
    ("GET", r"/api/v1/projects", projects),
    ("GET", rf"/api/v1/projects/{P}", project_get),
    ("GET", rf"/api/v1/projects/{P}/versions", versions),
    ("GET", rf"/api/v1/projects/{P}/versions/{P}", version_get),
    ("GET", rf"/api/v1/projects/{P}/versions/{P}/{P}/download", download),
    ("GET", rf"/api/v1/projects/{P}/latestrelease", latest_release),
    # The deprecated /projects/{author}/{slug}/... forms: the author is ignored, as Hangar does.
    ("GET", rf"/api/v1/projects/[^/]+/{P}", project_get),
    ("GET", rf"/api/v1/projects/[^/]+/{P}/versions", versions),
    ("GET", rf"/api/v1/projects/[^/]+/{P}/versions/{P}", version_get),
    ("GET", rf"/api/v1/projects/[^/]+/{P}/versions/{P}/{P}/download", download),
]
