"""Phase 1: the admin endpoints. Off without `[admin] key_env`; behind the admin key (401 and
a row without it); `GET /admin/usage` totals from request_logs, answered by the logging
thread's database."""
import time
import httpx

from gateway import upstream
from helpers import CLIENT_KEY, error_of, http, msgs, sdk, wait_until

ADMIN_KEY = "admin-secret-for-tests"


def keys():
    return [{"name": "team-a", "key": CLIENT_KEY}, {"name": "team-b", "key": CLIENT_KEY + "-b"}]


def test_admin_endpoints_are_off_without_an_admin_key(gateway, mocks):
    gw = gateway([upstream(mocks("a"))], [{"name": "m", "targets": [{"upstream": "a"}]}])
    r = http(gw).get("/admin/usage", headers={"authorization": f"Bearer {ADMIN_KEY}"})
    assert r.status_code == 404 and error_of(r)["code"] == "not_found"


def test_admin_key_is_required_and_refusals_are_logged(gateway, mocks, monkeypatch):
    monkeypatch.setenv("GPT_API_TEST_ADMIN_KEY", ADMIN_KEY)
    gw = gateway([upstream(mocks("a"))], [{"name": "m", "targets": [{"upstream": "a"}]}],
                 admin={"key_env": "GPT_API_TEST_ADMIN_KEY"}, client_keys=keys())
    client = http(gw)
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": f"Bearer {CLIENT_KEY}"}):
        r = client.get("/admin/usage", headers=headers)
        assert r.status_code == 401, r.text
        error = error_of(r)
        assert error["code"] == "invalid_api_key" and "admin key" in error["message"]
        row = gw.db_row(r.headers["x-request-id"])
        assert row["status"] == 401 and row["endpoint"] == "/admin/usage"
        assert gw.access(r.headers["x-request-id"])["status"] == 401
    admin = {"authorization": f"Bearer {ADMIN_KEY}"}
    r = client.get("/admin/nothing", headers=admin)
    assert r.status_code == 404 and error_of(r)["code"] == "not_found"
    r = client.get("/admin/usage?group_by=team", headers=admin)
    assert r.status_code == 400 and error_of(r)["code"] == "invalid_parameter"
    assert "group_by" in error_of(r)["message"]
    assert gw.db_row(r.headers["x-request-id"])["status"] == 400
    assert ADMIN_KEY not in "\n".join(gw.raw_output)


def test_usage_totals_grouped_by_key_model_and_upstream(gateway, mocks, monkeypatch):
    monkeypatch.setenv("GPT_API_TEST_ADMIN_KEY", ADMIN_KEY)
    a, b = mocks("a", "b")
    gw = gateway([upstream(a), upstream(b)], [
        {"name": "m", "targets": [{"upstream": "a"}]},
        {"name": "n", "targets": [{"upstream": "b"}]},
    ], admin={"key_env": "GPT_API_TEST_ADMIN_KEY"}, client_keys=keys())
    ids = []
    for key, model in ((CLIENT_KEY, "m"), (CLIENT_KEY, "m"), (CLIENT_KEY + "-b", "n")):
        raw = sdk(gw, key=key).chat.completions.with_raw_response.create(model=model, messages=msgs("one two"))
        ids.append(raw.headers["x-request-id"])
    refused = http(gw).post("/v1/chat/completions", json={"model": "nope", "messages": msgs("x")},
                            headers={"authorization": f"Bearer {CLIENT_KEY}"})
    assert refused.status_code == 404
    ids.append(refused.headers["x-request-id"])
    for rid in ids:
        gw.db_row(rid)
    rows = {r["id"]: r for r in gw.db_rows()}
    admin = {"authorization": f"Bearer {ADMIN_KEY}"}
    client = http(gw)

    def usage(query: str) -> dict:
        r = client.get(f"/admin/usage?{query}", headers=admin)
        assert r.status_code == 200, r.text
        return r.json()

    by_key = usage("group_by=key")
    assert by_key["object"] == "usage" and by_key["group_by"] == "key"
    groups = {g["group"]: g for g in by_key["data"]}
    team_a = [rows[i] for i in ids if rows[i]["client_key"] == "team-a"]
    assert groups["team-a"]["requests"] == 3 and groups["team-a"]["errors"] == 1
    assert groups["team-a"]["prompt_tokens"] == sum(r["prompt_tokens"] or 0 for r in team_a)
    assert groups["team-a"]["total_tokens"] == sum(r["total_tokens"] or 0 for r in team_a) > 0
    assert groups["team-b"]["requests"] == 1 and groups["team-b"]["errors"] == 0
    by_upstream = {g["group"]: g["requests"] for g in usage("group_by=upstream")["data"]}
    assert by_upstream["a"] == 2 and by_upstream["b"] == 1
    by_model = {g["group"]: g["requests"] for g in usage("group_by=model&since=2000-01-01")["data"]}
    assert by_model["m"] == 2 and by_model["n"] == 1 and by_model["nope"] == 1
    # A window that ends before the first request holds none of them.
    assert usage("group_by=key&until=2000-01-01T00:00:00Z")["data"] == []
    # The admin's own requests are logged too (without a client key).
    wait_until(lambda: any(r["endpoint"] == "/admin/usage" and r["status"] == 200 for r in gw.db_rows()))


def test_admin_keys_lists_every_key_with_its_limits_and_spend(gateway, mocks, monkeypatch):
    monkeypatch.setenv("GPT_API_TEST_ADMIN_KEY", ADMIN_KEY)
    limited = [{"name": "team-a", "key": CLIENT_KEY, "rpm": 50, "budget": {"tokens": 100000, "period": "day"}},
               {"name": "team-b", "key": CLIENT_KEY + "-b"}]
    gw = gateway([upstream(mocks("a"))], [{"name": "m", "targets": [{"upstream": "a"}]}],
                 admin={"key_env": "GPT_API_TEST_ADMIN_KEY"}, client_keys=limited)
    # `requests.used` counts in fixed UTC minute windows: send and read in the same one.
    if time.time() % 60 > 45:
        time.sleep(61 - time.time() % 60)
    raw = sdk(gw).chat.completions.with_raw_response.create(model="m", messages=msgs("one two"))
    tokens = raw.parse().usage.total_tokens
    admin = {"authorization": f"Bearer {ADMIN_KEY}"}
    assert http(gw).get("/admin/keys").status_code == 401

    def team_a() -> dict:
        r = http(gw).get("/admin/keys", headers=admin)
        assert r.status_code == 200, r.text
        views = {k["key"]: k for k in r.json()["data"]}
        assert set(views) == {"team-a", "team-b"}
        assert views["team-b"]["limits"]["rpm"] is None
        return views["team-a"]

    # Spend is settled by the logging thread once the answer is over.
    wait_until(lambda: team_a()["spend"]["tokens"] == tokens)
    view = team_a()
    assert view["limits"]["rpm"] == 50 and view["requests"]["used"] >= 1
    assert view["limits"]["budget"] == {"tokens": 100000, "period": "day"}
    assert view["spend"]["remaining"] == 100000 - tokens
