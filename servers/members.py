"""Server members: people other than the owner, each with a subset of the server permissions that the
one who grants them holds."""

from accounts.audit import audit
from accounts.models import User
from accounts.permissions import SERVER_SCOPED, can, unknown
from config import realtime
from config.errors import InvalidInput, NotAllowed
from servers import console
from servers.models import Server, ServerMember


def _check_member_permissions(actor: User, server: Server, permissions: list[str]) -> None:
    if bad := unknown(permissions):
        raise InvalidInput({"permissions": [f"Unknown permissions: {', '.join(bad)}"]})
    if outside := [p for p in permissions if p not in SERVER_SCOPED]:
        raise InvalidInput({"permissions": [f"Not server permissions: {', '.join(outside)}"]})
    if beyond := [p for p in permissions if not can(actor, p, server)]:
        raise NotAllowed(f"You cannot grant permissions you do not hold: {', '.join(beyond)}")


def member_add(
    *, server: Server, actor: User, email: str, permissions: list[str], request=None
) -> ServerMember:
    _check_member_permissions(actor, server, permissions)
    user = User.objects.filter(email__iexact=email.strip(), is_active=True).first()
    if user is None:
        raise InvalidInput({"email": ["No active user has this email. Ask them to register first."]})
    if user.pk == server.owner_id:
        raise InvalidInput({"email": ["The owner already holds every permission."]})
    member, created = ServerMember.objects.get_or_create(
        server=server, user=user, defaults={"permissions": permissions}
    )
    if not created:
        raise InvalidInput({"email": ["This user is already a member; update their permissions."]})
    audit(
        "server.member_add",
        actor=actor,
        request=request,
        resource=server,
        member=user.email,
        permissions=permissions,
    )
    return member


def member_update(*, member: ServerMember, actor: User, permissions: list[str], request=None) -> ServerMember:
    _check_member_permissions(actor, member.server, permissions)
    member.permissions = permissions
    member.save(update_fields=["permissions", "updated_at"])
    realtime.access_changed(console.group_name(member.server_id))
    audit(
        "server.member_update",
        actor=actor,
        request=request,
        resource=member.server,
        member=member.user.email,
        permissions=permissions,
    )
    return member


def member_remove(*, member: ServerMember, actor: User, request=None) -> None:
    audit(
        "server.member_remove", actor=actor, request=request, resource=member.server, member=member.user.email
    )
    realtime.access_changed(console.group_name(member.server_id))
    member.delete()
