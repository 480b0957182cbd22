"""What a server runs, as the marketplace needs it: its loader (paper, fabric…) and game version, read
from its template and variables, and what follows from them — the loaders whose plugins or mods it can
load, the kind of project it takes and the directory each kind goes in. Unknown stays unknown ("")
and the search is then unfiltered, never refused."""

import re
from dataclasses import dataclass

from templates_app.variables import resolve_environment

# What a server of each loader can load: Paper loads Spigot and Bukkit plugins, Purpur Paper's too,
# Quilt loads Fabric mods. Folia is its own (most Paper plugins are not thread-safe there).
RUNS = {
    "paper": ("paper", "spigot", "bukkit"),
    "purpur": ("purpur", "paper", "spigot", "bukkit"),
    "spigot": ("spigot", "bukkit"),
    "bukkit": ("bukkit",),
    "folia": ("folia",),
    "velocity": ("velocity",),
    "bungeecord": ("bungeecord",),
    "waterfall": ("waterfall", "bungeecord"),
    "fabric": ("fabric",),
    "quilt": ("quilt", "fabric"),
    "forge": ("forge",),
    "neoforge": ("neoforge",),
}
PLUGIN_LOADERS = {"paper", "purpur", "spigot", "bukkit", "folia", "velocity", "bungeecord", "waterfall"}
MOD_LOADERS = {"fabric", "quilt", "forge", "neoforge"}
PROJECT_TYPES = ("plugin", "mod", "modpack", "datapack")
# Looked for in the template's name, tags and image, in this order (neoforge before forge…).
_WORDS = (
    "neoforge",
    "forge",
    "quilt",
    "fabric",
    "purpur",
    "folia",
    "paper",
    "spigot",
    "bukkit",
    "velocity",
    "waterfall",
    "bungeecord",
)
_LOADER_VARIABLES = ("LOADER", "MODLOADER", "SERVER_TYPE", "TYPE", "BUILD_TYPE", "PLATFORM")
_VERSION_VARIABLES = ("MINECRAFT_VERSION", "MC_VERSION", "GAME_VERSION", "VANILLA_VERSION", "VERSION")
_GAME_VERSION = re.compile(r"^\d+\.\d+(\.\d+)?$")


@dataclass(frozen=True)
class Target:
    """A server's loader and game version ("" when unknown)."""

    loader: str = ""
    game_version: str = ""

    @property
    def loads(self) -> tuple:
        """The loaders whose projects this server can load (empty: unknown, anything goes)."""
        return RUNS.get(self.loader, ())

    @property
    def project_type(self) -> str:
        """The kind of project the server takes by default: plugin, mod, or "" when unknown."""
        if self.loader in PLUGIN_LOADERS:
            return "plugin"
        return "mod" if self.loader in MOD_LOADERS else ""


def server_target(server) -> Target:
    """The server's loader and game version, from its variables first, then its template's words."""
    values = resolve_environment(server.template, server.environment, {})
    loader = next(
        (
            v.lower()
            for name in _LOADER_VARIABLES
            if (v := values.get(name, "").strip()) and v.lower() in RUNS
        ),
        "",
    )
    if not loader:
        template = server.template
        words = " ".join([template.name, *map(str, template.tags or []), template.docker_image]).lower()
        loader = next((word for word in _WORDS if re.search(rf"\b{word}\b", words)), "")
    version = next(
        (v for name in _VERSION_VARIABLES if _GAME_VERSION.match(v := values.get(name, "").strip())), ""
    )
    return Target(loader=loader, game_version=version)


def directory_for(project_type: str, loader: str = "") -> str:
    """Where a project of this type goes in the server's files."""
    if project_type == "datapack":
        return "/world/datapacks"
    if project_type == "modpack":
        return "/"
    if project_type == "mod" or loader in MOD_LOADERS:
        return "/mods"
    return "/plugins"


def compatible(version, *, loads=(), game_version: str = "") -> bool:
    """Whether `version` fits a server that loads `loads` on `game_version`: one of its loaders is one
    the server loads (datapacks fit any), and it lists the game version. What is unknown does not exclude."""
    loaders = {loader.lower() for loader in version.loaders} - {"datapack", "minecraft"}
    if loads and loaders and not loaders & set(loads):
        return False
    return not game_version or fits_game_version(version.game_versions, game_version)


def fits_game_version(listed, game_version: str) -> bool:
    """Whether `game_version` is among `listed` (a listed "1.20" covers 1.20.x); an empty list fits."""
    return not listed or any(game_version == v or game_version.startswith(f"{v}.") for v in listed)
