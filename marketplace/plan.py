"""What installing a project means on one server, worked out before anything is written: the version
that fits the server (its loader and game version), the required dependencies that come with it (each
at a version that fits, recursively), the optional ones offered, and the conflicts that refuse it (an
installed project the new one is incompatible with, or the other way round)."""

from dataclasses import asdict, dataclass, field

from django.conf import settings

from config.errors import Conflict, InvalidInput
from marketplace.models import InstalledPlugin
from marketplace.sources import get_source
from marketplace.sources.base import SourceNotFound, within
from marketplace.target import Target, compatible, directory_for, server_target
from servers.files import paths

MAX_DEPENDENCIES = 20  # projects one install may bring in, dependencies of dependencies included
FILE_SUFFIXES = (".jar", ".zip", ".mrpack")
# What InstalledPlugin keeps of a source's words (longer names are cut, longer ids refused).
ID_CHARS, NAME_CHARS, VERSION_CHARS = 64, 200, 100


def recordable(version) -> bool:
    """Whether a version's ids fit what the panel records of it (a source's word is not trusted)."""
    return (
        version is not None and len(str(version.id)) <= ID_CHARS and len(str(version.project_id)) <= ID_CHARS
    )


@dataclass
class Step:
    """One file to write: which version of which project, where, verified against which hashes."""

    source: str
    project_id: str
    project_name: str
    project_type: str
    version_id: str
    version_name: str
    url: str
    filename: str
    directory: str
    size: int | None = None
    hashes: dict = field(default_factory=dict)
    dependencies: list = field(default_factory=list)  # [{"projectId", "kind"}]
    reason: str = "requested"  # or "dependency of <name>", "update"
    replaces: str = ""  # the customer path of the file this one replaces, if any
    disabled: bool = False  # written as <name>.disabled (an update of a disabled file)

    @property
    def path(self) -> str:
        return f"{self.directory.rstrip('/')}/{self.filename}"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Plan:
    """The steps of an install, and what the customer is told beside them."""

    steps: list
    optional: list = field(default_factory=list)  # [{"projectId", "name", "source"}]: offered, not installed
    conflicts: list = field(default_factory=list)  # messages; any refuses the install
    target: Target = field(default_factory=Target)

    def as_dict(self) -> dict:
        return {
            "steps": [step.as_dict() for step in self.steps],
            "optional": self.optional,
            "conflicts": self.conflicts,
            "loader": self.target.loader,
            "game_version": self.target.game_version,
        }


def refuse_conflicts(conflicts: list) -> None:
    """409 naming every conflict (also listed in the answer's `conflicts`), when there is any."""
    if conflicts:
        raise Conflict(" ".join(conflicts), conflicts=conflicts)


def describe(target: Target) -> str:
    return " ".join(part for part in (target.loader, target.game_version) if part) or "this server"


def fitting_versions(source, project_id: str, target: Target, *, fresh: bool = False) -> list:
    """The project's versions that fit the server, newest first (downloadable or not)."""
    versions = source.versions(project_id, loads=target.loads, game_version=target.game_version, fresh=fresh)
    return [v for v in versions if compatible(v, loads=target.loads, game_version=target.game_version)]


def best_version(source, project_id: str, target: Target, *, fresh: bool = False):
    """The newest version of the project that fits the server and can be downloaded, or None."""
    return next(
        (v for v in fitting_versions(source, project_id, target, fresh=fresh) if v.downloadable), None
    )


def chosen_version(source, project, version_id: str | None, target: Target):
    """The version asked for (checked against the server), or the best one; Conflict (409) otherwise."""
    if version_id:
        version = source.version(project.id, version_id)
        if not compatible(version, loads=target.loads, game_version=target.game_version):
            raise Conflict(
                f"{project.name} {version.name} is for {', '.join(version.loaders) or 'any loader'} on "
                f"{', '.join(version.game_versions) or 'any version'}; the server runs {describe(target)}."
            )
    else:
        fitting = fitting_versions(source, project.id, target)
        if not fitting:
            raise Conflict(f"No version of {project.name} fits {describe(target)}.")
        version = next((v for v in fitting if v.downloadable), fitting[0])
    if not version.downloadable:
        raise Conflict(f"{project.name} {version.name} cannot be installed by the panel: {version.why_not}")
    return version


def step_for(project, version, *, reason: str, target: Target) -> Step:
    """The version's file as a Step into the project type's directory; 400 for a file name that is not a
    plain name of a plugin, mod or archive (the source's word is not trusted)."""
    filename = version.file.filename if version.file else ""
    try:
        paths.name(filename, field="filename")
    except InvalidInput as exc:
        raise Conflict(
            f"{project.name} {version.name} has a file name the panel refuses: {filename!r}."
        ) from exc
    if not filename.lower().endswith(FILE_SUFFIXES):
        raise Conflict(f"{project.name} {version.name} is not a .jar or .zip file ({filename!r}).")
    if len(str(project.id)) > ID_CHARS or not recordable(version):
        raise Conflict(f"{project.source} sent an id longer than {ID_CHARS} characters: refused.")
    return Step(
        source=project.source,
        project_id=project.id,
        project_name=project.name[:NAME_CHARS],
        project_type=project.project_type,
        version_id=version.id,
        version_name=version.name[:VERSION_CHARS],
        url=version.file.url,
        filename=filename,
        directory=directory_for(project.project_type, target.loader),
        size=version.file.size,
        hashes=dict(version.file.hashes),
        dependencies=[{"projectId": d.project_id, "kind": d.kind} for d in version.dependencies],
        reason=reason,
    )


def install_plan(**choice) -> Plan:
    """The plan for installing the project into the server (see _plan); Conflict (409) when it cannot
    be; the sources' calls take MARKETPLACE_REQUEST_SECONDS in all at most."""
    with within(settings.MARKETPLACE_REQUEST_SECONDS):
        return _plan(**choice)


def _plan(
    *, server, source: str, project_id: str, version_id: str | None = None, dependencies: bool = True
) -> Plan:
    origin = get_source(source)
    target = server_target(server)
    project = origin.project(project_id)
    version = chosen_version(origin, project, version_id, target)
    installed = {(p.source, p.project_id): p for p in InstalledPlugin.objects.filter(server=server)}
    plan = Plan(steps=[step_for(project, version, reason="requested", target=target)], target=target)
    if existing := installed.get((origin.name, project.id)):
        plan.steps[0].replaces = existing.path
    queue = [(project, version)] if dependencies else []
    while queue:
        parent, parent_version = queue.pop(0)
        for dependency in parent_version.dependencies:
            _follow(origin, plan, installed, queue, parent, dependency, target)
    if not dependencies:
        plan.optional = [
            {"projectId": d.project_id, "name": d.name, "source": origin.name, "kind": d.kind}
            for d in version.dependencies
            if d.kind == "required"
        ]
    plan.conflicts += _conflicts(plan, installed)
    return plan


def _follow(origin, plan: Plan, installed: dict, queue: list, parent, dependency, target: Target) -> None:
    planned = {step.project_id for step in plan.steps}
    if dependency.kind == "incompatible" or dependency.project_id in planned:
        return
    if (origin.name, dependency.project_id) in installed:
        return
    if dependency.kind == "optional":
        plan.optional.append(
            {
                "projectId": dependency.project_id,
                "name": dependency.name,
                "source": origin.name,
                "kind": "optional",
            }
        )
        return
    if not dependency.project_id:  # required, but somewhere the panel cannot install from
        plan.conflicts.append(f"{parent.name} needs {dependency.name}, which must be installed by hand.")
        return
    if len(plan.steps) > MAX_DEPENDENCIES:
        plan.conflicts.append(
            f"{plan.steps[0].project_name} needs more than {MAX_DEPENDENCIES} other projects."
        )
        return
    try:
        project = origin.project(dependency.project_id)
        version = (
            origin.version(project.id, dependency.version_id)
            if dependency.version_id
            else best_version(origin, project.id, target)
        )
    except SourceNotFound:
        plan.conflicts.append(
            f"{parent.name} needs a project {origin.label} no longer has ({dependency.project_id})."
        )
        return
    if version is None or not version.downloadable:
        plan.conflicts.append(
            f"{parent.name} needs {project.name}, which has no installable version for {describe(target)}."
        )
        return
    plan.steps.append(step_for(project, version, reason=f"needed by {parent.name}", target=target))
    queue.append((project, version))


def _conflicts(plan: Plan, installed: dict) -> list:
    """Incompatibilities either way between what the plan writes and what the server has."""
    found = []
    planned = {(step.source, step.project_id): step for step in plan.steps}
    for step in plan.steps:
        for dependency in step.dependencies:
            if dependency["kind"] == "incompatible" and (
                other := installed.get((step.source, dependency["projectId"]))
            ):
                found.append(
                    f"{step.project_name} is incompatible with {other.project_name}, which is installed ({other.path})."
                )
    for plugin in installed.values():
        for dependency in plugin.dependencies:
            if dependency.get("kind") == "incompatible" and (
                step := planned.get((plugin.source, dependency.get("projectId")))
            ):
                found.append(
                    f"{plugin.project_name} ({plugin.path}) is incompatible with {step.project_name}."
                )
    return found
