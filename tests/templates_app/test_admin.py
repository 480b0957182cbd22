"""The admin pages for templates: list, import page, export and duplicate actions."""

import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import AuditLog
from templates_app.eggs import egg_import
from templates_app.models import Template
from tests.fixtures.templates import egg_bytes, variable

pytestmark = pytest.mark.django_db


def test_the_changelist_shows_image_variables_source_and_an_import_link(signed_in, admin, make_template):
    make_template(name="Listed", variables=[variable("A"), variable("B")])
    page = signed_in(admin).get("/admin/templates_app/template/").content.decode()
    assert "Listed" in page and "hearth/testgame:latest" in page and "manual" in page
    assert 'class="field-variable_count">2<' in page
    assert "/admin/templates_app/template/import/" in page


def test_the_change_page_has_the_variables_inline(signed_in, admin, make_template):
    template = make_template(variables=[variable("MAX_PLAYERS", "20")])
    page = signed_in(admin).get(f"/admin/templates_app/template/{template.pk}/change/").content.decode()
    assert "MAX_PLAYERS" in page and "variables-TOTAL_FORMS" in page


def test_importing_an_egg_shows_its_warnings(signed_in, admin):
    client = signed_in(admin)
    assert client.get("/admin/templates_app/template/import/").status_code == 200
    upload = SimpleUploadedFile("egg-rust.json", egg_bytes("egg-rust.json"))
    response = client.post("/admin/templates_app/template/import/", {"file": upload}, follow=True)
    template = Template.objects.get(name="Rust")
    assert response.redirect_chain[-1][0] == f"/admin/templates_app/template/{template.pk}/change/"
    shown = [str(m) for m in response.context["messages"]]
    assert "Imported “Rust” with 2 warning(s)." in shown
    assert "config.logs is not used (Hearth reads the console directly); the export writes it back" in shown
    assert AuditLog.objects.filter(action="template.import", metadata__via="admin").exists()


def test_a_bad_egg_is_shown_on_the_form(signed_in, admin):
    upload = SimpleUploadedFile("egg.json", b'{"name": "x"}')
    response = signed_in(admin).post("/admin/templates_app/template/import/", {"file": upload})
    assert response.status_code == 200
    assert "meta.version is missing" in response.content.decode()
    assert not Template.objects.exists()


def test_replace_from_the_import_page(signed_in, admin, make_template):
    old = make_template(name="Paper")
    client = signed_in(admin)
    upload = SimpleUploadedFile("egg-paper.json", egg_bytes("egg-paper.json"))
    refused = client.post("/admin/templates_app/template/import/", {"file": upload})
    assert "already exists" in refused.content.decode()
    upload = SimpleUploadedFile("egg-paper.json", egg_bytes("egg-paper.json"))
    client.post("/admin/templates_app/template/import/", {"file": upload, "replace": "on"})
    old.refresh_from_db()
    assert old.source == "egg:PTDL_v2"


def test_support_staff_cannot_import_or_duplicate(signed_in, make_user, make_template):
    support = signed_in(make_user(role="Support"))
    template = make_template()
    assert support.get("/admin/templates_app/template/import/").status_code == 403
    support.post(
        "/admin/templates_app/template/", {"action": "duplicate", "_selected_action": [str(template.pk)]}
    )
    assert Template.objects.count() == 1


def test_exporting_one_template_downloads_its_egg(signed_in, admin):
    template, _ = egg_import(egg_bytes("egg-rust.json"))
    response = signed_in(admin).post(
        "/admin/templates_app/template/", {"action": "export_eggs", "_selected_action": [str(template.pk)]}
    )
    assert response["Content-Disposition"] == 'attachment; filename="egg-rust.json"'
    egg = json.loads(response.content)
    assert egg["name"] == "Rust" and egg["config"]["stop"] == "^C"


def test_exporting_several_templates_downloads_a_zip(signed_in, admin):
    first, _ = egg_import(egg_bytes("egg-rust.json"))
    second, _ = egg_import(egg_bytes("egg-paper.json"))
    response = signed_in(admin).post(
        "/admin/templates_app/template/",
        {"action": "export_eggs", "_selected_action": [str(first.pk), str(second.pk)]},
    )
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == ["egg-paper.json", "egg-rust.json"]
    assert json.loads(archive.read("egg-paper.json"))["name"] == "Paper"


def test_duplicate_copies_the_template_and_its_variables(signed_in, admin, make_template):
    template = make_template(
        name="Original", variables=[variable("A", "1"), variable("B", "2", type="integer")]
    )
    client = signed_in(admin)
    for _ in range(2):
        client.post(
            "/admin/templates_app/template/", {"action": "duplicate", "_selected_action": [str(template.pk)]}
        )
    names = sorted(Template.objects.values_list("name", flat=True))
    assert names == ["Original", "Original (copy 2)", "Original (copy)"]
    copy = Template.objects.get(name="Original (copy)")
    assert list(copy.variables.values_list("env_variable", flat=True)) == ["A", "B"]
    assert copy.variables.get(env_variable="B").rules["type"] == "integer"
    assert copy.start_command == template.start_command


def test_saving_in_the_admin_is_validated_and_audited(signed_in, admin):
    client = signed_in(admin)
    base = {
        "name": "From admin",
        "description": "",
        "docker_image": "hearth/testgame:latest",
        "docker_images": "{}",
        "pull_policy": "missing",
        "read_only_root": "",
        "start_command": "/usr/local/bin/testgame",
        "stop_command": "stop",
        "stop_signal": "SIGINT",
        "ready_pattern": "",
        "data_path": "/home/container",
        "ports": "[]",
        "environment": "{}",
        "required_variables": "[]",
        "config_files": "[]",
        "install_image": "",
        "install_entrypoint": "bash",
        "install_script": "",
        "variables-TOTAL_FORMS": "1",
        "variables-INITIAL_FORMS": "0",
        "variables-MIN_NUM_FORMS": "0",
        "variables-MAX_NUM_FORMS": "1000",
        "variables-0-sort_order": "0",
        "variables-0-env_variable": "MAX_PLAYERS",
        "variables-0-name": "Max players",
        "variables-0-default_value": "20",
        "variables-0-user_viewable": "on",
        "variables-0-user_editable": "on",
        "variables-0-rules": '{"type": "integer", "min": 1}',
    }
    refused = client.post("/admin/templates_app/template/add/", base)
    assert refused.status_code == 200 and "not both" in refused.content.decode()
    nested = {**base, "stop_signal": "", "start_command": 'sh -ec "testgame --players {{MAX_PLAYERS}}"'}
    refused = client.post("/admin/templates_app/template/add/", nested)
    assert refused.status_code == 200
    assert "a customer can edit MAX_PLAYERS, so its value would run as code" in refused.content.decode()
    assert not Template.objects.filter(name="From admin").exists()
    response = client.post("/admin/templates_app/template/add/", {**base, "stop_signal": ""})
    assert response.status_code == 302, response.content.decode()[:3000]
    template = Template.objects.get(name="From admin")
    assert template.variables.get().rules == {
        "required": False,
        "type": "integer",
        "regex": None,
        "min": 1,
        "max": None,
        "min_length": None,
        "max_length": None,
        "choices": None,
    }
    assert AuditLog.objects.filter(action="template.create", metadata__via="admin").exists()


def posted_back(client, url: str, **overrides) -> dict:
    """The change page's forms as a browser posts them back, with some fields changed."""
    page = client.get(url)
    forms = [page.context["adminform"].form]
    for inline in page.context["inline_admin_formsets"]:
        forms += [inline.formset.management_form, *inline.formset.forms]
    data = {}
    for form in forms:
        for field in form:
            value = field.value()
            if value is None or value is False or field.field.disabled:
                continue
            data[field.html_name] = "on" if value is True else str(value)
    data.update(overrides)
    return data


def extra_variable(index: int, env: str) -> dict:
    return {
        f"variables-{index}-sort_order": str(index),
        f"variables-{index}-env_variable": env,
        f"variables-{index}-name": env.title(),
        f"variables-{index}-default_value": "1",
        f"variables-{index}-user_viewable": "on",
        f"variables-{index}-rules": "{}",
    }


def test_changing_a_template_goes_through_the_service(signed_in, admin, make_template):
    template = make_template(name="Edited", variables=[variable("MAX_PLAYERS", "20")])
    client = signed_in(admin)
    url = f"/admin/templates_app/template/{template.pk}/change/"
    data = posted_back(
        client, url, stop_command="quit", **{"variables-TOTAL_FORMS": "2"}, **extra_variable(1, "SEED")
    )
    response = client.post(url, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    template.refresh_from_db()
    assert template.stop_command == "quit"
    assert list(template.variables.values_list("env_variable", flat=True)) == ["MAX_PLAYERS", "SEED"]
    update = AuditLog.objects.get(action="template.update", user=admin)
    assert update.metadata["via"] == "admin" and {"stop_command", "variables"} <= set(
        update.metadata["changes"]
    )


def test_a_variable_declared_twice_is_refused_and_nothing_changes(signed_in, admin, make_template):
    template = make_template(name="Twice", variables=[variable("MAX_PLAYERS", "20")])
    client = signed_in(admin)
    url = f"/admin/templates_app/template/{template.pk}/change/"
    data = posted_back(
        client, url, stop_command="quit", **{"variables-TOTAL_FORMS": "2"}, **extra_variable(1, "MAX_PLAYERS")
    )
    response = client.post(url, data, follow=True)
    assert response.status_code == 200 and response.context["title"] == "Change template"
    assert "Please correct the duplicate data for env_variable." in str(response.context["errors"])
    template.refresh_from_db()
    assert template.stop_command == "stop" and template.variables.count() == 1
    assert not AuditLog.objects.filter(action="template.update").exists()


def test_the_egg_fields_are_edited_one_a_line_in_their_own_fieldset(signed_in, admin, make_template):
    template = make_template(name="Egg fields")
    client = signed_in(admin)
    url = f"/admin/templates_app/template/{template.pk}/change/"
    page = client.get(url).content.decode()
    assert "Egg compatibility" in page and "one-click accept" in page and "gitignore-style" in page
    data = posted_back(
        client,
        url,
        use_image_entrypoint="on",
        features="eula\n\njava_version\n",
        tags="minecraft\r\nPaper & Spigot",
        file_denylist="*.jar\n!server.jar",
    )
    response = client.post(url, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    template.refresh_from_db()
    assert template.use_image_entrypoint is True
    assert template.features == ["eula", "java_version"]
    assert template.tags == ["minecraft", "Paper & Spigot"]
    assert template.file_denylist == ["*.jar", "!server.jar"]
    assert "eula\njava_version" in client.get(url).content.decode()
    update = AuditLog.objects.get(action="template.update", user=admin)
    assert {"features", "tags", "file_denylist"} <= set(update.metadata["changes"])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("features", "eula now", "not a feature name"),
        ("tags", "x" * 101, "longer than 100"),
        ("file_denylist", "!", "not a pattern of files"),
    ],
)
def test_bad_egg_fields_are_refused_on_the_form(signed_in, admin, make_template, field, value, message):
    template = make_template(name="Bad egg fields")
    client = signed_in(admin)
    url = f"/admin/templates_app/template/{template.pk}/change/"
    response = client.post(url, posted_back(client, url, **{field: value}))
    assert response.status_code == 200 and message in response.content.decode()
    template.refresh_from_db()
    assert getattr(template, field) == []
