"""One search over every source that has what the server can load, answered within
MARKETPLACE_SEARCH_SECONDS: the sources are asked at once (each call cached, marketplace/sources/base.py),
a source that fails or is too slow is reported in `sources` and the others still answer. The server's
loader and game version filter by default; a customer may widen them (loader or gameVersion "any")."""

import contextvars
import time
from concurrent.futures import ThreadPoolExecutor, wait

from django.conf import settings

from config.errors import InvalidInput
from marketplace.sources import SOURCES, get_source
from marketplace.sources.base import Query, SourceNotFound, SourceRateLimited, SourceUnavailable, within
from marketplace.target import PROJECT_TYPES, RUNS, server_target

SORTS = ("relevance", "downloads", "updated", "newest")
ANY = "any"
_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="hearth-marketplace")


def search_query(target, params) -> tuple[Query, tuple]:
    """The Query a request's parameters ask for, defaults from the server's `target`; (query, the
    loaders whose projects fit)."""
    loader = (params.get("loader") or target.loader).lower()
    game_version = params.get("game_version") or target.game_version
    project_type = (params.get("type") or target.project_type).lower()
    sort = params.get("sort") or "relevance"
    if loader not in RUNS and loader not in ("", ANY):
        raise InvalidInput({"loader": f"Unknown loader {loader!r}: use one of {', '.join(RUNS)}, or any."})
    if project_type not in PROJECT_TYPES and project_type not in ("", ANY):
        raise InvalidInput({"type": f"Unknown project type: use one of {', '.join(PROJECT_TYPES)}."})
    if sort not in SORTS:
        raise InvalidInput({"sort": f"Sort by one of {', '.join(SORTS)}."})
    query = Query(
        text=(params.get("query") or "").strip()[:200],
        project_type="" if project_type == ANY else project_type,
        loader="" if loader == ANY else loader,
        game_version="" if game_version == ANY else game_version[:32],
        sort=sort,
        page=params.get("page", 1),
        per_page=params.get("per_page", 20),
    )
    return query, RUNS.get(query.loader, ())


def marketplace_search(*, server, params, source: str = "") -> dict:
    """Results from `source` (or every enabled source that applies), each source's outcome beside them."""
    target = server_target(server)
    query, loads = search_query(target, params)
    chosen = [get_source(source)] if source else [s for s in SOURCES.values() if s.enabled()]
    deadline = time.monotonic() + settings.MARKETPLACE_SEARCH_SECONDS
    outcomes, futures = {}, {}
    for origin in chosen:
        if why := _not_applicable(origin, query, loads):
            outcomes[origin.name] = {"source": origin.name, "ok": True, "total": 0, "skipped": why}
            continue
        # In a copy of this context: the pool's thread counts the calls against the same person.
        futures[origin.name] = _pool.submit(
            contextvars.copy_context().run, _search_one, origin, query, loads, deadline
        )
    done, _late = wait(futures.values(), timeout=max(0.0, deadline - time.monotonic()))
    pages = {}
    for name, future in futures.items():
        if future not in done:
            outcomes[name] = {
                "source": name,
                "ok": False,
                "error": f"{SOURCES[name].label} took too long to answer.",
            }
            continue
        outcome, page = future.result()
        outcomes[name] = outcome
        if page is not None:
            pages[name] = page.projects
    return {
        "results": _interleaved([pages[s.name] for s in chosen if s.name in pages]),
        "sources": [outcomes[s.name] for s in chosen],
        "filters": {
            "type": query.project_type,
            "loader": query.loader,
            "game_version": query.game_version,
            "sort": query.sort,
        },
        "server": {"loader": target.loader, "game_version": target.game_version},
        "page": query.page,
        "limit": query.per_page,
    }


def _search_one(origin, query, loads, deadline):
    """(outcome, page or None) for one source: its errors become the outcome, never the search's."""
    try:
        with within(deadline - time.monotonic()):
            page = origin.search(query, loads=loads)
    except SourceRateLimited as exc:
        return {
            "source": origin.name,
            "ok": False,
            "error": exc.message,
            "retry_after": exc.retry_after,
        }, None
    except (SourceUnavailable, SourceNotFound) as exc:
        return {"source": origin.name, "ok": False, "error": exc.message}, None
    return {"source": origin.name, "ok": True, "total": page.total}, page


def _not_applicable(origin, query, loads) -> str:
    if query.project_type and query.project_type not in origin.project_types:
        return f"{origin.label} has no {query.project_type}s."
    if not origin.applies_to(loads):
        return f"{origin.label} has no plugins for {query.loader} servers."
    return ""


def _interleaved(pages: list) -> list:
    """One list taking each source's results in turn (the sources rank by different measures)."""
    merged = []
    for row in range(max((len(p) for p in pages), default=0)):
        merged += [page[row] for page in pages if row < len(page)]
    return merged
