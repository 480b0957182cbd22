"""A task's beat rows go with it, however it is deleted (its own service, or its server's deletion
cascading to it): an orphaned PeriodicTask would keep firing for nothing. A deleted user's chains are
disabled: they ran with that user's permissions."""

from django.conf import settings
from django.db.models.signals import post_delete, pre_delete
from django.dispatch import receiver

from schedules.models import Task


@receiver(post_delete, sender=Task)
def _remove_periodic_task(sender, instance: Task, **kwargs) -> None:
    from django_celery_beat.models import PeriodicTask

    from schedules.services import periodic_task_remove

    periodic_task_remove(PeriodicTask.objects.filter(pk=instance.periodic_task_id).first())


@receiver(pre_delete, sender=settings.AUTH_USER_MODEL)
def _disable_chains_of_deleted_user(sender, instance, **kwargs) -> None:
    from schedules.services import tasks_disable_authored_by

    tasks_disable_authored_by(instance)
