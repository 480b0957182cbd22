"""Spiget's API v2 (api.spiget.org, over SpigotMC), as the stand-in answers it under /spiget.

Shapes follow Spiget's server (SpiGetOrg/api.spiget.org: routes/, util.js): lists carry
X-Page-Size, X-Page-Index, X-Page-Count and X-Total, and an EMPTY list is a 404 (with `[]` as its
body); lists hold the list fields only (no versions, updates, reviews, price); JSON is
"application/json; charset=utf-8". A resource's download is a 302 with X-Spiget-File-Source: to
cdn.spiget.org/file/spiget-resources/<id>.jar for a SpigotMC-hosted file (premium ones included:
Spiget redirects, and the CDN then has no file), or to the external URL."""

import math

from tests.standins import marketplace_catalog as catalog
from tests.standins.marketplace_http import JSON_UTF8, BadRequest, Reply, Request, json_reply, redirect, route

RESOURCES = {r["id"]: r for r in catalog.SPIGET_RESOURCES}
LIST_FIELDS = {
    "id", "name", "tag", "contributors", "external", "likes", "file", "testedVersions", "sourceCodeLink",
    "donationLink", "supportedLanguages", "links", "version", "author", "category", "rating", "releaseDate",
    "updateDate", "downloads", "icon", "premium", "existenceStatus",
}  # fmt: skip


def handle(request: Request) -> Reply:
    try:
        return route(request, ROUTES, lambda r: _json({"error": "Not Found"}, 404))
    except BadRequest as error:
        return _json({"error": str(error)}, 400)


def _json(data, status: int = 200, headers=None) -> Reply:
    return json_reply(data, status, JSON_UTF8, headers)


def _slug(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())


def _file(resource: dict) -> dict:
    latest = resource["versions"][-1][0]
    url = f"resources/{_slug(resource['name'])}.{resource['id']}/download?version={latest}"
    if resource["external"]:
        return {
            "type": "external",
            "size": 0,
            "sizeUnit": "",
            "url": url,
            "externalUrl": resource["externalUrl"],
        }
    if "size" in resource:
        size, unit = resource["size"]
    else:
        size, unit = round(len(catalog.content(resource["path"])) / 1024, 1), "KB"
    return {"type": ".jar", "size": size, "sizeUnit": unit, "url": url}


def _uuid(version_id: int) -> str:
    return f"00000000-0000-4000-8000-{version_id:012d}"


def resource_json(resource: dict, *, full: bool = True) -> dict:
    latest = resource["versions"][-1][0]
    data = {
        "external": resource["external"],
        "file": _file(resource),
        "likes": resource["likes"],
        "testedVersions": resource["testedVersions"],
        "links": {},
        "name": resource["name"],
        "tag": resource["tag"],
        "version": {"id": latest, "uuid": _uuid(latest)},
        "author": {"id": resource["author"]},
        "category": {"id": resource["category"]},
        "rating": resource["rating"],
        "icon": {"url": "", "data": ""},
        "releaseDate": resource["releaseDate"],
        "updateDate": resource["updateDate"],
        "downloads": resource["downloads"],
        "premium": resource["premium"],
        "sourceCodeLink": "",
        "supportedLanguages": "English",
        "contributors": "",
        "existenceStatus": 0,
        "description": "PHA+QSBwbHVnaW4gZm9yIHRlc3RzLjwvcD4=",  # base64 HTML, as Spiget stores it
        "reviews": [],
        "versions": [{"id": vid, "uuid": _uuid(vid)} for vid, *_ in resource["versions"]],
        "updates": [],
        "id": resource["id"],
    }
    if resource["premium"]:
        data.update(price=resource["price"], currency=resource["currency"])
    return data if full else {k: v for k, v in data.items() if k in LIST_FIELDS}


def version_json(resource: dict, version: tuple) -> dict:
    vid, name, released, downloads = version
    return {
        "uuid": _uuid(vid),
        "name": name,
        "releaseDate": released,
        "downloads": downloads,
        "rating": {"count": 0, "average": 0},
        "resource": resource["id"],
        "id": vid,
    }


# ---- lists: Spiget's paginateReq/paginateRes ---------------------------------------------------


def _sorted(items: list[dict], sort_param: str) -> list[dict]:
    for part in reversed([p.strip() for p in sort_param.split(",") if p.strip(" +-")]):
        descending = part.startswith("-")
        key = part.lstrip("+-")
        items = sorted(
            items, key=lambda item: (item.get(key) is not None, item.get(key) or 0), reverse=descending
        )
    return items


def _paginated(request: Request, items: list[dict]) -> Reply:
    try:
        size = int(request.arg("size") or 0) or 10
        number = int(request.arg("page") or 0) or 1
    except ValueError:
        size, number = 10, 1  # parseInt() of garbage is NaN, and NaN || default
    items = _sorted(items, request.arg("sort", "id"))
    shown = items[(number - 1) * size : number * size]
    headers = {
        "X-Page-Size": str(size),
        "X-Page-Index": str(number),
        "X-Page-Count": str(math.ceil(len(items) / size) or 1),  # mongoose-paginate's pages
        "X-Total": str(len(items)),
    }
    return _json(shown, 404 if not items else 200, headers)


def _resources(request: Request, keep) -> Reply:
    return _paginated(request, [resource_json(r, full=False) for r in catalog.SPIGET_RESOURCES if keep(r)])


def search(request: Request, query: str):
    field = request.arg("field", "name")
    if field not in ("name", "tag"):
        raise BadRequest("invalid field")
    return _resources(request, lambda r: query.lower() in r[field].lower())


def resource_get(request: Request, rid: str):
    resource = RESOURCES.get(int(rid))
    return _json(resource_json(resource)) if resource else _json({"error": "resource not found"}, 404)


def versions(request: Request, rid: str):
    resource = RESOURCES.get(int(rid))
    listed = [version_json(resource, v) for v in resource["versions"]] if resource else []
    return _paginated(request, listed)


def version_get(request: Request, rid: str, which: str):
    resource = RESOURCES.get(int(rid))
    found = None
    if resource and which == "latest":
        found = max(resource["versions"], key=lambda v: v[2])
    elif resource:
        found = next((v for v in resource["versions"] if str(v[0]) == which), None)
    return _json(version_json(resource, found)) if found else _json({"error": "version not found"}, 404)


def download(request: Request, rid: str):
    resource = RESOURCES.get(int(rid))
    if resource is None:
        return _json({"error": "resource not found"}, 404)
    if resource["external"]:
        return redirect(resource["externalUrl"], headers={"X-Spiget-File-Source": "external"})
    return redirect(request.base + resource["path"], headers={"X-Spiget-File-Source": "cdn"})


def _author_json(aid: int) -> dict:
    return {"name": catalog.SPIGET_AUTHORS[aid], "icon": {"url": "", "data": ""}, "id": aid}


def author_get(request: Request, aid: str):
    if int(aid) not in catalog.SPIGET_AUTHORS:
        return _json({"error": "author not found"}, 404)
    return _json(_author_json(int(aid)))


def resource_author(request: Request, rid: str):
    resource = RESOURCES.get(int(rid))
    return (
        _json(_author_json(resource["author"])) if resource else _json({"error": "resource not found"}, 404)
    )


N = r"(\d+)"
ROUTES = [
    ("GET", r"/v2/resources", lambda request: _resources(request, lambda r: True)),
    ("GET", r"/v2/resources/free", lambda request: _resources(request, lambda r: not r["premium"])),
    ("GET", r"/v2/resources/premium", lambda request: _resources(request, lambda r: r["premium"])),
    ("GET", r"/v2/search/resources/([^/]+)", search),
    ("GET", rf"/v2/resources/{N}", resource_get),
    ("GET", rf"/v2/resources/{N}/versions", versions),
    ("GET", rf"/v2/resources/{N}/versions/(\d+|latest)", version_get),
    ("GET", rf"/v2/resources/{N}/download", download),
    ("GET", rf"/v2/resources/{N}/author", resource_author),
    ("GET", rf"/v2/authors/{N}", author_get),
]
