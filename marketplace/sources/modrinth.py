"""Modrinth (API v2, docs.modrinth.com): plugins, mods, modpacks and datapacks, with sha512/sha1 hashes
for every file and lookups by hash (which identify files a customer uploaded by hand)."""

import json
from dataclasses import replace

from django.conf import settings
from django.core.cache import cache

from marketplace import target as targets
from marketplace.sources.base import (
    Dependency,
    FileInfo,
    Page,
    Project,
    Source,
    SourceNotFound,
    SourceUnavailable,
    Version,
    segment,
)

SORTS = {"relevance": "relevance", "downloads": "downloads", "updated": "updated", "newest": "newest"}
KINDS = {"required": "required", "optional": "optional", "incompatible": "incompatible"}  # not "embedded"
# Where Modrinth's files and a modpack's files may come from (the .mrpack format's own list).
MODPACK_FILE_HOSTS = ("cdn.modrinth.com", "github.com", "raw.githubusercontent.com", "gitlab.com")


class Modrinth(Source):
    name = "modrinth"
    label = "Modrinth"
    setting = "MODRINTH_URL"
    download_hosts = ("cdn.modrinth.com",)
    icon_hosts = ("cdn.modrinth.com",)
    per_minute = 250  # of its documented 300 a minute per address
    project_types = ("plugin", "mod", "modpack", "datapack")

    def headers(self) -> dict:
        return {"User-Agent": "hearth-panel/1.0 (self-hosted game panel)"}

    def search(self, query, *, loads=()) -> Page:
        facets = _facets(query, loads)
        answer = self.get(
            "/v2/search",
            {
                "query": query.text,
                "facets": json.dumps(facets) if facets else None,
                "index": SORTS.get(query.sort, "relevance"),
                "offset": (query.page - 1) * query.per_page,
                "limit": query.per_page,
            },
            ttl=settings.MARKETPLACE_SEARCH_CACHE_SECONDS,
        )
        hits = [self._hit(hit) for hit in answer.get("hits", [])]
        return Page(self._with_latest(hits, loads, query.game_version), answer.get("total_hits"))

    def _with_latest(self, hits: list, loads, game_version: str) -> list:
        """The hits, each with its latest version's number when that version fits (one call for all)."""
        ids = [hit.latest_version for hit in hits if hit.latest_version]
        if not ids:
            return hits
        try:
            found = self.get(
                "/v2/versions", {"ids": json.dumps(ids)}, ttl=settings.MARKETPLACE_SEARCH_CACHE_SECONDS
            )
        except SourceUnavailable:
            found = []
        latest = {v["id"]: self._version(v) for v in found}
        return [
            replace(
                hit,
                latest_version=version.name
                if version and targets.compatible(version, loads=loads, game_version=game_version)
                else "",
            )
            for hit in hits
            for version in [latest.get(hit.latest_version)]
        ]

    def project(self, project_id: str) -> Project:
        return self._project(
            self.get(f"/v2/project/{segment(project_id)}", ttl=settings.MARKETPLACE_PROJECT_CACHE_SECONDS)
        )

    def _project(self, data: dict) -> Project:
        return Project(
            source=self.name,
            id=data["id"],
            slug=data.get("slug", ""),
            name=data.get("title", ""),
            description=data.get("description", ""),
            icon_url=data.get("icon_url") or "",
            downloads=data.get("downloads", 0),
            categories=tuple(data.get("categories", [])),
            project_type=_project_type(data.get("project_type", ""), data.get("loaders", [])),
            url=_page(data, data["id"]),
            game_versions=tuple(data.get("game_versions", [])),
            loaders=tuple(data.get("loaders", [])),
        )

    def versions(self, project_id: str, *, loads=(), game_version="", fresh=False) -> list:
        answer = self.get(
            f"/v2/project/{segment(project_id)}/version",
            {
                "loaders": json.dumps(list(loads)) if loads else None,
                "game_versions": json.dumps([game_version]) if game_version else None,
            },
            ttl=None if fresh else settings.MARKETPLACE_PROJECT_CACHE_SECONDS,
        )
        return [self._version(v) for v in answer]

    def version(self, project_id: str, version_id: str) -> Version:
        version = self._version(
            self.get(f"/v2/version/{segment(version_id)}", ttl=settings.MARKETPLACE_PROJECT_CACHE_SECONDS)
        )
        if project_id and version.project_id != project_id:
            project = self.project(project_id)
            if version.project_id != project.id:
                raise SourceNotFound("Modrinth has no such version of this project.")
        return version

    def identify(self, sha1s: list) -> dict:
        """{sha1: Version} for the files Modrinth knows, by their SHA-1; each hash's answer (known or
        not) is cached, so only new files are asked about."""
        keys = {digest: f"marketplace:modrinth:sha1:{digest}" for digest in sha1s}
        cached = cache.get_many(list(keys.values()))
        asking = [digest for digest, key in keys.items() if key not in cached]
        if asking:
            answer = self.post("/v2/version_files", {"hashes": asking, "algorithm": "sha1"})
            fresh = {keys[digest]: answer.get(digest) or {} for digest in asking}
            cache.set_many(fresh, settings.MARKETPLACE_PROJECT_CACHE_SECONDS)
            cached.update(fresh)
        return {digest: self._version(cached[key]) for digest, key in keys.items() if cached[key]}

    def projects(self, ids) -> dict:
        """{id: Project} of the projects Modrinth has among `ids`, in one call."""
        if not ids:
            return {}
        answer = self.get(
            "/v2/projects", {"ids": json.dumps(sorted(ids))}, ttl=settings.MARKETPLACE_PROJECT_CACHE_SECONDS
        )
        return {data["id"]: self._project(data) for data in answer}

    def latest_for(self, sha1s: list, *, loads=(), game_version="") -> dict:
        """{sha1: the newest Version of that file's project that fits}, for update checks."""
        if not sha1s:
            return {}
        body = {"hashes": sha1s, "algorithm": "sha1"}
        if loads:
            body["loaders"] = list(loads)
        if game_version:
            body["game_versions"] = [game_version]
        answer = self.post("/v2/version_files/update", body)
        return {digest: self._version(v) for digest, v in answer.items()}

    # ---- shapes ---------------------------------------------------------------------------------

    def _hit(self, hit: dict) -> Project:
        kind = _project_type(hit.get("project_type", ""), hit.get("categories", []))
        return Project(
            source=self.name,
            id=hit["project_id"],
            slug=hit.get("slug", ""),
            name=hit.get("title", ""),
            description=hit.get("description", ""),
            author=hit.get("author", ""),
            icon_url=hit.get("icon_url") or "",
            downloads=hit.get("downloads", 0),
            categories=tuple(hit.get("display_categories") or hit.get("categories", [])),
            project_type=kind,
            url=_page(hit, hit["project_id"]),
            latest_version=hit.get("latest_version") or "",
            game_versions=tuple(hit.get("versions", [])),
        )

    def _version(self, data: dict) -> Version:
        files = data.get("files") or []
        primary = next((f for f in files if f.get("primary")), files[0] if files else None)
        return Version(
            source=self.name,
            project_id=data["project_id"],
            id=data["id"],
            name=data.get("version_number") or data.get("name", ""),
            game_versions=tuple(data.get("game_versions", [])),
            loaders=tuple(data.get("loaders", [])),
            published=data.get("date_published", ""),
            file=FileInfo(
                url=primary.get("url"),
                filename=primary.get("filename", ""),
                size=primary.get("size"),
                hashes={k: v for k, v in (primary.get("hashes") or {}).items() if k in ("sha512", "sha1")},
            )
            if primary
            else None,
            dependencies=tuple(
                Dependency(
                    project_id=d.get("project_id") or "",
                    kind=KINDS[d["dependency_type"]],
                    version_id=d.get("version_id"),
                )
                for d in data.get("dependencies", [])
                if d.get("dependency_type") in KINDS and (d.get("project_id") or d.get("version_id"))
            ),
            downloadable=primary is not None and bool(primary.get("url")),
            why_not="" if primary else "The version has no file.",
        )


def _page(data: dict, project_id: str) -> str:
    """The project's page on modrinth.com (a plugin's is /plugin/…, though v2 calls it a mod)."""
    kind = _project_type(data.get("project_type", ""), data.get("loaders") or data.get("categories") or [])
    return f"https://modrinth.com/{kind}/{data.get('slug') or project_id}"


def _project_type(kind: str, loaders) -> str:
    """Modrinth calls a plugin a "mod" (or "plugin") with plugin loaders, and a datapack a "mod" with
    the datapack loader: ours says which it is."""
    loaders = set(loaders)
    if kind in ("modpack", "resourcepack", "shader"):
        return kind
    if kind == "datapack" or "datapack" in loaders:
        return "datapack"
    if kind == "plugin" or (loaders & targets.PLUGIN_LOADERS and not loaders & targets.MOD_LOADERS):
        return "plugin"
    return "mod"


def _facets(query, loads) -> list:
    facets = []
    kind = query.project_type
    if kind == "plugin":
        facets.append(["project_type:plugin", "project_type:mod"])
        loads = loads or sorted(targets.PLUGIN_LOADERS)
    elif kind == "mod":
        facets.append(["project_type:mod"])
        loads = loads or sorted(targets.MOD_LOADERS)
    elif kind == "modpack":
        facets.append(["project_type:modpack"])
    elif kind == "datapack":
        facets.append(["categories:datapack"])
        loads = ()
    if loads:
        facets.append([f"categories:{loader}" for loader in loads])
    if query.game_version:
        facets.append([f"versions:{query.game_version}"])
    return facets
