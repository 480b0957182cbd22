"""What an egg's `features` do in Hearth. The web UI watches the console for the lines below (matched as
Pterodactyl's panel does: lower-cased, anywhere in the line) and offers what fixes them:

- eula: a one-click accept on a stopped server (server_accept_eula: `eula=true` in eula.txt, then a start);
- java_version: the template's other images (chosen with the usual image change, PATCH dockerImage,
  then a start);
- pid_limit, steam_disk_space, gsl_token: a message saying what happened and who can fix it.

The patterns live here, once, and reach the page in its page data."""

from django.db import transaction

from accounts.audit import audit
from accounts.permissions import can
from config.errors import IllegalTransition
from servers.files import service as files
from servers.files.access import check_files_access
from servers.lifecycle.power import server_start
from servers.models import Job, Server
from servers.states import ALLOWED_FROM

EULA_FILE = "/eula.txt"
START_FROM = ALLOWED_FROM["start"]

# feature → console text (lower case) that means the feature's offer applies (Pterodactyl's lists).
CONSOLE_PATTERNS: dict[str, list[str]] = {
    "eula": ["you need to agree to the eula in order to run the server"],
    "java_version": [
        "minecraft 1.17 requires running the server with java 16 or above",
        "minecraft 1.18 requires running the server with java 17 or above",
        "java.lang.unsupportedclassversionerror",
        "unsupported major.minor version",
        "has been compiled by a more recent version of the java runtime",
    ],
    "pid_limit": [
        "pthread_create failed",
        "failed to create thread",
        "unable to create thread",
        "unable to create native thread",
        "unable to create new native thread",
        'exception in thread "craft async scheduler management thread"',
    ],
    "steam_disk_space": ["steamcmd needs 250mb of free disk space to update", "0x202 after update job"],
    "gsl_token": ["(gsl token expired)", "(account not found)"],
}


def has_feature(server: Server, feature: str) -> bool:
    """Features compare without case, as Pterodactyl's panel compares them."""
    return feature in {str(name).lower() for name in server.template.features or []}


def offers(server: Server) -> dict[str, list[str]]:
    """The console patterns of the features this server's template has."""
    return {name: patterns for name, patterns in CONSOLE_PATTERNS.items() if has_feature(server, name)}


def server_accept_eula(*, server: Server, actor, request=None) -> Job:
    """Accept the game's EULA for the customer: `eula=true` written to eula.txt in the server's files
    (through the files service, so containment, the disk limit and the audit of the write hold), then
    the server started. Only a stopped or crashed server: the EULA line is the game's last before it
    exits, and accepting must never stop or restart a running game for a member who may only start it
    (409 otherwise). Everything that could refuse is checked before the file is written: the file
    permission and a suspension (check_files_access: 403, 423), the feature and the state (409); the
    caller has checked server.start.

    The start is accepted first (the state moves to starting under the row's lock) and the file written
    in the same transaction: a start refused meanwhile writes nothing, and a write that fails undoes the
    start (no job is queued before the commit). Left: a commit failing after the write, which keeps an
    eula.txt the customer asked for anyway."""
    check_files_access(actor, server, "file.write")
    if not has_feature(server, "eula"):
        raise IllegalTransition(
            "This server's template has no EULA to accept (it lacks the eula feature).",
            current_state=server.status,
        )
    if server.status not in START_FROM:
        raise IllegalTransition(
            f"The server is {server.status}: the EULA is accepted once it has stopped.",
            current_state=server.status,
        )
    with transaction.atomic():
        job = server_start(server=server, actor=actor, request=request)
        files.file_write_text(
            server=server, actor=actor, path=EULA_FILE, content="eula=true\n", request=request
        )
        audit("server.eula_accepted", actor=actor, request=request, resource=server, path=EULA_FILE)
    return job


def _last_start_at(server: Server) -> str | None:
    """When the last start or restart was requested, as the console stamps its lines: the page ignores
    the replayed lines of earlier runs."""
    stamp = (
        Job.objects.filter(server=server, kind=Job.Kind.POWER, detail__action__in=["start", "restart"])
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    return stamp and stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def page_data(user, server: Server) -> dict:
    """What the server page's feature offers need (webui/static/webui/js/features.js): every pattern
    (the page learns which features the template has from the server detail), the images a customer
    may switch to, which offers this user may act on, as the API will decide, and when the current
    run began."""
    template = server.template
    images = [{"label": label, "image": image} for label, image in (template.docker_images or {}).items()]
    if template.docker_image not in {entry["image"] for entry in images}:
        images.insert(0, {"label": "Default", "image": template.docker_image})
    start = can(user, "server.start", server)
    return {
        "patterns": CONSOLE_PATTERNS,
        "lastStartAt": _last_start_at(server),
        "images": images,
        "dockerImage": server.docker_image,
        "may": {
            "eula": start and can(user, "file.write", server),
            "image": start and can(user, "server.update", server),
            "resources": can(user, "server.resources", server),
        },
    }
