"""Self-tests of the mock's Anthropic, Responses and Azure surfaces, with the official SDKs
pointed straight at it (no gateway).

Why: the dialect tests through the gateway trust these surfaces to be what the SDKs
expect from the real providers; here the `anthropic` SDK, `openai`'s `responses` and
`AzureOpenAI` clients prove it. They run before the gateway binary exists.
"""
import json

import anthropic
import httpx
import pytest
from openai import AzureOpenAI, BadRequestError, OpenAI

from helpers import expected, msgs, sse_data
from mock_answers import answer_for, thinking_for, tool_arguments
from mock_upstream import Behaviour

TOOL = {"name": "get_weather", "description": "Weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
FN_TOOL = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}


def claude(m, **kw) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=m.base_url[:-len("/v1")], api_key="sk-ant-direct", max_retries=0,
                               timeout=10, **kw)


def direct(m) -> OpenAI:
    return OpenAI(base_url=m.base_url, api_key="sk-direct", max_retries=0, timeout=10)


def sse_events(raw_lines) -> list[tuple[str, dict]]:
    """(event name, data) pairs of a named-event SSE stream."""
    out, name = [], None
    for line in raw_lines:
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            out.append((name, json.loads(line[5:].strip())))
    return out


# --------------------------------------------------------------------------- Anthropic
def test_anthropic_messages_create_and_headers(mocks):
    m = mocks("a")
    r = claude(m).messages.create(model="claude-x", max_tokens=256, system="Be brief.",
                                  messages=msgs("hello there"))
    assert [b.type for b in r.content] == ["text"] and r.content[0].text == expected("hello there")
    assert r.stop_reason == "end_turn" and r.role == "assistant" and r.model == "claude-x"
    assert r.usage.input_tokens == 4 and r.usage.output_tokens == len(expected("hello there").split())
    rec = m.requests[0]
    assert rec.surface == "anthropic" and rec.path == "/v1/messages"
    # The current SDK sends the key as a bearer token and its own API version; x-api-key still works.
    assert rec.headers["authorization"] == "Bearer sk-ant-direct" and rec.headers["anthropic-version"]
    old_style = anthropic.Anthropic(base_url=m.base_url[:-len("/v1")], api_key=None, max_retries=0,
                                    default_headers={"x-api-key": "sk-ant-x", "anthropic-version": "2023-06-01"})
    assert old_style.messages.create(model="x", max_tokens=5, messages=msgs("k")).stop_reason == "max_tokens"
    assert m.requests[1].headers["x-api-key"] == "sk-ant-x" and "authorization" not in m.requests[1].headers
    assert rec.usage_sent == {"input_tokens": 4, "output_tokens": r.usage.output_tokens}


def test_anthropic_thinking_and_limits(mocks):
    m = mocks("a")
    c = claude(m)
    r = c.messages.create(model="x", max_tokens=2048, messages=msgs("think"),
                          thinking={"type": "enabled", "budget_tokens": 1024})
    assert [b.type for b in r.content] == ["thinking", "text"]
    assert r.content[0].thinking == thinking_for("think") and r.content[0].signature
    r = c.messages.create(model="x", max_tokens=3, messages=msgs("cut short"))
    assert r.stop_reason == "max_tokens" and r.content[0].text == "Echo: cut short"
    r = c.messages.create(model="x", max_tokens=100, messages=msgs("stop here"), stop_sequences=["deterministic"])
    assert r.stop_reason == "stop_sequence" and r.stop_sequence == "deterministic"
    assert r.content[0].text == expected("stop here").split("deterministic")[0]
    full = expected("go on")
    r = c.messages.create(model="x", max_tokens=100, messages=msgs("go on") + [
        {"role": "assistant", "content": full[:11]}])
    assert r.content[0].text == full[11:], "an assistant prefill is continued"


def test_anthropic_stream_event_sequence(mocks):
    m = mocks("a")
    with claude(m).messages.stream(model="x", max_tokens=256, messages=msgs("stream me"),
                                   thinking={"type": "enabled", "budget_tokens": 1024}) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == expected("stream me") == m.requests[0].content_sent
    assert final.content[0].thinking == thinking_for("stream me") and final.stop_reason == "end_turn"
    assert final.usage.input_tokens == 2 and final.usage.output_tokens == m.requests[0].usage_sent["output_tokens"]

    body = {"model": "x", "max_tokens": 256, "stream": True, "messages": msgs("raw")}
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    with httpx.stream("POST", m.base_url + "/messages", json=body, headers=headers) as r:
        events = sse_events(r.iter_lines())
    names = [n for n, _ in events]
    assert all(n == d["type"] for n, d in events)
    deltas = names.count("content_block_delta")
    assert names == ["message_start", "content_block_start", "ping"] + ["content_block_delta"] * deltas + [
        "content_block_stop", "message_delta", "message_stop"] and deltas > 5
    assert events[-2][1]["delta"]["stop_reason"] == "end_turn" and events[-2][1]["usage"]["output_tokens"] == deltas


def test_anthropic_tool_use_round_trip(mocks):
    m = mocks("a")
    c = claude(m)
    r = c.messages.create(model="x", max_tokens=256, tools=[TOOL], messages=msgs("weather?"))
    assert r.stop_reason == "tool_use" and [b.type for b in r.content] == ["tool_use", "tool_use"]
    assert r.content[1].input == tool_arguments(answer_for("weather?"), 1) and r.content[1].name == "get_weather"
    with c.messages.stream(model="x", max_tokens=256, tools=[TOOL], messages=msgs("weather?")) as s:
        streamed = s.get_final_message()
    assert [b.model_dump() for b in streamed.content] == [b.model_dump() for b in r.content]
    turn = msgs("weather?") + [
        {"role": "assistant", "content": [b.model_dump() for b in r.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_mock_0", "content": "sunny"},
                                     {"type": "tool_result", "tool_use_id": "toolu_mock_1",
                                      "content": [{"type": "text", "text": "rainy"}]}]}]
    r2 = c.messages.create(model="x", max_tokens=256, tools=[TOOL], messages=turn)
    assert r2.stop_reason == "end_turn" and r2.content[0].text == answer_for("", ["sunny", "rainy"])
    turn[-1]["content"][1]["tool_use_id"] = "toolu_other"
    with pytest.raises(anthropic.BadRequestError) as e:
        c.messages.create(model="x", max_tokens=256, tools=[TOOL], messages=turn)
    assert "toolu_other" in e.value.body["error"]["message"]


def test_anthropic_errors_in_its_shape(mocks):
    m = mocks("a")
    with pytest.raises(anthropic.AuthenticationError) as e:
        anthropic.Anthropic(base_url=m.base_url[:-len("/v1")], api_key=None, max_retries=0,
                            default_headers={"authorization": anthropic.Omit()}).messages.create(
            model="x", max_tokens=5, messages=msgs("a"))
    assert e.value.body == {"type": "error", "error": {"type": "authentication_error",
                                                       "message": "x-api-key header is required"}}
    r = httpx.post(m.base_url + "/messages", headers={"x-api-key": "k"},
                   json={"model": "x", "max_tokens": 5, "messages": msgs("a")})
    assert r.status_code == 400 and "anthropic-version" in r.json()["error"]["message"]
    c = claude(m)
    no_max = httpx.post(m.base_url + "/messages", headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
                        json={"model": "x", "messages": msgs("a")})
    assert no_max.status_code == 400 and no_max.json()["error"]["message"] == "max_tokens: Field required"
    bad = [dict(model="x", max_tokens=5, messages=[{"role": "system", "content": "s"}] + msgs("a")),
           dict(model="x", max_tokens=5, messages=msgs("a"), tools=[{"name": "t", "parameters": {}}]),
           dict(model="x", max_tokens=5, messages=msgs("a") + [{"role": "assistant", "content": "Echo: "}])]
    for kw in bad:
        with pytest.raises(anthropic.BadRequestError) as e:
            c.messages.create(**kw)
        assert e.value.body["type"] == "error" and e.value.body["error"]["type"] == "invalid_request_error", kw
    m.script(Behaviour(status=529))
    with pytest.raises(anthropic.APIStatusError) as e:
        c.messages.create(model="x", max_tokens=5, messages=msgs("a"))
    assert e.value.status_code == 529
    assert e.value.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


def test_anthropic_stream_faults(mocks):
    m = mocks("a")
    c = claude(m)
    m.script(Behaviour(error_event_after=3))
    got = ""
    with pytest.raises(anthropic.APIStatusError) as e:
        with c.messages.stream(model="x", max_tokens=256, messages=msgs("overload me")) as s:
            for t in s.text_stream:
                got += t
    assert e.value.body["error"]["type"] == "overloaded_error" and got == m.requests[0].content_sent == "Echo: overload me"
    m.script(Behaviour(cut_after=2))
    with pytest.raises(Exception, match="incomplete chunked read"):  # the SDK's own httpx fork raises it
        with c.messages.stream(model="x", max_tokens=256, messages=msgs("cut me")) as s:
            list(s.text_stream)
    assert m.requests[1].content_sent == "Echo: cut"


# --------------------------------------------------------------------------- Responses
def test_responses_create_and_stream(mocks):
    m = mocks("a")
    c = direct(m)
    r = c.responses.create(model="gpt-x", input="hello responses")
    assert r.output_text == expected("hello responses") and r.status == "completed"
    assert r.usage.input_tokens == 2 and r.usage.total_tokens == 2 + r.usage.output_tokens
    assert m.issued_responses == [r.id] and m.requests[0].response_id == r.id
    events = list(c.responses.create(model="gpt-x", input=[{"role": "user", "content": "hi stream"}], stream=True))
    types = [e.type for e in events]
    deltas = types.count("response.output_text.delta")
    assert types == ["response.created", "response.in_progress", "response.output_item.added",
                     "response.content_part.added"] + ["response.output_text.delta"] * deltas + [
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.completed"]
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == expected("hi stream")
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].response.output_text == expected("hi stream") and events[0].response.id == m.issued_responses[1]


def test_responses_function_calls_and_previous_id(mocks):
    m, other = mocks("a", "b")
    c = direct(m)
    r = c.responses.create(model="x", input="weather?", tools=[FN_TOOL])
    assert [(o.type, o.call_id, o.name) for o in r.output] == [("function_call", "call_mock_0", "get_weather"),
                                                               ("function_call", "call_mock_1", "get_weather")]
    assert json.loads(r.output[0].arguments) == tool_arguments(answer_for("weather?"), 0)
    events = list(c.responses.create(model="x", input="weather?", tools=[FN_TOOL], stream=True))
    args = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta" and e.output_index == 1)
    assert args == r.output[1].arguments
    assert [e.arguments for e in events if e.type == "response.function_call_arguments.done"] == [
        o.arguments for o in r.output]
    follow = c.responses.create(model="x", previous_response_id=r.id, tools=[FN_TOOL], input=[
        {"type": "function_call_output", "call_id": "call_mock_0", "output": "sunny"},
        {"type": "function_call_output", "call_id": "call_mock_1", "output": "rainy"}])
    assert follow.output_text == answer_for("", ["sunny", "rainy"]) and follow.previous_response_id == r.id
    with pytest.raises(BadRequestError) as e:
        direct(other).responses.create(model="x", previous_response_id=r.id, input="again")
    assert e.value.code == "previous_response_not_found" and e.value.param == "previous_response_id"


def test_responses_stream_faults(mocks):
    m = mocks("a")
    m.script(Behaviour(error_event_after=2))
    events = list(direct(m).responses.create(model="x", input="fail soon", stream=True))
    assert events[-1].type == "error" and "response.completed" not in [e.type for e in events]
    m.script(Behaviour(cut_after=2))
    with httpx.stream("POST", m.base_url + "/responses", json={"model": "x", "input": "cut", "stream": True}) as r:
        with pytest.raises(httpx.HTTPError):
            list(r.iter_lines())
    assert m.requests[1].content_sent == "Echo: cut"


# --------------------------------------------------------------------------- Azure
def test_azure_deployments_surface(mocks):
    m = mocks("a")
    az = AzureOpenAI(azure_endpoint=m.azure_url[:-len("/openai")], api_key="az-key", api_version="2024-10-21",
                     max_retries=0, timeout=10)
    r = az.chat.completions.create(model="my-deploy", messages=msgs("azure hi"))
    assert r.model == "my-deploy" and r.choices[0].message.content == expected("azure hi")
    rec = m.requests[0]
    assert rec.surface == "azure" and rec.deployment == "my-deploy"
    assert rec.path.split("?")[0] == "/openai/deployments/my-deploy/chat/completions"
    assert rec.query == {"api-version": "2024-10-21"} and rec.headers["api-key"] == "az-key"
    assert "authorization" not in rec.headers
    chunks = list(az.chat.completions.create(model="my-deploy", messages=msgs("azure s"), stream=True))
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == expected("azure s")
    assert az.embeddings.create(model="emb-deploy", input="x").model == "emb-deploy"
    assert az.completions.create(model="c-deploy", prompt="p").model == "c-deploy"
    assert [r.deployment for r in m.requests] == ["my-deploy", "my-deploy", "emb-deploy", "c-deploy"]
    no_version = httpx.post(m.azure_url + "/deployments/d/chat/completions", headers={"api-key": "k"},
                            json={"messages": msgs("a")})
    assert no_version.status_code == 404
    no_key = httpx.post(m.azure_url + "/deployments/d/chat/completions?api-version=2024-10-21",
                        json={"messages": msgs("a")})
    assert no_key.status_code == 401 and no_key.json()["error"]["code"] == "401"


def test_azure_v1_surface(mocks):
    m = mocks("a")
    c = OpenAI(base_url=m.azure_url + "/v1", api_key="unused", default_headers={"api-key": "az-key"},
               max_retries=0, timeout=10)
    r = c.chat.completions.create(model="dep-v1", messages=msgs("v1"))
    assert r.model == "dep-v1" and r.choices[0].message.content == expected("v1")
    assert c.responses.create(model="dep-v1", input="v1 responses").output_text == expected("v1 responses")
    assert [(x.surface, x.path, x.query) for x in m.requests] == [
        ("azure", "/openai/v1/chat/completions", {}), ("azure", "/openai/v1/responses", {})]
    r = httpx.post(m.azure_url + "/v1/chat/completions", json={"model": "d", "messages": msgs("a")})
    assert r.status_code == 401


# --------------------------------------------------------------------------- OpenAI chat additions
def test_chat_limits_and_tool_round_trip(mocks):
    m = mocks("a")
    c = direct(m)
    r = c.chat.completions.create(model="x", messages=msgs("limit me"), max_tokens=3)
    assert r.choices[0].finish_reason == "length" and r.choices[0].message.content == "Echo: limit me"
    r = c.chat.completions.create(model="x", messages=msgs("stop me"), stop=["deterministic"])
    assert r.choices[0].finish_reason == "stop" and "deterministic" not in r.choices[0].message.content
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    first = c.chat.completions.create(model="x", messages=msgs("w"), tools=tools).choices[0].message
    turn = msgs("w") + [first.model_dump(exclude_none=True),
                        {"role": "tool", "tool_call_id": "call_mock_0", "content": "sunny"},
                        {"role": "tool", "tool_call_id": "call_mock_1", "content": "rainy"}]
    r = c.chat.completions.create(model="x", messages=turn, tools=tools)
    assert r.choices[0].message.content == answer_for("", ["sunny", "rainy"])
    with pytest.raises(BadRequestError):
        c.chat.completions.create(model="x", messages=turn[:-1], tools=tools)
    data = sse_data(httpx.post(m.base_url + "/chat/completions", json={
        "model": "x", "messages": msgs("e"), "stream": True}).text.splitlines())
    assert data[-1] == "[DONE]"
