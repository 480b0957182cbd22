"""The ready line: the console output that moves a starting server to running.

A template's `ready_pattern` is text the line must contain or, with `ready_pattern_is_regex`, a
regular expression searched in the line. Regular expressions are compiled with RE2 (google-re2),
the syntax Wings uses (Go's regexp is RE2 too), and RE2 matches in time linear in the line: no
pattern, however written, can make the monitor backtrack for ever on a hostile console line. The
pattern is capped at MAX_PATTERN_CHARS and each line at MAX_LINE_CHARS before it is matched.

Eggs write a regular expression as `"done": "regex:…"` (Wings' convention); the importer and
exporter translate that prefix to and from the flag.
"""

import logging
from collections.abc import Callable

import re2

logger = logging.getLogger(__name__)

EGG_REGEX_PREFIX = "regex:"
MAX_PATTERN_CHARS = 500
MAX_LINE_CHARS = 4096

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a bad pattern is reported to whoever typed it, not to stderr


class BadReadyPattern(ValueError):
    pass


def compile_regex(pattern: str):
    """The compiled RE2 pattern; BadReadyPattern says why it cannot be one."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise BadReadyPattern(f"it is longer than {MAX_PATTERN_CHARS} characters")
    try:
        return re2.compile(pattern, options=_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        reason = reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
        raise BadReadyPattern(
            f"{reason} (RE2 syntax, as Wings uses: no look-around or back-references)"
        ) from exc


def matcher(pattern: str, is_regex: bool) -> Callable[[str], bool]:
    """A test for one console line. No pattern: the first line of output means ready."""
    if not pattern:
        return lambda text: True
    if not is_regex:
        return lambda text: pattern in text[:MAX_LINE_CHARS]
    try:
        compiled = compile_regex(pattern)
    except BadReadyPattern as exc:  # saved before patterns were checked; never leave a server starting
        logger.warning(
            "Ready pattern %r is not valid (%s); the first output line counts as ready", pattern, exc
        )
        return lambda text: True
    return lambda text: compiled.search(text[:MAX_LINE_CHARS]) is not None


def template_matcher(template) -> Callable[[str], bool]:
    return matcher(template.ready_pattern, template.ready_pattern_is_regex)


def from_egg(done) -> tuple[str, bool]:
    """(pattern, is_regex) for an egg's `config.startup.done`: a string or a list of them, each
    literal or `regex:…`. Several become one alternation (Wings waits for any of them)."""
    items = done if isinstance(done, list) else [done]
    texts = [str(item) for item in items if item is not None and str(item)]
    alternatives, any_regex = [], False
    for text in texts:
        if text.startswith(EGG_REGEX_PREFIX) and len(text) > len(EGG_REGEX_PREFIX):
            alternatives.append(f"(?:{text[len(EGG_REGEX_PREFIX) :]})")
            any_regex = True
        else:
            alternatives.append(re2.escape(text))
    if not texts:
        return "", False
    if len(texts) == 1:
        return (texts[0][len(EGG_REGEX_PREFIX) :], True) if any_regex else (texts[0], False)
    return "(?:" + "|".join(alternatives) + ")", True


def to_egg(pattern: str, is_regex: bool) -> str:
    """`config.startup.done` for an export. A literal that itself starts with `regex:` is written as
    an escaped regular expression, so Wings does not take it for one it is not."""
    if is_regex and pattern:
        return EGG_REGEX_PREFIX + pattern
    if pattern.startswith(EGG_REGEX_PREFIX):
        return EGG_REGEX_PREFIX + re2.escape(pattern)
    return pattern


def validate(pattern: str, is_regex: bool) -> None:
    """Raises BadReadyPattern for a pattern the monitor could not use."""
    if len(pattern or "") > MAX_PATTERN_CHARS:
        raise BadReadyPattern(f"it is longer than {MAX_PATTERN_CHARS} characters")
    if is_regex and pattern:
        compile_regex(pattern)
