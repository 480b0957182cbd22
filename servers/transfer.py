"""Moving a stopped server to another node: files stream through the worker with a sha256 checked on
arrival; the database switches only once the target is ready; the source is removed last.

Any failure (target unreachable midway, checksum mismatch, a worker killed and its job reaped)
leaves the source untouched and the server stopped on its old node with the reason recorded.
"""

import contextlib
import hashlib
import logging
import posixpath
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework import exceptions

from accounts.audit import audit
from nodes.client import client_for
from nodes.models import Allocation, Node
from servers import console, placement, runtime
from servers.models import Job, Server
from servers.resources import may_set_resources
from servers.states import set_status, transition

logger = logging.getLogger(__name__)
S = Server.Status
STALE_AFTER = timedelta(minutes=10)


def server_transfer(*, server: Server, actor, target: Node, request=None) -> Job:
    """Check the contract's conditions, reserve ports on the target and queue the transfer job."""
    from servers.tasks import server_transfer_task

    if server.node_id == target.pk:
        raise exceptions.ValidationError({"target_node_id": ["Server already on target node."]})
    # A node in maintenance takes servers only from staff who may decide placement and name it.
    if not target.is_online or (target.maintenance_mode and not may_set_resources(actor)):
        state = "offline" if not target.is_online else "in maintenance"
        raise exceptions.ValidationError(
            {
                "target_node_id": [
                    f"Target node offline or insufficient resources: node '{target.name}' is {state}."
                ]
            }
        )
    if server.status not in (S.STOPPED, S.CRASHED):
        if server.status == S.SUSPENDED:
            transition(server, action="transfer", to=None)  # 423
        raise exceptions.ValidationError({"status": ["Server must be stopped."]})
    with transaction.atomic():
        node = Node.objects.select_for_update().get(pk=target.pk)
        short = placement.shortages(
            node,
            memory=server.allocated_memory_mb,
            swap=server.allocated_swap_mb,
            cpu=server.allocated_cpu_cores,
            disk=server.allocated_disk_mb,
        )
        if short:
            detail = placement.describe(node, short, numbers=True)
            raise exceptions.ValidationError(
                {"target_node_id": [f"Target node offline or insufficient resources: {detail}."]}
            )
        transition(server, action="transfer", to=S.TRANSFERRING, status_reason="")
        reserved = _reserve(server, node)
        job = Job.objects.create(
            server=server,
            server_name=server.name,
            kind=Job.Kind.TRANSFER,
            actor=actor,
            detail={
                "source": str(server.node_id),
                "target": str(node.pk),
                "allocations": [str(a.pk) for a in reserved],
                "heartbeat": _now(),
            },
        )
        audit(
            "server.transfer",
            actor=actor,
            request=request,
            resource=server,
            fromNode=server.node.name,
            toNode=node.name,
        )
        transaction.on_commit(lambda: console.write(server.pk, f"Transfer to node {node.name} started."))
        transaction.on_commit(lambda: server_transfer_task.delay(str(server.pk), str(job.pk)))
    return job


def _now() -> str:
    return timezone.now().isoformat()


def _reserve(server: Server, target: Node) -> list[Allocation]:
    """Free allocations on the target, one per current allocation, same port numbers when free."""
    reserved = []
    free = Allocation.objects.select_for_update(skip_locked=True).filter(node=target, server__isnull=True)
    for current in server.allocations.order_by("-is_primary", "port"):
        taken = [a.pk for a in reserved]
        choice = (
            free.exclude(pk__in=taken).filter(port=current.port).first()
            or free.exclude(pk__in=taken).order_by("port").first()
        )
        if choice is None:
            raise exceptions.ValidationError(
                {"target_node_id": [f"Node '{target.name}' has not enough free ports."]}
            )
        Allocation.objects.filter(pk=choice.pk).update(notes=f"reserved for transfer of {server.pk}")
        reserved.append(choice)
    return reserved


def _progress(job: Job, percent: int, line: str | None = None) -> None:
    job.detail["heartbeat"] = _now()
    Job.objects.filter(pk=job.pk).update(progress=percent, detail=job.detail)
    if line:
        console.write(job.server_id, line)


def server_transfer_execute(*, server_id: str, job_id: str) -> None:
    claimed = Job.objects.filter(pk=job_id, status=Job.Status.PENDING).update(
        status=Job.Status.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return
    job = Job.objects.get(pk=job_id)
    server = Server.objects.select_related("node", "template").get(pk=server_id)
    source, target = server.node, Node.objects.get(pk=job.detail["target"])
    source_dir = runtime.server_dir(server)
    target_dir = posixpath.join(target.data_dir, "servers", str(server.pk))
    staging = posixpath.join(target.data_dir, "transfers", f"{server.pk}.tar")
    try:
        src, dst = client_for(source), client_for(target)
        _progress(job, 5, f"Archiving files on {source.name}…")
        digest = hashlib.sha256()
        sent = 0

        def chunks():
            nonlocal sent
            for chunk in src.read_stream(["tar", "-C", source_dir, "-cf", "-", "."]):
                digest.update(chunk)
                sent += len(chunk)
                if sent % (64 * 1024 * 1024) < len(chunk):
                    _progress(
                        job, 10 + min(60, sent // (1024 * 1024 * 64)), f"Sent {sent // (1024 * 1024)} MB…"
                    )
                yield chunk

        dst.run(["mkdir", "-p", posixpath.dirname(staging)])
        arrived = dst.write_stream(["sh", "-c", 'cat > "$1" && sha256sum "$1"', "receive", staging], chunks())
        arrived = arrived.split()[0] if arrived.strip() else ""
        if arrived != digest.hexdigest():
            raise RuntimeError(
                f"Checksum mismatch: sent {digest.hexdigest()}, target stored {arrived or 'nothing'}"
            )
        _progress(
            job, 75, f"{sent // 1024} KB arrived intact (sha256 {arrived[:12]}…); unpacking on {target.name}."
        )
        dst.run(
            [
                "sh",
                "-c",
                'rm -rf "$2" && mkdir -p -m 750 "$2" && tar -C "$2" --no-same-owner -xf "$1"',
                "unpack",
                staging,
                target_dir,
            ]
        )
        if dst.is_local:
            dst.run(["chown", "-R", settings.CONTAINER_USER, target_dir])
        _switch(server, job, target)
    except Exception as exc:
        reason = str(exc) or exc.__class__.__name__
        transfer_fail(job=job, reason=reason)
        return
    finally:
        with contextlib.suppress(Exception):  # the target may be the thing that failed
            client_for(target).run(["rm", "-f", staging], check=False)
    _progress(job, 95, f"Server moved to {target.name}; removing the copy on {source.name}.")
    try:
        runtime.destroy(client_for(source), Server(pk=server.pk, node=source, template=server.template))
    except Exception as exc:
        console.write(
            server.pk, f"The old copy on {source.name} could not be removed ({exc}); remove it by hand."
        )
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.SUCCEEDED, progress=100, finished_at=timezone.now()
    )
    console.write(server.pk, f"Transfer to {target.name} complete.")


def _switch(server: Server, job: Job, target: Node) -> None:
    """Point the server at the target and create its container there, in one transaction."""
    reserved = Allocation.objects.filter(pk__in=job.detail["allocations"]).order_by("port")
    with transaction.atomic():
        old = list(server.allocations.order_by("-is_primary", "port"))
        pairs = list(zip(old, _ordered(reserved, job.detail["allocations"]), strict=True))
        Allocation.objects.filter(pk__in=[a.pk for a in old]).update(
            server=None, is_primary=False, container_port=None
        )
        for previous, new in pairs:
            Allocation.objects.filter(pk=new.pk).update(
                server=server,
                is_primary=previous.is_primary,
                container_port=previous.container_port,
                notes="",
            )
        Server.objects.filter(pk=server.pk).update(node=target, container_id="")
        moved = Server.objects.select_related("node", "template").get(pk=server.pk)
        runtime.ensure_container(client_for(target), moved)  # a failure here rolls the switch back
        set_status(server.pk, S.STOPPED, expect={S.TRANSFERRING})


def _ordered(queryset, ids: list[str]) -> list[Allocation]:
    by_id = {str(a.pk): a for a in queryset}
    return [by_id[i] for i in ids]


def transfer_fail(*, job: Job, reason: str) -> None:
    """Undo a transfer: release the target's ports, remove its copy, put the server back as stopped."""
    target = Node.objects.filter(pk=job.detail.get("target")).first()
    Allocation.objects.filter(pk__in=job.detail.get("allocations", []), server__isnull=True).update(notes="")
    if target is not None and job.server_id:
        try:
            client = client_for(target)
            client.run(
                [
                    "rm",
                    "-rf",
                    posixpath.join(target.data_dir, "servers", str(job.server_id)),
                    posixpath.join(target.data_dir, "transfers", f"{job.server_id}.tar"),
                ],
                check=False,
            )
        except Exception:  # unreachable: the next transfer there starts by clearing the directory
            logger.warning("Could not clean up the failed transfer of %s on %s", job.server_id, target.name)
    if job.server_id:
        set_status(
            job.server_id, S.STOPPED, expect={S.TRANSFERRING}, status_reason=f"Transfer failed: {reason}"
        )
        console.write(job.server_id, f"Transfer failed: {reason}. The server is still on its old node.")
    Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILED, error=reason, finished_at=timezone.now())


def transfers_reap() -> int:
    """Fail transfers whose worker died (no progress for STALE_AFTER); beat runs this."""
    reaped = 0
    cutoff = timezone.now() - STALE_AFTER
    for job in Job.objects.filter(
        kind=Job.Kind.TRANSFER, status__in=[Job.Status.RUNNING, Job.Status.PENDING]
    ):
        beat = job.detail.get("heartbeat")
        if beat and datetime.fromisoformat(beat) < cutoff:
            transfer_fail(job=job, reason="The worker stopped responding during the transfer.")
            reaped += 1
    return reaped
