"""The errors services raise: what went wrong in the domain's words, never in a framework's.

Services, the state machine and the node client raise these; the API maps them to the contract's
error body in one place (`config/api/exceptions.py`), and the admin and the WebSocket consumer catch
`DomainError` to show the same message. Each class carries the HTTP status it answers with, so a new
error needs no change to the mapping.
"""


class DomainError(Exception):
    """Base of every refusal a service can give: `message` is what the user reads."""

    status = 400
    default_message = "The request was refused."

    def __init__(self, message: str | None = None, **extra):
        self.message = message or self.default_message
        self.extra = extra  # more fields for the error body, e.g. current_state
        super().__init__(self.message)


class InvalidInput(DomainError):
    """Bad input (400). `fields` maps a field to its messages, like a serializer's errors; a plain
    message is a general error. Accepts what DRF's ValidationError accepts (str, list or dict)."""

    status = 400
    default_message = "Invalid input."

    def __init__(self, detail: str | list | dict | None = None, **extra):
        self.detail = detail  # the API flattens it as it does a serializer's errors
        if isinstance(detail, dict):
            self.fields = {
                key: value if isinstance(value, list) else [value] for key, value in detail.items()
            }
            message = "; ".join(f"{key}: {' '.join(map(str, msgs))}" for key, msgs in self.fields.items())
        elif isinstance(detail, list):
            self.fields = {"nonFieldErrors": [str(item) for item in detail]}
            message = " ".join(map(str, detail))
        else:
            self.fields = {"nonFieldErrors": [detail]} if detail else {}
            message = detail
        super().__init__(message, **extra)


class NotAuthenticated(DomainError):
    """The credentials are wrong, expired or spent (401): log in again."""

    status = 401
    default_message = "Incorrect authentication credentials."


class NotAllowed(DomainError):
    """The user sees the object but may not do this to it (403)."""

    status = 403
    default_message = "You do not have permission to perform this action."


class NotFound(DomainError):
    """The object does not exist, or the user may not see it (404: the two look the same)."""

    status = 404
    default_message = "Not found."


class IllegalTransition(DomainError):
    """The object's state forbids the action (409), e.g. starting a running server."""

    status = 409
    default_message = "The resource is in a state that does not allow this action."


class Conflict(DomainError):
    """The name or value is already taken (409), e.g. a database name on its host."""

    status = 409
    default_message = "It already exists."


class Suspended(DomainError):
    """The server is suspended: every action but unsuspend is refused (423)."""

    status = 423
    default_message = "Server is suspended."


class TooLarge(DomainError):
    """The input is over a size limit (413)."""

    status = 413
    default_message = "The request is over the size limit."


class RateLimited(DomainError):
    """Too many attempts (429); `wait` seconds until the next one is allowed (sent as Retry-After)."""

    status = 429
    default_message = "Rate limit exceeded."

    def __init__(self, message: str | None = None, *, wait: int, **extra):
        self.wait = wait
        super().__init__(message, **extra)


class Unavailable(DomainError):
    """A node or another backing service could not be reached (503)."""

    status = 503
    default_message = "A backing service is unavailable. Try again shortly."


def refusal_text(error) -> str:
    """A refusal as one line for a message (admin, web UI, a token's recorded failure): an error's
    message, or its field errors as "field: why; other: why"."""
    if isinstance(error, DomainError) and not isinstance(error, InvalidInput):
        return error.message
    value = getattr(error, "detail", error)
    if isinstance(value, dict):
        return "; ".join(
            text if key in (None, "non_field_errors") else f"{key}: {text}"
            for key, text in ((key, refusal_text(item)) for key, item in value.items())
        )
    if isinstance(value, list | tuple):
        return " ".join(refusal_text(item) for item in value)
    return str(value)
