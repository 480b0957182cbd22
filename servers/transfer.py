"""Moving a stopped server to another node without ever losing both copies.

The source's files stream through the worker, which rebuilds the archive member by member
(servers/transfer_archive.py) into a staging directory on the target; the target's copy is then read
back and must match what the panel sent. Only then does the database switch to the target, and the
source goes last. Any failure before the switch leaves the source untouched and the server stopped on
its old node with the reason recorded.

One owner at a time: the worker that claimed the job, or the reaper that took it over once the worker
went quiet. Every destructive step (clearing the target, installing the copy, removing the source,
failing the job) locks the job row, checks that the lease is still its own and runs while holding the
lock, so the reaper can neither take over in the middle of one nor act on what it saw before.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models.functions import Coalesce
from django.dispatch import Signal
from django.utils import timezone

from accounts.audit import audit
from config.errors import IllegalTransition, InvalidInput
from config.tasks import queue
from nodes.client import client_for
from nodes.models import Allocation, Node
from servers import console, jobs, placement, runtime
from servers.files.access import file_jobs_under_way
from servers.models import Job, Server
from servers.resources import may_set_resources
from servers.signals import files_changing
from servers.states import set_status, transition
from servers.transfer_archive import MB, ArchiveRefused, ArchiveTooLarge, TreeWalk, differences
from servers.transfer_lease import LIVE, Lease, LeaseLost, claim, take_over
from servers.transfer_plan import Plan, TransferAborted, doing, labelled, plan_of

logger = logging.getLogger(__name__)
S = Server.Status
STALE_AFTER = timedelta(minutes=10)
BEAT_EVERY_BYTES = 64 * MB
# Once the last byte is sent, tar may still be writing what it buffered; it gets this long (not the node
# timeout), well inside the lease, and whoever fails the job kills it before clearing its directory.
UNPACK_EXIT_SECONDS = STALE_AFTER.total_seconds() / 2

# Sent with job_id and step at each step of a transfer; the tests run the reaper from here.
step_reached = Signal()
# Sent with server, source and target (Nodes) once a server is on its target and the transfer is
# committed (outside any transaction); receivers must not raise (backups/transfer.py moves the server's
# local backups, each row committed before its source copy goes).
server_moved = Signal()


def server_transfer(*, server: Server, actor, target: Node, request=None) -> Job:
    """Check the contract's conditions, reserve ports on the target and queue the transfer job."""
    from servers.tasks import server_transfer_task

    if server.node_id == target.pk:
        raise InvalidInput({"target_node_id": ["Server already on target node."]})
    # A node in maintenance takes servers only from staff who may decide placement and name it.
    if not target.is_online or (target.maintenance_mode and not may_set_resources(actor)):
        state = "offline" if not target.is_online else "in maintenance"
        raise InvalidInput(
            {
                "target_node_id": [
                    f"Target node offline or insufficient resources: node '{target.name}' is {state}."
                ]
            }
        )
    if server.status not in (S.STOPPED, S.CRASHED):
        if server.status == S.SUSPENDED:
            transition(server, action="transfer", to=None)  # 423
        raise InvalidInput({"status": ["Server must be stopped."]})
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
            raise InvalidInput(
                {"target_node_id": [f"Target node offline or insufficient resources: {detail}."]}
            )
        transition(server, action="transfer", to=None)  # checks the state, and locks the row
        if file_jobs_under_way(server).exists():  # it would write to the directory being moved
            raise IllegalTransition(
                "An archive, download or plugin job is writing this server's files: transfer once it has finished.",
                current_state=server.status,
            )
        files_changing.send(sender=Server, server=server, action="transfer")
        transition(server, action="transfer", to=S.TRANSFERRING, status_reason="")
        reserved = _reserve(server, node)
        job = jobs.job_create(
            server=server,
            kind=Job.Kind.TRANSFER,
            actor=actor,
            detail={
                "source": str(server.node_id),
                "target": str(node.pk),
                "allocations": [str(a.pk) for a in reserved],
            },
            heartbeat_at=timezone.now(),
        )
        audit(
            "server.transfer",
            actor=actor,
            request=request,
            resource=server,
            fromNode=server.node.name,
            toNode=node.name,
        )
        console.write_on_commit(server.pk, f"Transfer to node {node.name} started.")
        queue(server_transfer_task, server.pk, job.pk)
    return job


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
            raise InvalidInput({"target_node_id": [f"Node '{target.name}' has not enough free ports."]})
        Allocation.objects.filter(pk=choice.pk).update(notes=f"reserved for transfer of {server.pk}")
        reserved.append(choice)
    return reserved


def _step(lease: Lease, step: str) -> None:
    step_reached.send(sender=Job, job_id=lease.job_id, step=step)


def server_transfer_execute(*, server_id: str, job_id: str) -> None:
    """The worker's side: claim the job, then copy, verify, switch and clean up while it stays the owner."""
    lease = claim(job_id)
    if lease is None:
        return  # another delivery, or the reaper, has it
    plan = plan_of(Job.objects.get(pk=job_id))
    try:
        _step(lease, "claimed")
        _prepare(lease, plan)
        _step(lease, "prepared")
        sent = _send(lease, plan)
        _step(lease, "streamed")
        _verify(lease, plan, sent)
        _step(lease, "verified")
        _install(lease, plan)
        _step(lease, "switched")
        _finish(lease, plan)
    except LeaseLost:
        logger.warning("Transfer %s was taken over; this worker stops without touching anything", job_id)
    except Exception as exc:
        reason = str(exc) or exc.__class__.__name__
        try:
            _settle(lease, plan, reason)
        except LeaseLost:
            logger.warning(
                "Transfer %s failed (%s) after it was taken over; leaving it alone", job_id, reason
            )


def _require_moving(server: Server | None, plan: Plan) -> Server:
    if server is None or plan.source is None or plan.target is None:
        raise TransferAborted("the server or one of its nodes was deleted")
    if server.status != S.TRANSFERRING or server.node_id != plan.source.pk:
        raise TransferAborted(f"the server is no longer waiting to move (it is {server.status})")
    return server


def _prepare(lease: Lease, plan: Plan) -> None:
    """Clear what earlier attempts left on the target (killing their tar) and make room for ours."""
    with lease.fenced() as (job, server):
        _require_moving(server, plan)
        lease.beat(progress=5, line=f"Archiving files on {plan.source.name}…")
        # No files session may write while the source is archived.
        client_for(plan.source).remove_files_helper(plan.server_id)
        target = client_for(plan.target)
        with doing("clearing earlier attempts", plan.target):
            target.clear_staging(plan.staging_prefix)
            target.make_directories(plan.staging)
        _refuse_one_directory(plan)
        # From here on the target's server directory is not the source's: a failure may clear it.
        job.detail = {**job.detail, "separate_directories": True}
        job.save(update_fields=["detail"])


def _refuse_one_directory(plan: Plan) -> None:
    """Two nodes on one machine with one data dir would give the server one directory for both copies:
    installing the copy and removing the source would destroy the only one. The staging directory just
    made on the target is unique to this job; if the source sees it too, they share the directory."""
    if plan.source_dir != plan.target_dir:  # other paths: other directories, even on one machine
        return
    with doing("checking the two nodes are two machines", plan.source):
        shared = client_for(plan.source).is_directory(plan.staging)
    if shared:
        raise TransferAborted(
            f"{plan.source.name} and {plan.target.name} share the directory {plan.target.data_dir} (one machine, "
            "one data dir): the copy would replace the source. Give one of the nodes its own data dir."
        )


def _beating(lease: Lease, chunks, *, first: int, span: int, label: str):
    """Pass `chunks` on, renewing the lease (and the progress) every BEAT_EVERY_BYTES."""
    moved, next_beat = 0, BEAT_EVERY_BYTES
    for chunk in chunks:
        moved += len(chunk)
        if moved >= next_beat:
            progress = first + min(span, moved // BEAT_EVERY_BYTES)
            lease.beat(progress=progress, line=f"{label} {moved // MB} MB…")
            next_beat += BEAT_EVERY_BYTES
        yield chunk


def _send(lease: Lease, plan: Plan) -> TreeWalk:
    """Stream the source's tree, rebuilt and capped at the disk limit, into a fresh staging directory."""
    server = Server.objects.get(pk=plan.server_id)
    walk = TreeWalk(limit_bytes=server.allocated_disk_mb * MB)
    source = client_for(plan.source).archive_tree(plan.source_dir)

    def outgoing():
        archive = labelled(source, "archiving the files", plan.source)
        rebuilt = _beating(lease, walk.rebuilt(archive), first=10, span=50, label="Sent")
        for number, chunk in enumerate(rebuilt):
            yield chunk
            if number == 0:
                _step(lease, "streaming")  # the target's tar is running and has data

    try:
        with doing("unpacking", plan.target):
            client_for(plan.target).receive_into_staging(
                plan.staging, outgoing(), exit_timeout=UNPACK_EXIT_SECONDS
            )
    finally:
        source.close()  # a stream that stopped early ends the source's tar too
    skipped = f" (skipped {walk.skipped} special files)" if walk.skipped else ""
    lease.beat(
        progress=65,
        line=f"{walk.apparent_bytes // 1024} KB sent{skipped}; checking the copy on {plan.target.name}.",
    )
    return walk


def _verify(lease: Lease, plan: Plan, sent: TreeWalk) -> None:
    """Read the target's copy back and compare it with what the panel sent, member by member."""
    back = client_for(plan.target).archive_tree(f"{plan.staging}/tree")
    try:
        with doing("reading the copy back", plan.target):
            # Little more than was sent (so a few extra files are still named below): a target cannot
            # make the check read, and hold a manifest of, a tree without end.
            found = TreeWalk(limit_bytes=sent.apparent_bytes + MB).read_all(
                _beating(lease, back, first=65, span=20, label="Checked")
            )
    except ArchiveTooLarge as exc:
        raise TransferAborted(
            f"the copy on {plan.target.name} holds more than was sent (passed at '{exc.at}')"
        ) from exc
    except ArchiveRefused as exc:
        raise TransferAborted(f"the target's copy could not be checked: {exc}") from exc
    finally:
        back.close()
    wrong = differences(sent.manifest, found)
    if wrong:
        raise TransferAborted(
            f"the copy on {plan.target.name} does not match what was sent ({'; '.join(wrong)})"
        )
    lease.beat(progress=85, line=f"The copy on {plan.target.name} matches, file by file; switching over.")


def _install(lease: Lease, plan: Plan) -> None:
    """Move the checked copy into place and point the server at the target, all under the lease."""
    with lease.fenced() as (job, server):
        server = _require_moving(server, plan)
        target = client_for(plan.target)
        with doing("moving the copy into place", plan.target):
            target.install_staged(plan.staging, plan.target_dir)
            if target.is_local:
                target.chown_tree(settings.CONTAINER_USER, plan.target_dir)
        _step(lease, "installing")
        _switch(server, job, plan.target)  # a failure here rolls the switch back: the server stays put


def _finish(lease: Lease, plan: Plan) -> None:
    with lease.fenced() as (job, server):
        if server is None or server.node_id != plan.target.pk:
            raise TransferAborted("the server is not on the target after the switch")
        _step(lease, "finishing")
        _complete(job, plan)
    _move_backups(plan)  # committed: the server is on the target for good


def _switch(server: Server, job: Job, target: Node) -> None:
    """Point the server at the target and create its container there, in one transaction. The server
    stays transferring until the source is gone, so nothing can start, move or restore it meanwhile."""
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
        runtime.ensure_container(client_for(target), moved)
        jobs.job_progress(job.pk, 95)
        console.write(server.pk, f"Server moved to {target.name}; removing the copy on its old node.")


def _ordered(queryset, ids: list[str]) -> list[Allocation]:
    by_id = {str(a.pk): a for a in queryset}
    return [by_id[i] for i in ids]


def _complete(job: Job, plan: Plan) -> None:
    """(Fenced, server on the target.) Remove the source's copy; the target's was checked before the switch."""
    server = Server.objects.select_related("template").get(pk=plan.server_id)
    try:
        if plan.source is None:
            raise RuntimeError("its node was deleted")
        runtime.destroy(
            client_for(plan.source), Server(pk=server.pk, node=plan.source, template=server.template)
        )
    except Exception as exc:
        console.write(
            server.pk, f"The old copy on its old node could not be removed ({exc}); remove it by hand."
        )
    set_status(server.pk, S.STOPPED, expect={S.TRANSFERRING}, status_reason="")
    jobs.job_succeeded(job.pk)
    console.write(server.pk, f"Transfer to {plan.target.name} complete.")


def _move_backups(plan: Plan) -> None:
    """Whatever else lives on the old node for this server follows it now (its node-local backups:
    backups/transfer.py listens). Called once the switch is committed, outside the fenced
    transaction: a receiver's own writes commit as it goes and it deletes a source copy only after,
    so a rollback or a dead worker never loses what it moved (what it did not move stays where its
    rows still point)."""
    server = Server.objects.select_related("node", "template").filter(pk=plan.server_id).first()
    if plan.source is not None and server is not None and server.node_id == plan.target.pk:
        server_moved.send(sender=Server, server=server, source=plan.source, target=plan.target)


def _settle(lease: Lease, plan: Plan, reason: str) -> None:
    """End a job that cannot go on, as its owner: complete it if the switch happened, else undo it."""
    with lease.fenced() as (job, server):
        switched = server is not None and plan.target is not None and server.node_id == plan.target.pk
        if switched:
            _complete(job, plan)
        else:
            _undo(job, server, plan, reason)
    if switched:
        _move_backups(plan)


def _undo(job: Job, server: Server | None, plan: Plan, reason: str) -> None:
    """(Fenced, server not on the target.) Release the target's ports, remove its copy, stop the server
    where it was."""
    Allocation.objects.filter(pk__in=job.detail.get("allocations", []), server__isnull=True).update(notes="")
    if plan.target is not None and plan.server_id:
        try:
            copy = (
                [plan.target_dir] if job.detail.get("separate_directories") else []
            )  # else it is the source
            client_for(plan.target).clear_staging(plan.staging_prefix, *copy)
        except Exception:  # unreachable: the next transfer there starts by clearing the same places
            logger.warning(
                "Could not clean up the failed transfer of %s on %s", plan.server_id, plan.target.name
            )
    if server is not None:
        set_status(server.pk, S.STOPPED, expect={S.TRANSFERRING}, status_reason=f"Transfer failed: {reason}")
        console.write(server.pk, f"Transfer failed: {reason}. The server is still on its old node.")
    jobs.job_failed(job.pk, reason)


def transfers_reap(*, now: datetime | None = None) -> int:
    """Take over transfers whose owner has been quiet for STALE_AFTER (as of `now`) and settle them:
    failed if the switch had not happened, completed if it had. Beat runs this."""
    cutoff = (now or timezone.now()) - STALE_AFTER
    quiet = (
        Job.objects.filter(kind=Job.Kind.TRANSFER, status__in=LIVE)
        .annotate(last_sign=Coalesce("heartbeat_at", "started_at", "created_at"))
        .filter(last_sign__lt=cutoff)
        .values_list("pk", flat=True)
    )
    reaped = 0
    for job_id in list(quiet):
        lease = take_over(job_id, cutoff=cutoff)
        if lease is None:
            continue
        try:
            _settle(
                lease,
                plan_of(Job.objects.get(pk=job_id)),
                "The worker stopped responding during the transfer.",
            )
        except LeaseLost:
            continue
        reaped += 1
    return reaped
