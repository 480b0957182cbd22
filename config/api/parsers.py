"""The API's JSON parser: camelCase keys in, and bounded — size (413) and nesting depth (400)."""

import json

from django.conf import settings
from djangorestframework_camel_case.parser import CamelCaseJSONParser
from djangorestframework_camel_case.util import underscoreize
from rest_framework.exceptions import ParseError


def _depth_exceeds(data, limit: int) -> bool:
    """Whether `data` nests lists/objects deeper than `limit` (iterative: deep input can't recurse us)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


class JSONParser(CamelCaseJSONParser):
    def body_cap(self) -> int | None:
        """Bodies over this answer 413 (a view taking larger ones, the file editor's, raises it)."""
        return settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        cap = self.body_cap()
        raw = stream.read(cap + 1) if stream is not None else b""
        if cap is not None and len(raw) > cap:
            from config.api.exceptions import PayloadTooLarge  # that module imports DRF, which imports us

            raise PayloadTooLarge()
        try:
            data = json.loads(raw.decode(encoding))
        except RecursionError as exc:
            raise ParseError(_too_deep()) from exc
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        if _depth_exceeds(data, settings.JSON_MAX_DEPTH):
            raise ParseError(_too_deep())
        return underscoreize(data, **self.json_underscoreize)


def _too_deep() -> str:
    return f"JSON nested more than {settings.JSON_MAX_DEPTH} levels deep is not accepted."
