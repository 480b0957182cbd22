"""JSON renderer that puts successful responses in the contract's envelope and camelCases keys."""

import functools
import re

from django.conf import settings
from django.utils.encoding import force_str
from django.utils.functional import Promise
from djangorestframework_camel_case.util import camelize_re, underscore_to_camel
from rest_framework.renderers import JSONRenderer


def is_enveloped(data) -> bool:
    return isinstance(data, dict) and ("success" in data or "statusCode" in data)


_PLAIN = frozenset({str, int, float, bool, type(None)})  # nothing inside to camelCase


@functools.lru_cache(maxsize=4096)
def camel(key: str) -> str:
    """snake_case → camelCase as djangorestframework_camel_case spells it (its pattern and rule)."""
    return re.sub(camelize_re, underscore_to_camel, key) if "_" in key else key


def camelize(data, keep: frozenset):
    """djangorestframework_camel_case's camelize for what serializers return (dicts, lists, scalars),
    with each key's spelling worked out once per process: its regex per key took 8-13 ms per 100
    servers, and a node list carries every server. Values under a key in `keep` keep their keys."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            key = force_str(key) if isinstance(key, Promise) else key
            new = camel(key) if isinstance(key, str) else key
            plain = value.__class__ in _PLAIN or key in keep or new in keep
            out[new] = value if plain else camelize(value, keep)
        return out
    if isinstance(data, list | tuple):
        return [camelize(item, keep) for item in data]
    return force_str(data) if isinstance(data, Promise) else data


class EnvelopeRenderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None and response.status_code < 400 and not is_enveloped(data):
            data = {"success": True} if data is None else {"success": True, "data": data}
        keep = frozenset(settings.JSON_CAMEL_CASE["JSON_UNDERSCOREIZE"]["ignore_fields"])
        return super().render(camelize(data, keep), accepted_media_type, renderer_context)
