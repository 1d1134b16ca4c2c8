"""Phase 3, issue 14: failover and stream continuation across provider kinds, and the
errors each client dialect sees when everything fails.

Model `m` prefers mock `a` (weight 100) over `b`; the two are of different kinds
("openai" and "anthropic"), and the mocks answer the same conversation with the same
text in every dialect, so whatever mix of targets served a request the client must see
exactly the mock's full answer, in its own dialect, once.
"""
import json

import anthropic
import pytest

from dialect_support import (ANTHROPIC_HEADERS, check_messages_sequence, claude, kinds_gateway, messages_text,
                             post_stream)
from helpers import error_of, expected, http, msgs, sdk, stream_text
from mock_answers import _text_of
from mock_upstream import Behaviour

LONG = "please write a fairly long answer about streams and gateways"
PAIRS = [("openai", "anthropic"), ("anthropic", "openai")]
PAIR_IDS = ["openai-then-anthropic", "anthropic-then-openai"]
ENDPOINT = {"chat": "/v1/chat/completions", "messages": "/v1/messages"}
FINISH = {"chat": "stop", "messages": "end_turn"}


def failing(kind: str) -> Behaviour:
    """A transient failure in the kind's own words: 503 for OpenAI, 529 overloaded for Anthropic."""
    return Behaviour(status=503 if kind == "openai" else 529)


def ask(gw, ingress: str, stream: bool, text: str = LONG) -> tuple[str, str]:
    """One request in the ingress dialect through the SDK: (answer text, x-request-id)."""
    if ingress == "chat":
        raw = sdk(gw).chat.completions.with_raw_response.create(model="m", messages=msgs(text), stream=stream)
        if stream:
            got, chunks = stream_text(raw.parse())
            assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
            return got, raw.headers["x-request-id"]
        r = raw.parse()
        assert r.choices[0].finish_reason == "stop"
        return r.choices[0].message.content, raw.headers["x-request-id"]
    c = claude(gw)
    if stream:
        with c.messages.stream(model="m", max_tokens=1000, messages=msgs(text)) as s:
            got = "".join(s.text_stream)
            assert s.get_final_message().stop_reason == "end_turn"
            return got, s.response.headers["x-request-id"]
    raw = c.messages.with_raw_response.create(model="m", max_tokens=1000, messages=msgs(text))
    r = raw.parse()
    assert r.stop_reason == "end_turn"
    return "".join(b.text for b in r.content if b.type == "text"), raw.headers["x-request-id"]


def served(mock) -> str:
    """Which dialect a mock was spoken to in."""
    return mock.requests[-1].surface


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("ingress", ["chat", "messages"])
@pytest.mark.parametrize("kinds", PAIRS, ids=PAIR_IDS)
def test_failover_across_kinds_before_first_byte(gateway, mocks, kinds, ingress, stream):
    gw, (a, b) = kinds_gateway(gateway, mocks, list(kinds), routing={"retries": 0})
    a.script(failing(kinds[0]))
    text, rid = ask(gw, ingress, stream)
    assert text == expected(LONG)
    assert (a.count(), b.count()) == (1, 1)
    assert (served(a), served(b)) == kinds
    assert gw.access(rid)["tried"] == ["a/m", "b/m"]
    row = gw.db_row(rid)
    assert (row["endpoint"], row["upstream"], row["status"], row["finish_reason"]) == (
        ENDPOINT[ingress], "b", 200, FINISH[ingress])
    assert row["response_content"] == expected(LONG) and json.loads(row["tried"]) == ["a/m", "b/m"]


def test_responses_stream_fails_over_before_first_event(gateway, mocks):
    gw, (a, b) = kinds_gateway(gateway, mocks, ["openai", "openai"], routing={"retries": 0})
    a.script(Behaviour(status=503))
    raw = sdk(gw).responses.with_raw_response.create(model="m", input=LONG, stream=True)
    events = list(raw.parse())
    assert events[-1].type == "response.completed" and events[-1].response.output_text == expected(LONG)
    assert (a.count(), b.count()) == (1, 1) and events[0].response.id == b.issued_responses[0]
    assert gw.access(raw.headers["x-request-id"])["tried"] == ["a/m", "b/m"]


def _check_continuation(a, b, mode: str, cut: int):
    delivered = a.requests[0].content_sent
    assert len(delivered.split()) == cut
    sent = b.requests[0].body["messages"]
    if mode == "prefill":
        assert (sent[-1]["role"], _text_of(sent[-1]["content"])) == ("assistant", delivered), sent[-1]
        sent = sent[:-1]
    assert [(m["role"], _text_of(m["content"])) for m in sent] == [("user", LONG)]




@pytest.mark.parametrize("mode", ["prefill", "restart"])
@pytest.mark.parametrize("ingress", ["chat", "messages"])
@pytest.mark.parametrize("kinds,how", [(("openai", "anthropic"), "cut"), (("anthropic", "openai"), "cut"),
                                       (("anthropic", "openai"), "overloaded-event")],
                         ids=["openai-cut-then-anthropic", "anthropic-cut-then-openai",
                              "anthropic-overloaded-then-openai"])
def test_mid_stream_continuation_across_kinds(gateway, mocks, kinds, how, ingress, mode):
    gw, (a, b) = kinds_gateway(gateway, mocks, list(kinds), routing={"continuation": mode, "retries": 0})
    a.script(Behaviour(cut_after=5) if how == "cut" else Behaviour(error_event_after=5))
    if ingress == "chat":
        raw = sdk(gw).chat.completions.with_raw_response.create(model="m", messages=msgs(LONG), stream=True)
        text, chunks = stream_text(raw.parse())
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
        assert len({c.id for c in chunks}) == 1, "one stream, one id"
        rid = raw.headers["x-request-id"]
    else:
        resp, events = post_stream(gw, "/v1/messages", {"model": "m", "max_tokens": 1000, "stream": True,
                                                        "messages": msgs(LONG)}, ANTHROPIC_HEADERS)
        check_messages_sequence(events)
        text = messages_text(events)
        assert events[-2][1]["delta"]["stop_reason"] == "end_turn"
        rid = resp.headers["x-request-id"]
    assert text == expected(LONG), "one complete answer: no gap, no repeat"
    assert (a.count(), b.count()) == (1, 1) and (served(a), served(b)) == kinds
    _check_continuation(a, b, mode, 5)
    line = gw.access(rid)
    assert line["tried"] == ["a/m", "b/m"] and line["status"] == 200 and line["error"] is None
    row = gw.db_row(rid)
    assert (row["endpoint"], row["finish_reason"], row["response_content"]) == (
        ENDPOINT[ingress], FINISH[ingress], expected(LONG))


def test_messages_sdk_stream_continues_across_kinds(gateway, mocks):
    gw, (a, b) = kinds_gateway(gateway, mocks, ["openai", "anthropic"], routing={"continuation": "prefill"})
    a.script(Behaviour(cut_after=4))
    text, rid = ask(gw, "messages", stream=True)
    assert text == expected(LONG) and gw.access(rid)["tried"] == ["a/m", "b/m"]


# --------------------------------------------------------------------------- errors per dialect
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_messages_break_without_continuation_ends_with_error_event(gateway, mocks, kind):
    gw, (a, b) = kinds_gateway(gateway, mocks, [kind, kind], routing={"continuation": "none", "retries": 0})
    a.script(Behaviour(cut_after=3))
    resp, events = post_stream(gw, "/v1/messages", {"model": "m", "max_tokens": 1000, "stream": True,
                                                    "messages": msgs(LONG)}, ANTHROPIC_HEADERS)
    assert resp.status_code == 200
    name, data = events[-1]
    assert name == "error" and data["type"] == "error", events[-1]
    message = data["error"]["message"]
    assert "Tried: [" in message and "a/m" in message and data["error"]["type"]
    assert "message_stop" not in [n for n, _ in events]
    assert messages_text(events) == a.requests[0].content_sent
    assert gw.access(resp.headers["x-request-id"])["error"] == message
    assert gw.db_row(resp.headers["x-request-id"])["error"] == message

    a.script(Behaviour(cut_after=3))
    with pytest.raises(anthropic.APIStatusError) as e:
        with claude(gw).messages.stream(model="m", max_tokens=1000, messages=msgs(LONG)) as s:
            list(s.text_stream)
    assert "Tried: [" in e.value.body["error"]["message"]


def test_responses_break_ends_with_error_event(gateway, mocks):
    gw, (a, b) = kinds_gateway(gateway, mocks, ["openai", "openai"], routing={"retries": 0})
    a.script(Behaviour(cut_after=3))
    raw = sdk(gw).responses.with_raw_response.create(model="m", input=LONG, stream=True)
    events = list(raw.parse())
    types = [e.type for e in events]
    assert types[-1] == "error" and "response.completed" not in types, types
    assert "Tried: [" in events[-1].message and "a/m" in events[-1].message
    got = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert got == a.requests[0].content_sent
    rid = raw.headers["x-request-id"]
    assert gw.access(rid)["error"] == events[-1].message
    assert gw.db_row(rid)["error"] == events[-1].message


def test_all_fail_before_first_byte_errors_per_dialect(gateway, mocks):
    gw, (a, b) = kinds_gateway(gateway, mocks, ["openai", "anthropic"], routing={"retries": 0})
    a.default, b.default = failing("openai"), failing("anthropic")
    want = "All upstreams failed for model 'm'. Tried: [\"a/m\", \"b/m\"]."
    with http(gw) as h:
        for stream in (False, True):
            resp = h.post("/v1/messages", headers=ANTHROPIC_HEADERS,
                          json={"model": "m", "max_tokens": 50, "stream": stream, "messages": msgs("x")})
            assert resp.status_code == 502 and resp.headers["content-type"].startswith("application/json")
            body = resp.json()
            assert body["type"] == "error" and body["error"]["message"].startswith(want), body
            assert gw.db_row(resp.headers["x-request-id"])["error"] == body["error"]["message"]
            resp = h.post("/v1/chat/completions", json={"model": "m", "stream": stream, "messages": msgs("x")})
            assert resp.status_code == 502 and error_of(resp)["message"].startswith(want)
    gw2, (c,) = kinds_gateway(gateway, mocks, ["openai"], routing={"retries": 0})
    c.default = Behaviour(status=503)
    with http(gw2) as h:
        resp = h.post("/v1/responses", json={"model": "m", "input": "x", "stream": True})
    assert resp.status_code == 502
    err = error_of(resp)
    assert err["code"] == "all_upstreams_failed" and "Tried: [\"a/m\"]" in err["message"]
