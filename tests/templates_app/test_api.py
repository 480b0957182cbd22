"""The templates API: the contract's fields, writes for admin.write only, and the refusals."""

import pytest

from accounts.models import AuditLog
from templates_app.models import Template
from tests.fixtures.templates import variable

pytestmark = pytest.mark.django_db

CONTRACT_BODY = {
    "name": "Minecraft Java Edition",
    "description": "Latest Minecraft server",
    "dockerImage": "itzg/minecraft-server:latest",
    "startCommand": "java -Xmx{{MEMORY}} -jar server.jar",
    "stopCommand": "stop",
    "ports": [{"internal": 25565, "external": 25565}],
    "environment": {"EULA": "TRUE", "MEMORY": "{{MEMORY}}", "PORT": "{{PORT}}"},
    "requiredVariables": ["MEMORY", "PORT", "EULA"],
}


def test_the_contract_example_creates_a_template(staff):
    response = staff.post("/api/templates", CONTRACT_BODY, format="json")
    assert response.status_code == 201, response.content
    data = response.json()["data"]
    for key, value in CONTRACT_BODY.items():
        assert data[key] == value
    assert data["features"] == {"configFiles": []}
    contract = {
        "id",
        "name",
        "description",
        "dockerImage",
        "startCommand",
        "stopCommand",
        "ports",
        "environment",
        "requiredVariables",
        "features",
        "createdAt",
    }
    ours = {
        "dockerImages",
        "pullPolicy",
        "stopSignal",
        "variables",
        "readyPattern",
        "readyPatternIsRegex",
        "dataPath",
        "installImage",
        "installEntrypoint",
        "installScript",
        "configFileRules",
        "readOnlyRoot",
        "backupBeforeCommands",
        "backupDonePattern",
        "backupDonePatternIsRegex",
        "backupAfterCommands",
        "useImageEntrypoint",
        "eggFeatures",
        "tags",
        "fileDenylist",
        "source",
        "updatedAt",
    }
    assert set(data) == contract | ours
    assert data["dataPath"] == "/home/container" and data["source"] == "manual"
    assert AuditLog.objects.filter(action="template.create", resource_id=data["id"]).exists()


def test_hearth_fields_and_variables_round_trip_in_camel_case(staff):
    body = {
        **CONTRACT_BODY,
        "name": "Full",
        "dockerImages": {
            "Java 21": "itzg/minecraft-server:java21",
            "java_17": "itzg/minecraft-server:java17",
        },
        "configFileRules": [
            {
                "path": "server.properties",
                "parser": "properties",
                "replace": {"server-port": "{{SERVER_PORT}}"},
            },
            {
                "path": "config/paper.yml",
                "parser": "yaml",
                "replace": {"settings.max_players": "{{MAX_PLAYERS}}"},
            },
        ],
        "readyPattern": r"Done \(\d+",
        "readyPatternIsRegex": True,
        "dataPath": "/data",
        "installImage": "ghcr.io/pterodactyl/installers:alpine",
        "installEntrypoint": "ash",
        "installScript": "#!/bin/ash\necho hi\n",
        "readOnlyRoot": True,
        "backupBeforeCommands": "save-off\nsave-all",
        "backupDonePattern": r"Saved the (game|world)",
        "backupDonePatternIsRegex": True,
        "backupAfterCommands": "save-on",
        "useImageEntrypoint": True,
        "eggFeatures": ["eula", "java_version"],
        "tags": ["minecraft", "Paper & Spigot"],
        "fileDenylist": ["*.jar", "!server.jar", "/config/secret.yml"],
        "variables": [
            {
                "envVariable": "MAX_PLAYERS",
                "name": "Max players",
                "defaultValue": "20",
                "rules": {"required": True, "type": "integer", "min": 1, "max": 100},
            },
            {"envVariable": "MOTD", "name": "MOTD", "userEditable": False, "rules": {"maxLength": 59}},
        ],
    }
    response = staff.post("/api/templates", body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert data["dockerImages"] == body["dockerImages"]
    assert data["configFileRules"] == body["configFileRules"]
    assert data["features"] == {"configFiles": ["server.properties", "config/paper.yml"]}
    for key in ("useImageEntrypoint", "eggFeatures", "tags", "fileDenylist"):
        assert data[key] == body[key], key
    assert [v["envVariable"] for v in data["variables"]] == ["MAX_PLAYERS", "MOTD"]
    assert data["variables"][0]["rules"] == {
        "required": True,
        "type": "integer",
        "regex": None,
        "min": 1,
        "max": 100,
        "minLength": None,
        "maxLength": None,
        "choices": None,
    }
    assert data["variables"][1]["userEditable"] is False and data["variables"][1]["rules"]["maxLength"] == 59
    template = Template.objects.get(pk=data["id"])
    assert template.variables.get(env_variable="MOTD").rules["max_length"] == 59


def test_list_is_paginated_and_searchable(client_for, customer, make_template):
    make_template(name="Alpha")
    make_template(name="Beta")
    client = client_for(customer)
    page = client.get("/api/templates?limit=1").json()
    assert page["pagination"] == {"page": 1, "limit": 1, "total": 2, "pages": 2}
    assert [t["name"] for t in client.get("/api/templates?search=bet").json()["data"]] == ["Beta"]


def test_customers_see_viewable_variables_and_no_install_script(client_for, customer, staff, make_template):
    template = make_template(
        install_image="alpine:3",
        install_script="echo secret-ish",
        variables=[variable("PUBLIC_VAR", "a"), variable("HIDDEN_VAR", "b", viewable=False, editable=False)],
    )
    mine = client_for(customer).get(f"/api/templates/{template.pk}").json()["data"]
    assert [v["envVariable"] for v in mine["variables"]] == ["PUBLIC_VAR"]
    assert "installScript" not in mine
    full = staff.get(f"/api/templates/{template.pk}").json()["data"]
    assert [v["envVariable"] for v in full["variables"]] == ["PUBLIC_VAR", "HIDDEN_VAR"]
    assert full["installScript"] == "echo secret-ish"


def test_customers_cannot_write(client_for, customer, make_template):
    client = client_for(customer)
    template = make_template()
    assert client.post("/api/templates", CONTRACT_BODY, format="json").status_code == 403
    assert client.patch(f"/api/templates/{template.pk}", {"name": "x"}, format="json").status_code == 403
    assert client.delete(f"/api/templates/{template.pk}").status_code == 403
    assert client.get(f"/api/templates/{template.pk}/export").status_code == 403


def test_support_staff_export_but_do_not_write(client_for, make_user, make_template):
    support = client_for(make_user(role="Support"))
    template = make_template()
    assert support.get(f"/api/templates/{template.pk}/export").status_code == 200
    assert support.patch(f"/api/templates/{template.pk}", {"name": "x"}, format="json").status_code == 403


def test_unknown_ids_are_404(staff):
    missing = "00000000-0000-0000-0000-000000000000"
    assert staff.get(f"/api/templates/{missing}").status_code == 404
    assert staff.patch(f"/api/templates/{missing}", {}, format="json").status_code == 404
    assert staff.get("/api/templates/not-a-uuid").status_code == 404


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"ports": [{"internal": 70000}]}, "ports", "internal must be a whole number from 1 to 65535"),
        ({"ports": [{"internal": 25565, "protocol": "sctp"}]}, "ports", "protocol must be tcp or udp"),
        ({"ports": "25565"}, "ports", "Ports must be a list"),
        ({"stopSignal": "SIGINT"}, "stopCommand", "not both"),
        ({"stopCommand": ""}, "stopCommand", "Give a stop command"),
        ({"stopSignal": "SIGBOGUS", "stopCommand": ""}, "stopSignal", "Unknown signal"),
        ({"environment": {"bad-name": "x"}}, "environment", "not a valid environment variable name"),
        ({"environment": {"SERVER_PORT": "1"}}, "environment", "set by the panel"),
        ({"requiredVariables": ["9lives"]}, "requiredVariables", "Not valid variable names"),
        ({"dataPath": "/home/../etc"}, "dataPath", "without '..'"),
        ({"dataPath": "/proc/self"}, "dataPath", "system directory"),
        (
            {"readyPattern": "Done (", "readyPatternIsRegex": True},
            "readyPattern",
            "not a valid regular expression",
        ),
        (
            {"backupDonePattern": "Saved (", "backupDonePatternIsRegex": True},
            "backupDonePattern",
            "backup done pattern is not a valid regular expression",
        ),
        (
            {"configFileRules": [{"path": "../x", "parser": "ini", "replace": {"a": "b"}}]},
            "configFileRules",
            "'..'",
        ),
        (
            {"configFileRules": [{"path": "a.toml", "parser": "toml", "replace": {"a": "b"}}]},
            "configFileRules",
            "parser",
        ),
        ({"dockerImage": "not an image"}, "dockerImage", "not a valid image"),
        ({"installScript": "echo hi"}, "installImage", "needs an install image"),
        ({"eggFeatures": ["eula now"]}, "eggFeatures", "not a feature name"),
        ({"eggFeatures": "eula"}, "eggFeatures", "list"),
        ({"eggFeatures": ["x" * 65]}, "eggFeatures", "longer than 64"),
        ({"tags": [""]}, "tags", "non-empty string"),
        ({"tags": ["t"] * 51}, "tags", "at most 50"),
        ({"fileDenylist": ["a.jar\nb.jar"]}, "fileDenylist", "line break"),
        ({"fileDenylist": ["!"]}, "fileDenylist", "not a pattern of files"),
        ({"fileDenylist": ["*" * 256]}, "fileDenylist", "longer than 255"),
    ],
)
def test_invalid_templates_are_refused(staff, change, field, message):
    body = {**CONTRACT_BODY, "name": "Bad", **change}
    response = staff.post("/api/templates", body, format="json")
    assert response.status_code == 400, response.content
    fields = response.json()["fields"]
    assert field in fields, fields
    assert message in " ".join(fields[field])
    assert not Template.objects.filter(name="Bad").exists()


@pytest.mark.parametrize(
    ("var", "message"),
    [
        ({"envVariable": "lower-case", "name": "x"}, "not a valid variable name"),
        ({"envVariable": "SERVER_MEMORY", "name": "x"}, "set by the panel"),
        ({"envVariable": "X", "name": "x", "rules": {"regex": "("}}, "regex does not compile"),
        (
            {"envVariable": "X", "name": "x", "rules": {"min": 5, "max": 1}},
            "min must not be greater than max",
        ),
        ({"envVariable": "X", "name": "x", "rules": {"type": "date"}}, "type must be one of"),
        ({"envVariable": "X", "name": "x", "rules": {"choices": []}}, "choices must be a non-empty list"),
        ({"envVariable": "X", "name": "x", "rules": {"teleport": True}}, "Unknown rule"),
    ],
)
def test_invalid_variables_are_refused(staff, var, message):
    response = staff.post("/api/templates", {**CONTRACT_BODY, "variables": [var]}, format="json")
    assert response.status_code == 400, response.content
    assert message in response.json()["message"]


def test_a_variable_declared_twice_is_refused(staff):
    body = {
        **CONTRACT_BODY,
        "variables": [{"envVariable": "A", "name": "a"}, {"envVariable": "A", "name": "b"}],
    }
    response = staff.post("/api/templates", body, format="json")
    assert response.status_code == 400
    assert response.json()["fields"] == {"variables[1].envVariable": ["A is declared twice."]}


def test_names_are_unique_whatever_the_case(staff, make_template):
    make_template(name="Paper")
    for name in ("Paper", "PAPER"):
        response = staff.post("/api/templates", {**CONTRACT_BODY, "name": name}, format="json")
        assert response.status_code == 400
        assert response.json()["fields"] == {"name": ["A template with this name already exists."]}


def test_patch_switches_between_stop_command_and_signal(staff, make_template):
    template = make_template()
    response = staff.patch(f"/api/templates/{template.pk}", {"stopSignal": "SIGINT"}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["data"]["stopCommand"], response.json()["data"]["stopSignal"]) == ("", "SIGINT")
    response = staff.patch(f"/api/templates/{template.pk}", {"stopCommand": "quit"}, format="json")
    assert (response.json()["data"]["stopCommand"], response.json()["data"]["stopSignal"]) == ("quit", "")
    both = staff.patch(
        f"/api/templates/{template.pk}", {"stopCommand": "quit", "stopSignal": "SIGINT"}, format="json"
    )
    assert both.status_code == 400


def test_update_replaces_variables_only_when_given(staff, make_template):
    template = make_template(variables=[variable("A", "1"), variable("B", "2")])
    staff.patch(f"/api/templates/{template.pk}", {"description": "new"}, format="json")
    assert list(template.variables.values_list("env_variable", flat=True)) == ["A", "B"]
    response = staff.put(
        f"/api/templates/{template.pk}",
        {**CONTRACT_BODY, "name": template.name, "variables": [{"envVariable": "C", "name": "c"}]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert [v["envVariable"] for v in response.json()["data"]["variables"]] == ["C"]
    assert response.json()["data"]["id"] == str(template.pk)
    log = AuditLog.objects.get(
        action="template.update", resource_id=str(template.pk), metadata__changes__contains=["variables"]
    )
    assert "variables" in log.metadata["changes"]


def test_delete(staff, make_template):
    template = make_template()
    response = staff.delete(f"/api/templates/{template.pk}")
    assert response.status_code == 200
    assert response.json()["message"] == "Template deleted"
    assert not Template.objects.filter(pk=template.pk).exists()
    assert AuditLog.objects.filter(action="template.delete", resource_id=str(template.pk)).exists()


def test_the_schema_documents_the_endpoints(staff):
    schema = staff.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {
        "/api/templates",
        "/api/templates/{id}",
        "/api/templates/import",
        "/api/templates/{id}/export",
    } <= set(paths)
