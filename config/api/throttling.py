"""Fixed-window rate limits counted in Redis, so every web process shares one count."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from config.addresses import client_address
from config.errors import RateLimited

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


def _window(window: int | None) -> int:
    return window or settings.RATE_LIMIT_WINDOW_SECONDS


def _window_key(scope: str, ident: str, window_start: int) -> str:
    return f"ratelimit:{scope}:{ident}:{window_start}"


def charge(
    scope: str, ident: str, *, limit: int | None = None, window: int | None = None
) -> tuple[bool, RateLimitState]:
    """Count one request for `ident` in `scope`'s current window; says whether it is within the limit.

    `limit` and `window` (seconds) default to settings.RATE_LIMITS[scope] and RATE_LIMIT_WINDOW_SECONDS.
    """
    limit = settings.RATE_LIMITS[scope] if limit is None else limit
    window = _window(window)
    window_start = int(time.time() // window) * window
    reset = window_start + window
    key = _window_key(scope, ident, window_start)
    try:
        count = cache.rate_count(key, timeout=window + 5)
    except Exception:  # Redis down: serve the request rather than fail every API call
        logger.warning("Rate limit store unavailable; request not counted", exc_info=True)
        return True, RateLimitState(limit, limit, reset)
    return count <= limit, RateLimitState(limit, max(0, limit - count), reset)


def refund(scope: str, ident: str, state: RateLimitState, *, window: int | None = None) -> None:
    """Take back the count `charge` made (e.g. a login attempt that turned out to succeed)."""
    key = _window_key(scope, ident, state.reset - _window(window))
    try:
        cache.decr(key)
    except ValueError:
        pass  # that window has already expired
    except Exception:
        logger.warning("Rate limit store unavailable; refund lost", exc_info=True)


def too_many_attempts(message: str, *, state: RateLimitState) -> RateLimited:
    """A 429 with a message of its own ("{wait}" in it is the seconds to wait), sent with Retry-After."""
    wait = max(1, state.reset - int(time.time()))
    return RateLimited(message.format(wait=wait), wait=wait)


def _nobody_bypasses(user) -> bool:
    return False


# Who skips the limits is the permission system's answer; accounts plugs it in (AppConfig.ready), so
# this plumbing imports no app.
bypass_check: Callable[[object], bool] = _nobody_bypasses


def set_bypass_check(check: Callable[[object], bool]) -> None:
    global bypass_check
    bypass_check = check


class RateThrottle(BaseThrottle):
    """Per user when authenticated, else per client address; the bypass permission skips it."""

    scope = "default"
    per_client = False  # True: always count by address (login and register, where there is no user yet)

    def allow_request(self, request, view):
        user = request.user
        if user.is_authenticated and bypass_check(user):
            return True
        if user.is_authenticated and not self.per_client:
            ident = f"user:{user.pk}"
        else:
            # Not DRF's get_ident: it believes X-Forwarded-For from anyone.
            ident = f"ip:{client_address(request)}"
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
