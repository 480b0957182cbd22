import pytest
from openapi_spec_validator import validate

from config import heartbeat

pytestmark = pytest.mark.django_db


def test_public_health_needs_no_login(api):
    response = api.get("/api/health")
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "ok"


def test_admin_health_reports_database_redis_nodes_and_services(client_for, admin):
    heartbeat.beat("sftp")
    data = client_for(admin).get("/api/admin/health").json()["data"]
    assert data["database"] == "connected"
    assert data["redis"] == "connected"
    assert data["nodes"] == {"total": 0, "online": 0, "offline": 0}
    assert data["services"]["sftpServer"] == "running"
    assert data["services"]["taskScheduler"] == "down"
    assert data["status"] == "degraded"
    assert isinstance(data["uptime"], int)


def test_admin_health_is_for_administrators(api, client_for, customer):
    assert api.get("/api/admin/health").status_code == 401
    assert client_for(customer).get("/api/admin/health").status_code == 403


def test_support_staff_may_read_admin_health(client_for, make_user):
    assert client_for(make_user(role="Support")).get("/api/admin/health").status_code == 200


@pytest.fixture
def schema(api):
    response = api.get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def test_the_schema_is_valid_openapi(schema):
    validate(schema)


def test_the_schema_documents_the_envelope_and_errors(schema):
    login = schema["paths"]["/api/auth/login"]["post"]
    ok = login["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["properties"]["success"]["enum"] == [True]
    for status in ("400", "429", "500"):
        assert login["responses"][status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
    assert set(schema["components"]["schemas"]["Error"]["required"]) == {"error", "statusCode", "message"}


def test_the_schema_uses_camel_case(schema):
    result = schema["components"]["schemas"]["AuthResult"]["properties"]
    assert {"userId", "refreshToken"} <= set(result)


def test_paginated_lists_document_the_pagination_block(schema):
    users = schema["paths"]["/api/admin/users"]["get"]
    ref = users["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    body = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert set(body["properties"]) == {"success", "data", "pagination"}
    assert {p["name"] for p in users["parameters"]} >= {"page", "limit", "search"}


def test_swagger_ui_is_served(api):
    response = api.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
