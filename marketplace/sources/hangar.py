"""Hangar (PaperMC's plugin repository, API v1, hangar.papermc.io/api-docs): Paper, Velocity and
Waterfall plugins, with a SHA-256 for every file. Projects are addressed by their slug."""

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

# Hangar's platforms, and the loaders each one's plugins are for.
PLATFORMS = {
    "paper": "PAPER",
    "purpur": "PAPER",
    "folia": "PAPER",
    "velocity": "VELOCITY",
    "waterfall": "WATERFALL",
    "bungeecord": "WATERFALL",
}
LOADERS = {"PAPER": "paper", "VELOCITY": "velocity", "WATERFALL": "waterfall"}
SORTS = {"downloads": "-downloads", "updated": "-updated", "newest": "-newest"}


class Hangar(Source):
    name = "hangar"
    label = "Hangar"
    setting = "HANGAR_URL"
    download_hosts = ("hangarcdn.papermc.io", "hangar.papermc.io")
    icon_hosts = ("hangarcdn.papermc.io",)
    per_minute = 100
    project_types = ("plugin",)

    def platform(self, loads) -> str | None:
        """The Hangar platform for a server loading `loads` (None: Hangar has nothing for it)."""
        if not loads:
            return ""
        return PLATFORMS.get(loads[0])

    def applies_to(self, loads) -> bool:
        return self.platform(loads) is not None  # Hangar's plugins are Paper's, Velocity's, Waterfall's

    def search(self, query, *, loads=()) -> Page:
        platform = self.platform(loads)
        answer = self.get(
            "/api/v1/projects",
            {
                "query": query.text,
                "limit": min(query.per_page, 50),
                "offset": (query.page - 1) * query.per_page,
                "sort": SORTS.get(query.sort),
                "platform": platform,
                "version": query.game_version if platform else None,  # Hangar refuses one without the other
            },
            ttl=settings.MARKETPLACE_SEARCH_CACHE_SECONDS,
        )
        return Page(
            [self._project(p) for p in answer.get("result", [])],
            (answer.get("pagination") or {}).get("count"),
        )

    def project(self, project_id: str) -> Project:
        return self._project(
            self.get(
                f"/api/v1/projects/{segment(project_id)}", ttl=settings.MARKETPLACE_PROJECT_CACHE_SECONDS
            )
        )

    def versions(self, project_id: str, *, loads=(), game_version="", fresh=False) -> list:
        answer = self.get(
            f"/api/v1/projects/{segment(project_id)}/versions",
            {
                "limit": 25,
                "offset": 0,
                "platform": self.platform(loads),
                "platformVersion": game_version if self.platform(loads) else None,
            },
            ttl=None if fresh else settings.MARKETPLACE_PROJECT_CACHE_SECONDS,
        )
        return [v for data in answer.get("result", []) for v in self._versions(project_id, data, loads)][:25]

    def version(self, project_id: str, version_id: str) -> Version:
        data = self.get(
            f"/api/v1/projects/{segment(project_id)}/versions/{segment(version_id)}",
            ttl=settings.MARKETPLACE_PROJECT_CACHE_SECONDS,
        )
        found = self._versions(project_id, data, ())
        if not found:
            raise SourceNotFound("Hangar has no download for this version.")
        return found[0]

    # ---- shapes ---------------------------------------------------------------------------------

    def _project(self, data: dict) -> Project:
        namespace = data.get("namespace") or {}
        slug = namespace.get("slug") or data.get("name", "")
        return Project(
            source=self.name,
            id=slug,
            slug=slug,
            name=data.get("name", slug),
            description=data.get("description", ""),
            author=namespace.get("owner", ""),
            icon_url=data.get("avatarUrl") or "",
            downloads=(data.get("stats") or {}).get("downloads", 0),
            categories=tuple(c for c in [data.get("category")] if c),
            project_type="plugin",
            url=f"https://hangar.papermc.io/{namespace.get('owner', '')}/{slug}",
        )

    def _versions(self, project_id: str, data: dict, loads) -> list:
        """One Version per platform the version has a download for (the server's platform first)."""
        wanted = self.platform(loads)
        platforms = [p for p in (data.get("downloads") or {}) if not wanted or p == wanted]
        found = []
        for platform in platforms:
            download = data["downloads"][platform] or {}
            info = download.get("fileInfo") or {}
            url = download.get("downloadUrl")
            found.append(
                Version(
                    source=self.name,
                    project_id=project_id,
                    id=data.get("name", ""),
                    name=data.get("name", ""),
                    game_versions=tuple((data.get("platformDependencies") or {}).get(platform, [])),
                    loaders=(LOADERS.get(platform, platform.lower()),),
                    published=data.get("createdAt", ""),
                    file=FileInfo(
                        url=url,
                        filename=info.get("name", ""),
                        size=info.get("sizeBytes"),
                        hashes={"sha256": info["sha256Hash"]} if info.get("sha256Hash") else {},
                    ),
                    dependencies=tuple(
                        Dependency(
                            project_id=d.get("name", "") if not d.get("externalUrl") else "",
                            kind="required" if d.get("required") else "optional",
                            name=d.get("name", "")
                            if not d.get("externalUrl")
                            else f"{d.get('name')} ({d['externalUrl']})",
                        )
                        for d in (data.get("pluginDependencies") or {}).get(platform, [])
                    ),
                    downloadable=bool(url),
                    why_not=""
                    if url
                    else f"Hangar links this version elsewhere: {download.get('externalUrl') or 'no file'}.",
                )
            )
        return found
