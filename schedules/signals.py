"""A task's beat rows go with it, however it is deleted (its own service, or its server's deletion
cascading to it): an orphaned PeriodicTask would keep firing for nothing."""

from django.db.models.signals import post_delete
from django.dispatch import receiver

from schedules.models import Task


@receiver(post_delete, sender=Task)
def _remove_periodic_task(sender, instance: Task, **kwargs) -> None:
    from django_celery_beat.models import PeriodicTask

    from schedules.services import periodic_task_remove

    periodic_task_remove(PeriodicTask.objects.filter(pk=instance.periodic_task_id).first())
