"""The permission matrix: every endpoint declares who may call it; one test checks them all.

Later endpoints join by appending an `Endpoint` to their app's `tests/<app>/matrix.py` ENDPOINTS.

For a **global** permission: anonymous → 401, an authenticated user without it → 403, a user
whose only extra role grants exactly that permission → success, an administrator → success.
For an **object** permission (e.g. on a server): the stranger → 404, a member without the
permission → 403, a member with it, the owner and an administrator → success.
"""

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # may hold {placeholders} filled from what `setup` returns
    permission: str | None  # None: any authenticated user
    ok: int = 200
    body: dict | Callable[[dict], dict] | None = None
    setup: Callable[[dict], dict] | None = None  # receives the users, returns placeholder values
    scope: str = "global"  # or "object"
    only: frozenset = field(default_factory=frozenset)  # restrict to some roles when others can't apply

    def __str__(self):
        return f"{self.method} {self.path}"
