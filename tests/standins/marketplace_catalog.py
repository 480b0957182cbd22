"""The marketplace stand-in's catalog, as plain data the tests import too: Modrinth projects and
versions, Hangar projects, Spiget resources and CurseForge mods (invented names, real shapes), and
every downloadable file, built at import (tests/standins/marketplace_files.py) so its bytes and
hashes are the same in every process.

`FILES` maps each CDN path the stand-in serves (e.g. "/cdn/modrinth/data/hrtLuck1/versions/v541/
luckyperms-5.4.1.jar") to its bytes; `content(path)`, `sha1(path)`, `sha512(path)`, `sha256(path)`
and `md5(path)` read it. Each version or file entry below names its CDN path as "path".

The one exception is the modpack (MRPACK_PATH): a .mrpack names its mods by absolute URL, and the
stand-in's address is only known per run, so it is built for the address it is asked on
(`mrpack_bytes(base_url)`, base_url like "http://127.0.0.42:40123"), and so are the hashes the
stand-in publishes for it. Tests pass the same base (`sha1(MRPACK_PATH, base_url)`) or use the
fixture's `marketplace.content(path)`, which does."""

from functools import cache

from tests.standins import marketplace_files as build
from tests.standins.marketplace_files import digest

GAME_VERSIONS = ["1.20.1", "1.20.4", "1.21"]
FILES: dict[str, bytes] = {}


def _add(path: str, data: bytes) -> str:
    FILES[path] = data
    return path


# ---- Modrinth (api.modrinth.com/v2; files on cdn.modrinth.com/data/<project>/versions/<version>/) ----

MODRINTH_AUTHOR = {"username": "hearthdev", "id": "hrtUser1"}
PAPERISH = ["paper", "spigot", "purpur"]
PLUGIN_SIDES = ("unsupported", "required")  # (client_side, server_side)

# Tables read better aligned, a row an item: the formatter would put every field on its own line.
# fmt: off
_MR_PROJECTS = [
    # id,        slug,              title,             kind,       loaders,               categories,                    downloads, (client, server)
    ("hrtLuck1", "luckyperms",      "LuckyPerms",      "plugin",   PAPERISH,              ["management", "utility"],      900000, PLUGIN_SIDES),
    ("hrtVault", "vaultish",        "Vaultish",        "plugin",   ["paper", "spigot"],   ["economy", "library"],         400000, PLUGIN_SIDES),
    ("hrtOldPm", "oldperms",        "OldPerms",        "plugin",   ["paper"],             ["management"],                   3000, PLUGIN_SIDES),
    ("hrtVelo1", "velocity-motd",   "Velocity MOTD",   "plugin",   ["velocity"],          ["utility"],                      8000, PLUGIN_SIDES),
    ("hrtLith1", "lithium-lite",    "Lithium Lite",    "mod",      ["fabric", "quilt"],   ["optimization"],               700000, ("optional", "optional")),
    ("hrtFapi1", "fabric-api-lite", "Fabric API Lite", "mod",      ["fabric"],            ["library"],                    800000, ("required", "required")),
    ("hrtForg1", "forge-tweaks",    "Forge Tweaks",    "mod",      ["forge", "neoforge"], ["utility"],                     20000, ("optional", "required")),
    ("hrtPack1", "hearth-pack",     "Hearth Pack",     "modpack",  ["fabric"],            ["optimization", "technology"],  15000, ("required", "optional")),
    ("hrtTerr1", "terra-lite",      "Terra Lite",      "datapack", ["datapack"],          ["worldgen"],                     6000, ("optional", "required")),
]
_MR_DESCRIPTIONS = {
    "hrtLuck1": "A permissions plugin for Minecraft servers.",
    "hrtVault": "An economy and permissions API other plugins hook into.",
    "hrtOldPm": "An old permissions plugin that clashes with LuckyPerms.",
    "hrtVelo1": "Sets the proxy's message of the day.",
    "hrtLith1": "Game logic optimisations for servers and clients.",
    "hrtFapi1": "Core hooks for Fabric mods.",
    "hrtForg1": "Small server tweaks for Forge.",
    "hrtPack1": "A small Fabric pack for survival servers.",
    "hrtTerr1": "Gentler terrain generation, as a datapack.",
}
_MR_VERSIONS = [
    # id,       project,    number,   game versions,                loaders,              published,    file name,                    dependencies (project, version, type)
    ("v540",   "hrtLuck1", "5.4.0",  ["1.20.1", "1.20.4"],          PAPERISH,             "2024-01-15", "luckyperms-5.4.0.jar",       []),
    ("v541",   "hrtLuck1", "5.4.1",  GAME_VERSIONS,                 PAPERISH,             "2024-06-20", "luckyperms-5.4.1.jar",       [("hrtVault", None, "required")]),
    ("vv173",  "hrtVault", "1.7.3",  GAME_VERSIONS,                 ["paper", "spigot"],  "2024-05-02", "vaultish-1.7.3.jar",         []),
    ("vop10",  "hrtOldPm", "1.0",    ["1.20.1"],                    ["paper"],            "2023-08-01", "oldperms-1.0.jar",           [("hrtLuck1", None, "incompatible")]),
    ("vvm10",  "hrtVelo1", "1.0.0",  ["1.20.1", "1.21"],            ["velocity"],         "2024-02-01", "velocity-motd-1.0.0.jar",    []),
    ("vl0112", "hrtLith1", "0.11.2", ["1.20.1"],                    ["fabric", "quilt"],  "2023-11-01", "lithium-lite-0.11.2.jar",    []),
    ("vl0120", "hrtLith1", "0.12.0", ["1.20.1", "1.20.4"],          ["fabric", "quilt"],  "2024-03-01", "lithium-lite-0.12.0.jar",    [("hrtFapi1", "vfa090", "required")]),
    ("vfa090", "hrtFapi1", "0.90.0", ["1.20.1"],                    ["fabric"],           "2023-10-01", "fabric-api-lite-0.90.0.jar", []),
    ("vfa091", "hrtFapi1", "0.91.0", ["1.20.1", "1.20.4"],          ["fabric"],           "2024-01-05", "fabric-api-lite-0.91.0.jar", []),
    ("vft10",  "hrtForg1", "1.0",    ["1.20.1"],                    ["forge", "neoforge"], "2023-12-01", "forge-tweaks-1.0.jar",      []),
    ("vhp10",  "hrtPack1", "1.0.0",  ["1.20.1"],                    ["fabric"],           "2024-04-01", "hearth-pack-1.0.0.mrpack",   []),
    ("vtl10",  "hrtTerr1", "1.0",    ["1.20.1", "1.21"],            ["datapack"],         "2024-02-15", "terra-lite-1.0.zip",         []),
]
# fmt: on
_MR_CONTENT = {
    "v540": build.plugin_jar("LuckyPerms", "5.4.0", "hearth.luckperms.LuckPerms"),
    "v541": build.plugin_jar("LuckyPerms", "5.4.1", "hearth.luckperms.LuckPerms", depend=["Vaultish"]),
    "vv173": build.plugin_jar("Vaultish", "1.7.3", "hearth.vaultish.Vaultish"),
    "vop10": build.plugin_jar("OldPerms", "1.0", "hearth.oldperms.OldPerms"),
    "vvm10": build.velocity_jar("velocity-motd", "Velocity MOTD", "1.0.0", "hearth.motd.VelocityMotd"),
    "vl0112": build.fabric_jar("lithium-lite", "Lithium Lite", "0.11.2"),
    "vl0120": build.fabric_jar("lithium-lite", "Lithium Lite", "0.12.0", {"fabric-api-lite": "*"}),
    "vfa090": build.fabric_jar("fabric-api-lite", "Fabric API Lite", "0.90.0"),
    "vfa091": build.fabric_jar("fabric-api-lite", "Fabric API Lite", "0.91.0"),
    "vft10": build.forge_jar("forge_tweaks", "Forge Tweaks", "1.0"),
    "vtl10": build.datapack_zip("terra_lite", "Terra Lite: gentler terrain"),
    # vhp10, the modpack, depends on the stand-in's address: see mrpack_bytes()
}

MODRINTH_PROJECTS = [
    {
        "id": pid,
        "slug": slug,
        "title": title,
        # Modrinth indexes "project_types" (v3); v2 answers call plugins and datapacks "mod".
        "project_types": [kind],
        "project_type": "modpack" if kind == "modpack" else "mod",
        "loaders": loaders,
        "categories": categories,
        "description": _MR_DESCRIPTIONS[pid],
        "downloads": downloads,
        "followers": downloads // 200,
        "client_side": sides[0],
        "server_side": sides[1],
        "team": "team" + pid[3:],
        "license": {"id": "MIT", "name": "MIT License", "url": None},
        "published": "2023-03-01T10:00:00.000000Z",
        "color": 8703084,
    }
    for pid, slug, title, kind, loaders, categories, downloads, sides in _MR_PROJECTS
]
MODRINTH_VERSIONS = [  # oldest first within a project
    {
        "id": vid,
        "project_id": pid,
        "name": f"{next(p['title'] for p in MODRINTH_PROJECTS if p['id'] == pid)} {number}",
        "version_number": number,
        "game_versions": game_versions,
        "loaders": loaders,
        "date_published": f"{day}T09:00:00.000000Z",
        "dependencies": deps,
        "version_type": "release",
        "featured": vid == "v541",
        "downloads": 1000,
        "changelog": f"Release {number}.",
        "filename": filename,
        "path": f"/cdn/modrinth/data/{pid}/versions/{vid}/{filename}",
    }
    for vid, pid, number, game_versions, loaders, day, filename, deps in _MR_VERSIONS
]
for _version in MODRINTH_VERSIONS:
    if _version["id"] in _MR_CONTENT:
        _add(_version["path"], _MR_CONTENT[_version["id"]])

# A client-side file the pack lists; a server must skip it (env.server "unsupported"). Served only.
SHADERS_PATH = _add(
    "/cdn/modrinth/data/hrtShdr1/versions/vsh100/client-only-shaders.jar",
    build.fabric_jar("client-shaders", "Client Only Shaders", "1.0.0", environment="client"),
)


def modrinth_version(vid: str) -> dict:
    return next(v for v in MODRINTH_VERSIONS if v["id"] == vid)


MRPACK_PATH = modrinth_version("vhp10")["path"]


def _pack_file(path: str, base_url: str, *, server: str = "required") -> dict:
    data = FILES[path]
    return {
        "path": "mods/" + path.rsplit("/", 1)[1],
        "hashes": {"sha1": digest(data, "sha1"), "sha512": digest(data, "sha512")},
        "env": {"client": "required", "server": server},
        "downloads": [base_url + path],
        "fileSize": len(data),
    }


def mrpack_index(base_url: str) -> dict:
    """The pack's modrinth.index.json, its downloads on the stand-in at `base_url`."""
    return {
        "formatVersion": 1,
        "game": "minecraft",
        "versionId": "1.0.0",
        "name": "Hearth Pack",
        "summary": "A small Fabric pack for survival servers.",
        "files": [
            _pack_file(modrinth_version("vl0120")["path"], base_url),
            _pack_file(modrinth_version("vfa091")["path"], base_url),
            _pack_file(SHADERS_PATH, base_url, server="unsupported"),
        ],
        "dependencies": {"minecraft": "1.20.1", "fabric-loader": "0.15.11"},
    }


@cache
def mrpack_bytes(base_url: str) -> bytes:
    """The exact .mrpack the stand-in serves (and hashes) when asked on `base_url`."""
    return build.mrpack(
        mrpack_index(base_url.rstrip("/")),
        overrides={"config/lithium.properties": "mixin.ai=false\n"},
        server_overrides={"server.properties": "motd=Hearth Pack\n"},
    )


# ---- Hangar (hangar.papermc.io/api/v1; files on hangarcdn.papermc.io/plugins/<owner>/<name>/...) ----

PAPER_VERSIONS = ["1.20", "1.20.1", "1.20.2", "1.20.3", "1.20.4", "1.20.5", "1.20.6", "1.21"]
VELOCITY_VERSIONS = ["3.1", "3.2", "3.3"]
_VAULTISH = {"name": "Vaultish", "projectId": 102, "required": True, "externalUrl": None, "platform": "PAPER"}
_PAPI = {
    "name": "PlaceholderAPI",
    "projectId": None,
    "required": False,
    "externalUrl": "https://www.spigotmc.org/resources/6245/",
    "platform": "PAPER",
}

# fmt: off
_HANGAR_PROJECTS = [
    # id,  name,         category,      description,                                 created,       views, downloads, stars
    (101, "HangarChat", "chat",        "Chat channels and formatting for Paper.",   "2023-02-01",  52000,     31000,   140),
    (102, "Vaultish",   "economy",     "An economy API other plugins hook into.",   "2023-01-15",  30000,     25000,    60),
    (103, "VeloList",   "admin_tools", "A server list for Velocity proxies.",       "2023-06-01",   4000,      1200,     8),
]
_HANGAR_VERSIONS = [  # newest first within a project
    # id,   project,      name,    created,      platform,   platform versions,                 plugin dependencies, downloads
    (1002, "HangarChat", "2.1.0", "2024-05-10", "PAPER",    ["1.20.1", "1.20.4", "1.21"],      [_VAULTISH, _PAPI],   9000),
    (1001, "HangarChat", "2.0.0", "2023-09-01", "PAPER",    ["1.20.1", "1.20.4", "1.21"],      [],                  22000),
    (1003, "Vaultish",   "1.7.3", "2024-04-01", "PAPER",    PAPER_VERSIONS[1:],                [],                  25000),
    (1004, "VeloList",   "1.0",   "2024-01-20", "VELOCITY", ["3.3"],                           [],                   1200),
]
# fmt: on


def _hangar_file(project: str, name: str, platform: str) -> bytes:
    main = f"hearth.{project.lower()}.Plugin"
    if platform == "VELOCITY":
        return build.velocity_jar(project.lower(), project, name, main)
    return build.plugin_jar(project, name, main)


HANGAR_PROJECTS = [
    {
        "id": hid,
        "name": name,
        "owner": "hearth",
        "category": category,
        "description": description,
        "createdAt": f"{day}T10:00:00.000000Z",
        "stats": {
            "views": views,
            "downloads": downloads,
            "recentViews": views // 50,
            "recentDownloads": downloads // 50,
            "stars": stars,
            "watchers": stars // 4,
        },
        "keywords": [category.replace("_", " ")],
        "versions": [
            {
                "id": vid,
                "name": version,
                "createdAt": f"{vday}T10:00:00.000000Z",
                "description": f"{name} {version}",
                "downloads": vdownloads,
                "channel": "Release",
                "platform": platform,
                "filename": f"{name}-{version}.jar",
                "path": _add(
                    f"/cdn/hangar/plugins/hearth/{name}/versions/{version}/{platform}/{name}-{version}.jar",
                    _hangar_file(name, version, platform),
                ),
                "pluginDependencies": {platform: deps} if deps else {},
                "platformDependencies": {platform: platform_versions},
            }
            for vid, project, version, vday, platform, platform_versions, deps, vdownloads in _HANGAR_VERSIONS
            if project == name
        ],
    }
    for hid, name, category, description, day, views, downloads, stars in _HANGAR_PROJECTS
]

# ---- Spiget (api.spiget.org/v2; files on cdn.spiget.org/file/spiget-resources/<id>.jar) ----

SPIGET_AUTHORS = {9001: "hearthdev"}
_SPIGET_COMMON = {"author": 9001, "category": 4, "premium": False, "external": False}
SPIGET_RESOURCES = [
    {
        **_SPIGET_COMMON,
        "id": 1001,
        "name": "SpigotEssentials",
        "tag": "Essentials for Spigot",
        "testedVersions": ["1.19", "1.20", "1.21"],
        "downloads": 50000,
        "likes": 410,
        "rating": {"count": 180, "average": 4.7},
        "releaseDate": 1672531200,  # unix seconds, as Spiget sends them
        "updateDate": 1717200000,
        # (id, name, releaseDate, downloads), oldest first: the last is the latest
        "versions": [(5001, "2.19.0", 1701388800, 21000), (5002, "2.20.1", 1717200000, 29000)],
        # Spiget's CDN holds the latest file only, named by resource id (no version in the URL).
        "filename": "spigot-essentials-2.20.1.jar",
        "path": _add(
            "/cdn/spiget/file/spiget-resources/1001.jar",
            build.plugin_jar("SpigotEssentials", "2.20.1", "hearth.essentials.Essentials"),
        ),
    },
    {
        **_SPIGET_COMMON,
        "id": 1002,
        "name": "PremiumThing",
        "tag": "A paid plugin",
        "premium": True,
        "price": 9.99,
        "currency": "USD",
        "testedVersions": ["1.20", "1.21"],
        "downloads": 700,
        "likes": 12,
        "rating": {"count": 9, "average": 4.1},
        "releaseDate": 1688169600,
        "updateDate": 1714521600,
        "versions": [(5101, "3.0", 1714521600, 700)],
        "path": "/cdn/spiget/file/spiget-resources/1002.jar",  # not on the CDN: Spiget cannot fetch it
        "size": (1.2, "MB"),
    },
    {
        **_SPIGET_COMMON,
        "id": 1003,
        "name": "ExternalThing",
        "tag": "Hosted elsewhere",
        "external": True,
        "externalUrl": "https://example.com/thing.jar",
        "testedVersions": ["1.20"],
        "downloads": 1500,
        "likes": 20,
        "rating": {"count": 14, "average": 3.9},
        "releaseDate": 1680307200,
        "updateDate": 1706745600,
        "versions": [(5201, "1.2", 1706745600, 1500)],
    },
]

# ---- CurseForge (api.curseforge.com/v1, gameId 432; files on edge.forgecdn.net/files/<id/1000>/<id%1000>/) ----

CF_CLASS_MODS, CF_CLASS_BUKKIT, CF_CLASS_MODPACKS, CF_CLASS_DATAPACKS = 6, 5, 4471, 6945
_MISC = (425, "Miscellaneous", "mc-miscellaneous")

# fmt: off
_CF_MODS = [
    # id,   name,             slug,             classId,         category (id, name, slug),                     downloads, allowModDistribution
    (2001, "Forge Lite Mod", "forge-lite-mod", CF_CLASS_MODS,   _MISC,                                          120000, True),
    (2002, "Forge Lib",      "forge-lib",      CF_CLASS_MODS,   (421, "API and Library", "library-api"),        300000, True),
    (2003, "No Third Party", "no-third-party", CF_CLASS_MODS,   _MISC,                                            5000, False),
    (2004, "Bukkit Thing",   "bukkit-thing",   CF_CLASS_BUKKIT, (115, "Admin Tools", "admin-tools"),              2000, True),
    (2005, "Fabric Thing",   "fabric-thing",   CF_CLASS_MODS,   _MISC,                                            7000, True),
]
_CF_FILES = [  # newest first within a mod; Bukkit files carry Bukkit versions only (no loader entry)
    # id,   mod,  file name,                   gameVersions,                      fileDate,      dependencies (modId, relationType)
    (3001, 2001, "forge-lite-mod-1.1.0.jar",  ["1.20.1", "Forge"],               "2024-05-01",  [(2002, 3)]),
    (3000, 2001, "forge-lite-mod-1.0.0.jar",  ["1.20.1", "Forge"],               "2023-11-01",  []),
    (3101, 2002, "forge-lib-2.0.jar",         ["1.20.1", "Forge", "NeoForge"],   "2024-03-01",  []),
    (3201, 2003, "no-third-party-1.0.jar",    ["1.20.1", "Forge"],               "2024-02-01",  []),
    (3301, 2004, "bukkit-thing-1.0.jar",      ["1.20.1"],                        "2024-01-10",  []),
    (3401, 2005, "fabric-thing-1.0.jar",      ["1.20.1", "Fabric"],              "2024-04-10",  []),
]
# fmt: on
_CF_CONTENT = {
    3001: build.forge_jar("forge_lite_mod", "Forge Lite Mod", "1.1.0"),
    3000: build.forge_jar("forge_lite_mod", "Forge Lite Mod", "1.0.0"),
    3101: build.forge_jar("forge_lib", "Forge Lib", "2.0"),
    3201: build.forge_jar("no_third_party", "No Third Party", "1.0"),
    3301: build.plugin_jar("BukkitThing", "1.0", "hearth.bukkitthing.BukkitThing"),
    3401: build.fabric_jar("fabric-thing", "Fabric Thing", "1.0"),
}

CURSEFORGE_MODS = [
    {
        "id": mid,
        "name": name,
        "slug": slug,
        "classId": class_id,
        "summary": f"{name}, for tests.",
        "category": category,
        "downloadCount": downloads,
        "allowModDistribution": distributable,
        "dateCreated": "2023-01-10T10:00:00.000Z",
        "gamePopularityRank": 1_000_000 // downloads,
        "files": [
            {
                "id": fid,
                "modId": mid,
                "displayName": filename.removesuffix(".jar"),
                "fileName": filename,
                "gameVersions": game_versions,
                "fileDate": f"{day}T10:00:00.000Z",
                "releaseType": 1,
                "downloadCount": downloads // 2,
                "dependencies": [{"modId": dep, "relationType": relation} for dep, relation in deps],
                "path": _add(
                    f"/cdn/curseforge/files/{fid // 1000}/{fid % 1000}/{filename}", _CF_CONTENT[fid]
                ),
            }
            for fid, file_mod, filename, game_versions, day, deps in _CF_FILES
            if file_mod == mid
        ],
    }
    for mid, name, slug, class_id, category, downloads, distributable in _CF_MODS
]

# ---- reading files and hashes ----


def content(path: str, base_url: str | None = None) -> bytes:
    """The bytes served at `path`; the modpack needs the `base_url` it is asked on."""
    if path == MRPACK_PATH:
        if base_url is None:
            raise KeyError(f"{path} is built per address: pass base_url (see mrpack_bytes)")
        return mrpack_bytes(base_url)
    return FILES[path]


def sha1(path: str, base_url: str | None = None) -> str:
    return digest(content(path, base_url), "sha1")


def sha512(path: str, base_url: str | None = None) -> str:
    return digest(content(path, base_url), "sha512")


def sha256(path: str, base_url: str | None = None) -> str:
    return digest(content(path, base_url), "sha256")


def md5(path: str, base_url: str | None = None) -> str:
    return digest(content(path, base_url), "md5")
