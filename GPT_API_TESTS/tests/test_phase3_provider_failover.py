"""Phase 3, issue 19: failover and stream continuation from and to Gemini, Bedrock Converse and
Cohere, across upstream kinds, and the errors those dialects' clients see when all fails.

Model `m` prefers mock `a` (weight 100) over `b`, the two of different kinds. The mocks answer
the same conversation with the same text in every dialect, so whatever mix of targets served
a request the client must see exactly the mock's full answer, in its own dialect, once.
"""
import json

import botocore.exceptions
import httpx
import pytest

import mock_bedrock
from dialect_support import kinds_gateway
from helpers import CLIENT_KEY, expected
from mock_upstream import Behaviour
from provider_support import (CLIENT_KEYS_AWS, STOP, ask, bedrock_client, conversation_of, endpoint, signed_post,
                              usage_pair)

LONG = "please write a fairly long answer about streams and gateways"
ONE_TURN = [("user", LONG)]
ALL_FAILED = "All upstreams failed for model 'm'. Tried: [\"a/m\", \"b/m\"]."

# (first target's kind, second target's kind): every new kind fails over to and from another kind
BEFORE_FIRST_BYTE = [("gemini", "bedrock"), ("bedrock", "cohere"), ("cohere", "gemini"), ("openai", "gemini"),
                     ("anthropic", "bedrock"), ("cohere", "openai")]
# (first kind, second kind, how the first one's stream breaks)
MID_STREAM = [("gemini", "bedrock", "cut"), ("bedrock", "cohere", "cut"), ("cohere", "gemini", "cut"),
              ("openai", "cohere", "cut"), ("bedrock", "openai", "error-event"),
              ("gemini", "anthropic", "error-event"), ("cohere", "bedrock", "error-event")]


def ids(cases) -> list:
    return ["-".join(c) for c in cases]


def failing(kind: str) -> Behaviour:
    """A transient failure in the kind's own words (Anthropic's 529 overloaded, else a 503)."""
    return Behaviour(status=529 if kind == "anthropic" else 503)


def gw_for(gateway, mocks, kinds, routing: dict):
    return kinds_gateway(gateway, mocks, list(kinds), routing=routing, client_keys=CLIENT_KEYS_AWS)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("ingress", ["gemini", "converse", "cohere", "chat"])
@pytest.mark.parametrize("kinds", BEFORE_FIRST_BYTE, ids=ids(BEFORE_FIRST_BYTE))
def test_failover_across_kinds_before_first_byte(gateway, mocks, kinds, ingress, stream):
    gw, (a, b) = gw_for(gateway, mocks, kinds, {"retries": 0})
    a.script(failing(kinds[0]))
    reply = ask(gw, ingress, stream, ONE_TURN)
    assert reply.text == expected(LONG) and reply.stop == STOP[ingress]
    assert (a.count(), b.count()) == (1, 1)
    assert (a.requests[0].surface, b.requests[0].surface) == kinds, "each target spoken to in its own dialect"
    assert conversation_of(a.requests[0]) == conversation_of(b.requests[0]) == ONE_TURN
    assert reply.usage == usage_pair(b.requests[0].usage_sent)
    assert gw.access(reply.rid)["tried"] == ["a/m", "b/m"]
    row = gw.db_row(reply.rid)
    assert (row["endpoint"], row["upstream"], row["status"], row["finish_reason"], row["response_content"]) == (
        endpoint(ingress, stream), "b", 200, STOP[ingress], expected(LONG))
    assert json.loads(row["tried"]) == ["a/m", "b/m"]


@pytest.mark.parametrize("mode", ["prefill", "restart"])
@pytest.mark.parametrize("ingress", ["gemini", "converse", "cohere", "messages", "responses"])
@pytest.mark.parametrize("case", MID_STREAM, ids=ids(MID_STREAM))
def test_mid_stream_continuation_across_kinds(gateway, mocks, case, ingress, mode):
    first, second, how = case
    gw, (a, b) = gw_for(gateway, mocks, (first, second), {"continuation": mode, "retries": 0})
    a.script(Behaviour(cut_after=5) if how == "cut" else Behaviour(error_event_after=5))
    reply = ask(gw, ingress, True, ONE_TURN)
    assert reply.text == expected(LONG), "one complete answer: no gap, no repeat"
    assert reply.stop == STOP[ingress]
    assert (a.count(), b.count()) == (1, 1) and (a.requests[0].surface, b.requests[0].surface) == (first, second)
    delivered = a.requests[0].content_sent
    assert len(delivered.split()) == 5
    sent = conversation_of(b.requests[0])
    # A Responses client on an OpenAI target is passed through: the Responses API cannot continue
    # an assistant item, so the gateway restarts there instead of prefilling.
    if mode == "prefill" and not (ingress == "responses" and second == "openai"):
        assert sent == ONE_TURN + [("assistant", delivered)], sent
        assert b.requests[0].content_sent == expected(LONG)[len(delivered):]
    else:
        assert sent == ONE_TURN, sent
        assert b.requests[0].content_sent == expected(LONG)
    line = gw.access(reply.rid)
    assert line["tried"] == ["a/m", "b/m"] and line["status"] == 200 and line["error"] is None
    row = gw.db_row(reply.rid)
    assert (row["endpoint"], row["finish_reason"], row["response_content"]) == (
        endpoint(ingress, True), STOP[ingress], expected(LONG))


# --------------------------------------------------------------------------- errors per dialect
def test_all_fail_before_first_byte_errors_per_dialect(gateway, mocks):
    gw, (a, b) = gw_for(gateway, mocks, ("gemini", "bedrock"), {"retries": 0})
    a.default, b.default = failing("gemini"), failing("bedrock")
    body = {"contents": [{"role": "user", "parts": [{"text": "x"}]}]}
    with httpx.Client(base_url=gw.url, timeout=20) as h:
        for path in ("/v1beta/models/m:generateContent", "/v1beta/models/m:streamGenerateContent?alt=sse"):
            r = h.post(path, json=body, headers={"x-goog-api-key": CLIENT_KEY})
            assert r.status_code == 502 and r.headers["content-type"].startswith("application/json"), r.text
            err = r.json()["error"]
            assert err["code"] == 502 and err["status"] and err["message"].startswith(ALL_FAILED), err
            assert gw.db_row(r.headers["x-request-id"])["error"] == err["message"]
        for stream in (False, True):
            r = h.post("/v2/chat", json={"model": "m", "stream": stream, "messages": [{"role": "user", "content": "x"}]},
                       headers={"authorization": f"Bearer {CLIENT_KEY}"})
            assert r.status_code == 502 and set(r.json()) >= {"message"}, r.text
            assert r.json()["message"].startswith(ALL_FAILED)
    converse = json.dumps({"messages": [{"role": "user", "content": [{"text": "x"}]}]}).encode()
    for path in ("/model/m/converse", "/model/m/converse-stream"):
        r = signed_post(gw, path, converse)
        assert r.status_code == 502 and r.headers.get("x-amzn-errortype"), r.text
        assert set(r.json()) == {"message"} and r.json()["message"].startswith(ALL_FAILED)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        bedrock_client(gw).converse(modelId="m", messages=[{"role": "user", "content": [{"text": "x"}]}])
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502
    assert "Tried: [" in e.value.response["Error"]["Message"]


@pytest.mark.parametrize("kind", ["gemini", "openai"])
def test_break_without_continuation_ends_each_new_dialect_with_its_error(gateway, mocks, kind):
    gw, (a, b) = gw_for(gateway, mocks, (kind, kind), {"continuation": "none", "retries": 0})
    # Gemini: an error object as the stream's last event
    a.script(Behaviour(cut_after=3))
    with httpx.Client(base_url=gw.url, timeout=20) as h:
        with h.stream("POST", "/v1beta/models/m:streamGenerateContent?alt=sse", headers={"x-goog-api-key": CLIENT_KEY},
                      json={"contents": [{"role": "user", "parts": [{"text": LONG}]}]}) as r:
            assert r.status_code == 200
            chunks = [json.loads(line[5:]) for line in r.iter_lines() if line.startswith("data:")]
            rid = r.headers["x-request-id"]
    err = chunks[-1].get("error")
    assert err and "Tried: [" in err["message"] and "a/m" in err["message"] and err["status"], chunks[-1]
    text = "".join(p.get("text", "") for ch in chunks[:-1] for p in ch["candidates"][0]["content"]["parts"])
    assert text == a.requests[-1].content_sent
    assert gw.db_row(rid)["error"] == err["message"]

    # Cohere: the stream ends with an error (message-end ERROR), never a COMPLETE
    a.script(Behaviour(cut_after=3))
    with httpx.Client(base_url=gw.url, timeout=20) as h:
        with h.stream("POST", "/v2/chat", headers={"authorization": f"Bearer {CLIENT_KEY}"},
                      json={"model": "m", "stream": True, "messages": [{"role": "user", "content": LONG}]}) as r:
            assert r.status_code == 200
            events = [json.loads(line[5:]) for line in r.iter_lines() if line.startswith("data:")]
    assert "Tried: [" in json.dumps(events[-1]), events[-1]
    assert not any(e.get("type") == "message-end" and e["delta"].get("finish_reason") == "COMPLETE" for e in events)
    text = "".join(e["delta"]["message"]["content"]["text"] for e in events if e.get("type") == "content-delta")
    assert text == a.requests[-1].content_sent

    # Bedrock: an exception message in the event stream (boto3 raises it)
    a.script(Behaviour(cut_after=3))
    got = ""
    with pytest.raises(botocore.exceptions.EventStreamError) as e:
        s = bedrock_client(gw).converse_stream(modelId="m", messages=[{"role": "user", "content": [{"text": LONG}]}])
        for ev in s["stream"]:
            got += ev.get("contentBlockDelta", {}).get("delta", {}).get("text", "")
    assert "Tried: [" in e.value.response["Error"]["Message"] and got == a.requests[-1].content_sent
    a.script(Behaviour(cut_after=3))
    raw = signed_post(gw, "/model/m/converse-stream", json.dumps(
        {"messages": [{"role": "user", "content": [{"text": LONG}]}]}).encode(), stream=True)
    try:
        frames = mock_bedrock.decode_messages(raw.read())
    finally:
        raw.close()
    headers, payload = frames[-1]
    assert headers[":message-type"] == "exception" and headers[":exception-type"], headers
    assert "Tried: [" in json.loads(payload)["message"]
    assert b.count() == 0, "no continuation: the second target is never asked"
