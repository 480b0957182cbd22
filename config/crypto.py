"""Encryption at rest for secrets the panel must read back (node SSH keys, TOTP seeds, DB host passwords)."""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


def _fernet_for(secret: str) -> Fernet:
    digest = hashlib.sha256(f"hearth-encryption:{secret}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _fernet() -> MultiFernet:
    # The first key encrypts; older keys (HEARTH_OLD_ENCRYPTION_KEYS) still decrypt after a rotation.
    keys = [settings.ENCRYPTION_KEY, *settings.OLD_ENCRYPTION_KEYS]
    return MultiFernet([_fernet_for(key) for key in keys if key])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode() if plaintext else ""


def decrypt(ciphertext: str) -> str:
    if not ciphertext:
        return ""
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("Cannot decrypt a stored secret: was HEARTH_ENCRYPTION_KEY changed?") from exc


class Encrypted:
    """A model attribute kept encrypted in another field: `password = Encrypted("password_encrypted")`
    reads the plaintext back and stores what is assigned encrypted."""

    def __init__(self, field: str):
        self.field = field

    def __get__(self, instance, owner=None):
        return self if instance is None else decrypt(getattr(instance, self.field))

    def __set__(self, instance, value: str) -> None:
        setattr(instance, self.field, encrypt(value))
