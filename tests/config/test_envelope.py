"""Success envelope, pagination and camelCase keys."""

import pytest

pytestmark = pytest.mark.django_db


def test_a_success_is_enveloped_with_camel_case_keys(client_for, admin):
    body = client_for(admin).get("/api/auth/me").json()
    assert body["success"] is True
    assert "createdAt" in body["data"] and "created_at" not in body["data"]


@pytest.fixture
def many_users(make_user):
    return [make_user() for _ in range(25)]


def test_lists_are_paginated_with_page_and_limit(client_for, admin, many_users):
    client = client_for(admin)
    body = client.get("/api/admin/users").json()
    assert len(body["data"]) == 20
    assert body["pagination"] == {"page": 1, "limit": 20, "total": 26, "pages": 2}

    second = client.get("/api/admin/users?page=2&limit=20").json()
    assert len(second["data"]) == 6
    assert second["pagination"]["page"] == 2
    first_ids = {u["id"] for u in body["data"]}
    assert first_ids.isdisjoint(u["id"] for u in second["data"])


def test_limit_is_capped_at_100(client_for, admin, many_users):
    body = client_for(admin).get("/api/admin/users?limit=500").json()
    assert body["pagination"]["limit"] == 100
    assert len(body["data"]) == 26


def test_a_page_past_the_end_is_empty(client_for, admin):
    body = client_for(admin).get("/api/admin/users?page=9").json()
    assert body["data"] == []
    assert body["pagination"]["page"] == 9


@pytest.mark.parametrize("query", ["page=0", "page=abc", "limit=0", "limit=-5", "limit=ten"])
def test_bad_paging_parameters_are_a_400(client_for, admin, query):
    response = client_for(admin).get(f"/api/admin/users?{query}")
    assert response.status_code == 400
    assert set(response.json()["fields"]) <= {"page", "limit"}


def test_search_filters_users(client_for, admin, make_user):
    make_user(email="findme@example.com", username="findme")
    body = client_for(admin).get("/api/admin/users?search=findme").json()
    assert [u["email"] for u in body["data"]] == ["findme@example.com"]
