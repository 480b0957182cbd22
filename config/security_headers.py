"""Content-Security-Policy on every HTML page: scripts, styles and connections from the panel only.

No page of ours has inline script or style (the web UI passes data with `json_script`, which is
not executed; the API docs load their setup script from a URL), so the policy needs neither
'unsafe-inline' nor nonces. A page injected with markup can then run nothing.
"""

CSP_DIRECTIVES = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)


def content_security_policy(request, *, images=()) -> str:
    """The policy; `images` adds origins a page may show images from (the server page: the
    marketplace's icon hosts, webui/views.py)."""
    directives = [
        f"{d} {' '.join(images)}" if images and d.startswith("img-src ") else d for d in CSP_DIRECTIVES
    ]
    # 'self' covers ws:/wss: of our own host only in CSP level 3 browsers; say it outright.
    host = request.get_host()
    return "; ".join((*directives, f"connect-src 'self' ws://{host} wss://{host}"))


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "text/html" in response.get("Content-Type", "") and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = content_security_policy(request)
        return response
