"""Who may open an SFTP session on which server.

Usernames: `<username>.<first 8 hex of the server's id>` (the panel shows it) or the server's full id
(the contract's form). Passwords: the account's password (first form only), an API key (`hth_…`, its
scope and addresses apply) or a JWT access token from /api/auth/login. Public keys: the account's
registered keys (accounts.SSHKey), first form only.

Two-factor: like Pterodactyl, a password login over SFTP is allowed whether or not the account has
two-factor on (SFTP has no second-factor prompt; keys and API keys are the stronger way). An account
that still owes a required two-factor setup is refused, as the API refuses it.

Throttling: every attempt is counted (per client address and per account, in Redis, shared by every
gateway process) before the secret is looked at and taken back when it succeeds, so parallel guesses
cannot pass the limit; over it, the answer is "failed" at once, nothing checked.
"""

import hashlib
import re
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.utils import timezone
from rest_framework import exceptions
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts.apikeys import KEY_MARK, LAST_USED_RESOLUTION, apikey_authenticate
from accounts.authentication import two_factor_missing, user_for_access_token
from accounts.models import SSHKey, User
from accounts.sshkeys import fingerprint
from config.api.throttling import charge, refund
from config.errors import DomainError
from servers.files.access import check_files_access
from servers.models import Server
from servers.selectors import servers_visible_to

SHORT_ID = re.compile(r"[0-9a-f]{8}")
PASSWORD, API_KEY, JWT, PUBLIC_KEY = "password", "apikey", "jwt", "publickey"


@dataclass(frozen=True)
class Login:
    """An accepted login: what the session re-checks every few seconds (servers/sftp/session.py)."""

    user_id: uuid.UUID
    server_id: uuid.UUID
    node_id: object
    method: str  # PASSWORD, API_KEY, JWT or PUBLIC_KEY
    credential_id: object  # the ApiKey, LoginSession or SSHKey behind it (None for a password)
    password_hash: str  # the account's at login: a change ends the session
    address: str


@dataclass(frozen=True)
class _Name:
    account: str | None  # None for the contract's form: the credential says who
    server: str  # a full uuid, or its first 8 hex


def parse_username(username: str) -> _Name | None:
    try:
        return _Name(None, str(uuid.UUID(username)))
    except ValueError:
        pass
    account, _, short = username.rpartition(".")
    if account and SHORT_ID.fullmatch(short.lower()):
        return _Name(account, short.lower())
    return None


def _ident(text: str) -> str:
    return hashlib.sha256(text.strip().lower().encode()).hexdigest()[:32]


class _Attempt:
    """One attempt counted against the address and the account until it succeeds."""

    def __init__(self, address: str, account: str):
        window = settings.SFTP_LOGIN_WINDOW_SECONDS
        limits = (
            ("sftp-address", address, settings.SFTP_LOGIN_ATTEMPTS_PER_ADDRESS),
            ("sftp-account", _ident(account), settings.SFTP_LOGIN_ATTEMPTS_PER_ACCOUNT),
        )
        self.charged = []
        self.locked = False
        for scope, ident, limit in limits:
            within, state = charge(scope, ident, limit=limit, window=window)
            self.charged.append((scope, ident, state))
            self.locked = self.locked or not within

    def succeeded(self) -> None:
        for scope, ident, state in self.charged:
            refund(scope, ident, state, window=settings.SFTP_LOGIN_WINDOW_SECONDS)


def login_password(username: str, password: str, address: str) -> Login | None:
    name = parse_username(username)
    attempt = _Attempt(address, name.account or name.server if name else username)
    if attempt.locked or name is None:
        return None
    login = _by_secret(name, password, address)
    if login is not None:
        attempt.succeeded()
    return login


def login_publickey(username: str, key_line: str, address: str) -> Login | None:
    """A registered key of the account (paramiko has checked the signature, or it is the unsigned
    query). Not counted as a failure (a public key is no secret to guess), but refused while locked."""
    name = parse_username(username)
    if name is None or name.account is None:
        return None
    attempt = _Attempt(address, name.account)
    attempt.succeeded()
    if attempt.locked:
        return None
    key = (
        SSHKey.objects.select_related("user")
        .filter(user__username__iexact=name.account, fingerprint=fingerprint(key_line))
        .first()
    )
    if key is None or not key.user.is_active:
        return None
    login = _grant(key.user, name, PUBLIC_KEY, key.pk, address)
    if login is not None:
        now = timezone.now()
        SSHKey.objects.filter(pk=key.pk).exclude(last_used_at__gt=now - LAST_USED_RESOLUTION).update(
            last_used_at=now
        )
    return login


def _by_secret(name: _Name, secret: str, address: str) -> Login | None:
    """An API key or a JWT when the secret looks like one, else (or when it is none after all: a
    password may look like either) the account's password."""
    if secret.startswith(KEY_MARK):
        try:
            user, key = apikey_authenticate(secret, ip=address)
        except exceptions.AuthenticationFailed:
            pass
        else:
            return _grant(user, name, API_KEY, key.pk, address) if _same(user, name) else None
    elif secret.count(".") == 2:
        try:
            token = AccessToken(secret)
            user = user_for_access_token(token)
        except (TokenError, exceptions.AuthenticationFailed):
            pass
        else:
            return _grant(user, name, JWT, token.get("sid"), address) if _same(user, name) else None
    if name.account is None:
        return None
    user = User.objects.filter(username__iexact=name.account).first()
    if user is None:
        make_password(secret)  # the same time spent as for a real account
        return None
    if not user.check_password(secret) or not user.is_active:
        return None
    return _grant(user, name, PASSWORD, None, address)


def _same(user: User, name: _Name) -> bool:
    return name.account is None or user.username.lower() == name.account.lower()


def _grant(user: User, name: _Name, method: str, credential_id, address: str) -> Login | None:
    """The login, when the user may read the server's files now (visible, file.read, not suspended,
    not busy) and owes no required two-factor setup."""
    server = server_named(user, name.server)
    if server is None or two_factor_missing(user):
        return None
    try:
        check_files_access(user, server, "file.read")
    except DomainError:
        return None
    return Login(
        user_id=user.pk,
        server_id=server.pk,
        node_id=server.node_id,
        method=method,
        credential_id=credential_id,
        password_hash=user.password,
        address=address,
    )


def server_named(user: User, reference: str) -> Server | None:
    """The one server visible to `user` whose id is `reference` or starts with it (8 hex); None when
    there is none or, for a prefix, more than one."""
    servers = servers_visible_to(user).select_related("node", "template").prefetch_related("members")
    if len(reference) == 8:
        found = list(servers.filter(id__startswith=reference)[:2])
        return found[0] if len(found) == 1 else None
    return servers.filter(pk=reference).first()
