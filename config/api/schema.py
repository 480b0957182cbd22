"""OpenAPI post-processing: document the success envelope and the error shape on every operation."""

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "statusCode", "message"],
    "properties": {
        "error": {"type": "string", "example": "Bad Request"},
        "statusCode": {"type": "integer", "example": 400},
        "message": {"type": "string", "example": "email: Enter a valid email address."},
        "fields": {
            "type": "object",
            "description": "Validation errors by field (400 only).",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
}

COMMON_ERRORS = {
    "400": "Invalid input; `fields` names each invalid field.",
    "401": "Missing, invalid or revoked token.",
    "403": "You may see this object but not perform this action.",
    "404": "Not found, or not visible to you.",
    "429": "Rate limit exceeded; see the X-RateLimit-* headers.",
    "500": "Unexpected server error.",
}


def _envelope(schema: dict, components: dict) -> dict:
    ref = schema.get("$ref", "")
    resolved = components.get(ref.rsplit("/", 1)[-1], {}) if ref else schema
    if "success" in resolved.get("properties", {}):
        return schema  # already an envelope (paginated lists)
    return {
        "type": "object",
        "required": ["success"],
        "properties": {
            "success": {"type": "boolean", "enum": [True]},
            "data": schema,
            "message": {"type": "string"},
        },
    }


def wrap_envelopes(result, generator, request, public):
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    error_ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses", {})
            for code, response in responses.items():
                if code.startswith("2"):
                    for media in response.get("content", {}).values():
                        if "schema" in media:
                            media["schema"] = _envelope(media["schema"], components)
            for code, description in COMMON_ERRORS.items():
                if code == "401" and operation.get("security") == [{}]:
                    continue
                responses.setdefault(code, {"description": description, "content": error_ref})
    return result
