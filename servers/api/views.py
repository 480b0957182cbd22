from collections.abc import Mapping

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, viewsets
from rest_framework.decorators import action

from accounts.api.permissions import require
from accounts.models import User
from config.api.responses import created, ok
from nodes.models import Location, Node
from plans.models import Plan
from servers import members, ports, resources
from servers.api import serializers as s
from servers.features import server_accept_eula
from servers.filters import ServerFilter
from servers.lifecycle.command import server_command
from servers.lifecycle.create import server_create
from servers.lifecycle.delete import server_delete
from servers.lifecycle.install import server_install
from servers.lifecycle.power import server_kill, server_restart, server_start, server_stop
from servers.lifecycle.suspension import server_suspend, server_unsuspend
from servers.lifecycle.update import server_reset_crash_count, server_set_restart_policy, server_update
from servers.models import Server, ServerMember
from servers.selectors import console_history, metric_history, servers_visible_to, with_primary_ports
from templates_app.models import Template

NO_BODY = {"request": None}


def _columns(serializer_class) -> list[str]:
    """The model's columns a list serializer answers with: a list row fetches nothing else."""
    concrete = {f.name for f in Server._meta.concrete_fields} | {
        f.attname for f in Server._meta.concrete_fields
    }
    return [name for name in serializer_class.Meta.fields if name in concrete]


LIST_COLUMNS = _columns(s.ServerSerializer)


def _for_the_list(servers):
    """Only what the list answers with: its columns and the primary allocation's ports."""
    return with_primary_ports(servers.only(*LIST_COLUMNS))


def _with_details(servers):
    return (
        with_primary_ports(servers)
        .select_related("node", "template")
        .prefetch_related("allocations", Prefetch("members", queryset=ServerMember.objects.all()))
    )


def server_detail(server) -> dict:
    """The server's detail as the API answers it after a change. Not restricted to what the caller sees:
    staff creating for someone else get the answer too."""
    return s.ServerDetailSerializer(_with_details(Server.objects).get(pk=server.pk)).data


@extend_schema(tags=["servers"])
class ServerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Servers the caller may see (owners theirs, members shared ones, staff all). Hidden ones are 404."""

    filterset_class = ServerFilter

    def get_queryset(self):
        servers = servers_visible_to(self.request.user).order_by("name", "pk")
        if self.action == "list":
            return _for_the_list(servers)
        if self.action == "retrieve":
            return _with_details(servers)
        # An action (start, stop, update…): the row with its node and template; an answer with the
        # server's detail reads it again once the action is done (server_detail).
        return servers.select_related("node", "template")

    def get_serializer_class(self):
        return s.ServerDetailSerializer if self.action == "retrieve" else s.ServerSerializer

    def _server(self, permission: str) -> Server:
        server = self.get_object()
        require(self.request.user, permission, server)
        return server

    def _body(self, serializer_class) -> dict:
        """The validated body; first a 403 for any field only staff may send (before 400 and 409)."""
        sent = self.request.data.keys() if isinstance(self.request.data, Mapping) else ()
        staff_only = getattr(serializer_class, "staff_only", resources.STAFF_ONLY_FIELDS)
        resources.require_resources(self.request.user, [key for key in sent if key in staff_only])
        data = serializer_class(data=self.request.data)
        data.is_valid(raise_exception=True)
        return data.validated_data

    def _detail(self, server) -> dict:
        return server_detail(server)

    @extend_schema(request=s.ServerCreateSerializer, responses={201: s.ServerDetailSerializer})
    def create(self, request):
        """Create a server from a template; without nodeId it is placed on a node with room."""
        require(request.user, "server.create")
        fields = self._body(s.ServerCreateSerializer)
        fields["template"] = Template.objects.filter(pk=fields.pop("template_id")).first()
        if "node_id" in fields:
            fields["node"] = Node.objects.filter(pk=fields.pop("node_id")).first()
        if "location_id" in fields:
            fields["location"] = Location.objects.filter(pk=fields.pop("location_id")).first()
        if (
            fields["template"] is None
            or fields.get("node", True) is None
            or fields.get("location", True) is None
        ):
            raise exceptions.NotFound("Template or node not found")
        if "plan_id" in fields:
            fields["plan"] = Plan.objects.filter(pk=fields.pop("plan_id")).first()
            if fields["plan"] is None:
                raise exceptions.ValidationError({"plan_id": ["No plan with this id."]})
        owner_id = fields.pop("owner_id", None)
        if owner_id:
            require(request.user, "admin.write")
            fields["owner"] = User.objects.filter(pk=owner_id, is_active=True).first()
            if fields["owner"] is None:
                raise exceptions.ValidationError({"owner_id": ["No active user with this id."]})
        server = server_create(actor=request.user, request=request, **fields)
        return created(self._detail(server))

    @extend_schema(request=s.ServerUpdateSerializer, responses=s.ServerDetailSerializer)
    def update(self, request, pk=None):
        """Name and description any time; resources, variables and image only while stopped."""
        server = self._server("server.update")
        server_update(
            server=server, actor=request.user, request=request, **self._body(s.ServerUpdateSerializer)
        )
        return ok(self._detail(server))

    partial_update = update

    @extend_schema(responses={200: None})
    def destroy(self, request, pk=None):
        """Delete a stopped server (the contract's answer); its container and files are removed by a job."""
        server = self._server("server.delete")
        job = server_delete(server=server, actor=request.user, request=request)
        return ok(message="Server deleted successfully", jobId=str(job.pk))

    @extend_schema(request=s.InstallSerializer)
    @action(detail=True, methods=["post"])
    def install(self, request, pk=None):
        """Run the template's install script (optionally switching to another of its images first)."""
        server = self._server("server.install")
        job = server_install(
            server=server, actor=request.user, request=request, **self._body(s.InstallSerializer)
        )
        return ok(message="Installation started", serverId=str(pk), jobId=str(job.pk))

    @extend_schema(request=s.InstallSerializer)
    @action(detail=True, methods=["post"])
    def reinstall(self, request, pk=None):
        """Run the install script again over the files (optionally switching image first)."""
        server = self._server("server.install")
        job = server_install(
            server=server,
            actor=request.user,
            request=request,
            reinstall=True,
            **self._body(s.InstallSerializer),
        )
        return ok(message="Reinstallation started", serverId=str(pk), jobId=str(job.pk))

    @extend_schema(**NO_BODY)
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        job = server_start(server=self._server("server.start"), actor=request.user, request=request)
        return ok(message="Server start initiated", jobId=str(job.pk))

    @extend_schema(request=s.StopSerializer)
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        server = self._server("server.stop")
        job = server_stop(server=server, actor=request.user, request=request, **self._body(s.StopSerializer))
        return ok(message="Server stop initiated", jobId=str(job.pk))

    @extend_schema(**NO_BODY)
    @action(detail=True, methods=["post"])
    def restart(self, request, pk=None):
        job = server_restart(server=self._server("server.restart"), actor=request.user, request=request)
        return ok(message="Server restart initiated", jobId=str(job.pk))

    @extend_schema(**NO_BODY)
    @action(detail=True, methods=["post"])
    def kill(self, request, pk=None):
        job = server_kill(server=self._server("server.kill"), actor=request.user, request=request)
        return ok(message="Server killed", jobId=str(job.pk))

    @extend_schema(**NO_BODY)
    @action(detail=True, methods=["post"])
    def eula(self, request, pk=None):
        """Accept the game's EULA (templates with the eula feature): eula=true in eula.txt, then a start.
        Needs server.start and file.write: it does both, and holding one must not grant the other."""
        server = self._server("server.start")
        job = server_accept_eula(server=server, actor=request.user, request=request)
        return ok(message="EULA accepted; the server is starting", jobId=str(job.pk))

    @extend_schema(request=s.CommandSerializer)
    @action(detail=True, methods=["post"])
    def command(self, request, pk=None):
        server = self._server("server.console")
        server_command(server=server, actor=request.user, request=request, **self._body(s.CommandSerializer))
        return ok(message="Command sent")

    @extend_schema(request=s.SuspendSerializer)
    @action(detail=True, methods=["post"])
    def suspend(self, request, pk=None):
        server = self._server("server.suspend")
        server = server_suspend(
            server=server, actor=request.user, request=request, **self._body(s.SuspendSerializer)
        )
        return ok(
            {
                "id": str(server.pk),
                "status": server.status,
                "suspended_at": server.suspended_at,
                "suspended_by_user_id": str(server.suspended_by_id),
                "suspension_reason": server.suspension_reason,
            }
        )

    @extend_schema(**NO_BODY)
    @action(detail=True, methods=["post"])
    def unsuspend(self, request, pk=None):
        server = server_unsuspend(server=self._server("server.suspend"), actor=request.user, request=request)
        return ok(
            {
                "id": str(server.pk),
                "status": server.status,
                "suspended_at": None,
                "suspended_by_user_id": None,
                "suspension_reason": None,
            }
        )

    @extend_schema(**NO_BODY)
    @action(detail=True, methods=["post"], url_path="reset-crash-count")
    def reset_crash_count(self, request, pk=None):
        server_reset_crash_count(server=self._server("server.update"), actor=request.user, request=request)
        return ok(message="Crash count reset")

    @extend_schema(request=s.RestartPolicySerializer)
    @action(detail=True, methods=["patch"], url_path="restart-policy")
    def restart_policy(self, request, pk=None):
        server = server_set_restart_policy(
            server=self._server("server.update"),
            actor=request.user,
            request=request,
            **self._body(s.RestartPolicySerializer),
        )
        return ok(restartPolicy=server.restart_policy, maxCrashCount=server.max_crash_count)

    @extend_schema(
        parameters=[
            OpenApiParameter("limit", int, description="Up to 1000 (default 100)"),
            OpenApiParameter("stream", str, enum=["stdout", "stderr", "system"]),
            OpenApiParameter("before", float, description="Unix time; lines before it"),
        ]
    )
    @action(detail=True, methods=["get"])
    def logs(self, request, pk=None):
        """The console history (newest last)."""
        server = self._server("server.logs.read")
        try:
            limit = min(int(request.query_params.get("limit", 100)), 1000)
            before = float(request.query_params["before"]) if "before" in request.query_params else None
        except ValueError as exc:
            raise exceptions.ValidationError({"limit": ["limit and before must be numbers."]}) from exc
        stream = request.query_params.get("stream")
        if stream and stream not in ("stdout", "stderr", "system"):
            raise exceptions.ValidationError({"stream": ["Use stdout, stderr or system."]})
        lines = console_history(server.pk, limit=max(limit, 1), stream=stream, before=before)
        return ok(
            [
                {
                    "id": e["id"],
                    "server_id": str(server.pk),
                    "stream": e["stream"],
                    "data": e["data"],
                    "timestamp": e["timestamp"],
                }
                for e in lines
            ]
        )

    @extend_schema(parameters=[OpenApiParameter("range", str, enum=["1h", "6h", "24h", "7d"])])
    @action(detail=True, methods=["get"])
    def metrics(self, request, pk=None):
        """Resource history for graphs (one point a minute, downsampled to at most 120 points)."""
        from servers.stats import RANGES

        server = self._server("server.read")
        range_name = request.query_params.get("range", "1h")
        if range_name not in RANGES:
            raise exceptions.ValidationError({"range": [f"Use one of {', '.join(RANGES)}."]})
        current = {
            "cpu": server.cpu_usage,
            "memory_mb": server.memory_usage_mb,
            "network_sent": server.network_sent,
            "network_received": server.network_received,
        }
        return ok(
            {
                "range": range_name,
                "current": current,
                "points": metric_history(server=server, range_name=range_name),
            }
        )

    @extend_schema(request=s.AllocationAddSerializer, responses=s.ServerAllocationSerializer(many=True))
    @action(detail=True, methods=["get", "post"])
    def allocations(self, request, pk=None):
        if request.method == "GET":
            server = self._server("server.read")
            return ok(
                s.ServerAllocationSerializer(
                    server.allocations.order_by("-is_primary", "port"), many=True
                ).data
            )
        server = self._server("server.update")
        allocation = ports.allocation_add(
            server=server, actor=request.user, request=request, **self._body(s.AllocationAddSerializer)
        )
        return ok(s.ServerAllocationSerializer(allocation).data)

    @extend_schema(responses={200: None})
    @action(detail=True, methods=["delete"], url_path=r"allocations/(?P<container_port>\d+)")
    def remove_allocation(self, request, pk=None, container_port=None):
        ports.allocation_remove(
            server=self._server("server.update"),
            actor=request.user,
            request=request,
            container_port=int(container_port),
        )
        return ok()

    @extend_schema(request=s.PrimarySerializer)
    @action(detail=True, methods=["post"], url_path="allocations/primary")
    def primary_allocation(self, request, pk=None):
        allocation = ports.allocation_set_primary(
            server=self._server("server.update"),
            actor=request.user,
            request=request,
            **self._body(s.PrimarySerializer),
        )
        return ok({"primary_port": allocation.container_port or allocation.port})

    @extend_schema(request=s.MemberAddSerializer, responses=s.MemberSerializer(many=True))
    @action(detail=True, methods=["get", "post"])
    def members(self, request, pk=None):
        """People the owner shares the server with, and what each may do."""
        if request.method == "GET":
            server = self._server("server.read")
            return ok(s.MemberSerializer(server.members.select_related("user"), many=True).data)
        server = self._server("server.update")
        member = members.member_add(
            server=server, actor=request.user, request=request, **self._body(s.MemberAddSerializer)
        )
        return created(s.MemberSerializer(member).data)

    @extend_schema(request=s.MemberUpdateSerializer, responses=s.MemberSerializer)
    @action(detail=True, methods=["put", "delete"], url_path=r"members/(?P<member_id>\d+)")
    def member(self, request, pk=None, member_id=None):
        server = self._server("server.update")
        member = server.members.select_related("user").filter(pk=member_id).first()
        if member is None:
            raise exceptions.NotFound("No such member on this server.")
        if request.method == "DELETE":
            members.member_remove(member=member, actor=request.user, request=request)
            return ok(message="Member removed")
        member = members.member_update(
            member=member, actor=request.user, request=request, **self._body(s.MemberUpdateSerializer)
        )
        return ok(s.MemberSerializer(member).data)

    @extend_schema(request=s.TransferSerializer)
    @action(detail=True, methods=["post"])
    def transfer(self, request, pk=None):
        """Move a stopped server to another node (files are copied and verified, then the old copy removed)."""
        from servers.transfer import server_transfer

        server = self._server("server.transfer")
        target = Node.objects.filter(pk=self._body(s.TransferSerializer)["target_node_id"]).first()
        if target is None:
            raise exceptions.NotFound("Target node not found")
        previous = server.node.name
        job = server_transfer(server=server, actor=request.user, target=target, request=request)
        return ok(
            message="Server transfer started",
            jobId=str(job.pk),
            server={
                "id": str(server.pk),
                "name": server.name,
                "previous_node": previous,
                "current_node": target.name,
            },
        )

    @extend_schema(responses=s.JobSerializer(many=True))
    @action(detail=True, methods=["get"])
    def jobs(self, request, pk=None):
        """Install, power, delete and transfer jobs with their progress and errors."""
        server = self._server("server.read")
        return ok(s.JobSerializer(server.jobs.all()[:50], many=True).data)
