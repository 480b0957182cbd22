"""Signatures of the generic JSON webhooks, so a receiver knows a request came from this panel, unchanged
and recently.

A request carries:
    X-Hearth-Timestamp: 1767312000                 (unix seconds when it was signed)
    X-Hearth-Signature: sha256=<hex>               (HMAC-SHA256, key = the rule's or subscription's
                                                    signing secret, message = b"<timestamp>." + body)
    X-Hearth-Delivery:  <uuid>                     (the delivery's id: the same for every retry)
    X-Hearth-Event:     alert.created | alert.test

The signature covers the timestamp and the body, NOT the X-Hearth-Delivery and X-Hearth-Event headers
(informational: anyone replaying a request can change them). The body carries both, signed:
`deliveryId` and `event`. A receiver verifies the signature over the raw body bytes, refuses a
timestamp older (or newer) than a few minutes (settings.ALERT_SIGNATURE_TOLERANCE_SECONDS: 300), then
parses the body and drops a `deliveryId` it has already processed, trusting only the body's `event`:
together that makes a captured request useless to replay. `verify()` below is the reference (the
README has a standalone copy for receivers).
"""

import hashlib
import hmac
import time

TIMESTAMP = "X-Hearth-Timestamp"
SIGNATURE = "X-Hearth-Signature"
DELIVERY = "X-Hearth-Delivery"
EVENT = "X-Hearth-Event"
DEFAULT_TOLERANCE_SECONDS = 300


def signature(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{int(timestamp)}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict:
    """The timestamp and signature headers for `body` (bytes, exactly as sent)."""
    if not secret:
        raise ValueError("A signing secret is required.")
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    return {TIMESTAMP: str(timestamp), SIGNATURE: signature(secret, body, timestamp)}


def verify(
    secret: str,
    body: bytes,
    timestamp: str,
    signature_header: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True when `signature_header` signs `body` at `timestamp` with `secret` and the timestamp is
    within `tolerance` seconds of now. Compare in constant time; never raise on bad input."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance:
        return False
    if not isinstance(signature_header, str) or not signature_header.startswith("sha256="):
        return False
    try:  # bytes: compare_digest refuses a str that is not ASCII (a TypeError, not False)
        return hmac.compare_digest(signature(secret, body, ts).encode(), signature_header.encode())
    except (TypeError, ValueError, UnicodeError):
        return False
