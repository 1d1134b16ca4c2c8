"""Phase 1, issue 14: every client dialect to every provider kind, through the gateway.

The official SDKs are the clients (`anthropic` for /v1/messages, `openai` for chat and
/v1/responses); mock upstreams of kind "openai", "anthropic" and "azure" record what the
gateway sent them. Each test checks the client's answer against what the mock produced,
the upstream request against the provider's own API, and the request's row in the log:
`endpoint` = ingress path, tokens from the upstream's usage, content normalised,
finish_reason in the ingress dialect's vocabulary.
"""
import json

import anthropic
import pytest

import mock_anthropic
from dialect_support import (ANTHROPIC_HEADERS, CHAT_TOOL, CLIENT_KEY, CLIENT_KEYS, TOOL, anthropic_error,
                             chat_messages_text, check_messages_sequence, claude, claude_x_api_key, key_of,
                             kinds_gateway, messages_text, post_stream, row_of, tool_calls_of_row, upstream_auth)
from gateway import upstream
from helpers import error_of, expected, http, msgs, sdk, wait_until
from mock_answers import _text_of, answer_for, thinking_for, tool_arguments
from mock_upstream import Behaviour, error_body

THINK = {"type": "enabled", "budget_tokens": 1024}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


# --------------------------------------------------------------------------- /v1/messages -> anthropic
def test_messages_to_anthropic_target_passes_through(gateway, mocks):
    gw, (a,) = kinds_gateway(gateway, mocks, ["anthropic"], models_up=["claude-up"], client_keys=CLIENT_KEYS)
    c = claude(gw)
    raw = c.messages.with_raw_response.create(model="m", max_tokens=256, system="Be brief.",
                                              messages=msgs("hello claude"), thinking=THINK)
    r = raw.parse()
    assert [b.type for b in r.content] == ["thinking", "text"] and r.stop_reason == "end_turn"
    assert r.content[0].thinking == thinking_for("hello claude") and r.content[1].text == expected("hello claude")
    rec = a.requests[0]
    assert rec.path == "/v1/messages" and rec.body["model"] == "claude-up" and r.model == "claude-up"
    sent = raw.http_response.request.content
    assert rec.raw_body == sent.replace(b'"model":"m"', b'"model":"claude-up"'), "byte for byte but `model`"
    upstream_auth(rec, "anthropic", key_of(a))
    usage = rec.usage_sent
    assert (r.usage.input_tokens, r.usage.output_tokens) == (usage["input_tokens"], usage["output_tokens"])
    row_of(gw, raw.headers["x-request-id"], endpoint="/v1/messages", status=200, upstream="a",
           upstream_model="claude-up", prompt_tokens=usage["input_tokens"], completion_tokens=usage["output_tokens"],
           total_tokens=usage["input_tokens"] + usage["output_tokens"], finish_reason="end_turn",
           response_content=expected("hello claude"), reasoning_content=thinking_for("hello claude"),
           client_key="team-a")

    with c.messages.stream(model="m", max_tokens=256, messages=msgs("stream claude"), thinking=THINK) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
        rid = s.response.headers["x-request-id"]
    assert text == expected("stream claude") and final.stop_reason == "end_turn"
    assert final.content[0].thinking == thinking_for("stream claude")
    usage = a.requests[1].usage_sent
    assert (final.usage.input_tokens, final.usage.output_tokens) == (usage["input_tokens"], usage["output_tokens"])
    row = row_of(gw, rid, endpoint="/v1/messages", status=200, prompt_tokens=usage["input_tokens"],
                 completion_tokens=usage["output_tokens"], finish_reason="end_turn",
                 response_content=expected("stream claude"), reasoning_content=thinking_for("stream claude"))
    assert row["stream"]

    # Same dialect: the stream's events reach the client as the upstream sent them.
    body = {"model": "m", "max_tokens": 256, "stream": True, "messages": msgs("raw events"), "thinking": THINK}
    resp, events = post_stream(gw, "/v1/messages", body, {**ANTHROPIC_HEADERS, "x-api-key": CLIENT_KEY})
    sent = mock_anthropic.stream_events(mock_anthropic.answer(a.requests[2].body))
    assert events == [(name, json.loads(data)) for name, data, _ in sent]


def test_messages_tool_use_round_trip_to_anthropic_target(gateway, mocks):
    gw, (a,) = kinds_gateway(gateway, mocks, ["anthropic"])
    c = claude(gw)
    raw = c.messages.with_raw_response.create(model="m", max_tokens=256, tools=[TOOL], messages=msgs("weather?"))
    r = raw.parse()
    assert r.stop_reason == "tool_use"
    uses = [(b.id, b.name, b.input) for b in r.content if b.type == "tool_use"]
    want = [(f"toolu_mock_{i}", "get_weather", tool_arguments(answer_for("weather?"), i)) for i in (0, 1)]
    assert uses == want
    row = row_of(gw, raw.headers["x-request-id"], endpoint="/v1/messages", finish_reason="tool_use")
    assert tool_calls_of_row(row) == want

    with c.messages.stream(model="m", max_tokens=256, tools=[TOOL], messages=msgs("weather?")) as s:
        final = s.get_final_message()
        rid = s.response.headers["x-request-id"]
    assert [(b.id, b.name, b.input) for b in final.content if b.type == "tool_use"] == want
    assert tool_calls_of_row(row_of(gw, rid, finish_reason="tool_use")) == want

    turn = msgs("weather?") + [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in r.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_mock_0", "content": "sunny"},
                                     {"type": "tool_result", "tool_use_id": "toolu_mock_1", "content": "rainy"}]}]
    r2 = c.messages.create(model="m", max_tokens=256, tools=[TOOL], messages=turn)
    assert r2.stop_reason == "end_turn" and r2.content[0].text == answer_for("", ["sunny", "rainy"])


def test_messages_stop_sequence_to_anthropic_target(gateway, mocks):
    gw, (a,) = kinds_gateway(gateway, mocks, ["anthropic"])
    raw = claude(gw).messages.with_raw_response.create(model="m", max_tokens=256, messages=msgs("halt"),
                                                       stop_sequences=["deterministic"])
    r = raw.parse()
    assert r.stop_reason == "stop_sequence" and r.stop_sequence == "deterministic"
    row_of(gw, raw.headers["x-request-id"], finish_reason="stop_sequence",
           response_content=expected("halt").split("deterministic")[0])


# --------------------------------------------------------------------------- /v1/messages -> openai
def test_messages_to_openai_target_translated(gateway, mocks):
    gw, (a,) = kinds_gateway(gateway, mocks, ["openai"], models_up=["gpt-up"], client_keys=CLIENT_KEYS)
    raw = claude(gw).messages.with_raw_response.create(
        model="m", max_tokens=200, system="Be brief.", messages=msgs("translate me"), stop_sequences=["zzz"],
        metadata={"user_id": "u-42"}, extra_body={"temperature": 0.5, "top_p": 0.9})  # gone from this SDK's API
    r = raw.parse()
    assert r.type == "message" and r.role == "assistant" and r.stop_reason == "end_turn"
    assert [(b.type, b.text) for b in r.content] == [("text", expected("translate me"))]
    rec = a.requests[0]
    assert rec.path == "/v1/chat/completions" and rec.body["model"] == "gpt-up"
    upstream_auth(rec, "openai", key_of(a))
    body = rec.body
    assert chat_messages_text(body["messages"]) == [("system", "Be brief."), ("user", "translate me")]
    assert body.get("max_tokens", body.get("max_completion_tokens")) == 200
    assert body["stop"] in (["zzz"], "zzz") and body["temperature"] == 0.5 and body["top_p"] == 0.9
    assert body["user"] == "u-42"
    usage = rec.usage_sent
    assert (r.usage.input_tokens, r.usage.output_tokens) == (usage["prompt_tokens"], usage["completion_tokens"])
    row_of(gw, raw.headers["x-request-id"], endpoint="/v1/messages", status=200, upstream="a",
           prompt_tokens=usage["prompt_tokens"], completion_tokens=usage["completion_tokens"],
           finish_reason="end_turn", response_content=expected("translate me"))


def test_messages_stream_to_openai_target_event_sequence(gateway, mocks):
    gw, (a,) = kinds_gateway(gateway, mocks, ["openai"], client_keys=CLIENT_KEYS)
    body = {"model": "m", "max_tokens": 200, "stream": True, "messages": msgs("stream translated")}
    resp, events = post_stream(gw, "/v1/messages", body, {**ANTHROPIC_HEADERS, "x-api-key": CLIENT_KEY})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    check_messages_sequence(events)
    assert messages_text(events) == expected("stream translated")
    assert events[-2][1]["delta"]["stop_reason"] == "end_turn"
    completion = len(expected("stream translated").split())
    assert events[-2][1]["usage"]["output_tokens"] == completion
    row = row_of(gw, resp.headers["x-request-id"], endpoint="/v1/messages", status=200,
                 completion_tokens=completion, prompt_tokens=2, finish_reason="end_turn",
                 response_content=expected("stream translated"), client_key="team-a")
    assert row["stream"]

    with claude(gw).messages.stream(model="m", max_tokens=200, messages=msgs("sdk stream")) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == expected("sdk stream") and final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (2, len(expected("sdk stream").split()))


def test_messages_tools_round_trip_to_openai_target(gateway, mocks):
    gw, (a,) = kinds_gateway(gateway, mocks, ["openai"])
    c = claude(gw)
    raw = c.messages.with_raw_response.create(model="m", max_tokens=256, tools=[TOOL],
                                              tool_choice={"type": "auto"}, messages=msgs("weather?"))
    r = raw.parse()
    sent = a.requests[0].body
    assert [(t["type"], t["function"]["name"], t["function"].get("description"), t["function"]["parameters"])
            for t in sent["tools"]] == [("function", "get_weather", TOOL["description"], TOOL["input_schema"])]
    assert sent.get("tool_choice", "auto") == "auto"
    assert r.stop_reason == "tool_use"
    want = [(f"call_mock_{i}", "get_weather", tool_arguments(answer_for("weather?"), i)) for i in (0, 1)]
    assert [(b.id, b.name, b.input) for b in r.content if b.type == "tool_use"] == want
    assert tool_calls_of_row(row_of(gw, raw.headers["x-request-id"], finish_reason="tool_use")) == want

    with c.messages.stream(model="m", max_tokens=256, tools=[TOOL], messages=msgs("weather?")) as s:
        final = s.get_final_message()
        rid = s.response.headers["x-request-id"]
    assert final.stop_reason == "tool_use"
    assert [(b.id, b.name, b.input) for b in final.content if b.type == "tool_use"] == want
    assert tool_calls_of_row(row_of(gw, rid, finish_reason="tool_use")) == want

    c.messages.create(model="m", max_tokens=256, tools=[TOOL], tool_choice={"type": "any"}, messages=msgs("w"))
    assert a.requests[-1].body["tool_choice"] == "required"
    c.messages.create(model="m", max_tokens=256, tools=[TOOL], tool_choice={"type": "tool", "name": "get_weather"},
                      messages=msgs("w"))
    assert a.requests[-1].body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}

    turn = msgs("weather?") + [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in r.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_mock_0", "content": "sunny"},
                                     {"type": "tool_result", "tool_use_id": "call_mock_1",
                                      "content": [{"type": "text", "text": "rainy"}]}]}]
    r2 = c.messages.create(model="m", max_tokens=256, tools=[TOOL], messages=turn)
    assert r2.stop_reason == "end_turn" and r2.content[0].text == answer_for("", ["sunny", "rainy"])
    back = a.requests[-1].body["messages"]
    calls = [(t["id"], t["function"]["name"], json.loads(t["function"]["arguments"]))
             for m in back if m["role"] == "assistant" for t in m.get("tool_calls") or []]
    assert calls == want
    assert [(m["tool_call_id"], _text_of(m["content"])) for m in back if m["role"] == "tool"] == [
        ("call_mock_0", "sunny"), ("call_mock_1", "rainy")]


def test_messages_max_tokens_to_openai_target(gateway, mocks):
    gw, (a,) = kinds_gateway(gateway, mocks, ["openai"])
    raw = claude(gw).messages.with_raw_response.create(model="m", max_tokens=3, messages=msgs("cut short"))
    r = raw.parse()
    assert r.stop_reason == "max_tokens" and r.content[0].text == "Echo: cut short"
    row_of(gw, raw.headers["x-request-id"], finish_reason="max_tokens", response_content="Echo: cut short")
    resp, events = post_stream(gw, "/v1/messages", {"model": "m", "max_tokens": 3, "stream": True,
                                                    "messages": msgs("cut short")}, ANTHROPIC_HEADERS)
    assert events[-2][1]["delta"]["stop_reason"] == "max_tokens"
    row_of(gw, resp.headers["x-request-id"], finish_reason="max_tokens")


def test_messages_image_blocks_to_openai_target(gateway, mocks):
    gw, (a,) = kinds_gateway(gateway, mocks, ["openai"])
    content = [{"type": "text", "text": "describe this"},
               {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]
    r = claude(gw).messages.create(model="m", max_tokens=200, messages=[{"role": "user", "content": content}])
    assert r.content[0].text.startswith("Echo: describe this")
    parts = a.requests[0].body["messages"][-1]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url"] and parts[0]["text"] == "describe this"
    assert parts[1]["image_url"]["url"] == f"data:image/png;base64,{PNG}"


# --------------------------------------------------------------------------- chat -> anthropic
def test_chat_to_anthropic_target_translated(gateway, mocks):
    gw, (a,) = kinds_gateway(gateway, mocks, ["anthropic"], models_up=["claude-up"])
    c = sdk(gw)
    raw = c.chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "system", "content": "Be brief."}] + msgs("hi claude"),
        temperature=0.5, stop=["zzz"])
    r = raw.parse()
    assert r.object == "chat.completion" and r.choices[0].message.content == expected("hi claude")
    assert r.choices[0].message.role == "assistant" and r.choices[0].finish_reason == "stop"
    rec = a.requests[0]
    assert rec.path == "/v1/messages" and rec.body["model"] == "claude-up"
    upstream_auth(rec, "anthropic", key_of(a))
    assert _text_of(rec.body["system"]) == "Be brief."
    assert chat_messages_text(rec.body["messages"]) == [("user", "hi claude")]
    assert rec.body["stop_sequences"] == ["zzz"] and rec.body["temperature"] == 0.5
    usage = rec.usage_sent
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (
        usage["input_tokens"], usage["output_tokens"], usage["input_tokens"] + usage["output_tokens"])
    row_of(gw, raw.headers["x-request-id"], endpoint="/v1/chat/completions", status=200, upstream="a",
           upstream_model="claude-up", prompt_tokens=usage["input_tokens"], completion_tokens=usage["output_tokens"],
           finish_reason="stop", response_content=expected("hi claude"))

    raw = c.chat.completions.with_raw_response.create(model="m", messages=msgs("stream claude"), stream=True,
                                                      stream_options={"include_usage": True})
    chunks = list(raw.parse())
    assert all(ch.object == "chat.completion.chunk" for ch in chunks)
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == expected("stream claude")
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason] == ["stop"]
    usage = a.requests[1].usage_sent
    got = [ch.usage for ch in chunks if ch.usage]
    assert len(got) == 1 and (got[0].prompt_tokens, got[0].completion_tokens) == (
        usage["input_tokens"], usage["output_tokens"])
    row_of(gw, raw.headers["x-request-id"], endpoint="/v1/chat/completions", finish_reason="stop",
           prompt_tokens=usage["input_tokens"], completion_tokens=usage["output_tokens"],
           response_content=expected("stream claude"))
    plain = list(c.chat.completions.create(model="m", messages=msgs("no usage"), stream=True))
    assert all(ch.choices for ch in plain), "no usage-only chunk for a client that did not ask for one"


def test_chat_tools_round_trip_to_anthropic_target(gateway, mocks):
    gw, (a,) = kinds_gateway(gateway, mocks, ["anthropic"])
    c = sdk(gw)
    raw = c.chat.completions.with_raw_response.create(model="m", messages=msgs("weather?"), tools=[CHAT_TOOL])
    r = raw.parse()
    sent = a.requests[0].body
    assert [(t["name"], t.get("description"), t["input_schema"]) for t in sent["tools"]] == [
        ("get_weather", TOOL["description"], TOOL["input_schema"])]
    assert r.choices[0].finish_reason == "tool_calls"
    want = [(f"toolu_mock_{i}", "get_weather", tool_arguments(answer_for("weather?"), i)) for i in (0, 1)]
    calls = r.choices[0].message.tool_calls
    assert [(t.id, t.function.name, json.loads(t.function.arguments)) for t in calls] == want
    assert all(t.type == "function" for t in calls)
    assert tool_calls_of_row(row_of(gw, raw.headers["x-request-id"], finish_reason="tool_calls")) == want

    merged: dict = {}
    finish = None
    for ch in c.chat.completions.create(model="m", messages=msgs("weather?"), tools=[CHAT_TOOL], stream=True):
        for tc in (ch.choices[0].delta.tool_calls or []) if ch.choices else []:
            m = merged.setdefault(tc.index, {"id": None, "name": None, "args": ""})
            m["id"] = m["id"] or tc.id
            m["name"] = m["name"] or (tc.function.name if tc.function else None)
            m["args"] += (tc.function.arguments or "") if tc.function else ""
        finish = (ch.choices[0].finish_reason if ch.choices else None) or finish
    assert finish == "tool_calls"
    assert [(merged[i]["id"], merged[i]["name"], json.loads(merged[i]["args"])) for i in sorted(merged)] == want

    turn = msgs("weather?") + [r.choices[0].message.model_dump(exclude_none=True),
                               {"role": "tool", "tool_call_id": "toolu_mock_0", "content": "sunny"},
                               {"role": "tool", "tool_call_id": "toolu_mock_1", "content": "rainy"}]
    r2 = c.chat.completions.create(model="m", messages=turn, tools=[CHAT_TOOL])
    assert r2.choices[0].message.content == answer_for("", ["sunny", "rainy"])
    assert r2.choices[0].finish_reason == "stop"
    back = a.requests[-1].body["messages"]
    uses = [(b["id"], b["name"], b["input"]) for m in back if m["role"] == "assistant"
            for b in m["content"] if isinstance(b, dict) and b.get("type") == "tool_use"]
    assert uses == want
    results = [(b["tool_use_id"], _text_of(b.get("content"))) for m in back if m["role"] == "user"
               for b in (m["content"] if isinstance(m["content"], list) else []) if b.get("type") == "tool_result"]
    assert results == [("toolu_mock_0", "sunny"), ("toolu_mock_1", "rainy")]


def test_chat_image_parts_to_anthropic_target(gateway, mocks):
    gw, (a,) = kinds_gateway(gateway, mocks, ["anthropic"])
    content = [{"type": "text", "text": "describe this"},
               {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]
    r = sdk(gw).chat.completions.create(model="m", messages=[{"role": "user", "content": content}])
    assert r.choices[0].message.content.startswith("Echo: describe this")
    blocks = a.requests[0].body["messages"][-1]["content"]
    assert blocks == [{"type": "text", "text": "describe this"},
                      {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]


def test_chat_length_to_anthropic_target(gateway, mocks):
    gw, (a,) = kinds_gateway(gateway, mocks, ["anthropic"])
    raw = sdk(gw).chat.completions.with_raw_response.create(model="m", messages=msgs("cut short"), max_tokens=3)
    r = raw.parse()
    assert a.requests[0].body["max_tokens"] == 3
    assert r.choices[0].finish_reason == "length" and r.choices[0].message.content == "Echo: cut short"
    row_of(gw, raw.headers["x-request-id"], finish_reason="length")
    sdk(gw).chat.completions.create(model="m", messages=msgs("cut short"), max_completion_tokens=4)
    assert a.requests[1].body["max_tokens"] == 4


# --------------------------------------------------------------------------- keys, errors, rows
def test_messages_client_keys_from_x_api_key_and_bearer(gateway, mocks):
    gw, (a,) = kinds_gateway(gateway, mocks, ["anthropic"], client_keys=CLIENT_KEYS)
    assert claude_x_api_key(gw).messages.create(model="m", max_tokens=50, messages=msgs("x")).content
    assert claude(gw).messages.create(model="m", max_tokens=50, messages=msgs("b")).content
    assert a.count() == 2
    with http(gw) as h:
        for headers in ({"x-api-key": "sk-wrong"}, {"authorization": "Bearer sk-wrong"}, {}):
            resp = h.post("/v1/messages", headers={**ANTHROPIC_HEADERS, **headers},
                          json={"model": "m", "max_tokens": 5, "messages": msgs("no")})
            assert resp.status_code == 401
            err = anthropic_error(resp)
            assert err["type"] == "authentication_error"
            row_of(gw, resp.headers["x-request-id"], endpoint="/v1/messages", status=401, error=err["message"])
    with pytest.raises(anthropic.AuthenticationError):
        claude_x_api_key(gw, "sk-wrong").messages.create(model="m", max_tokens=5, messages=msgs("no"))
    assert a.count() == 2


def test_messages_key_limited_to_other_models_is_refused(gateway, mocks):
    gw, (a,) = kinds_gateway(gateway, mocks, ["anthropic"],
                             client_keys=[{"name": "team-b", "key": CLIENT_KEY, "models": ["other-*"]}])
    with http(gw) as h:
        resp = h.post("/v1/messages", headers={**ANTHROPIC_HEADERS, "x-api-key": CLIENT_KEY},
                      json={"model": "m", "max_tokens": 5, "messages": msgs("no")})
    assert resp.status_code == 403 and anthropic_error(resp)["type"] == "permission_error"
    assert a.count() == 0


def test_messages_errors_in_anthropic_shape(gateway, mocks):
    a, b = mocks("a", "b")
    gw = gateway([upstream(a), upstream(b, kind="anthropic")],
                 [{"name": "m-a", "targets": [{"upstream": "a", "weight": 1}]},
                  {"name": "m-b", "targets": [{"upstream": "b", "weight": 1}]}], routing={"retries": 0})
    with http(gw) as h:
        def post(body, raw=None):
            return h.post("/v1/messages", headers=ANTHROPIC_HEADERS, **({"content": raw} if raw else {"json": body}))

        resp = post({"model": "nope", "max_tokens": 5, "messages": msgs("x")})
        assert resp.status_code == 404 and anthropic_error(resp)["type"] == "not_found_error"
        resp = post(None, raw=b'{"model": "m-a", "messages": [')
        assert resp.status_code == 400 and anthropic_error(resp)["type"] == "invalid_request_error"
        # An OpenAI-kind upstream's own 400 reaches a Messages client in Anthropic's shape.
        a.script(Behaviour(status=400, body=error_body(400, "Your request was rejected by the content policy.",
                                                       "content_policy_violation")))
        resp = post({"model": "m-a", "max_tokens": 5, "messages": msgs("x")})
        assert resp.status_code == 400
        assert anthropic_error(resp) == {"type": "invalid_request_error",
                                         "message": "Your request was rejected by the content policy."}
        # An Anthropic upstream's own 400 goes through as it is.
        resp = post({"model": "m-b", "max_tokens": 5, "messages": [{"role": "system", "content": "s"}]})
        assert resp.status_code == 400 and anthropic_error(resp)["type"] == "invalid_request_error"
        assert "role" in anthropic_error(resp)["message"]
        # Everything failed: the contract's message, in Anthropic's shape, in the row too.
        a.default = Behaviour(status=503)
        resp = post({"model": "m-a", "max_tokens": 5, "messages": msgs("x")})
        assert resp.status_code == 502
        err = anthropic_error(resp)
        assert err["message"].startswith("All upstreams failed for model 'm-a'. Tried: [\"a/m-a\"]")
        row_of(gw, resp.headers["x-request-id"], endpoint="/v1/messages", status=502, error=err["message"])
        # A Chat client gets an Anthropic upstream's 400 in OpenAI's shape.
        b.script(Behaviour(status=400, body=mock_anthropic.error(400, "messages.0.content: bad block")))
        resp = h.post("/v1/chat/completions", json={"model": "m-b", "messages": msgs("x")})
        assert resp.status_code == 400 and error_of(resp)["message"] == "messages.0.content: bad block"


def test_one_row_per_request_in_every_dialect(gateway, mocks):
    gw, (a, b) = kinds_gateway(gateway, mocks, ["openai", "anthropic"], weights=[1, 1])
    c, cl = sdk(gw), claude(gw)
    for i in range(2):
        c.chat.completions.create(model="m", messages=msgs(f"c{i}"))
        cl.messages.create(model="m", max_tokens=64, messages=msgs(f"m{i}"))
        with cl.messages.stream(model="m", max_tokens=64, messages=msgs(f"s{i}")) as s:
            s.get_final_message()
    c.responses.create(model="m", input="r")
    rows = wait_until(lambda: (lambda r: r if len(r) >= 7 else None)(gw.db_rows()), timeout=10)
    assert len(rows) == 7
    assert sorted(r["endpoint"] for r in rows) == ["/v1/chat/completions"] * 2 + ["/v1/messages"] * 4 + [
        "/v1/responses"]
    assert {r["upstream"] for r in rows if r["endpoint"] != "/v1/responses"} == {"a", "b"}
    assert all(r["status"] == 200 and r["prompt_tokens"] and r["completion_tokens"] for r in rows)
