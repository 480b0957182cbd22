"""Fixed-window rate limits counted in Redis, so every web process shares one count."""

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

BYPASS_PERMISSION = "rate-limit.bypass"


@dataclass(frozen=True)
class RateLimitState:
    limit: int
    remaining: int
    reset: int  # unix time when the window ends

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }


def charge(scope: str, ident: str) -> tuple[bool, RateLimitState]:
    """Count one request for `ident` in `scope`'s current window; says whether it is within the limit."""
    limit = settings.RATE_LIMITS[scope]
    window = settings.RATE_LIMIT_WINDOW_SECONDS
    window_start = int(time.time() // window) * window
    reset = window_start + window
    key = f"ratelimit:{scope}:{ident}:{window_start}"
    try:
        cache.add(key, 0, timeout=window + 5)
        count = cache.incr(key)
    except Exception:  # Redis down: serve the request rather than fail every API call
        logger.warning("Rate limit store unavailable; request not counted", exc_info=True)
        return True, RateLimitState(limit, limit, reset)
    return count <= limit, RateLimitState(limit, max(0, limit - count), reset)


class RateThrottle(BaseThrottle):
    """Per user when authenticated, else per client address; the bypass permission skips it."""

    scope = "default"
    per_client = False  # True: always count by address (login and register, where there is no user yet)

    def allow_request(self, request, view):
        from accounts.permissions import has_permission

        user = request.user
        if user.is_authenticated and has_permission(user, BYPASS_PERMISSION):
            return True
        if user.is_authenticated and not self.per_client:
            ident = f"user:{user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        allowed, state = charge(self.scope, ident)
        request._request.rate_limit = state
        self.reset = state.reset
        return allowed

    def wait(self):
        return max(1, self.reset - int(time.time()))


class DefaultRateThrottle(RateThrottle):
    scope = "default"


class AuthRateThrottle(RateThrottle):
    scope = "auth"
    per_client = True


class HealthRateThrottle(RateThrottle):
    scope = "health"
    per_client = True
