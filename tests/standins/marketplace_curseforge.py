"""CurseForge's API v1 (api.curseforge.com, gameId 432 = Minecraft), as the stand-in answers it
under /curseforge.

Shapes follow CurseForge's OpenAPI description (docs.curseforge.com): every answer is wrapped in
{"data": ...}, lists add {"pagination": {index, pageSize, resultCount, totalCount}}. A request
without the right `x-api-key` header is a 403 with an empty body, an unknown mod or file a 404 with
an empty body. A file's `downloadUrl` is null when its mod disallows third-party distribution.
Loaders are entries of a file's `gameVersions` ("Forge", "NeoForge", "Fabric"...); Bukkit plugin
files carry Bukkit versions only (version type 1), no loader entry."""

import zipfile
from io import BytesIO

from tests.standins import marketplace_catalog as catalog
from tests.standins.marketplace_files import curseforge_fingerprint
from tests.standins.marketplace_http import (
    JSON_UTF8,
    BadRequest,
    Reply,
    Request,
    empty,
    int_arg,
    json_reply,
    route,
)

API_KEY = "test-curseforge-key"
GAME_ID = 432
MODS = {m["id"]: m for m in catalog.CURSEFORGE_MODS}
LOADERS = {"Forge": 1, "Cauldron": 2, "LiteLoader": 3, "Fabric": 4, "Quilt": 5, "NeoForge": 6}
LOADER_TYPE_ID = 68441  # CurseForge's "Modloader" game version type
BUKKIT_TYPE_ID = 1
MINECRAFT_TYPE_IDS = {"1.20": 75125, "1.21": 77784}  # "Minecraft 1.20", "Minecraft 1.21"
RELEASE_DATES = {
    "1.20.1": "2023-06-12T00:00:00Z",
    "1.20.4": "2023-12-07T00:00:00Z",
    "1.21": "2024-06-13T00:00:00Z",
}
AUTHOR = {"id": 100001, "name": "hearthdev", "url": "https://www.curseforge.com/members/hearthdev"}
SECTIONS = {6: "mc-mods", 5: "bukkit-plugins", 4471: "modpacks", 6945: "data-packs"}


def handle(request: Request) -> Reply:
    if request.header("x-api-key") != API_KEY:
        return empty(403)
    try:
        return route(request, ROUTES, lambda r: empty(404))
    except BadRequest:
        return empty(400)


def _json(data, status: int = 200) -> Reply:
    return json_reply(data, status, JSON_UTF8)


# ---- shapes ----------------------------------------------------------------------------------


def _type_id(game_version: str, class_id: int) -> int:
    if class_id == catalog.CF_CLASS_BUKKIT:
        return BUKKIT_TYPE_ID
    return MINECRAFT_TYPE_IDS[".".join(game_version.split(".")[:2])]


def _sortable(name: str, class_id: int) -> dict:
    if name in LOADERS:
        return {
            "gameVersionName": name,
            "gameVersionPadded": "0",
            "gameVersion": "",
            "gameVersionReleaseDate": "2022-10-01T00:00:00Z",
            "gameVersionTypeId": LOADER_TYPE_ID,
        }
    return {
        "gameVersionName": name,
        "gameVersionPadded": ".".join(part.zfill(10) for part in name.split(".")),
        "gameVersion": name,
        "gameVersionReleaseDate": RELEASE_DATES.get(name, "2023-01-01T00:00:00Z"),
        "gameVersionTypeId": _type_id(name, class_id),
    }


def _modules(data: bytes) -> list[dict]:
    """One module per top-level name in the jar (CurseForge's folder fingerprints, approximated:
    the fingerprint of that entry's bytes, or of its files' bytes joined)."""
    with zipfile.ZipFile(BytesIO(data)) as zf:
        tops: dict[str, bytes] = {}
        for name in zf.namelist():
            top = name.split("/", 1)[0]
            tops[top] = tops.get(top, b"") + zf.read(name)
    return [{"name": name, "fingerprint": curseforge_fingerprint(blob)} for name, blob in tops.items()]


def file_json(mod: dict, file: dict, base: str) -> dict:
    data = catalog.content(file["path"])
    return {
        "id": file["id"],
        "gameId": GAME_ID,
        "modId": mod["id"],
        "isAvailable": True,
        "displayName": file["displayName"],
        "fileName": file["fileName"],
        "releaseType": file["releaseType"],
        "fileStatus": 4,  # Approved
        "hashes": [
            {"value": catalog.sha1(file["path"]), "algo": 1},
            {"value": catalog.md5(file["path"]), "algo": 2},
        ],
        "fileDate": file["fileDate"],
        "fileLength": len(data),
        "downloadCount": file["downloadCount"],
        "fileSizeOnDisk": None,
        "downloadUrl": base + file["path"] if mod["allowModDistribution"] else None,
        "gameVersions": file["gameVersions"],
        "sortableGameVersions": [_sortable(v, mod["classId"]) for v in file["gameVersions"]],
        "dependencies": file["dependencies"],
        "alternateFileId": 0,
        "isServerPack": False,
        "fileFingerprint": curseforge_fingerprint(data),
        "modules": _modules(data),
    }


def _indexes(mod: dict) -> list[dict]:
    found = []
    for file in mod["files"]:
        loaders = [LOADERS[v] for v in file["gameVersions"] if v in LOADERS] or [None]
        for game_version in (v for v in file["gameVersions"] if v not in LOADERS):
            for loader in loaders:
                index = {
                    "gameVersion": game_version,
                    "fileId": file["id"],
                    "filename": file["fileName"],
                    "releaseType": file["releaseType"],
                    "gameVersionTypeId": _type_id(game_version, mod["classId"]),
                    "modLoader": loader,
                }
                found.append(index)
    return found


def mod_json(mod: dict, base: str) -> dict:
    category_id, category_name, category_slug = mod["category"]
    section = SECTIONS[mod["classId"]]
    newest = mod["files"][0]
    return {
        "id": mod["id"],
        "gameId": GAME_ID,
        "name": mod["name"],
        "slug": mod["slug"],
        "links": {
            "websiteUrl": f"https://www.curseforge.com/minecraft/{section}/{mod['slug']}",
            "wikiUrl": "",
            "issuesUrl": None,
            "sourceUrl": None,
        },
        "summary": mod["summary"],
        "status": 4,  # Approved
        "downloadCount": mod["downloadCount"],
        "isFeatured": False,
        "primaryCategoryId": category_id,
        "categories": [
            {
                "id": category_id,
                "gameId": GAME_ID,
                "name": category_name,
                "slug": category_slug,
                "url": f"https://www.curseforge.com/minecraft/{section}/{category_slug}",
                "iconUrl": f"{base}/cdn/curseforge/categories/{category_id}.png",
                "dateModified": "2022-01-01T00:00:00Z",
                "isClass": False,
                "classId": mod["classId"],
                "parentCategoryId": mod["classId"],
            }
        ],
        "classId": mod["classId"],
        "authors": [AUTHOR],
        "logo": {
            "id": mod["id"] * 10,
            "modId": mod["id"],
            "title": "logo.png",
            "description": "",
            "thumbnailUrl": f"{base}/cdn/curseforge/avatars/{mod['id']}/logo-thumb.png",
            "url": f"{base}/cdn/curseforge/avatars/{mod['id']}/logo.png",
        },
        "screenshots": [],
        "mainFileId": newest["id"],
        "latestFiles": [file_json(mod, f, base) for f in mod["files"]],
        "latestFilesIndexes": _indexes(mod),
        "latestEarlyAccessFilesIndexes": [],
        "dateCreated": mod["dateCreated"],
        "dateModified": newest["fileDate"],
        "dateReleased": newest["fileDate"],
        "allowModDistribution": mod["allowModDistribution"],
        "gamePopularityRank": mod["gamePopularityRank"],
        "isAvailable": True,
        "thumbsUpCount": 0,
        "rating": None,
    }


# ---- routes ----------------------------------------------------------------------------------

SORT_FIELDS = {
    2: lambda m: m["downloadCount"],  # Popularity
    3: lambda m: m["files"][0]["fileDate"],  # LastUpdated
    4: lambda m: m["name"].lower(),  # Name
    5: lambda m: AUTHOR["name"],  # Author
    6: lambda m: m["downloadCount"],  # TotalDownloads
    11: lambda m: m["files"][0]["fileDate"],  # ReleasedDate
}


def _window(request: Request) -> tuple[int, int]:
    index, size = int_arg(request, "index", 0), min(int_arg(request, "pageSize", 50), 50)
    if index < 0 or size < 0 or index + size > 10000:
        raise BadRequest("index + pageSize must be at most 10,000")
    return index, size


def _fits(indexes: list[dict], game_version, loader) -> bool:
    return any(
        (not game_version or i["gameVersion"] == game_version)
        and (loader is None or i["modLoader"] == loader)
        for i in indexes
    )


def search(request: Request):
    if request.arg("gameId") is None:
        raise BadRequest("gameId is required")
    index, size = _window(request)
    game_id, class_id, category = (
        int_arg(request, "gameId", 0),
        request.arg("classId"),
        request.arg("categoryId"),
    )
    text = (request.arg("searchFilter") or "").strip().lower()
    game_version = request.arg("gameVersion") or None
    loader = int_arg(request, "modLoaderType", -1)
    found = [
        m
        for m in catalog.CURSEFORGE_MODS
        if game_id == GAME_ID
        and (class_id is None or str(m["classId"]) == class_id)
        and (category is None or str(m["category"][0]) == category)
        and (not text or text in m["name"].lower() or text in AUTHOR["name"])
        and (request.arg("slug") is None or m["slug"] == request.arg("slug"))
        and (
            not (game_version or loader >= 0)
            or _fits(_indexes(m), game_version, loader if loader >= 0 else None)
        )
    ]
    sort_field = int_arg(request, "sortField", 0)
    found.sort(key=SORT_FIELDS.get(sort_field, lambda m: m["id"]), reverse=request.arg("sortOrder") == "desc")
    shown = found[index : index + size]
    return _json(
        {
            "data": [mod_json(m, request.base) for m in shown],
            "pagination": {
                "index": index,
                "pageSize": size,
                "resultCount": len(shown),
                "totalCount": len(found),
            },
        }
    )


def mod_get(request: Request, mod_id: str):
    mod = MODS.get(int(mod_id))
    return _json({"data": mod_json(mod, request.base)}) if mod else empty(404)


def files(request: Request, mod_id: str):
    mod = MODS.get(int(mod_id))
    if mod is None:
        return empty(404)
    index, size = _window(request)
    game_version = request.arg("gameVersion") or None
    loader = int_arg(request, "modLoaderType", -1)
    names = {number: name for name, number in LOADERS.items()}
    found = [
        f
        for f in sorted(mod["files"], key=lambda f: f["fileDate"], reverse=True)
        if (not game_version or game_version in f["gameVersions"])
        and (loader <= 0 or names.get(loader) in f["gameVersions"])
    ]
    shown = found[index : index + size]
    return _json(
        {
            "data": [file_json(mod, f, request.base) for f in shown],
            "pagination": {
                "index": index,
                "pageSize": size,
                "resultCount": len(shown),
                "totalCount": len(found),
            },
        }
    )


def file_get(request: Request, mod_id: str, file_id: str):
    mod = MODS.get(int(mod_id))
    file = mod and next((f for f in mod["files"] if f["id"] == int(file_id)), None)
    return _json({"data": file_json(mod, file, request.base)}) if file else empty(404)


N = r"(\d+)"
ROUTES = [
    ("GET", r"/v1/mods/search", search),
    ("GET", rf"/v1/mods/{N}", mod_get),
    ("GET", rf"/v1/mods/{N}/files", files),
    ("GET", rf"/v1/mods/{N}/files/{N}", file_get),
]
