"""The marketplace for one server: search, a project's versions, the install plan and the install
(file.write), and the installed plugins (file.read to list, file.write to enable, disable and update,
file.delete to uninstall). Access is checked by servers.files.access (404 hidden, 403 permission,
423 suspended, 409 busy) before any source is asked."""

from dataclasses import asdict

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework.views import APIView

from config.api.responses import ok
from config.api.throttling import charge, too_many_attempts
from marketplace import installed
from marketplace.api.serializers import InstallSerializer, PathSerializer, SearchParams, UpdateSerializer
from marketplace.install import marketplace_install
from marketplace.plan import install_plan
from marketplace.search import marketplace_search
from marketplace.sources import get_source
from marketplace.sources.base import spending, within
from marketplace.target import compatible, server_target
from servers.files.access import files_server

LIMITED = "Too many marketplace requests for now; try again in {wait} s."


def _charge(user, scope: str = "marketplace") -> None:
    """One of the person's marketplace requests this minute (settings.RATE_LIMITS); 429 past it."""
    allowed, state = charge(scope, f"user:{user.pk}")
    if not allowed:
        raise too_many_attempts(LIMITED, state=state)


class _Spending:
    """A view whose source calls count against the person's share of each source's budget. Who that is
    is read at the first call, once DRF has authenticated the request (it sets the user on `request`)."""

    def dispatch(self, request, *args, **kwargs):
        with spending(lambda: f"user:{request.user.pk}"):
            return super().dispatch(request, *args, **kwargs)


def _valid(serializer_class, data):
    body = serializer_class(data=data)
    body.is_valid(raise_exception=True)
    return body.validated_data


@extend_schema(tags=["marketplace"])
class SearchView(_Spending, APIView):
    @extend_schema(
        parameters=[SearchParams], description="Needs file.read. Filtered to what the server can load."
    )
    def get(self, request, server_id):
        server = files_server(request.user, server_id, "file.read")
        _charge(request.user)
        params = _valid(SearchParams, {**request.query_params.dict(), **_camel(request.query_params)})
        source = params.pop("source", "")
        answer = marketplace_search(server=server, params=params, source=source)
        answer["results"] = [asdict(project) for project in answer["results"]]
        return ok(answer)


def _camel(query) -> dict:
    """The query string's camelCase names (gameVersion, perPage) as the serializer's."""
    names = {"gameVersion": "game_version", "perPage": "per_page", "limit": "per_page"}
    return {names[key]: value for key, value in query.items() if key in names}


@extend_schema(tags=["marketplace"])
class ProjectView(_Spending, APIView):
    @extend_schema(
        description="Needs file.read. The project and its versions, each marked whether it fits the server."
    )
    def get(self, request, server_id, source, project_id):
        server = files_server(request.user, server_id, "file.read")
        _charge(request.user)
        origin = get_source(source)
        target = server_target(server)
        fits = request.query_params.get("all") not in ("1", "true")
        with within(settings.MARKETPLACE_REQUEST_SECONDS):
            project = origin.project(project_id)
            versions = origin.versions(
                project.id,
                loads=target.loads if fits else (),
                game_version=target.game_version if fits else "",
            )
        return ok(
            {
                "project": asdict(project),
                "versions": [
                    {
                        **asdict(v),
                        "compatible": compatible(v, loads=target.loads, game_version=target.game_version),
                    }
                    for v in versions
                ],
                "server": {"loader": target.loader, "game_version": target.game_version},
            }
        )


@extend_schema(tags=["marketplace"])
class PlanView(_Spending, APIView):
    @extend_schema(
        request=InstallSerializer,
        description="Needs file.write. What an install would write, the "
        "dependencies it brings, the optional ones offered and any conflicts; nothing is written.",
    )
    def post(self, request, server_id):
        server = files_server(request.user, server_id, "file.write")
        _charge(request.user)
        return ok(install_plan(server=server, **_valid(InstallSerializer, request.data)).as_dict())


@extend_schema(tags=["marketplace"])
class InstallView(_Spending, APIView):
    @extend_schema(
        request=InstallSerializer,
        description="Needs file.write. A job (kind plugin) installs the "
        "version (the newest that fits when none is given) with its required dependencies; "
        "409 for a conflict or when nothing fits, before any job.",
    )
    def post(self, request, server_id):
        server = files_server(request.user, server_id, "file.write")
        _charge(request.user)
        job, plan = marketplace_install(
            server=server, actor=request.user, request=request, **_valid(InstallSerializer, request.data)
        )
        return ok(plan.as_dict(), message="Install started", status=202, jobId=str(job.pk))


@extend_schema(tags=["marketplace"])
class PluginsView(_Spending, APIView):
    @extend_schema(description="Needs file.read. The plugins, mods and datapacks in the server's files.")
    def get(self, request, server_id):
        server = files_server(request.user, server_id, "file.read")
        return ok(installed.plugins_list(server=server))


@extend_schema(tags=["marketplace"])
class CheckUpdatesView(_Spending, APIView):
    @extend_schema(request=None, description="Needs file.read. Asks the sources for newer versions that fit.")
    def post(self, request, server_id):
        server = files_server(request.user, server_id, "file.read")
        _charge(request.user, "marketplace-updates")
        count = installed.plugins_check_updates(server=server)
        return ok({**installed.plugins_list(server=server), "updates": count})


@extend_schema(tags=["marketplace"])
class UpdateView(_Spending, APIView):
    @extend_schema(
        request=UpdateSerializer,
        description="Needs file.write. A job updating the given plugins "
        "(all with an update when no paths are given); the old file stays until the new one is verified.",
    )
    def post(self, request, server_id):
        server = files_server(request.user, server_id, "file.write")
        paths = _valid(UpdateSerializer, request.data).get("paths")
        job = installed.plugins_update(server=server, actor=request.user, paths=paths, request=request)
        return ok(message="Update started", status=202, jobId=str(job.pk))


class _Toggle(APIView):
    enabled = True

    @extend_schema(tags=["marketplace"], request=PathSerializer, description="Needs file.write.")
    def post(self, request, server_id):
        server = files_server(request.user, server_id, "file.write")
        path = _valid(PathSerializer, request.data)["path"]
        return ok(
            installed.plugin_set_enabled(
                server=server, actor=request.user, path=path, enabled=self.enabled, request=request
            )
        )


class EnableView(_Toggle):
    enabled = True


class DisableView(_Toggle):
    enabled = False


@extend_schema(tags=["marketplace"])
class UninstallView(APIView):
    @extend_schema(request=PathSerializer, description="Needs file.delete. Removes the file, enabled or not.")
    def post(self, request, server_id):
        server = files_server(request.user, server_id, "file.delete")
        path = _valid(PathSerializer, request.data)["path"]
        return ok(installed.plugin_uninstall(server=server, actor=request.user, path=path, request=request))
