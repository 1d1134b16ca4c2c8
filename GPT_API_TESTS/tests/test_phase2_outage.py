"""Phase 2: what a PostgreSQL outage looks like from outside (issue 12, items 5 and 6).

`/ready` answers the same whether the database was down when the gateway started or went
away later: ready (it serves, and spills what the database cannot take), with the
database's state in the body. Access lines do not wait for the database: each appears
within a second of its response even while every connect attempt waits for its timeout.
"""
import time

import httpx
import pytest

from gateway import upstream
from helpers import msgs, wait_until
from phase2_support import log_database, pg_server  # noqa: F401 (fixture)

PAUSE_S = 0.3  # between requests, so that they spread over several connect attempts


def start_gateway(gateway, mocks, db):
    a = mocks("a")
    return gateway([upstream(a)], [{"name": "m", "targets": [{"upstream": "a"}]}],
                   database={"url": db.url})


def readiness(gw) -> tuple[int, dict]:
    resp = httpx.get(gw.url + "/ready", timeout=5)
    return resp.status_code, resp.json()


def wait_readiness(gw, **want) -> dict:
    """Waits until /ready's body has every field of `want`; returns it."""
    seen = {}

    def matches():
        nonlocal seen
        _, seen = readiness(gw)
        return all(seen.get(k) == v for k, v in want.items())
    try:
        wait_until(matches, timeout=15)
    except TimeoutError as e:
        raise AssertionError(f"/ready never had {want}; last {seen}") from e
    return seen


def chat(gw) -> str:
    resp = httpx.post(gw.url + "/v1/chat/completions", json={"model": "m", "messages": msgs("ready?")},
                      timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.headers["x-request-id"]


def ready_while_down(gw) -> dict:
    """The verdict and the details while the database is away, before and after a request."""
    status, body = readiness(gw)
    assert status == 200 and body["ready"] and body["log_writer"] and body["workers_listening"], body
    rid = chat(gw)
    spilling = wait_readiness(gw, spilling=True)
    status, _ = readiness(gw)
    assert status == 200 and spilling["ready"] and spilling["database"] == "unreachable", spilling
    return {"before_request": body, "after_request": {k: v for k, v in spilling.items() if k != "spilled_rows"},
            "request_id": rid}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("down", ["from_start", "later"])
def test_readiness_is_the_same_whether_the_database_was_down_from_the_start_or_went_away(
        gateway, mocks, tmp_path, request, down):
    db = log_database("postgres", tmp_path, request)
    sent = []
    try:
        if down == "from_start":
            db.pg.stop()
            gw = start_gateway(gateway, mocks, db)
        else:
            gw = start_gateway(gateway, mocks, db)
            up = wait_readiness(gw, database="connected")
            assert up["ready"] and not up["spilling"], up
            sent.append(chat(gw))
            wait_until(lambda: db.count() == 1, timeout=10)
            db.pg.stop()
        # No traffic needed to notice: the writer probes an idle database.
        wait_readiness(gw, database="unreachable")
        seen = ready_while_down(gw)
        sent.append(seen["request_id"])
        assert seen["before_request"] == {"ready": True, "workers_listening": True, "log_writer": True,
                                          "database": "unreachable", "spilling": False, "spilled_rows": 0,
                                          "limits_fleet": "off"}
        assert seen["after_request"] == {"ready": True, "workers_listening": True, "log_writer": True,
                                         "database": "unreachable", "spilling": True,
                                         "limits_fleet": "off"}
    finally:
        if not db.pg.running:
            db.pg.start()
    back = wait_readiness(gw, database="connected", spilling=False)
    assert back["ready"], back
    wait_until(lambda: db.count() == len(sent), timeout=10)
    assert {row["id"] for row in db.rows()} == set(sent)


@pytest.mark.timeout(60)
def test_access_lines_do_not_wait_for_the_database(gateway, mocks, tmp_path, request):
    db = log_database("postgres", tmp_path, request)
    gw = start_gateway(gateway, mocks, db)
    sent = [chat(gw)]
    gw.access(sent[0], timeout=1)
    db.pg.stop()
    try:
        # Over about five seconds: the writer's connect attempts (3 s each) come and go meanwhile.
        for _ in range(15):
            rid = chat(gw)
            answered = time.monotonic()
            line = gw.access(rid, timeout=1.0)  # raises if the line is later than 1 s after the response
            assert line["status"] == 200 and time.monotonic() - answered < 1.0
            sent.append(rid)
            time.sleep(PAUSE_S)
        depth = int(next(line.split()[1] for line in httpx.get(gw.url + "/metrics").text.splitlines()
                         if line.startswith("gpt_api_log_queue_depth ")))
        assert depth == 0, f"the log queue holds {depth} events with no request in flight"
    finally:
        db.pg.start()
    wait_until(lambda: db.count() == len(sent), timeout=15)
    assert {row["id"] for row in db.rows()} == set(sent)
