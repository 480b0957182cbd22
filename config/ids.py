"""Ids as they arrive in URLs and bodies: checked before they reach a query (a malformed UUID compared
with a uuid column is a database error, and must answer like an unknown id)."""

import uuid


def is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
