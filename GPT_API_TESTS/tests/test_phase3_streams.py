"""Phase 3: stream failover -- before the first byte, mid-stream recovery, in-band errors.

Both mocks produce the same text for the same request, so the client's text must
equal the mock's full answer whichever targets served it -- with no duplication.
"""
import json
import time

import httpx
import pytest
from openai import APIError

from helpers import chat_texts, error_of, expected, http, msgs, sdk, simple_gateway, sse_data, stream_text
from mock_upstream import Behaviour

ONE = {"workers": 1}
LONG = "please write a fairly long answer about streams and gateways"


def ab(gateway, mocks, routing=None, ups_extra=None, model_extra=None):
    a, b = mocks("a", "b")
    gw = simple_gateway(gateway, [a, b], routing=routing, ups_extra=ups_extra, server=ONE,
                        model_extra=model_extra)
    return gw, a, b


def stream(gw, text=LONG, **kw):
    return sdk(gw).chat.completions.with_raw_response.create(model="m", messages=msgs(text), stream=True, **kw)


@pytest.mark.parametrize("failure", [Behaviour(status=503), Behaviour(reset=True)], ids=["503", "reset"])
def test_failure_before_first_byte_is_invisible(gateway, mocks, failure):
    gw, a, b = ab(gateway, mocks, routing={"retries": 0})
    a.script(failure)
    raw = stream(gw)
    text, chunks = stream_text(raw.parse())
    assert text == expected(LONG)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert (a.count(), b.count()) == (1, 1)
    assert gw.access(raw.headers["x-request-id"])["tried"] == ["a/m", "b/m"]


@pytest.mark.parametrize("failure", [Behaviour(silent=True), Behaviour(headers_only=True)],
                         ids=["no-head", "head-no-events"])
def test_silent_before_first_token_goes_to_next(gateway, mocks, failure):
    gw, a, b = ab(gateway, mocks, routing={"first_token_timeout_ms": 400}, ups_extra={"timeout_ms": 400})
    a.script(failure)
    t0 = time.monotonic()
    text, _ = stream_text(stream(gw).parse())
    assert text == expected(LONG)
    assert (a.count(), b.count()) == (1, 1)
    assert b.requests[0].time - t0 < 2.0


def _check_prefill(a, b, cut: int):
    delivered = a.requests[0].content_sent
    assert len(delivered.split()) == cut
    last = b.requests[0].body["messages"][-1]
    assert last == {"role": "assistant", "content": delivered}, last
    assert b.requests[0].body["messages"][:-1] == msgs(LONG)


@pytest.mark.parametrize("mode", ["prefill", "restart"])
@pytest.mark.parametrize("break_", ["cut", "stall"])
def test_mid_stream_recovery(gateway, mocks, mode, break_):
    gw, a, b = ab(gateway, mocks, routing={"continuation": mode, "stream_idle_timeout_ms": 400, "retries": 0})
    a.script(Behaviour(cut_after=5) if break_ == "cut" else Behaviour(stall_after=5))
    raw = stream(gw)
    text, chunks = stream_text(raw.parse())
    assert text == expected(LONG), "client must see one complete answer, no gap, no duplication"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert (a.count(), b.count()) == (1, 1)
    if mode == "prefill":
        _check_prefill(a, b, 5)
    else:
        assert b.requests[0].body["messages"] == msgs(LONG)
    line = gw.access(raw.headers["x-request-id"])
    assert line["tried"] == ["a/m", "b/m"] and line["status"] == 200 and line["error"] is None
    row = gw.db_row(raw.headers["x-request-id"])
    assert row["response_content"] == expected(LONG)


def test_prefill_per_target_extra_body(gateway, mocks):
    a, b = mocks("a", "b")
    from gateway import upstream
    gw = gateway([upstream(a), upstream(b)], [{"name": "m", "targets": [
        {"upstream": "a", "weight": 100},
        {"upstream": "b", "weight": 1, "continuation": "prefill",
         "extra_body": {"continue_final_message": True, "add_generation_prompt": False}}]}],
        routing={"retries": 0}, server=ONE)
    a.script(Behaviour(cut_after=4))
    text, _ = stream_text(stream(gw).parse())
    assert text == expected(LONG)
    _check_prefill(a, b, 4)
    assert b.requests[0].body["continue_final_message"] is True
    assert b.requests[0].body["add_generation_prompt"] is False


def test_no_continuation_gives_in_band_error(gateway, mocks):
    gw, a, b = ab(gateway, mocks, routing={"continuation": "none", "retries": 0})
    a.script(Behaviour(cut_after=3))
    raw = stream(gw)
    got = ""
    with pytest.raises(APIError) as e:
        for ch in raw.parse():
            got += (ch.choices[0].delta.content or "") if ch.choices else ""
    assert "Tried:" in e.value.message and "a/m" in e.value.message
    assert e.value.body.get("code") == "stream_interrupted"
    assert got == a.requests[0].content_sent
    line = gw.access(raw.headers["x-request-id"])
    assert line["error"] == e.value.message
    assert gw.db_row(raw.headers["x-request-id"])["error"] == e.value.message


def test_in_band_error_is_last_and_body_ends(gateway, mocks):
    gw, a, b = ab(gateway, mocks, routing={"continuation": "none", "retries": 0})
    a.script(Behaviour(cut_after=3))
    with http(gw) as h, h.stream("POST", "/v1/chat/completions",
                                 json={"model": "m", "messages": msgs(LONG), "stream": True}) as r:
        assert r.status_code == 200
        data = sse_data(r.iter_lines())  # a clean chunked end: no exception here
    assert "[DONE]" not in data
    err = json.loads(data[-1])["error"]
    assert err["type"] == "upstream_error" and err["code"] == "stream_interrupted"


def test_finish_without_done_ends_promptly(gateway, mocks):
    gw, a, b = ab(gateway, mocks)
    a.script(Behaviour(no_done=True))
    t0 = time.monotonic()
    with http(gw) as h, h.stream("POST", "/v1/chat/completions",
                                 json={"model": "m", "messages": msgs(LONG), "stream": True}) as r:
        data = sse_data(r.iter_lines())
    assert time.monotonic() - t0 < 2.0
    assert data[-1] == "[DONE]"
    assert chat_texts(data) == (expected(LONG), 0)
    assert (a.count(), b.count()) == (1, 0), "a complete stream must not be retried"


def test_malformed_event_does_not_break_stream(gateway, mocks):
    gw, a, b = ab(gateway, mocks)
    a.script(Behaviour(malformed_at=3))
    with http(gw) as h, h.stream("POST", "/v1/chat/completions",
                                 json={"model": "m", "messages": msgs(LONG), "stream": True}) as r:
        data = sse_data(r.iter_lines())
        rid = r.headers["x-request-id"]
    text, bad = chat_texts(data)
    assert text == expected(LONG) and data[-1] == "[DONE]"
    assert bad <= 1  # passed through untouched or dropped, either is allowed
    assert (a.count(), b.count()) == (1, 0)
    row = gw.db_row(rid)
    assert row["malformed"] and row["response_content"] == expected(LONG)


def hang_up_after(gw, events):
    """Opens a stream, reads `events` data events and hangs up: the request id, and when."""
    with http(gw) as h:
        with h.stream("POST", "/v1/chat/completions",
                      json={"model": "m", "messages": msgs(LONG), "stream": True}) as r:
            rid = r.headers["x-request-id"]
            n = 0
            for line in r.iter_lines():
                n += len(sse_data([line]))
                if n >= events:
                    break
    return rid, time.monotonic()


def upstream_closed(mock, timeout):
    return mock.wait_for(lambda reqs: reqs[0] if reqs and reqs[0].peer_closed_at else None,
                         timeout=timeout)


def test_client_disconnect_closes_upstream(gateway, mocks):
    gw, a, b = ab(gateway, mocks)
    a.script(Behaviour(chunk_interval_ms=100))
    rid, closed = hang_up_after(gw, 3)
    rec = upstream_closed(a, timeout=3)
    assert rec.peer_closed_at - closed < 1.0
    assert len(rec.event_times) < 15, "the upstream generation went on after the client left"
    assert gw.db_row(rid)["cancelled"]
    assert b.count() == 0


def test_client_hang_up_noticed_while_upstream_is_silent(gateway, mocks):
    # No write fails while the upstream says nothing: the gateway must notice the hang-up itself,
    # long before the 30 s idle timeout, and close the upstream so that its generation stops.
    gw, a, b = ab(gateway, mocks, routing={"stream_idle_timeout_ms": 30000})
    a.script(Behaviour(stall_after=2))
    rid, _ = hang_up_after(gw, 2)
    assert upstream_closed(a, timeout=5) is not None
    assert gw.db_row(rid)["cancelled"]
    assert b.count() == 0


def test_all_fail_before_first_byte_is_json_error(gateway, mocks):
    gw, a, b = ab(gateway, mocks, routing={"retries": 0})
    a.default = b.default = Behaviour(status=503)
    with http(gw) as h:
        r = h.post("/v1/chat/completions", json={"model": "m", "messages": msgs(LONG), "stream": True})
    assert r.status_code == 502
    err = error_of(r)
    assert err["code"] == "all_upstreams_failed"
    assert err["message"] == ("All upstreams failed for model 'm'. Tried: [\"a/m\", \"b/m\"]. "
                              "Last error: upstream returned 503")


def test_all_silent_before_first_token_is_504(gateway, mocks):
    gw, a, b = ab(gateway, mocks, routing={"first_token_timeout_ms": 300, "retries": 0})
    a.default = b.default = Behaviour(headers_only=True)
    with http(gw) as h:
        r = h.post("/v1/chat/completions", json={"model": "m", "messages": msgs(LONG), "stream": True})
    assert r.status_code == 504
    assert error_of(r)["message"].endswith("Last error: timed out waiting for first token")
