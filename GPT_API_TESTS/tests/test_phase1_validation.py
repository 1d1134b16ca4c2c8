"""Phase 1: input validation and client keys -- gateway errors in the OpenAI shape."""
import pytest

from gateway import upstream
from helpers import error_of, expected, http, msgs, sdk
from openai import AuthenticationError, PermissionDeniedError

TEAM_KEY = "sk-gw-team-a-secret"
EMB_KEY = "sk-gw-emb-only-secret"


@pytest.fixture
def gw(gateway, mocks):
    a = mocks("a")
    return gateway([upstream(a)], [{"name": "m", "targets": [{"upstream": "a", "weight": 1}]}],
                   server={"max_body_bytes": 4096}), a


def post(g, body, path="/v1/chat/completions", **headers):
    with http(g) as h:
        kw = {"content": body} if isinstance(body, (bytes, str)) else {"json": body}
        return h.post(path, headers={"content-type": "application/json", **headers}, **kw)


def check(resp, status, type_, code, gw_=None):
    assert resp.status_code == status, resp.text
    assert resp.headers.get("x-request-id")
    err = error_of(resp)
    assert err["type"] == type_ and err["code"] == code and err["message"], err
    if gw_ is not None:  # the access line and the DB row carry the same message
        rid = resp.headers["x-request-id"]
        line = gw_.access(rid)
        assert line["status"] == status and line["error"] == err["message"]
        assert gw_.db_row(rid)["error"] == err["message"]
    return err


def test_invalid_json(gw):
    g, a = gw
    err = check(post(g, b'{"model": "m", "messages": ['), 400, "invalid_request_error", "invalid_json", g)
    assert err["message"] == ("The request body is not valid JSON: the end of the body before the "
                              "JSON value is complete at line 1, column 29 (byte 28)")
    err = check(post(g, b'{"model": "m",\n "messages": [{"role": "user"}}'), 400, "invalid_request_error",
                "invalid_json", g)
    # What a client can act on, never the parser's internals (TapeError, Eof, character 35).
    assert err["message"] == "The request body is not valid JSON: unexpected '}' at line 2, column 31 (byte 45)"
    assert a.count() == 0


@pytest.mark.parametrize("body", [b"", b" \n"])
def test_empty_body(gw, body):
    g, a = gw
    err = check(post(g, body), 400, "invalid_request_error", "invalid_json", g)
    assert err["message"] == "The request body is empty; expected a JSON object"
    assert a.count() == 0


@pytest.mark.parametrize("body", [{"messages": msgs("x")}, {"model": 5, "messages": msgs("x")},
                                  {"model": None, "messages": msgs("x")}, {"model": ["m"]}])
def test_missing_or_non_string_model(gw, body):
    g, a = gw
    check(post(g, body), 400, "invalid_request_error", "missing_model")
    assert a.count() == 0


def test_unknown_model(gw):
    g, a = gw
    err = check(post(g, {"model": "nope", "messages": msgs("x")}), 404, "invalid_request_error",
                "model_not_found", g)
    assert "nope" in err["message"]
    assert a.count() == 0


def test_body_too_large(gw):
    g, a = gw
    big = {"model": "m", "messages": msgs("x" * 5000)}
    check(post(g, big), 413, "invalid_request_error", "request_too_large")
    assert a.count() == 0
    # the gateway is still fine afterwards
    assert sdk(g).chat.completions.create(model="m", messages=msgs("ok")).choices[0].message.content == expected("ok")


def test_unknown_path_and_wrong_method(gw):
    g, _ = gw
    with http(g) as h:
        check(h.post("/v1/nothing", json={"model": "m"}), 404, "invalid_request_error", "not_found")
        check(h.get("/v1/chat/completions"), 405, "invalid_request_error", "method_not_allowed")
        check(h.delete("/v1/models"), 405, "invalid_request_error", "method_not_allowed")


@pytest.fixture
def keyed(gateway, mocks):
    a = mocks("a")
    return gateway([upstream(a)], [
        {"name": "m", "targets": [{"upstream": "a", "weight": 1}]},
        {"name": "emb-small", "targets": [{"upstream": "a", "weight": 1}]},
    ], client_keys=[{"name": "team-a", "key": TEAM_KEY},
                    {"name": "emb-team", "key": EMB_KEY, "models": ["emb-*"]}]), a


def test_client_keys(keyed):
    g, a = keyed
    for headers in ({}, {"authorization": "Bearer sk-wrong"}):
        r = post(g, {"model": "m", "messages": msgs("x")}, **headers)
        err = check(r, 401, "invalid_request_error", "invalid_api_key")
        assert TEAM_KEY not in r.text and "sk-wrong" not in r.text
    assert a.count() == 0
    with pytest.raises(AuthenticationError):
        sdk(g, key="sk-wrong").chat.completions.create(model="m", messages=msgs("x"))
    raw = sdk(g, key=TEAM_KEY).chat.completions.with_raw_response.create(model="m", messages=msgs("x"))
    assert raw.parse().choices[0].message.content == expected("x")
    assert a.requests[-1].headers["authorization"] != f"Bearer {TEAM_KEY}"
    rid = raw.headers["x-request-id"]
    assert g.access(rid)["client_key"] == "team-a"
    row = g.db_row(rid)
    assert row["client_key"] == "team-a"
    assert TEAM_KEY not in str(row)


def test_model_not_allowed(keyed):
    g, a = keyed
    r = post(g, {"model": "m", "messages": msgs("x")}, authorization=f"Bearer {EMB_KEY}")
    check(r, 403, "permission_error", "model_not_allowed", g)
    assert EMB_KEY not in r.text
    with pytest.raises(PermissionDeniedError):
        sdk(g, key=EMB_KEY).chat.completions.create(model="m", messages=msgs("x"))
    assert [m.id for m in sdk(g, key=EMB_KEY).models.list().data] == ["emb-small"]
    assert a.count() == 0


def test_access_lines_log_the_real_method_and_refused_rows_their_path(gw):
    g, _ = gw
    with http(g) as h:
        for method, path, status in (("GET", "/v1/nothing", 404), ("DELETE", "/v1/nothing", 404),
                                     ("GET", "/v1/chat/completions", 405), ("PUT", "/v1/models", 405)):
            r = h.request(method, path)
            assert r.status_code == status
            line = g.access(r.headers["x-request-id"])
            assert line["method"] == method and line["path"] == path
    # A body over the limit is refused before it is read; its row still names the path.
    r = post(g, {"model": "m", "messages": msgs("x" * 5000)})
    check(r, 413, "invalid_request_error", "request_too_large", g)
    rid = r.headers["x-request-id"]
    assert g.access(rid)["method"] == "POST"
    assert g.db_row(rid)["endpoint"] == "/v1/chat/completions"


def test_model_retrieve(keyed):
    g, _ = keyed
    model = sdk(g, key=TEAM_KEY).models.retrieve("m")
    assert model.id == "m" and model.object == "model"
    assert sdk(g, key=EMB_KEY).models.retrieve("emb-small").id == "emb-small"
    # A model the key may not use looks like one that does not exist.
    for key, name in ((EMB_KEY, "m"), (TEAM_KEY, "nope")):
        with http(g) as h:
            r = h.get(f"/v1/models/{name}", headers={"authorization": f"Bearer {key}"})
        err = check(r, 404, "invalid_request_error", "model_not_found", g)
        assert name in err["message"]
    with http(g) as h:
        check(h.get("/v1/models/m"), 401, "invalid_request_error", "invalid_api_key")
