"""Oversized bodies, deep JSON and absurd page numbers are refused in the contract's error shape, never 500."""

import pytest

from accounts.models import ApiKey

pytestmark = pytest.mark.django_db


def assert_error(response, status: int):
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert body["statusCode"] == status and body["message"] and body["error"]


@pytest.fixture
def customer_api(client_for, customer):
    return client_for(customer)


class TestBodySize:
    @pytest.fixture(autouse=True)
    def small_cap(self, settings):
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000

    def test_a_json_body_over_the_cap_is_a_413(self, customer_api):
        body = '{"name": "' + "x" * 20_000 + '"}'
        response = customer_api.post("/api/api-keys", body, content_type="application/json")
        assert_error(response, 413)
        assert "10000 bytes" in response.json()["message"]
        assert not ApiKey.objects.exists()

    def test_a_form_body_over_the_cap_is_a_413(self, customer_api):
        response = customer_api.post(
            "/api/api-keys", "name=" + "x" * 20_000, content_type="application/x-www-form-urlencoded"
        )
        assert_error(response, 413)

    def test_an_anonymous_login_over_the_cap_is_a_413(self, api):
        body = '{"email": "a@example.com", "password": "' + "x" * 20_000 + '"}'
        assert_error(api.post("/api/auth/login", body, content_type="application/json"), 413)

    def test_a_body_at_the_cap_is_read(self, customer_api):
        body = '{"name": "deploy", "pad": "' + "x" * 9_000 + '"}'
        assert customer_api.post("/api/api-keys", body, content_type="application/json").status_code == 201


class TestNesting:
    @pytest.mark.parametrize("depth", [33, 200, 5_000, 100_000])
    @pytest.mark.parametrize("opener, closer", [("[", "]"), ('{"a":', "}")])
    def test_deep_json_is_a_400(self, customer_api, depth, opener, closer):
        body = opener * depth + "1" + closer * depth
        response = customer_api.post("/api/api-keys", body, content_type="application/json")
        assert_error(response, 400)
        assert "nested" in response.json()["message"]

    def test_json_within_the_depth_is_parsed(self, customer_api):
        body = '{"name": "ok", "x": ' + "[" * 30 + "]" * 30 + "}"
        assert customer_api.post("/api/api-keys", body, content_type="application/json").status_code == 201

    def test_malformed_json_is_a_400(self, customer_api):
        assert_error(customer_api.post("/api/api-keys", "{", content_type="application/json"), 400)


class TestPages:
    @pytest.mark.parametrize(
        "query",
        [
            "page=99999999999999999999",
            "page=9223372036854775808",
            "page=²",
            "page=١",  # noqa: RUF001 - a digit to isdigit(), not to int()
            "page=-1",
            "page=0",
            "page=1e3",
            "page=",
            "limit=99999999999999999999",
            "limit=²",
            "limit=0",
        ],
    )
    def test_absurd_pages_and_limits_are_a_400(self, customer_api, query):
        assert_error(customer_api.get(f"/api/api-keys?{query}"), 400)

    @pytest.mark.parametrize("page", ["3", "922337203685477580", "999999999999999999"])
    def test_a_page_past_the_end_is_empty(self, customer_api, page):
        response = customer_api.get(f"/api/api-keys?page={page}")
        assert response.status_code == 200
        assert response.json()["data"] == []
        assert response.json()["pagination"]["page"] == int(page)

    def test_staff_lists_take_the_same_pagination(self, client_for, admin):
        assert_error(client_for(admin).get("/api/admin/audit-logs?page=99999999999999999999"), 400)
        response = client_for(admin).get("/api/admin/audit-logs?page=999999999999999")
        assert response.status_code == 200 and response.json()["data"] == []
