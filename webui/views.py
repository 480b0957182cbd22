"""The customer web UI. Pages are rendered here; the browser then talks to /api and /ws on its own."""

from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http.request import split_domain_port
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect, ensure_csrf_cookie
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from accounts import services as account_services
from accounts.browser import TWO_FACTOR_SETUP_FIRST, browser_login, browser_logout
from accounts.permissions import can
from config.addresses import client_address
from config.api.throttling import charge, too_many_attempts
from config.errors import DomainError, InvalidInput
from config.ids import is_uuid
from config.security_headers import content_security_policy
from servers import features as server_features
from servers.models import Server
from servers.states import ALLOWED_FROM
from webui.forms import LoginForm, TwoFactorForm

POWER_ACTIONS = ("start", "stop", "restart", "kill")
SERVERS_PER_PAGE = 50
# An allocation bound on every interface is reached at the node's public address.
WILDCARD_IPS = ("0.0.0.0", "::")  # noqa: S104 - compared with, not bound to
FAILED_STATES = (Server.Status.CRASHED, Server.Status.INSTALL_FAILED)
TOO_MANY_ATTEMPTS = "Too many login attempts from your address. Try again in {wait} seconds."


def _login_url() -> str:
    return reverse("webui:login")


def signed_in(view):
    """Anonymous visitors go to /login (BrowserSessionMiddleware has already signed out ended sessions)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), _login_url())
        return view(request, *args, **kwargs)

    return wrapper


def _next_url(request) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("webui:server-list")


def _message(exc: DomainError) -> str:
    if isinstance(exc, InvalidInput) and exc.fields:
        return str(next(iter(exc.fields.values()))[0])
    return exc.message or "Login failed."


def _check_credentials(request, form) -> dict:
    """The API's login rules (per-address and per-account limits, two-factor), for a browser session."""
    ip = client_address(request)
    within, state = charge("auth", f"ip:{ip}")
    if not within:
        raise too_many_attempts(TOO_MANY_ATTEMPTS, state=state)
    client = {"ip": ip, "user_agent": request.META.get("HTTP_USER_AGENT", "")}
    if isinstance(form, TwoFactorForm):
        return account_services.user_login_two_factor(
            challenge_token=form.cleaned_data["challenge_token"], code=form.cleaned_data["code"], **client
        )
    return account_services.user_login(
        email=form.cleaned_data["email"], password=form.cleaned_data["password"], **client
    )


@sensitive_post_parameters("password", "code", "challenge_token")
@csrf_protect
@never_cache
def login_view(request):
    next_url = _next_url(request)
    if request.method == "GET" and request.user.is_authenticated:
        return redirect(next_url)
    form, status = LoginForm(), 200
    if request.method == "POST":
        form = (TwoFactorForm if "challenge_token" in request.POST else LoginForm)(request.POST)
        status = 400
        if form.is_valid():
            try:
                result = _check_credentials(request, form)
            except DomainError as exc:
                form.add_error(None, _message(exc))
                status = exc.status
            else:
                if "challenge_token" in result:  # two-factor on: ask for the code
                    form = TwoFactorForm(initial={"challenge_token": result["challenge_token"]})
                    status = 200
                elif browser_login(request, result):
                    return redirect(next_url)
                else:
                    form.add_error(None, TWO_FACTOR_SETUP_FIRST)
                    status = 403
    context = {"form": form, "two_factor": isinstance(form, TwoFactorForm), "next": next_url}
    return render(request, "webui/login.html", context, status=status)


@require_POST
def logout_view(request):
    browser_logout(request)
    return redirect("webui:login")


def _page(request, template: str, context: dict | None = None, status: int = 200):
    context = {"show_admin_link": can(request.user, "admin.read"), **(context or {})}
    return render(request, template, context, status=status)


def _address(server: Server) -> str:
    primary = next((a for a in server.allocations.all() if a.is_primary), None)
    if primary is None:
        return ""
    host = primary.alias or (server.node.public_address if primary.ip in WILDCARD_IPS else primary.ip)
    return f"{host}:{primary.port}"


def _sftp(request, server: Server) -> dict:
    """Where and as whom the customer logs in to the SFTP gateway for this server."""
    port = settings.SFTP_BIND.rsplit(":", 1)[-1]
    host = settings.SFTP_PUBLIC_HOST
    if not host:
        host = split_domain_port(request.get_host())[0]
    elif host.rsplit(":", 1)[-1].isdigit() and not host.endswith("]"):
        host, port = host.rsplit(":", 1)
    return {"host": host, "port": int(port), "username": f"{request.user.username}.{str(server.pk)[:8]}"}


def _files_page_data(request, server: Server, may: dict) -> dict:
    """What the Files tab needs besides the API: who may do what, the SFTP login and the limits."""
    if not may["read"]:
        return {}
    return {
        "may": may,
        "sftp": _sftp(request, server),
        "editorMaxBytes": settings.FILES_EDITOR_MAX_BYTES,
        "uploadMaxBytes": settings.FILES_UPLOAD_MAX_BYTES,
    }


def _plugins_tab(server: Server, may: dict) -> dict:
    """What the Plugins tab shows before asking the API: its label (Mods on a mod server), the search
    form's choices with the server's own preselected, the enabled sources and their icon hosts."""
    if not may["read"]:
        return {}
    from marketplace.search import SORTS
    from marketplace.sources import SOURCES
    from marketplace.target import PROJECT_TYPES, RUNS, server_target

    target = server_target(server)
    sources = [source for source in SOURCES.values() if source.enabled()]
    return {
        "label": "Mods" if target.project_type == "mod" else "Plugins",
        "loader": target.loader or "any",
        "loaders": sorted(RUNS),
        "game_version": target.game_version,
        "type": target.project_type or "any",
        "types": PROJECT_TYPES,
        "sorts": SORTS,
        "sources": [{"name": source.name, "label": source.label} for source in sources],
        "icon_hosts": sorted({host for source in sources for host in source.icon_hosts}),
    }


@signed_in
@ensure_csrf_cookie
def server_list(request):
    servers = (
        Server.objects.visible_to(request.user)
        .select_related("node")
        .prefetch_related("allocations", "members")
        .order_by("name", "pk")
    )
    page = Paginator(servers, SERVERS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [
        {"server": s, "address": _address(s), "live": can(request.user, "server.read", s)}
        for s in page.object_list
    ]
    return _page(
        request,
        "webui/server_list.html",
        {
            "page": page,
            "rows": rows,
            "page_data": {"live": [str(row["server"].pk) for row in rows if row["live"]]},
            "may_create": can(request.user, "server.create"),
        },
    )


@signed_in
@ensure_csrf_cookie
def server_new(request):
    """A server of one's own: a template, then one of the plans offered for it (or, where the panel
    offers none, a size within the self-service maximums) and where it runs. The API decides."""
    from plans import selection
    from templates_app.models import Template

    if not can(request.user, "server.create"):
        return _page(request, "webui/not_found.html", status=404)
    page_data = {
        "plansOffered": selection.offered().exists(),
        "maximums": {
            "memoryMb": settings.SELF_SERVICE_MAX_MEMORY_MB,
            "cpuCores": settings.SELF_SERVICE_MAX_CPU_CORES,
            "diskMb": settings.SELF_SERVICE_MAX_DISK_MB,
        },
    }
    templates = Template.objects.order_by("name").only("id", "name", "description")
    return _page(request, "webui/server_new.html", {"templates": templates, "page_data": page_data})


@signed_in
@ensure_csrf_cookie
def server_detail(request, server_id):
    server = (
        Server.objects.visible_to(request.user)
        .select_related("node", "template", "plan")
        .prefetch_related("allocations", "members")
        .filter(pk=server_id)
        .first()
    )
    if server is None:
        return _page(request, "webui/not_found.html", status=404)
    user = request.user
    may = {action: can(user, f"server.{action}", server) for action in POWER_ACTIONS}
    may.update(
        read=can(user, "server.read", server),
        console=can(user, "server.console", server),
        logs=can(user, "server.logs.read", server),
    )
    # The Files tab: without file.write it is read-only; file.delete alone allows deleting.
    files_may = {verb: can(user, f"file.{verb}", server) for verb in ("read", "write", "delete")}
    # The Plugins tab asks the same: file.read to list and search, file.write to install, enable,
    # disable and update, file.delete to uninstall.
    plugins_may = files_may
    plugins = _plugins_tab(server, plugins_may)
    # The Backups and Schedules tabs: each control only for the permission its endpoint asks for.
    backups_may = {
        verb: can(user, f"backup.{verb}", server)
        for verb in ("read", "create", "restore", "delete", "download")
    }
    tasks_may = {
        verb: can(user, f"task.{verb}", server) for verb in ("read", "create", "update", "delete", "execute")
    }
    databases_may = {
        verb: can(user, f"database.{verb}", server) for verb in ("read", "create", "rotate", "delete")
    }
    notify_may = can(user, "alert.subscribe", server)  # the Notifications tab (alerts/notifications.py)
    page_data = {
        "serverId": str(server.pk),
        "status": server.status,
        "installed": server.installed_at is not None,
        "allocatedMemoryMb": server.allocated_memory_mb,
        "allocatedCpuCores": float(server.allocated_cpu_cores),
        "may": may,
        # The same table the API enforces, so a button is enabled exactly when the action would be accepted.
        "allowedFrom": {action: sorted(ALLOWED_FROM[action]) for action in POWER_ACTIONS},
        "files": _files_page_data(request, server, files_may),
        "backups": {"may": backups_may, "serverName": server.name} if backups_may["read"] else {},
        "tasks": {"may": tasks_may},
        "databases": {"may": databases_may, "limit": server.database_limit},
        "plugins": {
            "may": plugins_may,
            "sources": plugins["sources"],
            "iconHosts": plugins["icon_hosts"],
            "gameVersion": plugins["game_version"],
        }
        if plugins
        else {},
        "notifications": {"may": notify_may, "suspended": server.status == Server.Status.SUSPENDED},
        "features": server_features.page_data(user, server) if may["logs"] else None,
    }
    buttons = [
        {
            "action": action,
            "label": action.capitalize(),
            "disabled": server.status not in ALLOWED_FROM[action]
            or (action in ("start", "restart") and server.installed_at is None),
        }
        for action in POWER_ACTIONS
        if may[action]
    ]
    response = _page(
        request,
        "webui/server_detail.html",
        {
            "server": server,
            "reason": server.status_reason if server.status in FAILED_STATES else "",
            "address": _address(server),
            "may": may,
            "files_may": files_may,
            "backups_may": backups_may,
            "tasks_may": tasks_may,
            "notify_may": notify_may,
            "databases_may": databases_may,
            "plugins_may": plugins_may,
            "plugins": plugins,
            "buttons": buttons,
            "page_data": page_data,
        },
    )
    if plugins.get("icon_hosts"):
        response["Content-Security-Policy"] = content_security_policy(
            request, images=[f"https://{host}" for host in plugins["icon_hosts"]]
        )
    return response


@signed_in
@ensure_csrf_cookie
def alerts_page(request):
    """The alerts of the caller's servers (all of them for staff), with a resolve button where allowed;
    the browser reads and resolves them through /api/alerts."""
    from alerts.selectors import alert_servers, sees_all

    servers = dict(Server.objects.visible_to(request.user).values_list("pk", "name"))
    resolvable = [str(pk) for pk in alert_servers(request.user, "alert.resolve")]
    page_data = {
        "serverNames": {str(pk): name for pk, name in servers.items()},
        "resolvable": resolvable,
        "resolveAll": can(request.user, "alert.resolve"),
        "staff": sees_all(request.user),
    }
    return _page(request, "webui/alerts.html", {"page_data": page_data})


@signed_in
@csrf_protect
@never_cache
def ssh_keys(request):
    """The account's SSH keys for the SFTP gateway: add one, remove one (accounts.sshkeys)."""
    from accounts.models import SSHKey
    from accounts.sshkeys import ssh_key_add, ssh_key_delete

    context = {"error": "", "name": "", "public_key": ""}
    if request.method == "POST":
        try:
            if key_id := request.POST.get("delete"):
                key = SSHKey.objects.filter(user=request.user, pk=key_id).first() if is_uuid(key_id) else None
                if key is not None:
                    ssh_key_delete(key=key, actor=request.user, request=request)
            else:
                name = request.POST.get("name", "").strip()[:100] or "key"
                ssh_key_add(
                    user=request.user,
                    name=name,
                    public_key=request.POST.get("public_key", ""),
                    request=request,
                )
            return redirect("webui:ssh-keys")
        except DomainError as exc:
            context.update(
                error=_message(exc),
                name=request.POST.get("name", ""),
                public_key=request.POST.get("public_key", ""),
            )
    from servers.sftp.gateway import bind_address

    context.update(keys=SSHKey.objects.filter(user=request.user), sftp_port=bind_address()[1])
    return _page(request, "webui/ssh_keys.html", context, status=400 if context["error"] else 200)
