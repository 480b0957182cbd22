"""/api/tasks (contract "Scheduled Tasks") and ours: a task's runs, and a cron expression's next run times
for the editor. Each view checks access (schedules.access: 404, 403, 423), reads its input, calls one
service."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.views import APIView

from config.api.responses import created, ok
from config.errors import InvalidInput
from config.tasks import queue
from schedules import cron, services
from schedules.access import task_for, task_server, tasks_readable_by
from schedules.api import serializers as ss
from schedules.models import Task

TAGS = ["tasks"]
SERVER = OpenApiParameter("serverId", str, description="Only this server's tasks")


def _answer(name: str):
    return inline_serializer(name, {"message": serializers.CharField()})


def _body(request, *, partial: bool) -> dict:
    data = ss.TaskWriteSerializer(data=request.data, partial=partial)
    data.is_valid(raise_exception=True)
    return dict(data.validated_data)


def _shown(task: Task) -> dict:
    return ss.TaskSerializer(Task.objects.prefetch_related("steps").get(pk=task.pk)).data


class TasksView(APIView):
    @extend_schema(tags=TAGS, parameters=[SERVER], responses=ss.TaskSerializer(many=True))
    def get(self, request):
        """The tasks of the servers the caller may read tasks on; ?serverId= for one server (404 if hidden)."""
        server_id = request.query_params.get("serverId")
        tasks = Task.objects.all()
        if server_id:
            tasks = tasks.filter(server=task_server(request.user, server_id, "task.read"))
        return ok(ss.TaskSerializer(tasks_readable_by(request.user, tasks), many=True).data)

    @extend_schema(tags=TAGS, request=ss.TaskWriteSerializer, responses={201: ss.TaskSerializer})
    def post(self, request):
        """A task on serverId: a cron schedule (in timezone, UTC by default) and one action or a chain of steps."""
        fields = _body(request, partial=False)
        server_id = fields.pop("server_id", None)
        if server_id is None:
            raise InvalidInput({"serverId": "serverId is required."})
        server = task_server(request.user, server_id, "task.create")
        if "steps" not in fields:
            raise InvalidInput({"action": "Give an action (with its payload) or a list of steps."})
        task = services.task_create(server=server, actor=request.user, request=request, **fields)
        return created(_shown(task), message="Task created successfully")


class TaskView(APIView):
    @extend_schema(tags=TAGS, responses=ss.TaskSerializer)
    def get(self, request, task_id):
        return ok(_shown(task_for(request.user, task_id, "task.read")))

    @extend_schema(tags=TAGS, request=ss.TaskWriteSerializer, responses=ss.TaskSerializer)
    def put(self, request, task_id):
        """Change any of the task's fields (partial allowed); action or steps replace the whole chain."""
        task = task_for(request.user, task_id, "task.update")
        fields = _body(request, partial=True)
        if "server_id" in fields:
            raise InvalidInput(
                {"serverId": "A task stays on its server: delete it and create one on the other."}
            )
        task = services.task_update(task=task, actor=request.user, request=request, **fields)
        return ok(_shown(task), message="Task updated successfully")

    @extend_schema(tags=TAGS, responses=_answer("TaskDeleted"))
    def delete(self, request, task_id):
        task = task_for(request.user, task_id, "task.delete")
        services.task_delete(task=task, actor=request.user, request=request)
        return ok(message="Task deleted successfully")


class TaskExecuteView(APIView):
    @extend_schema(tags=TAGS, request=None, responses=_answer("TaskExecuted"))
    def post(self, request, task_id):
        """Run the task now, whatever its schedule (enabled or not); its run appears in /runs."""
        from accounts.audit import audit
        from schedules.tasks import task_execute_task

        task = task_for(request.user, task_id, "task.execute")
        audit("task.execute", actor=request.user, request=request, resource=task.server, task=str(task.pk))
        queue(task_execute_task, task.pk, request.user.pk)
        return ok(message="Task execution queued")


class TaskRunsView(APIView):
    @extend_schema(tags=TAGS, responses=ss.RunSerializer(many=True))
    def get(self, request, task_id):
        """The task's latest runs, newest first: trigger, status, times, and each step's output or error."""
        task = task_for(request.user, task_id, "task.read")
        runs = task.runs.select_related("actor").order_by("-started_at")[:50]
        return ok(ss.RunSerializer(runs, many=True).data)


class CronPreviewView(APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[
            OpenApiParameter("schedule", str, required=True, description="e.g. 0 3 * * *"),
            OpenApiParameter("timezone", str, description="IANA name; UTC by default"),
        ],
        responses=ss.CronPreviewSerializer,
    )
    def get(self, request):
        """The next five run times of a cron expression in a time zone (400 saying what is wrong with it)."""
        schedule = request.query_params.get("schedule", "")
        zone = request.query_params.get("timezone") or "UTC"
        runs = cron.next_runs(schedule, zone, count=5, after=timezone.now())
        return ok({"schedule": " ".join(schedule.split()), "timezone": zone, "next_runs": runs})
