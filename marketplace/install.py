"""Installing and updating plugins, mods and datapacks: the plan is made and checked when asked
(marketplace/plan.py: 409 for a conflict, before any job exists), then a job (kind plugin) downloads
every file of it into a hidden staging name beside its target, verified (marketplace/download.py), and
only when all of them are in renames them into place and removes the files they replace. A failure at
any point removes what was staged: the server's files are as they were."""

import logging
import secrets

from django.db import transaction

from accounts.audit import audit
from config.errors import refusal_text
from config.tasks import queue
from marketplace.download import download
from marketplace.models import InstalledPlugin
from marketplace.plan import Plan, Step, install_plan, refuse_conflicts
from marketplace.sources import get_source
from nodes.client import FileRefused
from servers import console, jobs
from servers.files import paths, quota
from servers.files.access import check_files_access, file_job_create
from servers.files.denylist import check_writable, for_server
from servers.files.helper import session
from servers.files.service import Place, make_parents
from servers.files.transfer import refused
from servers.models import Job, Server

logger = logging.getLogger(__name__)
DISABLED = ".disabled"
STAGING = ".hearth-part"


def marketplace_install(*, server: Server, actor, request=None, **choice) -> tuple[Job, Plan]:
    """Plan the install (see install_plan's arguments) and queue it as a job; (job, plan)."""
    plan = install_plan(server=server, **choice)
    refuse_conflicts(plan.conflicts)
    first = plan.steps[0]
    action = "modpack" if first.project_type == "modpack" else "install"
    job = plugin_job_queue(server=server, actor=actor, action=action, plan=plan)
    audit(
        f"plugin.{action}",
        actor=actor,
        request=request,
        resource=server,
        source=first.source,
        project=first.project_id,
        version=first.version_id,
        files=[step.path for step in plan.steps],
    )
    return job, plan


def plugin_job_queue(*, server: Server, actor, action: str, plan: Plan) -> Job:
    """A pending plugin job for `plan`, queued when the transaction commits (409 past the server's
    limit of file jobs)."""
    from marketplace.tasks import marketplace_job_task

    with transaction.atomic():
        job = file_job_create(
            server=server,
            kind=Job.Kind.PLUGIN,
            actor=actor,
            detail={"action": action, "plan": plan.as_dict()},
        )
        queue(marketplace_job_task, server.pk, job.pk)
    return job


def marketplace_job_execute(*, server_id, job_id) -> None:
    """Carry out a plugin job's plan. Safe to deliver twice (the claim)."""
    from marketplace.modpack import modpack_install

    if (claimed := jobs.job_claimed_with_server(job_id, server_id)) is None:
        return
    job, server = claimed
    steps = [Step(**step) for step in job.detail["plan"]["steps"]]
    try:
        check_files_access(job.actor, server, "file.write")  # again: the member may have lost it since
        if job.detail["action"] == "modpack":
            written = modpack_install(server, job, steps[0])
        else:
            written = write_steps(server, job, steps)
            record_steps(server, job, steps)
    except Exception as exc:
        reason = refusal_text(exc) or exc.__class__.__name__
        logger.info("Plugin job %s on %s failed: %s", job_id, server_id, reason)
        console.write(server_id, f"Installing {steps[0].project_name} failed: {reason}")
        return jobs.job_failed(job_id, reason)
    jobs.job_log(job_id, [f"Wrote {path}." for path in written])
    console.write(server_id, f"Installed {', '.join(f'{s.project_name} {s.version_name}' for s in steps)}.")
    jobs.job_succeeded(job_id)


def write_steps(server: Server, job: Job, steps: list) -> list:
    """Download every step's file to its staging name, then move them all into place; the paths written."""
    mount = server.template.data_path
    budget = quota.budget(server, incoming=sum(step.size or 0 for step in steps))
    with session(server) as files, staged(files, mount) as stage:
        for number, step in enumerate(steps):
            jobs.job_progress(job.pk, number * 90 // len(steps), step=f"downloading {step.filename}")
            directory = Place(server, step.directory)
            make_parents(files, directory.child("file"))
            if not files.exists(directory.inside):
                files.mkdir(directory.inside)
            final = Place(server, step.path + (DISABLED if step.disabled else ""))
            if for_server(server):
                check_writable(files, final.inside)
            with download(
                get_source(step.source), step.url, filename=step.filename, hashes=step.hashes, size=step.size
            ) as verified:
                stage.write(final.inside, budget.metered(verified))
            step.hashes = {**step.hashes, **verified.digests}
            step.size = verified.received
        jobs.job_progress(job.pk, 95, step="moving into place")
        stage.commit()
        for step in steps:
            _remove_replaced(files, server, step)
    return [step.path for step in steps]


def _remove_replaced(files, server: Server, step: Step) -> None:
    """The file an update replaced, enabled or disabled, unless the new one has its name."""
    if not step.replaces:
        return
    written = step.path + (DISABLED if step.disabled else "")
    for old in (step.replaces, step.replaces + DISABLED):
        if old != written:
            place = Place(server, old)
            if files.exists(place.inside):
                files.remove(place.inside)


def record_steps(server: Server, job: Job, steps: list) -> None:
    with transaction.atomic():
        for step in steps:
            if step.replaces and step.replaces != step.path:
                InstalledPlugin.objects.filter(server=server, path=step.replaces).delete()
            InstalledPlugin.objects.update_or_create(
                server=server,
                path=step.path,
                defaults={
                    "origin": InstalledPlugin.Origin.INSTALLED,
                    "source": step.source,
                    "project_id": step.project_id,
                    "project_name": step.project_name,
                    "project_type": step.project_type,
                    "version_id": step.version_id,
                    "version_name": step.version_name,
                    "size": step.size or 0,
                    "hashes": step.hashes,
                    "dependencies": step.dependencies,
                    "latest_version_id": "",
                    "latest_version_name": "",
                    "installed_by": job.actor,
                },
            )


class staged:
    """Files written under staging names beside their targets, moved into place by commit(); on
    leaving without commit (an error), every staged file is removed."""

    def __init__(self, files, mount: str):
        self.files, self.mount = files, mount
        self.pending: list[tuple[str, str]] = []
        self.done = False

    def __enter__(self):
        return self

    def write(self, final: str, chunks) -> int:
        directory, name = final.rsplit("/", 1)
        # A name of this install's own: two installs of one file at once never write into each other's
        # staged copy (and move the other's half-written file into place).
        staging = f"{directory}/.{name}.{secrets.token_hex(4)}{STAGING}"
        self.pending.append((staging, final))
        try:
            return self.files.write(staging, chunks)
        except FileRefused as exc:
            raise refused(exc, self.mount) from exc

    def commit(self) -> None:
        for staging, final in self.pending:
            self.files.replace(staging, final)
        self.done = True

    def __exit__(self, kind, error, trace):
        if self.done:
            return
        for staging, _final in self.pending:
            try:
                if self.files.exists(staging):
                    self.files.remove(staging)
            except Exception:  # the session itself broke: the helper's next cleanup has them
                logger.warning("Could not remove the staged %s", paths.outside(self.mount, staging))
