"""Spiget (api.spiget.org, a read-only API over SpigotMC's resources): Bukkit and Spigot plugins. It
publishes no hashes, and serves only a resource's latest version itself (older ones are behind
SpigotMC's browser checks), so only the latest is installable; premium and external resources are
listed but not installable."""

import re
from datetime import UTC, datetime

from django.conf import settings

from marketplace.sources.base import FileInfo, Page, Project, Source, SourceNotFound, Version, segment
from marketplace.target import fits_game_version

LOADS = {"paper", "purpur", "spigot", "bukkit"}  # servers that load Spigot plugins
SORTS = {
    "downloads": "-downloads",
    "updated": "-updateDate",
    "newest": "-releaseDate",
    "relevance": "-downloads",
}


class Spiget(Source):
    name = "spiget"
    label = "SpigotMC (Spiget)"
    setting = "SPIGET_URL"
    download_hosts = ("cdn.spiget.org", "api.spiget.org")
    icon_hosts = ("www.spigotmc.org",)
    per_minute = 100
    project_types = ("plugin",)

    def applies_to(self, loads) -> bool:
        return not loads or bool(LOADS & set(loads))

    def search(self, query, *, loads=()) -> Page:
        params = {"size": query.per_page, "page": query.page, "sort": SORTS.get(query.sort, "-downloads")}
        if query.text:
            path = f"/v2/search/resources/{segment(query.text)}"
            params["field"] = "name"
        else:
            path = "/v2/resources/free"
        try:
            answer = self.get(path, params, ttl=settings.MARKETPLACE_SEARCH_CACHE_SECONDS)
        except SourceNotFound:  # Spiget's answer to a search that found nothing
            answer = []
        projects = [self._project(r) for r in answer if isinstance(r, dict)]
        if query.game_version:
            projects = [p for p in projects if fits_game_version(p.game_versions, query.game_version)]
        return Page(projects, None)

    def project(self, project_id: str) -> Project:
        return self._project(self._resource(project_id))

    def versions(self, project_id: str, *, loads=(), game_version="", fresh=False) -> list:
        resource = self._resource(project_id, fresh=fresh)
        listed = self.get(
            f"/v2/resources/{segment(project_id)}/versions",
            {"size": 10, "sort": "-releaseDate"},
            ttl=None if fresh else settings.MARKETPLACE_PROJECT_CACHE_SECONDS,
        )
        return [self._version(resource, v) for v in listed]

    def version(self, project_id: str, version_id: str) -> Version:
        found = next((v for v in self.versions(project_id) if v.id == str(version_id)), None)
        if found is None:
            raise SourceNotFound("SpigotMC has no such version of this resource.")
        return found

    # ---- shapes ---------------------------------------------------------------------------------

    def _resource(self, project_id, *, fresh=False) -> dict:
        if not str(project_id).isdigit():
            raise SourceNotFound("SpigotMC has no such resource.")
        return self.get(
            f"/v2/resources/{segment(project_id)}",
            ttl=None if fresh else settings.MARKETPLACE_PROJECT_CACHE_SECONDS,
        )

    def _project(self, data: dict) -> Project:
        return Project(
            source=self.name,
            id=str(data["id"]),
            slug=str(data["id"]),
            name=data.get("name", ""),
            description=data.get("tag", ""),
            author="",  # Spiget gives the author's id only (another call per result for the name)
            icon_url=_icon(data),
            downloads=data.get("downloads", 0),
            categories=(),
            project_type="plugin",
            url=f"https://www.spigotmc.org/resources/{data['id']}/",
            latest_version="",  # an id only: the versions call names it
            game_versions=tuple(data.get("testedVersions") or ()),
            loaders=("spigot",),
        )

    def _version(self, resource: dict, data: dict) -> Version:
        latest = str((resource.get("version") or {}).get("id", ""))
        version_id = str(data.get("id", ""))
        why_not = ""
        if resource.get("premium"):
            why_not = "A premium resource: buy it on SpigotMC, then upload the file."
        elif resource.get("external") or (resource.get("file") or {}).get("type") == "external":
            external = (resource.get("file") or {}).get("externalUrl") or "another site"
            why_not = f"Hosted outside SpigotMC ({external}): download it there, then upload it."
        elif version_id != latest:
            why_not = "Only a resource's latest version can be downloaded from SpigotMC."
        released = data.get("releaseDate")
        return Version(
            source=self.name,
            project_id=str(resource["id"]),
            id=version_id,
            name=str(data.get("name", "")),
            game_versions=tuple(resource.get("testedVersions") or ()),
            loaders=("spigot", "bukkit"),
            published=datetime.fromtimestamp(released, UTC).isoformat() if isinstance(released, int) else "",
            file=FileInfo(
                url=f"{self.base_url}/v2/resources/{resource['id']}/download",
                filename=f"{_file_stem(resource.get('name', 'plugin'))}-{_file_stem(str(data.get('name', '')))}.jar",
            ),
            downloadable=not why_not,
            why_not=why_not,
        )


def _file_stem(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "plugin"


def _icon(data: dict) -> str:
    url = (data.get("icon") or {}).get("url") or ""
    return f"https://www.spigotmc.org/{url}" if url and not url.startswith("http") else url
