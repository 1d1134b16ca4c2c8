"""Phase 2: the console's JSON endpoints on their own, on SQLite and on PostgreSQL --
`GET /admin/requests` (newest first, every filter, paging by id), `GET /admin/requests/{id}`
(everything the row holds, the failover timeline included), `GET /admin/now` (live
figures), behind the admin key; and what they show with `store_content = false`.

PostgreSQL comes from the machine's binaries (scripts/test.sh installs Debian's
`postgresql`); without them the PostgreSQL cases fail and say what to install.
"""
from __future__ import annotations

import uuid

import pytest

from console_support import (ADMIN_KEY, admin_get, console_gateway, send_traffic, wait_for_rows)
from helpers import CLIENT_KEY, error_of
from pg_server import PgServer, PgUnavailable


@pytest.fixture(scope="module")
def pg():
    try:
        server = PgServer().__enter__()
    except PgUnavailable as e:
        pytest.fail(f"{e}: install PostgreSQL (apt-get install postgresql; scripts/test.sh does) "
                    f"to run the console's PostgreSQL tests")
    yield server
    server.__exit__(None, None, None)


@pytest.fixture(params=["sqlite", "postgres"])
def log_url(request):
    if request.param == "sqlite":
        return "sqlite://gpt_api.db"
    pg = request.getfixturevalue("pg")
    name = "console_" + uuid.uuid4().hex[:12]
    pg.execute(f"CREATE DATABASE {name}")
    return pg.database_url(name)


def page(gw, query: str = "") -> dict:
    r = admin_get(gw, "/admin/requests" + (f"?{query}" if query else ""))
    assert r.status_code == 200, r.text
    return r.json()


def ids_of(answer: dict) -> list:
    return [item["id"] for item in answer["data"]]


def test_request_log_pages_filters_and_timelines(gateway, mocks, monkeypatch, log_url):
    gw, a, b = console_gateway(gateway, mocks, monkeypatch, database={"url": log_url})
    traffic = send_traffic(gw, a)
    wait_for_rows(gw, traffic.all())

    everything = page(gw, "limit=500")
    newest_first = ids_of(everything)
    assert newest_first == sorted(newest_first, reverse=True)
    assert set(traffic.all()) <= set(newest_first)
    # Paging by id, two at a time, gives the same list.
    walked, before = [], ""
    while True:
        answer = page(gw, f"limit=2&before={before}")
        walked += ids_of(answer)
        if not answer["has_more"]:
            assert answer["next_before"] is None
            break
        before = answer["next_before"]
    assert walked == newest_first

    assert set(ids_of(page(gw, "key=team-b"))) == set(traffic.plain_b)
    assert set(ids_of(page(gw, "model=n"))) == set(traffic.plain_b)
    assert ids_of(page(gw, "status=404")) == [traffic.refused]
    assert ids_of(page(gw, "status=4xx")) == [traffic.refused]
    assert traffic.refused in ids_of(page(gw, "status=error"))
    assert ids_of(page(gw, "error=MODEL%20%27NOPE%27")) == [traffic.refused]
    assert set(ids_of(page(gw, "upstream=b&key=team-a"))) == {traffic.failed_over, traffic.recovered}
    assert ids_of(page(gw, "endpoint=/v1/embeddings")) == []
    first = everything["data"][-1]["created_at"]
    assert set(ids_of(page(gw, f"since={first}&limit=500"))) == set(newest_first)
    assert ids_of(page(gw, f"until={first}")) == []
    listed = next(item for item in everything["data"] if item["id"] == traffic.failed_over)
    assert listed["attempts"] == 2 and listed["status"] == 200 and listed["upstream"] == "b"
    assert "request_body" not in listed

    detail = admin_get(gw, f"/admin/requests/{traffic.failed_over}").json()
    assert detail["tried"] == ["a/m", "b/m"]
    first_attempt, second_attempt = detail["attempts"]
    assert (first_attempt["target"], first_attempt["outcome"]) == ("a/m", "misconfigured")
    assert first_attempt["error"] == "upstream returned 401"
    assert (second_attempt["target"], second_attempt["outcome"]) == ("b/m", "ok")
    assert second_attempt["start_ms"] >= first_attempt["start_ms"] + first_attempt["duration_ms"] - 0.01
    assert detail["request_body"] and "fail over" in detail["request_body"]
    assert detail["response_content"] and detail["total_tokens"] > 0
    assert detail["client_key"] == "team-a" and detail["endpoint"] == "/v1/chat/completions"

    recovered = admin_get(gw, f"/admin/requests/{traffic.recovered}").json()
    broken, continued = recovered["attempts"]
    assert broken["target"] == "a/m" and broken["mid_stream"] is True and broken["outcome"] == "transient"
    assert continued["target"] == "b/m" and continued["continuation"] is True and continued["outcome"] == "ok"
    assert recovered["stream"] is True and recovered["ttft_ms"] is not None

    refused = admin_get(gw, f"/admin/requests/{traffic.refused}").json()
    assert refused["attempts"] == [] and refused["status"] == 404

    missing = admin_get(gw, "/admin/requests/0000000000000000ffffffffffffffff")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    bad = admin_get(gw, "/admin/requests?status=7xx")
    assert bad.status_code == 400 and error_of(bad)["code"] == "invalid_parameter"
    assert "status" in error_of(bad)["message"]
    bad = admin_get(gw, "/admin/requests?colour=red")
    assert bad.status_code == 400 and "colour" in error_of(bad)["message"]


def test_admin_key_guards_every_console_endpoint(gateway, mocks, monkeypatch):
    gw, _, _ = console_gateway(gateway, mocks, monkeypatch)
    for path in ("/admin/requests", "/admin/requests/x", "/admin/now"):
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": f"Bearer {CLIENT_KEY}"}):
            r = admin_get(gw, path, headers=headers)
            assert r.status_code == 401, (path, headers, r.text)
            assert error_of(r)["code"] == "invalid_api_key"
    page_ = admin_get(gw, "/console")
    assert page_.status_code == 200 and "text/html" in page_.headers["content-type"]
    assert admin_get(gw, "/console/console.js").status_code == 200
    assert ADMIN_KEY not in "\n".join(gw.raw_output)


def test_console_is_off_without_an_admin_key(gateway, mocks):
    from gateway import upstream
    gw = gateway([upstream(mocks("a"))], [{"name": "m", "targets": [{"upstream": "a"}]}])
    for path in ("/console", "/console/console.js", "/admin/now", "/admin/requests"):
        r = admin_get(gw, path)
        assert r.status_code == 404, path


def test_now_counts_traffic_by_model_and_upstream(gateway, mocks, monkeypatch):
    gw, a, _ = console_gateway(gateway, mocks, monkeypatch)
    send_traffic(gw, a)

    def sampled():
        now = admin_get(gw, "/admin/now").json()
        return now if now["total"]["requests"] >= 8 else None

    from helpers import wait_until
    now = wait_until(sampled, timeout=10, interval=0.5)
    models = {group["name"]: group["figures"] for group in now["models"]}
    assert models["n"]["requests"] == 2 and models["n"]["error_rate"] == 0
    assert models["m"]["latency_p50_ms"] > 0 and now["total"]["requests_per_s"] > 0
    upstreams = {group["name"] for group in now["upstreams"]}
    assert {"a", "b"} <= upstreams
    targets = {(b["model"], b["target"]): b for b in now["breakers"]}
    assert set(targets) == {("m", "a/m"), ("m", "b/m"), ("n", "b/n")}
    assert all(b["state"] in ("closed", "open", "half_open") and b["workers"] == 1 for b in targets.values())
    assert now["log"]["database"] == "connected" and now["log"]["spilling"] is False
    assert now["open_connections"] >= 1 and now["sampled_every_s"] == 2


def test_store_content_off_shows_what_is_there(gateway, mocks, monkeypatch):
    gw, a, _ = console_gateway(gateway, mocks, monkeypatch, database={"store_content": False})
    traffic = send_traffic(gw, a)
    wait_for_rows(gw, [traffic.failed_over])
    detail = admin_get(gw, f"/admin/requests/{traffic.failed_over}").json()
    assert detail["request_body"] is None and detail["response_content"] is None
    assert detail["total_tokens"] > 0 and [x["outcome"] for x in detail["attempts"]] == ["misconfigured", "ok"]
