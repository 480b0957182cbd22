from celery import shared_task


@shared_task(ignore_result=True)
def nodes_check_health_task() -> None:
    """Beat, every 30 s: one health check per node, each in its own task so a slow node delays no other."""
    from config.tasks import queue
    from nodes.models import Node

    for node_id in Node.objects.values_list("pk", flat=True):
        queue(node_check_health_task, node_id)


@shared_task(ignore_result=True, soft_time_limit=60)
def node_check_health_task(node_id: str) -> None:
    from nodes.health import node_check_health
    from nodes.models import Node

    node = Node.objects.filter(pk=node_id).first()
    if node is not None:
        node_check_health(node=node)
