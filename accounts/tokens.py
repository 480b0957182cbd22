"""JWTs carrying the contract's claims plus the login session they belong to."""

from rest_framework_simplejwt.tokens import RefreshToken

from accounts.permissions import effective_permissions

SESSION_CLAIM = "sid"


def issue_tokens(user, session) -> dict[str, str]:
    """A fresh access/refresh pair for `session`, with the claims computed now (not copied)."""
    refresh = RefreshToken.for_user(user)
    refresh[SESSION_CLAIM] = str(session.pk)
    access = refresh.access_token
    claims = {
        "email": user.email,
        "username": user.username,
        "permissions": effective_permissions(user),
        SESSION_CLAIM: str(session.pk),
    }
    for name, value in claims.items():
        access[name] = value
    return {"token": str(access), "refresh_token": str(refresh), "expires_at": access["exp"]}
