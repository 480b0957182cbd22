"""Tasks as the contract shows them (action, payload and schedule of a one-step task) with our chain,
time zone, catch-up policy and last run; runs with each step's outcome. Written in snake_case: the API's
renderer and parser speak camelCase."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from schedules.models import Run, Step, Task
from schedules.services import next_run_at


class StepSerializer(serializers.Serializer):
    action = serializers.ChoiceField(Step.Action.choices)
    payload = serializers.JSONField(
        required=False, allow_null=True, help_text='{"command": "say hi"} for a command'
    )
    delay_seconds = serializers.IntegerField(
        required=False, min_value=0, help_text="After the previous step ends"
    )
    continue_on_failure = serializers.BooleanField(required=False)


class RunSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Run
        fields = ["id", "status", "trigger", "scheduled_for", "started_at", "finished_at", "reason"]


class TaskSerializer(serializers.ModelSerializer):
    server_id = serializers.UUIDField()
    action = serializers.SerializerMethodField()
    payload = serializers.SerializerMethodField()
    steps = serializers.SerializerMethodField()
    next_run_at = serializers.SerializerMethodField()
    last_run = serializers.SerializerMethodField()

    class Meta:
        model = Task
        fields = [
            "id",
            "server_id",
            "name",
            "action",
            "schedule",
            "timezone",
            "payload",
            "steps",
            "enabled",
            "only_when_online",
            "catch_up",
            "last_run_at",
            "next_run_at",
            "run_count",
            "last_run",
            "created_at",
            "updated_at",
        ]

    def _steps(self, task: Task) -> list[Step]:
        return list(task.steps.all())

    @extend_schema_field(serializers.ChoiceField(Step.Action.choices))
    def get_action(self, task: Task) -> str | None:
        steps = self._steps(task)
        return steps[0].action if steps else None

    @extend_schema_field(serializers.JSONField(allow_null=True))
    def get_payload(self, task: Task):
        steps = self._steps(task)
        return (steps[0].payload or None) if steps else None

    @extend_schema_field(StepSerializer(many=True))
    def get_steps(self, task: Task) -> list[dict]:
        return [
            {
                "action": step.action,
                "payload": step.payload or None,
                "delay_seconds": step.delay_seconds,
                "continue_on_failure": step.continue_on_failure,
            }
            for step in self._steps(task)
        ]

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_next_run_at(self, task: Task):
        when = next_run_at(task)
        return when.isoformat() if when else None

    @extend_schema_field(RunSummarySerializer(allow_null=True))
    def get_last_run(self, task: Task):
        run = task.runs.order_by("-started_at").first()
        return RunSummarySerializer(run).data if run else None


class TaskWriteSerializer(serializers.Serializer):
    """POST takes serverId, name, schedule and either action (+ payload) or steps; PUT any of them."""

    server_id = serializers.UUIDField(required=False)
    name = serializers.CharField(max_length=100, required=False)
    schedule = serializers.CharField(
        max_length=100, required=False, help_text="Five-field cron, e.g. 0 3 * * *"
    )
    timezone = serializers.CharField(max_length=64, required=False, help_text="IANA name; UTC by default")
    action = serializers.ChoiceField(Step.Action.choices, required=False, help_text="A one-step task")
    payload = serializers.JSONField(required=False, allow_null=True)
    steps = StepSerializer(many=True, required=False, help_text="A chain, instead of action and payload")
    enabled = serializers.BooleanField(required=False)
    only_when_online = serializers.BooleanField(required=False)
    catch_up = serializers.ChoiceField(Task.CatchUp.choices, required=False)

    def validate(self, data):
        if "steps" in data and ("action" in data or "payload" in data):
            raise serializers.ValidationError("Send either action (with payload) or steps, not both.")
        if "payload" in data and "action" not in data:
            raise serializers.ValidationError({"action": "A payload needs its action."})
        if "action" in data:
            data["steps"] = [{"action": data.pop("action"), "payload": data.pop("payload", None)}]
        return data


class RunSerializer(serializers.ModelSerializer):
    task_id = serializers.UUIDField()
    actor = serializers.SerializerMethodField()

    class Meta:
        model = Run
        fields = [
            "id",
            "task_id",
            "trigger",
            "status",
            "scheduled_for",
            "fired_at",
            "started_at",
            "finished_at",
            "reason",
            "steps",
            "actor",
        ]

    @extend_schema_field(serializers.DictField(allow_null=True))
    def get_actor(self, run: Run):
        return {"id": str(run.actor_id), "username": run.actor.username} if run.actor else None


class CronPreviewSerializer(serializers.Serializer):
    schedule = serializers.CharField()
    timezone = serializers.CharField()
    next_runs = serializers.ListField(child=serializers.DateTimeField())
