"""Keeps /api/ answers JSON even when Django itself answers (unknown URL, CSRF, crash)."""

import logging

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse

from config.addresses import client_address
from config.api.exceptions import error_body
from config.api.throttling import charge

logger = logging.getLogger(__name__)

_DEFAULT_MESSAGES = {
    400: "The request could not be understood.",
    401: "Authentication credentials were not provided or are invalid.",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
    405: "Method not allowed.",
    413: "The request body is too large.",
    500: "Something went wrong on our side. The error was logged; please try again.",
}


class ApiErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith("/api/"):
            return response
        if response.status_code >= 400 and "json" not in response.get("Content-Type", ""):
            response = JsonResponse(
                error_body(
                    response.status_code, _DEFAULT_MESSAGES.get(response.status_code, "Request failed.")
                ),
                status=response.status_code,
            )
        state = getattr(request, "rate_limit", None)
        if state is None:
            # The request never reached a throttle (failed authentication, CSRF...): count it by address.
            _, state = charge("default", f"ip:{client_address(request)}")
        for name, value in state.headers().items():
            response[name] = value
        return response

    def process_exception(self, request, exception):
        if not request.path.startswith("/api/"):
            return None
        if isinstance(exception, RequestDataTooBig):
            return JsonResponse(error_body(413, _DEFAULT_MESSAGES[413]), status=413)
        logger.exception("Unhandled error on %s", request.path, exc_info=exception)
        return JsonResponse(error_body(500, _DEFAULT_MESSAGES[500]), status=500)


def json_error_view(status_code: int):
    """Django handler404/handler500 that answers JSON under /api/ and the default page elsewhere."""

    def view(request, exception=None):
        if request.path.startswith("/api/"):
            return JsonResponse(error_body(status_code, _DEFAULT_MESSAGES[status_code]), status=status_code)
        from django.views import defaults

        if status_code == 404:
            return defaults.page_not_found(request, exception)
        return defaults.server_error(request)

    return view
