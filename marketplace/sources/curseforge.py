"""CurseForge (API v1, docs.curseforge.com): mods, Bukkit plugins, modpacks and datapacks, searched
only when the operator has configured an API key (HEARTH_CURSEFORGE_API_KEY). Files carry SHA-1 and MD5
hashes; some authors forbid third-party downloads (no downloadUrl), and those are listed, not
installable."""

from django.conf import settings

from marketplace.sources.base import (
    Dependency,
    FileInfo,
    Page,
    Project,
    Source,
    SourceNotFound,
    Version,
    segment,
)

GAME_MINECRAFT = 432
CLASSES = {"mod": 6, "plugin": 5, "modpack": 4471, "datapack": 6945}
TYPES = {number: kind for kind, number in CLASSES.items()}
LOADER_TYPES = {"forge": 1, "fabric": 4, "quilt": 5, "neoforge": 6}
SORTS = {"relevance": 2, "downloads": 6, "updated": 3, "newest": 11}  # popularity, total downloads…
RELATIONS = {3: "required", 2: "optional", 5: "incompatible"}
HASHES = {1: "sha1", 2: "md5"}


class CurseForge(Source):
    name = "curseforge"
    label = "CurseForge"
    setting = "CURSEFORGE_URL"
    download_hosts = ("edge.forgecdn.net", "mediafilez.forgecdn.net", "media.forgecdn.net")
    icon_hosts = ("media.forgecdn.net",)
    per_minute = 120
    project_types = ("plugin", "mod", "modpack", "datapack")

    def enabled(self) -> bool:
        return bool(settings.CURSEFORGE_API_KEY)

    def headers(self) -> dict:
        return {"x-api-key": settings.CURSEFORGE_API_KEY}

    def search(self, query, *, loads=()) -> Page:
        answer = self.get(
            "/v1/mods/search",
            {
                "gameId": GAME_MINECRAFT,
                "classId": CLASSES.get(query.project_type),
                "searchFilter": query.text,
                "gameVersion": query.game_version,
                "modLoaderType": _loader_type(loads)
                if query.project_type in ("mod", "modpack", "")
                else None,
                "sortField": SORTS.get(query.sort, 2),
                "sortOrder": "desc",
                "index": (query.page - 1) * query.per_page,
                "pageSize": query.per_page,
            },
            ttl=settings.MARKETPLACE_SEARCH_CACHE_SECONDS,
        )
        pagination = answer.get("pagination") or {}
        return Page(
            [self._project(m, query.game_version, loads) for m in answer.get("data", [])],
            pagination.get("totalCount"),
        )

    def project(self, project_id: str) -> Project:
        return self._project(self._mod(project_id), "", ())

    def versions(self, project_id: str, *, loads=(), game_version="", fresh=False) -> list:
        mod = self._mod(project_id, fresh=fresh)
        kind = TYPES.get(mod.get("classId"), "mod")
        answer = self.get(
            f"/v1/mods/{segment(project_id)}/files",
            {
                "gameVersion": game_version,
                "modLoaderType": _loader_type(loads) if kind in ("mod", "modpack") else None,
                "pageSize": 50,
            },
            ttl=None if fresh else settings.MARKETPLACE_PROJECT_CACHE_SECONDS,
        )
        return [self._version(mod, f) for f in answer.get("data", [])]

    def version(self, project_id: str, version_id: str) -> Version:
        mod = self._mod(project_id)
        data = self.get(
            f"/v1/mods/{segment(project_id)}/files/{segment(version_id)}",
            ttl=settings.MARKETPLACE_PROJECT_CACHE_SECONDS,
        )["data"]
        return self._version(mod, data)

    # ---- shapes ---------------------------------------------------------------------------------

    def _mod(self, project_id, *, fresh=False) -> dict:
        if not str(project_id).isdigit():
            raise SourceNotFound("CurseForge has no such project.")
        return self.get(
            f"/v1/mods/{segment(project_id)}",
            ttl=None if fresh else settings.MARKETPLACE_PROJECT_CACHE_SECONDS,
        )["data"]

    def _project(self, data: dict, game_version: str, loads) -> Project:
        loader_type = _loader_type(loads)
        names = {f.get("id"): f.get("displayName") for f in data.get("latestFiles") or []}
        latest = next(
            (
                names.get(index.get("fileId")) or index.get("filename", "").rsplit(".", 1)[0]
                for index in data.get("latestFilesIndexes") or []
                if (not game_version or index.get("gameVersion") == game_version)
                and (not loader_type or index.get("modLoader") in (None, loader_type))
            ),
            "",
        )
        return Project(
            source=self.name,
            id=str(data["id"]),
            slug=data.get("slug", ""),
            name=data.get("name", ""),
            description=data.get("summary", ""),
            author=", ".join(a.get("name", "") for a in data.get("authors") or []),
            icon_url=(data.get("logo") or {}).get("thumbnailUrl") or "",
            downloads=int(data.get("downloadCount") or 0),
            categories=tuple(c.get("slug", "") for c in data.get("categories") or []),
            project_type=TYPES.get(data.get("classId"), "mod"),
            url=(data.get("links") or {}).get("websiteUrl") or "",
            latest_version=latest,
        )

    def _version(self, mod: dict, data: dict) -> Version:
        labels = data.get("gameVersions") or []
        url = data.get("downloadUrl")
        return Version(
            source=self.name,
            project_id=str(mod["id"]),
            id=str(data["id"]),
            name=data.get("displayName") or data.get("fileName", ""),
            game_versions=tuple(v for v in labels if v[:1].isdigit()),
            loaders=tuple(v.lower() for v in labels if v.lower() in LOADER_TYPES),
            published=data.get("fileDate", ""),
            file=FileInfo(
                url=url,
                filename=data.get("fileName", ""),
                size=data.get("fileLength"),
                hashes={
                    HASHES[h["algo"]]: h["value"] for h in data.get("hashes") or [] if h.get("algo") in HASHES
                },
            ),
            dependencies=tuple(
                Dependency(project_id=str(d["modId"]), kind=RELATIONS[d["relationType"]])
                for d in data.get("dependencies") or []
                if d.get("relationType") in RELATIONS
            ),
            downloadable=bool(url),
            why_not=""
            if url
            else "The author allows downloads only through CurseForge: download it there, then upload it.",
        )


def _loader_type(loads) -> int | None:
    return next((LOADER_TYPES[loader] for loader in loads if loader in LOADER_TYPES), None)
