"""Every error on /api/ has the contract's shape, whoever produced it."""

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def assert_error(response, status: int, message: str | None = None) -> dict:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["statusCode"] == status
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["message"], str) and body["message"]
    if message is not None:
        assert body["message"] == message
    return body


@pytest.fixture
def raw_api():
    return APIClient(raise_request_exception=False)


def test_validation_errors_name_the_fields(api):
    body = assert_error(api.post("/api/auth/login", {"email": "x@example.com"}, format="json"), 400)
    assert body["error"] == "Bad Request"
    assert body["fields"] == {"password": ["This field is required."]}
    assert body["message"] == "password: This field is required."


def test_malformed_json_is_a_400(api):
    response = api.post("/api/auth/login", "{not json", content_type="application/json")
    assert_error(response, 400)


def test_unauthenticated_is_a_401(api):
    assert_error(api.get("/api/admin/users"), 401)


def test_forbidden_is_a_403_naming_the_permission(client_for, customer):
    body = assert_error(client_for(customer).get("/api/admin/users"), 403)
    assert body["message"] == "You do not have permission to perform this action (requires admin.read)"


def test_unknown_api_path_is_a_json_404(api):
    assert_error(api.get("/api/no/such/thing"), 404, "No API endpoint at /api/no/such/thing")
    assert_error(api.post("/api/no/such/thing", {}), 404)


def test_wrong_method_is_a_405(api):
    assert_error(api.delete("/api/health"), 405, 'Method "DELETE" not allowed.')


@pytest.mark.urls("tests.config.urls")
def test_conflict_is_a_409_naming_the_current_state(api):
    body = assert_error(api.get("/api/test/conflict"), 409, "Server is running")
    assert body["currentState"] == "running"


@pytest.mark.urls("tests.config.urls")
def test_locked_is_a_423(api):
    body = assert_error(api.get("/api/test/locked"), 423, "Server is suspended.")
    assert body["error"] == "Locked"


@pytest.mark.urls("tests.config.urls")
def test_node_unavailable_is_a_503(api):
    assert_error(api.get("/api/test/unavailable"), 503, "Node 'alpha' is unreachable")


@pytest.mark.urls("tests.config.urls")
def test_a_crash_in_an_api_view_is_a_500_without_internals(raw_api):
    body = assert_error(raw_api.get("/api/test/crash"), 500)
    assert "secret internals" not in str(body)
    assert "Traceback" not in str(body)


@pytest.mark.urls("tests.config.urls")
def test_a_crash_outside_drf_is_still_json(raw_api):
    body = assert_error(raw_api.get("/api/test/plain-crash"), 500)
    assert "secret internals" not in str(body)


def test_csrf_failure_on_session_auth_is_json(signed_in, customer):
    client = signed_in(customer, api=True)
    client.handler.enforce_csrf_checks = True
    assert_error(client.post("/api/auth/logout", {}, format="json"), 403)


def test_rate_limited_is_a_429_in_the_error_format(api, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "health": 1}
    api.get("/api/health")
    body = assert_error(api.get("/api/health"), 429)
    assert body["message"].startswith("Rate limit exceeded. Try again in ")


def test_bad_credentials_are_a_401_naming_the_scheme(api, customer):
    response = api.post("/api/auth/login", {"email": customer.email, "password": "wrong"}, format="json")
    assert_error(response, 401, "Invalid email or password")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_validator_inside_a_serializer_gives_the_serializer_its_fields():
    from rest_framework import serializers

    from config.api.exceptions import serializer_errors
    from config.errors import InvalidInput

    class Checked(serializers.Serializer):
        name = serializers.CharField()

        def validate(self, attrs):
            with serializer_errors():
                raise InvalidInput({"name": ["Taken."]})

    data = Checked(data={"name": "x"})
    assert not data.is_valid()
    assert data.errors == {"name": ["Taken."]}
