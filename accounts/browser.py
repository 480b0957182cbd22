"""Browser sessions (the web UI, the admin, the API through a session cookie).

Each one is tied to a login session, exactly as a JWT is: staff revoke it in the admin, a password
change ends it, and a user who owes the two-factor setup their role requires is signed out. One
middleware applies this to every request, so no page, admin view or API view can forget it.
"""

from django.contrib import auth, messages
from django.contrib.auth.models import AnonymousUser
from django.db.models import prefetch_related_objects
from rest_framework_simplejwt.tokens import AccessToken

from accounts import services
from accounts.authentication import two_factor_missing
from accounts.models import LoginSession
from accounts.tokens import SESSION_CLAIM

SESSION_KEY = "hearth_login_session"  # the login session (as staff see and revoke it) of this browser
TWO_FACTOR_SETUP_FIRST = (
    "Your role requires two-factor authentication. Set it up with the API "
    "(POST /api/auth/2fa/setup), then sign in here."
)
LOGIN_ENDED = "Your login was ended. Sign in again."


def browser_login(request, result: dict) -> bool:
    """Turn a successful login (services.user_login) into a browser session.

    False, and the login session closed again, when the user still owes two-factor setup.
    """
    session_id = str(AccessToken(result["token"])[SESSION_CLAIM])
    if two_factor_missing(result["user"]):
        services.session_logout(session_id=session_id, refresh_token=result["refresh_token"])
        return False
    auth.login(request, result["user"])
    request.session[SESSION_KEY] = session_id
    return True


def browser_logout(request) -> None:
    if session_id := request.session.get(SESSION_KEY):
        services.session_logout(session_id=session_id)
    auth.logout(request)


def why_ended(session, user) -> str | None:
    """Why this signed-in browser session may no longer be used, or None when it may."""
    session_id = session.get(SESSION_KEY)
    open_login = LoginSession.objects.filter(pk=session_id, revoked_at__isnull=True)
    if not session_id or not user.is_active or not open_login.exists():
        return LOGIN_ENDED  # revoked, disabled, or never made by our login (e.g. a password-only form)
    prefetch_related_objects([user], "roles", "two_factor")  # the request's permission checks use them too
    if two_factor_missing(user):
        return TWO_FACTOR_SETUP_FIRST
    return None


class BrowserSessionMiddleware:
    """Signs out a browser session whose login session ended or whose user owes two-factor setup."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated and (reason := why_ended(request.session, request.user)):
            auth.logout(request)
            request.user = AnonymousUser()
            messages.info(request, reason)
        return self.get_response(request)
