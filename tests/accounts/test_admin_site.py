"""The Django admin answers to the same permission rule as the API."""

import pyotp
import pytest
from django.forms import MultiWidget
from django.test import Client
from django.utils import timezone

from accounts import twofactor
from accounts.apikeys import apikey_create
from accounts.models import ApiKey, AuditLog, LoginSession, Role, TwoFactorDevice, User
from tests.conftest import PASSWORD, tokens_for

pytestmark = pytest.mark.django_db


def test_customers_cannot_use_the_admin(signed_in, customer):
    client = signed_in(customer)
    response = client.get("/admin/", follow=True)
    assert response.status_code == 403
    assert b"needs the admin.read permission" in response.content


def test_support_staff_may_look_but_not_change(make_user, roles):
    support = make_user(role="Support")
    client = Client()
    response = client.post("/login", {"email": support.email, "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 302 and response.url == "/admin/"
    assert client.get("/admin/accounts/role/").status_code == 200
    assert client.get(f"/admin/accounts/role/{roles['Customer'].pk}/change/").status_code == 200
    assert client.get("/admin/accounts/role/add/").status_code == 403


def test_roles_are_edited_with_a_permission_picker(signed_in, admin):
    client = signed_in(admin)
    page = client.get("/admin/accounts/role/add/").content.decode()
    assert 'type="checkbox"' in page and 'value="server.start"' in page and 'value="file.*"' in page
    response = client.post(
        "/admin/accounts/role/add/",
        {"name": "Helpdesk", "description": "", "permissions": ["server.console", "server.read"]},
    )
    assert response.status_code == 302, response.content
    assert Role.objects.get(name="Helpdesk").permissions == ["server.console", "server.read"]
    assert AuditLog.objects.filter(action="role.create", user=admin).exists()  # from staff.role_create


def test_the_revoke_action_revokes_keys(signed_in, admin, customer):
    key, _ = apikey_create(user=customer, name="ci")
    response = signed_in(admin).post(
        "/admin/accounts/apikey/", {"action": "revoke", "_selected_action": [str(key.pk)]}
    )
    assert response.status_code == 302
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None


def test_the_deactivate_action_logs_users_out(signed_in, admin, customer):
    tokens_for(customer)
    signed_in(admin).post(
        "/admin/accounts/user/", {"action": "deactivate", "_selected_action": [str(customer.pk)]}
    )
    customer.refresh_from_db()
    assert not customer.is_active
    assert not LoginSession.objects.filter(user=customer, revoked_at__isnull=True).exists()
    assert AuditLog.objects.filter(action="user.update", resource_id=str(customer.pk)).exists()


def test_the_audit_log_is_read_only(signed_in, admin):
    client = signed_in(admin)
    assert client.get("/admin/accounts/auditlog/").status_code == 200
    assert client.get("/admin/accounts/auditlog/add/").status_code == 403


class TestAdminLogin:
    """The admin has no password form of its own: it signs in through the panel's login (limits, 2FA)."""

    def test_an_anonymous_visitor_is_sent_to_the_panel_login(self, client):
        response = client.get("/admin/nodes/node/", follow=True)
        assert response.redirect_chain[-1][0] == "/login?next=/admin/nodes/node/"

    def test_staff_with_two_factor_need_the_code_for_the_admin_too(self, client, admin):
        secret = twofactor.twofactor_setup(user=admin)["secret"]
        twofactor.twofactor_enable(user=admin, code=pyotp.TOTP(secret).now())
        response = client.post("/login", {"email": admin.email, "password": PASSWORD, "next": "/admin/"})
        assert response.status_code == 200 and "_auth_user_id" not in client.session  # asks for the code
        assert client.get("/admin/").status_code == 302
        assert (
            client.post("/admin/login/", {"username": admin.email, "password": PASSWORD}).status_code == 302
        )
        assert "_auth_user_id" not in client.session  # the old password-only form is gone

    def test_a_session_not_made_by_the_panel_login_is_refused(self, client, admin):
        client.force_login(admin)  # no login session behind it
        response = client.get("/admin/")
        assert response.status_code == 302 and response.url.startswith("/admin/login/")

    def test_a_login_revoked_by_staff_ends_the_admin_session(self, signed_in, admin):
        client = signed_in(admin)
        assert client.get("/admin/").status_code == 200
        LoginSession.objects.filter(user=admin).update(revoked_at=timezone.now())
        assert client.get("/admin/").status_code == 302
        assert "_auth_user_id" not in client.session

    def test_logout_is_a_post_that_ends_the_login(self, signed_in, admin):
        client = signed_in(admin)
        assert client.get("/admin/logout/").status_code == 405
        response = client.post("/admin/logout/")
        assert response.status_code == 302 and response.url == "/login"
        assert LoginSession.objects.get(user=admin).revoked_at is not None
        assert client.get("/admin/").status_code == 302


def test_a_role_newly_requiring_two_factor_ends_browser_sessions_on_the_api(signed_in, customer):
    client = signed_in(customer, api=True)
    assert client.get("/api/auth/me").status_code == 200
    Role.objects.filter(name="Customer").update(requires_two_factor=True)
    assert client.get("/api/auth/me").status_code == 401
    assert "_auth_user_id" not in client.session


NO_KEYS = {"api_keys-TOTAL_FORMS": "0", "api_keys-INITIAL_FORMS": "0"}  # the API keys inline, empty


def refusals(response) -> str:
    """What an admin page said against a save: its error messages and its form's errors, as text."""
    said = [str(m) for m in response.context["messages"] if m.level_tag == "error"]
    if form := getattr(response.context.get("adminform"), "form", None):
        said += [str(error) for errors in form.errors.values() for error in errors]
    return " ".join(said)


class TestStaffCannotEscalateThroughTheAdmin:
    """User and role pages save through accounts.staff, so its grant checks hold in the admin too."""

    @pytest.fixture
    def manager(self, make_user):
        return make_user(
            email="manager@example.com", permissions=["admin.read", "admin.write", "server.read"]
        )

    def user_form(self, client, user, **overrides) -> dict:
        page = client.get(f"/admin/accounts/user/{user.pk}/change/")
        assert page.status_code == 200
        data = {}
        form = page.context["adminform"].form
        forms = [form]
        for inline in page.context["inline_admin_formsets"]:
            forms += [inline.formset.management_form, *inline.formset.forms]
        for each in forms:
            for field in each:
                value = field.value()
                if value is None or value is False or field.field.disabled:
                    continue
                if isinstance(field.field.widget, MultiWidget):  # a date and a time box
                    parts = field.field.widget.get_context(field.html_name, value, {})["widget"]["subwidgets"]
                    data.update({part["name"]: part["value"] or "" for part in parts})
                elif isinstance(value, list):
                    data[field.html_name] = [str(v) for v in value]
                else:
                    data[field.html_name] = "on" if value is True else str(value)
        data.update(overrides)
        return data

    def test_a_manager_cannot_give_themselves_the_administrator_role(self, signed_in, manager, roles):
        client = signed_in(manager)
        data = self.user_form(client, manager, roles=[str(roles["Administrator"].pk)])
        response = client.post(f"/admin/accounts/user/{manager.pk}/change/", data, follow=True)
        assert "You cannot grant permissions you do not hold: *" in refusals(response)
        assert not manager.roles.filter(name="Administrator").exists()

    def test_a_manager_cannot_tick_superuser(self, signed_in, manager):
        client = signed_in(manager)
        data = self.user_form(client, manager, is_superuser="on", is_staff="on", username="renamed")
        response = client.post(f"/admin/accounts/user/{manager.pk}/change/", data)
        assert response.status_code == 302, response.context["adminform"].form.errors
        manager.refresh_from_db()
        assert manager.username == "renamed" and not manager.is_superuser  # the field is read-only
        changes = AuditLog.objects.get(action="user.update", user=manager).metadata["changes"]
        assert "username" in changes and "is_superuser" not in changes

    def test_a_manager_cannot_create_a_user_with_a_role_beyond_their_own(self, signed_in, manager, roles):
        response = signed_in(manager).post(
            "/admin/accounts/user/add/",
            {
                "email": "new@example.com",
                "username": "new",
                "password1": "a-long-enough-passphrase",
                "password2": "a-long-enough-passphrase",
                "usable_password": "true",
                "roles": [str(roles["Administrator"].pk)],
                **NO_KEYS,
            },
            follow=True,
        )
        assert "You cannot grant permissions you do not hold: *" in refusals(response)
        assert not User.objects.filter(email="new@example.com").exists()

    def test_creating_a_user_goes_through_the_service(self, signed_in, admin, roles):
        response = signed_in(admin).post(
            "/admin/accounts/user/add/",
            {
                "email": "new@example.com",
                "username": "new",
                "password1": "a-long-enough-passphrase",
                "password2": "a-long-enough-passphrase",
                "usable_password": "true",
                "roles": [str(roles["Support"].pk)],
                **NO_KEYS,
            },
        )
        assert response.status_code == 302, response.context["adminform"].form.errors
        user = User.objects.get(email="new@example.com")
        assert response.url.startswith(f"/admin/accounts/user/{user.pk}/")
        assert list(user.roles.values_list("name", flat=True)) == ["Support"]
        assert AuditLog.objects.filter(action="user.create", user=admin, resource_id=str(user.pk)).exists()

    def test_a_manager_cannot_widen_a_role_beyond_their_own(self, signed_in, manager, roles):
        client = signed_in(manager)
        readers = Role.objects.create(name="Readers", permissions=["admin.read"])  # within the manager's
        response = client.post(
            f"/admin/accounts/role/{readers.pk}/change/",
            {"name": "Readers", "description": "", "permissions": ["admin.read", "server.suspend"]},
            follow=True,
        )
        assert "server.suspend" in refusals(response)
        readers.refresh_from_db()
        assert "server.suspend" not in readers.permissions
        # a role that already grants more than the manager holds is not even editable
        support = roles["Support"]
        assert client.post(f"/admin/accounts/role/{support.pk}/change/", {"name": "x"}).status_code == 403
        response = client.post(
            "/admin/accounts/role/add/",
            {"name": "Root", "description": "", "permissions": ["*"]},
            follow=True,
        )
        assert "you do not hold" in refusals(response)
        assert not Role.objects.filter(name="Root").exists()

    def test_the_password_page_goes_through_the_service(self, signed_in, admin, customer):
        tokens_for(customer)
        client = signed_in(admin)
        url = f"/admin/accounts/user/{customer.pk}/password/"
        assert client.get(url).status_code == 200
        response = client.post(
            url,
            {
                "password1": "a-new-long-passphrase",
                "password2": "a-new-long-passphrase",
                "usable_password": "true",
            },
        )
        assert response.status_code == 302
        customer.refresh_from_db()
        assert customer.check_password("a-new-long-passphrase")
        assert AuditLog.objects.filter(
            action="user.update", user=admin, metadata__changes=["password"]
        ).exists()
        assert not LoginSession.objects.filter(user=customer, revoked_at__isnull=True).exists()

    def test_the_password_page_refuses_a_weak_password_and_read_only_staff(
        self, signed_in, admin, customer, make_user
    ):
        url = f"/admin/accounts/user/{customer.pk}/password/"
        response = signed_in(admin).post(url, {"password1": "x", "password2": "x", "usable_password": "true"})
        assert response.status_code == 200 and response.context["adminForm"].form.errors
        support = signed_in(make_user(role="Support"))
        data = {
            "password1": "a-new-long-passphrase",
            "password2": "a-new-long-passphrase",
            "usable_password": "true",
        }
        assert support.post(url, data).status_code == 403
        customer.refresh_from_db()
        assert customer.check_password(PASSWORD)


def test_ending_a_session_in_the_admin_logs_it_out_through_the_service(signed_in, admin, customer, api):
    tokens = tokens_for(customer)
    session = LoginSession.objects.get(user=customer)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['token']}")
    assert api.get("/api/auth/me").status_code == 200
    response = signed_in(admin).post(
        "/admin/accounts/loginsession/",
        {"action": "revoke", "_selected_action": [str(session.pk)]},
        follow=True,
    )
    assert "Ended 1 session(s)." in [str(m) for m in response.context["messages"]]
    assert LoginSession.objects.get(pk=session.pk).revoked_at is not None
    assert api.get("/api/auth/me").status_code == 401
    assert AuditLog.objects.filter(
        action="session.revoke", user=admin, metadata__ids=[str(session.pk)]
    ).exists()
    assert AuditLog.objects.filter(
        action="auth.logout", resource_id=str(customer.pk)
    ).exists()  # the service's


@pytest.mark.django_db(transaction=True)
async def test_ending_a_session_in_the_admin_closes_its_open_sockets(signed_in, admin, customer):
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator

    from config.asgi import application

    tokens = await database_sync_to_async(tokens_for)(customer)
    origin = [(b"origin", b"http://localhost")]
    communicator = WebsocketCommunicator(application, f"/ws?token={tokens['token']}", headers=origin)
    connected, _ = await communicator.connect()
    assert connected

    def end_it():
        session = LoginSession.objects.get(user=customer)
        signed_in(admin).post(
            "/admin/accounts/loginsession/", {"action": "revoke", "_selected_action": [str(session.pk)]}
        )

    await database_sync_to_async(end_it)()
    assert (await communicator.receive_json_from(timeout=3))["message"].startswith("Disconnected:")
    assert (await communicator.receive_output(timeout=3))["code"] == 4401


class TestTwoFactorReset:
    def device(self, user):
        secret = twofactor.twofactor_setup(user=user)["secret"]
        twofactor.twofactor_enable(user=user, code=pyotp.TOTP(secret).now())
        return user.two_factor

    def test_a_manager_cannot_reset_an_administrators_two_factor(self, signed_in, make_user, admin, customer):
        manager = make_user(permissions=["admin.read", "admin.write", "server.read"])
        theirs, ours = self.device(admin), self.device(customer)
        client = signed_in(manager)
        url = "/admin/accounts/twofactordevice/{}/delete/"
        assert client.get(url.format(theirs.pk)).status_code == 403
        assert client.post(url.format(theirs.pk), {"post": "yes"}).status_code == 403
        client.post(
            "/admin/accounts/twofactordevice/",
            {"action": "delete_selected", "_selected_action": [str(theirs.pk)], "post": "yes"},
        )
        assert TwoFactorDevice.objects.filter(pk=theirs.pk).exists()
        assert client.post(url.format(ours.pk), {"post": "yes"}).status_code == 302  # a customer's: yes
        assert not TwoFactorDevice.objects.filter(pk=ours.pk).exists()
        assert AuditLog.objects.filter(action="auth.2fa_reset", user=manager).count() == 1

    def test_an_administrator_may_reset_anyones(self, signed_in, admin, make_user):
        other = make_user(role="Administrator")
        device = self.device(other)
        response = signed_in(admin).post(
            f"/admin/accounts/twofactordevice/{device.pk}/delete/", {"post": "yes"}
        )
        assert response.status_code == 302 and not TwoFactorDevice.objects.filter(pk=device.pk).exists()


class TestUsersAboveTheStaffMember:
    """A manager with admin.write may not edit, re-password or delete an Administrator in the admin."""

    def test_the_change_page_is_view_only_and_posts_are_refused(self, signed_in, make_user, admin):
        manager = make_user(permissions=["admin.read", "admin.write", "server.read"])
        client = signed_in(manager)
        page = client.get(f"/admin/accounts/user/{admin.pk}/change/")
        assert page.status_code == 200 and page.context["title"] == "View user"
        assert (
            client.post(f"/admin/accounts/user/{admin.pk}/change/", {"email": "mine@example.com"}).status_code
            == 403
        )
        data = {
            "password1": "a-new-long-passphrase",
            "password2": "a-new-long-passphrase",
            "usable_password": "true",
        }
        assert client.post(f"/admin/accounts/user/{admin.pk}/password/", data).status_code == 403
        assert client.post(f"/admin/accounts/user/{admin.pk}/delete/", {"post": "yes"}).status_code == 403
        admin.refresh_from_db()
        assert admin.email == "admin@example.com" and admin.check_password(PASSWORD)

    def test_a_manager_still_edits_a_customer(self, signed_in, make_user, customer):
        manager = make_user(permissions=["admin.read", "admin.write", "server.read"])
        data = {
            "password1": "a-new-long-passphrase",
            "password2": "a-new-long-passphrase",
            "usable_password": "true",
        }
        assert (
            signed_in(manager).post(f"/admin/accounts/user/{customer.pk}/password/", data).status_code == 302
        )
        customer.refresh_from_db()
        assert customer.check_password("a-new-long-passphrase")

    @pytest.mark.parametrize("action", ["deactivate", "end_sessions"])
    def test_the_user_actions_skip_those_above_the_staff_member(
        self, signed_in, make_user, admin, customer, action
    ):
        manager = make_user(permissions=["admin.read", "admin.write", "server.read"])
        tokens_for(admin)
        tokens_for(customer)
        response = signed_in(manager).post(
            "/admin/accounts/user/",
            {"action": action, "_selected_action": [str(admin.pk), str(customer.pk)]},
            follow=True,
        )
        errors = [str(m) for m in response.context["messages"] if m.level_tag == "error"]
        assert len(errors) == 1
        admin.refresh_from_db()
        assert admin.is_active and LoginSession.objects.filter(user=admin, revoked_at__isnull=True).exists()
        assert not LoginSession.objects.filter(user=customer, revoked_at__isnull=True).exists()
