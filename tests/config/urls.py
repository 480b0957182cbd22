"""The real URLs plus views that raise each error the API must shape."""

from django.urls import path
from rest_framework import permissions
from rest_framework.views import APIView

from config.errors import IllegalTransition, Suspended, Unavailable
from config.urls import handler404, handler500  # noqa: F401
from config.urls import urlpatterns as real_urlpatterns


def raising(exc: Exception):
    class View(APIView):
        permission_classes = [permissions.AllowAny]

        def get(self, request):
            raise exc

    return View.as_view()


def plain_django_crash(request):
    raise RuntimeError("secret internals that must not leak")


urlpatterns = [
    path("api/test/conflict", raising(IllegalTransition("Server is running", current_state="running"))),
    path("api/test/locked", raising(Suspended())),
    path("api/test/unavailable", raising(Unavailable("Node 'alpha' is unreachable"))),
    path("api/test/crash", raising(RuntimeError("secret internals that must not leak"))),
    path("api/test/plain-crash", plain_django_crash),
    *real_urlpatterns,
]
