"""Staff changes to roles and users.

Nobody can hand out a permission they do not hold themselves, and nobody can change (details,
password, roles, active flag, sessions, two-factor) or delete a user who holds a permission they
do not hold: `admin.write` alone does not reach an Administrator.
"""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction

from accounts.audit import audit
from accounts.models import Role, User
from accounts.permissions import CATALOGUE, global_permissions, grants, unknown
from accounts.services import sessions_revoke_all, user_create_unique
from config import realtime
from config.errors import InvalidInput, NotAllowed


def _check_grantable(actor: User, permissions: list[str]) -> None:
    if bad := unknown(permissions):
        raise InvalidInput({"permissions": [f"Unknown permissions: {', '.join(bad)}"]})
    held = global_permissions(actor)
    if beyond := [p for p in permissions if not grants(held, p)]:
        raise NotAllowed(f"You cannot grant permissions you do not hold: {', '.join(beyond)}")


def permissions_beyond(actor: User, target: User) -> list[str]:
    """What `target` holds and `actor` does not (catalogue entries, wildcards expanded)."""
    if target.pk == actor.pk:
        return []
    held = global_permissions(actor)
    # From the roles as stored, active or not: a deactivated Administrator is still one to reactivate.
    target = User.objects.prefetch_related("roles").get(pk=target.pk)
    theirs = {"*"} if target.is_superuser else {p for role in target.roles.all() for p in role.permissions}
    return [p for p in CATALOGUE if grants(theirs, p) and not grants(held, p)]


def may_manage(actor: User, target: User) -> bool:
    return not permissions_beyond(actor, target) and (actor.is_superuser or not target.is_superuser)


def check_may_manage(actor: User, target: User) -> None:
    """403 unless `actor` holds every permission `target` holds (and is a superuser for a superuser)."""
    if target.is_superuser and not actor.is_superuser and target.pk != actor.pk:
        raise NotAllowed("Only a superuser can change a superuser.")
    if beyond := permissions_beyond(actor, target):
        raise NotAllowed(
            "You cannot change a user who holds permissions you do not hold: " + ", ".join(beyond)
        )


def grant_refusal(actor: User, permissions: list[str]) -> str:
    """Why `actor` may not grant `permissions` ("" when they may): for forms that show the reason."""
    try:
        _check_grantable(actor, permissions)
    except InvalidInput as exc:
        return str(next(iter(exc.fields.values()))[0])
    except NotAllowed as exc:
        return exc.message
    return ""


def _check_roles_grantable(actor: User, roles: list[Role]) -> None:
    _check_grantable(actor, sorted({p for role in roles for p in role.permissions}))


def _check_password(password: str, field: str = "password") -> None:
    try:
        validate_password(password)
    except DjangoValidationError as exc:
        raise InvalidInput({field: list(exc.messages)}) from exc


@transaction.atomic
def role_create(*, actor: User, name: str, permissions: list[str], request=None, **fields) -> Role:
    _check_grantable(actor, permissions)
    if Role.objects.filter(name__iexact=name).exists():
        raise InvalidInput({"name": ["A role with this name already exists."]})
    role = Role.objects.create(name=name, permissions=permissions, **fields)
    audit("role.create", actor=actor, request=request, resource=role, name=name, permissions=permissions)
    return role


@transaction.atomic
def role_update(*, actor: User, role: Role, request=None, **changes) -> Role:
    if "permissions" in changes:
        _check_grantable(actor, changes["permissions"])
    _check_roles_grantable(actor, [role])  # editing a role you couldn't grant would be an escalation too
    name = changes.get("name")
    if name and Role.objects.filter(name__iexact=name).exclude(pk=role.pk).exists():
        raise InvalidInput({"name": ["A role with this name already exists."]})
    for field, value in changes.items():
        setattr(role, field, value)
    role.save()
    realtime.access_changed(*(realtime.user_group(pk) for pk in role.users.values_list("pk", flat=True)))
    audit("role.update", actor=actor, request=request, resource=role, changes=sorted(changes))
    return role


@transaction.atomic
def role_delete(*, actor: User, role: Role, request=None) -> None:
    _check_roles_grantable(actor, [role])
    audit(
        "role.delete", actor=actor, request=request, resource=role, name=role.name, users=role.users.count()
    )
    realtime.access_changed(*(realtime.user_group(pk) for pk in role.users.values_list("pk", flat=True)))
    role.delete()


@transaction.atomic
def user_create(
    *, actor: User, email: str, username: str, password: str, roles: list[Role] = (), request=None
) -> User:
    _check_roles_grantable(actor, list(roles))
    _check_password(password)
    user = user_create_unique(email=email, username=username, password=password)
    user.roles.set(roles)
    audit(
        "user.create",
        actor=actor,
        request=request,
        resource=user,
        email=user.email,
        roles=[r.name for r in roles],
    )
    return user


@transaction.atomic
def user_update(*, actor: User, user: User, request=None, roles: list[Role] | None = None, **changes) -> User:
    """Change a user's details, password, active flag or roles; deactivation logs them out everywhere."""
    check_may_manage(actor, user)
    if (
        "email" in changes
        and User.objects.filter(email__iexact=changes["email"]).exclude(pk=user.pk).exists()
    ):
        raise InvalidInput({"email": ["Email already exists"]})
    if (
        "username" in changes
        and User.objects.filter(username__iexact=changes["username"]).exclude(pk=user.pk).exists()
    ):
        raise InvalidInput({"username": ["Username already exists"]})
    if changes.get("is_active") is False and user.pk == actor.pk:
        raise InvalidInput({"is_active": ["You cannot deactivate your own account."]})
    password = changes.pop("password", None)
    if password:
        _check_password(password)
        user.set_password(password)
    for field, value in changes.items():
        setattr(user, field, value)
    user.save()
    if roles is not None:
        _check_roles_grantable(actor, [r for r in roles if r not in user.roles.all()])
        user.roles.set(roles)
    if password or changes.get("is_active") is False:
        sessions_revoke_all(user=user)
    realtime.access_changed(realtime.user_group(user.pk))
    audited = sorted(
        [*changes, *(["password"] if password else []), *(["roles"] if roles is not None else [])]
    )
    audit("user.update", actor=actor, request=request, resource=user, changes=audited)
    return user


@transaction.atomic
def user_delete(*, actor: User, user: User, request=None) -> None:
    if user.pk == actor.pk:
        raise InvalidInput({"id": ["You cannot delete your own account."]})
    check_may_manage(actor, user)
    audit("user.delete", actor=actor, request=request, resource=user, email=user.email)
    realtime.access_changed(realtime.user_group(user.pk))
    user.delete()


def user_sessions_end(*, actor: User, users: list[User], request=None) -> int:
    """Log users out of every session (staff action)."""
    from accounts.services import sessions_revoke_all

    for user in users:
        check_may_manage(actor, user)
    ended = sum(sessions_revoke_all(user=user) for user in users)
    audit(
        "user.sessions_revoke", actor=actor, request=request, users=[str(u.pk) for u in users], sessions=ended
    )
    return ended
