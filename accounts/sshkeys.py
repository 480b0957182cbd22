"""A user's SSH public keys, for public-key login to the SFTP gateway (servers/sftp/logins.py)."""

import base64
import hashlib

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from django.db import IntegrityError, transaction

from accounts.audit import audit
from accounts.models import SSHKey, User
from config.errors import InvalidInput

MAX_KEYS_PER_USER = 50
RSA_MIN_BITS = 2048
KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa")


def fingerprint(line: str) -> str:
    """OpenSSH's SHA256 fingerprint of a 'type base64' key line, as `ssh-keygen -lf` prints it."""
    digest = hashlib.sha256(base64.b64decode(line.split()[1])).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def public_key_facts(line: str) -> tuple[str, str]:
    """A pasted public key line as ("type base64", "SHA256:…"); ValueError saying what is wrong."""
    parts = line.strip().split()
    if len(parts) < 2:
        raise ValueError("Paste one OpenSSH public key line, e.g. 'ssh-ed25519 AAAA… you@laptop'.")
    if parts[0] not in KEY_TYPES:
        raise ValueError(f"Key type {parts[0]!r} is not accepted: use ssh-ed25519, ecdsa-sha2-* or ssh-rsa.")
    try:
        key = serialization.load_ssh_public_key(f"{parts[0]} {parts[1]}".encode())
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValueError("This is not a valid OpenSSH public key (its base64 part does not decode).") from exc
    if parts[0] == "ssh-rsa" and key.key_size < RSA_MIN_BITS:
        raise ValueError(f"RSA keys need at least {RSA_MIN_BITS} bits; this one has {key.key_size}.")
    normalized = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return normalized, fingerprint(normalized)


@transaction.atomic
def ssh_key_add(*, user: User, name: str, public_key: str, request=None) -> SSHKey:
    """Register a key (validated, stored as 'type base64' with its SHA256 fingerprint); a user's keys
    are unique (InvalidInput when this one is already theirs)."""
    try:
        normalized, fingerprint = public_key_facts(public_key)
    except ValueError as exc:
        raise InvalidInput({"public_key": [str(exc)]}) from exc
    if SSHKey.objects.filter(user=user).count() >= MAX_KEYS_PER_USER:
        raise InvalidInput({"public_key": [f"An account can hold at most {MAX_KEYS_PER_USER} SSH keys."]})
    if SSHKey.objects.filter(user=user, fingerprint=fingerprint).exists():
        raise InvalidInput({"public_key": [f"This key ({fingerprint}) is already registered."]})
    try:
        with transaction.atomic():
            key = SSHKey.objects.create(user=user, name=name, public_key=normalized, fingerprint=fingerprint)
    except IntegrityError as exc:  # the same key added twice at once
        raise InvalidInput({"public_key": [f"This key ({fingerprint}) is already registered."]}) from exc
    audit("sshkey.add", actor=user, request=request, resource=key, name=name, fingerprint=fingerprint)
    return key


@transaction.atomic
def ssh_key_delete(*, key: SSHKey, actor: User, request=None) -> None:
    """Remove a key; SFTP sessions opened with it end within seconds (the gateway re-checks)."""
    audit(
        "sshkey.delete",
        actor=actor,
        request=request,
        resource=key,
        name=key.name,
        fingerprint=key.fingerprint,
    )
    key.delete()
