"""Every change to templates goes through here (API, admin, bootstrap), validated and audited."""

import logging

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from accounts.audit import audit
from config.errors import IllegalTransition, InvalidInput
from templates_app.models import Template, TemplateVariable
from templates_app.shell_words import is_code_env_name
from templates_app.startup import startup_problems
from templates_app.variables import canonical_name, placeholders

logger = logging.getLogger(__name__)

VARIABLE_FIELDS = (
    "env_variable",
    "name",
    "description",
    "default_value",
    "user_viewable",
    "user_editable",
    "rules",
)
API_NAMES = {
    "config_files": "config_file_rules",
    "features": "egg_features",
    NON_FIELD_ERRORS: "non_field_errors",
}


def _errors(exc: DjangoValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {API_NAMES.get(field, field): messages for field, messages in exc.message_dict.items()}
    return {"non_field_errors": exc.messages}


def code_problems(template: Template, rows: list[TemplateVariable] | None) -> dict[str, list[str]]:
    """Places where a customer's value would become code: in the start command (templates_app.startup),
    or as a variable the dynamic loader or a shell reads (LD_PRELOAD, BASH_ENV…) that customers edit."""
    if rows is None:
        rows = list(template.variables.all()) if template.pk and not template._state.adding else []
    errors: dict[str, list[str]] = {}
    if problems := startup_problems(template, rows):
        errors["start_command"] = problems
    loaders = sorted(v.env_variable for v in rows if v.user_editable and is_code_env_name(v.env_variable))
    if loaders:
        errors["variables"] = [
            f"{name} is read by the dynamic loader or a shell as code or a place to load code from; "
            "customers may not edit it (set it not user-editable)."
            for name in loaders
        ]
    if problems := _environment_code_problems(template.environment, rows):
        errors["environment"] = problems
    return errors


def _environment_code_problems(environment, rows: list[TemplateVariable]) -> list[str]:
    """An `environment` entry the loader or a shell reads as code (`{"LD_PRELOAD": "{{JAR}}"}`) whose
    value holds a customer-editable variable: the customer would choose the code. Names are compared
    without case, as a placeholder of `jar` and one of `JAR` are one variable to some panels."""
    editable = {v.env_variable.lower() for v in rows if v.user_editable}
    problems = []
    for key, value in (environment or {}).items() if isinstance(environment, dict) else []:
        if not is_code_env_name(str(key)):
            continue
        used = [name for raw in placeholders(str(value)) if (name := canonical_name(raw))]
        if bad := [name for name in used if name.lower() in editable]:
            problems.append(
                f"{key} is read by the dynamic loader or a shell as code or a place to load code from; "
                f"its value may not hold a variable customers edit ({', '.join(dict.fromkeys(bad))})."
            )
    return problems


@transaction.atomic
def template_save(*, template: Template, variables: list[dict] | None = None) -> Template:
    """Validate and save a template; a `variables` list replaces all its variables (None keeps them)."""
    errors: dict = {}
    try:
        template.full_clean(validate_constraints=False)
    except DjangoValidationError as exc:
        errors.update(_errors(exc))
    rows: list[TemplateVariable] = []
    if variables is not None:
        problems, seen = [], set()
        for index, data in enumerate(variables):
            row = TemplateVariable(
                template=template, sort_order=index, **{k: v for k, v in data.items() if k in VARIABLE_FIELDS}
            )
            try:
                row.full_clean(exclude=["template"], validate_unique=False, validate_constraints=False)
                problem = {}
            except DjangoValidationError as exc:
                problem = _errors(exc)
            if row.env_variable in seen:
                problem.setdefault("env_variable", []).append(f"{row.env_variable} is declared twice.")
            seen.add(row.env_variable)
            problems.append(problem)
            rows.append(row)
        if any(problems):
            errors["variables"] = problems
    if not errors:
        errors.update(code_problems(template, rows if variables is not None else None))
    if errors:
        raise InvalidInput(errors)
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError as exc:
        raise InvalidInput({"name": ["A template with this name already exists."]}) from exc
    if variables is not None:
        template.variables.all().delete()
        TemplateVariable.objects.bulk_create(rows)
    return template


@transaction.atomic
def template_create(
    *, actor, request=None, variables: list[dict] | None = None, via: str = "api", **fields
) -> Template:
    template = template_save(template=Template(**fields), variables=variables or [])
    audit("template.create", actor=actor, request=request, resource=template, name=template.name, via=via)
    return template


@transaction.atomic
def template_update(
    *,
    actor,
    template: Template,
    request=None,
    variables: list[dict] | None = None,
    via: str = "api",
    **changes,
) -> Template:
    for field, value in changes.items():
        setattr(template, field, value)
    template_save(template=template, variables=variables)
    changed = sorted(changes) + (["variables"] if variables is not None else [])
    audit("template.update", actor=actor, request=request, resource=template, changes=changed, via=via)
    return template


@transaction.atomic
def template_delete(*, actor, template: Template, request=None, via: str = "api") -> None:
    audit("template.delete", actor=actor, request=request, resource=template, name=template.name, via=via)
    try:
        with transaction.atomic():
            template.delete()
    except ProtectedError as exc:
        raise IllegalTransition("Servers still use this template; move or delete them first.") from exc


@transaction.atomic
def template_import(
    *, actor, data, filename: str | None = None, replace: bool = False, request=None, via: str = "api"
) -> tuple[Template, list[str]]:
    """Import an egg (see templates_app.eggs) and record it in the audit log with its warnings."""
    from templates_app.eggs import egg_import

    template, warnings = egg_import(data, filename=filename, replace=replace)
    audit(
        "template.import",
        actor=actor,
        request=request,
        resource=template,
        name=template.name,
        source=template.source,
        filename=filename or "",
        replace=replace,
        warnings=warnings,
        via=via,
    )
    return template, warnings


@transaction.atomic
def template_duplicate(*, actor, template: Template, request=None, via: str = "admin") -> Template:
    """A copy named "<name> (copy)", "<name> (copy 2)"…, with the same variables."""
    base = f"{template.name[:90]} (copy"
    name, n = f"{base})", 1
    while Template.objects.filter(name__iexact=name).exists():
        n += 1
        name = f"{base} {n})"
    fields = {
        f.name: getattr(template, f.name)
        for f in Template._meta.concrete_fields
        if f.name not in ("id", "name", "created_at", "updated_at")
    }
    variables = [{k: getattr(v, k) for k in VARIABLE_FIELDS} for v in template.variables.all()]
    copy = template_save(template=Template(name=name, **fields), variables=variables)
    audit(
        "template.create",
        actor=actor,
        request=request,
        resource=copy,
        name=name,
        duplicated_from=str(template.pk),
        via=via,
    )
    return copy


def templates_install_catalogue() -> list[str]:
    """Create the stock templates that are missing (by name); never touches existing ones. Returns the names made."""
    from templates_app import stock
    from templates_app.eggs import egg_import, egg_parse

    made = []
    for definition in stock.TEMPLATES:
        definition = {**definition}
        if Template.objects.filter(name__iexact=definition["name"]).exists():
            continue
        variables = definition.pop("variables", [])
        template_create(actor=None, variables=variables, via="catalogue", **definition)
        made.append(definition["name"])
    for path in sorted(stock.EGG_DIR.glob("*.json")):
        data = path.read_bytes()
        fields, _, _ = egg_parse(data, filename=path.name)
        if Template.objects.filter(name__iexact=fields["name"]).exists():
            continue
        with transaction.atomic():
            template, warnings = egg_import(data, filename=path.name)
            audit(
                "template.import",
                resource=template,
                name=template.name,
                filename=path.name,
                warnings=warnings,
                via="catalogue",
            )
        made.append(template.name)
    if made:
        logger.info("Installed stock templates: %s", ", ".join(made))
    return made
