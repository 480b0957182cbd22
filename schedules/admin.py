"""Scheduled tasks in the admin: each task with its next run and last result, its steps inline, a
"run now" action, and the run history. Changes go through schedules.services (beat's rows follow);
tasks are made on a server's page or through the API, where the chain is given with them."""

from django import forms
from django.contrib import admin, messages

from accounts.admin_site import ReadOnlyAdmin, StaffInline, StaffModelAdmin
from accounts.audit import audit
from accounts.permissions import can
from config.errors import DomainError, InvalidInput, refusal_text
from config.tasks import queue
from schedules import services
from schedules.models import Run, Step, Task

EDITABLE = ("name", "schedule", "timezone", "enabled", "only_when_online", "catch_up")


class StepForm(forms.ModelForm):
    class Meta:
        model = Step
        fields = ("position", "action", "payload", "delay_seconds", "continue_on_failure")

    def clean(self):
        data = super().clean()
        if data.get("action"):
            try:
                services.clean_steps([{key: data.get(key) for key in self.Meta.fields[1:]}])
            except InvalidInput as exc:
                raise forms.ValidationError(exc.message) from exc
        return data


class StepInline(StaffInline, admin.TabularInline):
    model = Step
    form = StepForm
    extra = 0
    ordering = ("position",)


class RunInline(StaffInline, admin.TabularInline):
    model = Run
    fields = ("started_at", "trigger", "status", "scheduled_for", "finished_at", "reason")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-started_at",)

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("-started_at")


@admin.register(Task)
class TaskAdmin(StaffModelAdmin):
    list_display = (
        "name",
        "server",
        "schedule",
        "timezone",
        "enabled",
        "next_run",
        "last_result",
        "run_count",
    )
    list_filter = ("enabled", "catch_up", "only_when_online")
    list_select_related = ("server",)
    search_fields = ("name", "id", "server__name")
    fields = (
        "server",
        *EDITABLE,
        "next_run",
        "last_run_at",
        "run_count",
        "last_slot_at",
        "periodic_task",
        "created_by",
        "created_at",
    )
    readonly_fields = (
        "server",
        "next_run",
        "last_run_at",
        "run_count",
        "last_slot_at",
        "periodic_task",
        "created_by",
        "created_at",
    )
    inlines = (StepInline, RunInline)
    actions = ("run_now",)

    def has_add_permission(self, request):
        return False  # a task is made with its chain: on the server's page or through /api/tasks

    def has_task_execute_permission(self, request):
        return can(request.user, "task.execute")

    @admin.display(description="Next run")
    def next_run(self, task: Task):
        when = services.next_run_at(task)
        return when.strftime("%Y-%m-%d %H:%M %Z") if when else "—"  # in the task's own zone

    @admin.display(description="Last result")
    def last_result(self, task: Task):
        run = task.runs.order_by("-started_at").first()
        return f"{run.status} ({run.trigger})" if run else "—"

    def save_model(self, request, obj, form, change):
        changed = {key: form.cleaned_data[key] for key in form.changed_data if key in EDITABLE}
        services.task_update(task=obj, actor=request.user, request=request, **changed)

    def delete_model(self, request, obj):
        services.task_delete(task=obj, actor=request.user, request=request)

    @admin.action(description="Run selected tasks now", permissions=["task_execute"])
    def run_now(self, request, queryset):
        from schedules.tasks import task_execute_task

        done = 0
        for task in queryset.select_related("server"):
            if task.server.status == task.server.Status.SUSPENDED:
                self.message_user(request, f"{task.name}: the server is suspended.", messages.ERROR)
                continue
            try:
                audit(
                    "task.execute",
                    actor=request.user,
                    request=request,
                    resource=task.server,
                    task=str(task.pk),
                )
                queue(task_execute_task, task.pk, request.user.pk)
            except DomainError as exc:
                self.message_user(request, f"{task.name}: {refusal_text(exc)}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, f"Queued {done} task(s): see their runs.", messages.SUCCESS)


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "task", "trigger", "status", "scheduled_for", "finished_at", "reason")
    list_filter = ("status", "trigger")
    list_select_related = ("task",)
    search_fields = ("task__name", "task__id", "reason")
    date_hierarchy = "started_at"
    readonly_fields = (
        "task",
        "trigger",
        "status",
        "scheduled_for",
        "started_at",
        "finished_at",
        "reason",
        "steps",
        "actor",
    )
