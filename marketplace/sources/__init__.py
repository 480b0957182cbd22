"""The marketplace's sources, by name: each a Source (marketplace/sources/base.py)."""

from marketplace.sources.curseforge import CurseForge
from marketplace.sources.hangar import Hangar
from marketplace.sources.modrinth import Modrinth
from marketplace.sources.spiget import Spiget

SOURCES = {source.name: source for source in (Modrinth(), Hangar(), Spiget(), CurseForge())}


def get_source(name: str):
    """The source called `name`, or InvalidInput naming the ones there are."""
    from config.errors import InvalidInput

    source = SOURCES.get(name)
    if source is None or not source.enabled():
        names = ", ".join(s.name for s in SOURCES.values() if s.enabled())
        raise InvalidInput({"source": f"Unknown or disabled source {name!r}: use one of {names}."})
    return source
