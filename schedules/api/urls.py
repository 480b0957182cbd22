from django.urls import path

from schedules.api import views

urlpatterns = [
    path("tasks", views.TasksView.as_view(), name="tasks"),
    path("tasks/preview", views.CronPreviewView.as_view(), name="tasks-preview"),
    path("tasks/<uuid:task_id>", views.TaskView.as_view(), name="task"),
    path("tasks/<uuid:task_id>/execute", views.TaskExecuteView.as_view(), name="task-execute"),
    path("tasks/<uuid:task_id>/runs", views.TaskRunsView.as_view(), name="task-runs"),
]
