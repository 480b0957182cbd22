"""JSON renderer that puts successful responses in the contract's envelope and camelCases keys."""

from djangorestframework_camel_case.render import CamelCaseJSONRenderer


def is_enveloped(data) -> bool:
    return isinstance(data, dict) and ("success" in data or "statusCode" in data)


class EnvelopeRenderer(CamelCaseJSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None and response.status_code < 400 and not is_enveloped(data):
            data = {"success": True} if data is None else {"success": True, "data": data}
        return super().render(data, accepted_media_type, renderer_context)
