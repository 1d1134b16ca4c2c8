"""Phase 1: hostile and broken input, request smuggling, slow clients, metrics, readiness.

Every bad request must get a clear OpenAI-style 4xx, a log row, and leave the gateway
serving everyone else: never a panic, a hang or a lost record.
"""
import hashlib
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest

from gateway import upstream
from helpers import error_of, http, msgs, port_of, sdk, status_of, still_serving, wait_until

MODEL = {"name": "m", "targets": [{"upstream": "a", "weight": 1}]}


@pytest.fixture
def gw(gateway, mocks):
    a = mocks("a")
    return gateway([upstream(a)], [MODEL], server={"max_body_bytes": 4096, "header_timeout_ms": 1500,
                                                   "max_header_bytes": 8192})


def raw_exchange(g, data: bytes, timeout: float = 5.0) -> bytes:
    """Sends raw bytes and reads until the gateway closes the connection or times out."""
    with socket.create_connection(("127.0.0.1", port_of(g)), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except socket.timeout:
            pass
        return b"".join(chunks)


@pytest.mark.parametrize("head", [
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
])
def test_smuggling_shapes_are_refused_and_the_connection_closed(gw, head):
    # A second request hidden behind the first must never be parsed.
    smuggled = b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"
    response = raw_exchange(gw, head + smuggled)
    assert status_of(response) == 400
    assert response.count(b"HTTP/1.1 ") == 1, "nothing after the refused request is answered"
    assert b'"code":"bad_request"' in response
    still_serving(gw)


def test_oversized_headers_get_431(gw):
    response = raw_exchange(gw, b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    assert status_of(response) == 431
    still_serving(gw)


def test_chunked_body_over_the_limit_gets_413(gw):
    chunk = b"a" * 3000
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3)) + b"0\r\n\r\n"
    response = raw_exchange(gw, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    assert status_of(response) == 413
    assert b"request_too_large" in response


def test_chunked_request_body_is_accepted(gw):
    payload = b'{"model":"m","messages":[{"role":"user","content":"chunked"}]}'
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload)
    response = raw_exchange(gw, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                b"Transfer-Encoding: chunked\r\n\r\n" + body)
    assert status_of(response) == 200 and b"Echo: chunked" in response


def test_slowloris_is_cut_off_while_others_are_served(gw):
    """A client sending its head a byte at a time gets 408 after header_timeout_ms (1.5 s)."""
    result = {}

    def slow_client():
        with socket.create_connection(("127.0.0.1", port_of(gw)), timeout=10) as s:
            try:
                for byte in b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n":
                    s.sendall(bytes([byte]))
                    time.sleep(0.25)
            except OSError:
                pass  # the gateway hung up on us: expected
            try:
                result["response"] = s.recv(65536)
            except OSError:
                result["response"] = b""

    thread = threading.Thread(target=slow_client)
    thread.start()
    for i in range(5):  # other clients are served meanwhile
        still_serving(gw)
    thread.join(timeout=15)
    assert not thread.is_alive()
    assert status_of(result["response"]) == 408
    # The 408 came from the gateway's header timeout, before the client finished its head.
    assert b"request_timeout" in result["response"]


@pytest.mark.parametrize("body", [
    b"[" * 100000 + b"]" * 100000,                     # deep nesting
    b'{"model":"m","messages":[],"n":1' + b"9" * 5000 + b"}",  # a huge number is still JSON: passed on
    b'{"model":"m","messages":[{"role":"user","content":"\xff\xfe"}]}',  # invalid UTF-8
    b'{"model":["m"],"messages":[]}',                  # model of the wrong type
    b'{"model":"m","model":"other","messages":[]}',    # duplicate keys
    b'\x00\x01\x02',
    b"",
])
def test_hostile_bodies_get_a_clear_answer_and_a_row(gw, body):
    with http(gw) as h:
        resp = h.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    assert resp.status_code in (200, 400, 413, 422), resp.text
    rid = resp.headers["x-request-id"]
    if resp.status_code != 200:
        error = error_of(resp)
        assert error["message"] and error["type"] and error["code"]
    assert gw.db_row(rid)["status"] == resp.status_code
    still_serving(gw)


def test_sha256_client_keys_and_model_globs(gateway, mocks):
    a = mocks("a")
    secret = "sk-gw-hashed-secret"
    g = gateway([upstream(a)], [MODEL, {"name": "emb-small", "targets": [{"upstream": "a"}]}],
                client_keys=[{"name": "hashed", "key_sha256": hashlib.sha256(secret.encode()).hexdigest(),
                              "models": ["emb-*"]}])
    client = sdk(g, key=secret)
    assert [m.id for m in client.models.list().data] == ["emb-small"]
    assert client.embeddings.create(model="emb-small", input="hi").data
    with http(g) as h:
        resp = h.post("/v1/chat/completions", json={"model": "m", "messages": msgs("x")},
                      headers={"authorization": f"Bearer {secret}"})
        assert resp.status_code == 403 and error_of(resp)["code"] == "model_not_allowed"
        resp = h.get("/v1/models", headers={"authorization": "Bearer " + "0" * 64})
        assert resp.status_code == 401
    row = g.db_row(resp.headers["x-request-id"])
    assert row["client_key"] is None
    assert all(secret not in str(r) for r in g.db_rows()), "no key in any row"
    # The upstream got its own key, never the client's.
    assert a.requests and all(r.headers.get("authorization") == "Bearer sk-upstream-secret-a" for r in a.requests)


def test_metrics_move_with_requests(gw):
    def scrape():
        with http(gw) as h:
            resp = h.get("/metrics")
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
        return resp.text

    def value(text, pattern):
        match = re.search(pattern + r" (\d+(?:\.\d+)?)", text)
        return float(match.group(1)) if match else 0.0

    ok = r'gpt_api_requests_total\{model="m",upstream="a",status="2xx"\}'
    before = scrape()
    for _ in range(3):
        still_serving(gw)
    with http(gw) as h:
        h.post("/v1/chat/completions", content=b"{bad", headers={"content-type": "application/json"})
    after = scrape()
    assert value(after, ok) == value(before, ok) + 3
    assert value(after, r'gpt_api_requests_total\{model="",upstream="",status="4xx"\}') >= 1
    assert value(after, "gpt_api_request_duration_seconds_count") >= value(before, "gpt_api_request_duration_seconds_count") + 4
    assert "gpt_api_log_queue_depth" in after and "gpt_api_upstream_pool_idle_connections" in after
    assert "gpt_api_log_failed_flushes_total 0" in after
    assert re.search(r"^# TYPE gpt_api_rejected_connections_total counter$", after, re.M)
    wait_rows = lambda: value(scrape(), "gpt_api_log_rows_written_total") >= 4
    deadline = time.monotonic() + 5
    while not wait_rows():
        assert time.monotonic() < deadline, "rows written never reached the requests made"
        time.sleep(0.05)


def test_metrics_pass_promtool(gw):
    """The exposition follows Prometheus conventions (counters named _total, help and type for
    every family), as `promtool check metrics` judges them. promtool is Debian's `prometheus`
    package (scripts/test.sh installs it); without it this test fails, it never skips."""
    promtool = shutil.which("promtool")
    assert promtool, ("promtool not found: install it (Debian: apt-get install prometheus; "
                      "scripts/test.sh does) to check the /metrics exposition")
    for _ in range(2):
        still_serving(gw)
    with http(gw) as h:
        h.post("/v1/chat/completions", content=b"{bad", headers={"content-type": "application/json"})
        text = h.get("/metrics").text
    # Running totals are counters named _total (promtool alone accepts a running total typed gauge).
    for name in ("gpt_api_log_rows_written_total", "gpt_api_rejected_connections_total",
                 "gpt_api_requests_total"):
        assert f"# TYPE {name} counter\n" in text, name
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert checked.returncode == 0, f"promtool check metrics:\n{checked.stdout}{checked.stderr}"
    assert not (checked.stdout + checked.stderr).strip(), checked.stdout + checked.stderr


def test_health_and_ready(gw):
    with http(gw) as h:
        assert h.get("/health").json() == {"status": "ok"}
        ready = h.get("/ready")
        assert ready.status_code == 200 and ready.json()["ready"] is True


def test_connection_limit_answers_503(gateway, mocks):
    a = mocks("a")
    g = gateway([upstream(a)], [MODEL], server={"workers": 1, "max_connections": 2})
    held = [socket.create_connection(("127.0.0.1", port_of(g)), timeout=5) for _ in range(2)]
    try:
        # Both held connections are open (the gateway saw them) before the third arrives.
        for s in held:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 200")
        response = raw_exchange(g, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(response) == 503 and b'"code":"overloaded"' in response
    finally:
        for s in held:
            s.close()
    wait_until(lambda: http(g).get("/health").status_code == 200, timeout=5)
