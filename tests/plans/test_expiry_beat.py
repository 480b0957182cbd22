"""Expiry with the real processes: a `celery beat` process (the Procfile's scheduler) queues the expiry
pass every second and the module's real worker runs it; a server is reminded once however many passes
run, then suspended within a pass or two of its expiry."""

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Alert
from servers.models import Server
from tests.fixtures.browser import Panel, database_env
from tests.matrix import node_and_template
from tests.polling import wait_for
from tests.schedules.test_beat import start_beat

pytestmark = [pytest.mark.real_worker, pytest.mark.django_db(transaction=True)]
S = Server.Status


def test_beat_reminds_then_suspends_a_server_when_it_expires(
    celery_worker, _eager_tasks, tmp_path, customer, shop
):
    node, template = node_and_template()
    server = Server.objects.create(
        name="soon", owner=customer, node=node, template=template, docker_image=template.docker_image,
        status=S.STOPPED, allocated_memory_mb=512, allocated_cpu_cores=1, allocated_disk_mb=512,
        plan=shop["basic"], expire_at=timezone.now() + timedelta(hours=12),
    )  # fmt: skip
    panel = Panel(env={**database_env(), "HEARTH_EXPIRY_CHECK_SECONDS": "1"}, logs=tmp_path)
    try:
        start_beat(panel)
        # However long beat takes to start: the first pass it queues sends the one-day reminder.
        wait_for(
            lambda: Alert.objects.filter(type="server_expiring", server=server).exists(),
            90,
            lambda: f"the reminder:\n{panel.log('beat')}",
        )
        expire_at = timezone.now() + timedelta(seconds=3)
        Server.objects.filter(pk=server.pk).update(expire_at=expire_at)

        def suspended():
            server.refresh_from_db()
            return server.status == S.SUSPENDED

        wait_for(suspended, 60, lambda: f"the suspension:\n{panel.log('beat')}")
    finally:
        panel.stop("beat")
    assert server.suspension_reason == "expired"
    assert expire_at <= server.suspended_at <= expire_at + timedelta(seconds=5), (
        server.suspended_at - expire_at
    )
    reminders = Alert.objects.filter(type="server_expiring", server=server)
    assert reminders.count() == 1 and reminders.get().resolved  # sent once, many passes; over at the expiry
