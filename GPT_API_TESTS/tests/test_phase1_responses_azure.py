"""Phase 1, issue 14: the OpenAI Responses API through the gateway, Azure OpenAI upstreams,
static upstream headers, and the `kind` key itself.

`/v1/responses` goes through byte for byte (but `model`) to openai- and azure-kind
targets, skips the others, and sends a `previous_response_id` follow-up to the target
that produced the response: the mock refuses ids it did not issue, and records which
mock issued which id. Azure targets get the deployment URL, `api-key` and
`api-version` (or the v1 surface without one).
"""
import json
import subprocess

import pytest
from openai import APIStatusError

import mock_responses
from dialect_support import (FN_TOOL, claude, key_of, kinds_gateway, post_stream, row_of, tool_calls_of_row,
                             upstream_auth)
from gateway import base_config, binary_path, to_toml, upstream
from helpers import error_of, expected, http, msgs, sdk
from mock_answers import answer_for, tool_arguments
from mock_upstream import Behaviour


# --------------------------------------------------------------------------- /v1/responses
def test_responses_to_openai_target(gateway, mocks):
    gw, (a,) = kinds_gateway(gateway, mocks, ["openai"], models_up=["gpt-up"])
    c = sdk(gw)
    raw = c.responses.with_raw_response.create(model="m", input="hello responses", instructions="Be brief.")
    r = raw.parse()
    assert r.output_text == expected("hello responses") and r.status == "completed"
    assert a.issued_responses == [r.id] and r.model == "gpt-up"
    rec = a.requests[0]
    assert rec.path == "/v1/responses" and rec.body["model"] == "gpt-up"
    upstream_auth(rec, "openai", key_of(a))
    sent = raw.http_response.request.content
    assert rec.raw_body == sent.replace(b'"model":"m"', b'"model":"gpt-up"'), "byte for byte but `model`"
    usage = rec.usage_sent
    assert (r.usage.input_tokens, r.usage.output_tokens) == (usage["input_tokens"], usage["output_tokens"])
    row_of(gw, raw.headers["x-request-id"], endpoint="/v1/responses", status=200, upstream="a",
           upstream_model="gpt-up", prompt_tokens=usage["input_tokens"], completion_tokens=usage["output_tokens"],
           total_tokens=usage["total_tokens"], response_content=expected("hello responses"))

    raw = c.responses.with_raw_response.create(model="m", input=[{"role": "user", "content": "stream it"}],
                                               stream=True)
    events = list(raw.parse())
    types = [e.type for e in events]
    assert types[0] == "response.created" and types[-1] == "response.completed" and "error" not in types
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == expected("stream it")
    assert events[-1].response.id == a.issued_responses[1]
    usage = a.requests[1].usage_sent
    row = row_of(gw, raw.headers["x-request-id"], endpoint="/v1/responses", status=200,
                 prompt_tokens=usage["input_tokens"], completion_tokens=usage["output_tokens"],
                 response_content=expected("stream it"))
    assert row["stream"]

    # Same dialect: the stream's events reach the client as the upstream sent them.
    resp, events = post_stream(gw, "/v1/responses", {"model": "m", "input": "raw events", "stream": True})
    rec = a.requests[2]
    sent = mock_responses.stream_events(mock_responses.answer(rec.body, rec.response_id))
    assert resp.status_code == 200 and events == [(name, json.loads(data)) for name, data, _ in sent]


def test_responses_function_calls(gateway, mocks):
    gw, (a,) = kinds_gateway(gateway, mocks, ["openai"])
    c = sdk(gw)
    raw = c.responses.with_raw_response.create(model="m", input="weather?", tools=[FN_TOOL])
    r = raw.parse()
    want = [("get_weather", tool_arguments(answer_for("weather?"), i)) for i in (0, 1)]
    assert [(o.name, json.loads(o.arguments)) for o in r.output if o.type == "function_call"] == want
    calls = tool_calls_of_row(row_of(gw, raw.headers["x-request-id"], endpoint="/v1/responses"))
    assert [(name, args) for _, name, args in calls] == want
    assert [i for i, _, _ in calls] in (["call_mock_0", "call_mock_1"], ["fc_mock_0", "fc_mock_1"])

    raw = c.responses.with_raw_response.create(model="m", input="weather?", tools=[FN_TOOL], stream=True)
    events = list(raw.parse())
    done = [e.arguments for e in events if e.type == "response.function_call_arguments.done"]
    assert [json.loads(x) for x in done] == [args for _, args in want]
    calls = tool_calls_of_row(row_of(gw, raw.headers["x-request-id"], endpoint="/v1/responses"))
    assert [(name, args) for _, name, args in calls] == want

    follow = c.responses.create(model="m", previous_response_id=r.id, tools=[FN_TOOL], input=[
        {"type": "function_call_output", "call_id": "call_mock_0", "output": "sunny"},
        {"type": "function_call_output", "call_id": "call_mock_1", "output": "rainy"}])
    assert follow.output_text == answer_for("", ["sunny", "rainy"])


def _owner(first_id, a, b):
    return (a, b) if first_id in a.issued_responses else (b, a)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_previous_response_id_reaches_the_same_target(gateway, mocks, stream):
    gw, (a, b) = kinds_gateway(gateway, mocks, ["openai", "openai"], weights=[1, 1])
    c = sdk(gw)

    def ask(**kw) -> str:
        if not stream:
            return c.responses.create(model="m", **kw).id
        events = list(c.responses.create(model="m", stream=True, **kw))
        assert events[-1].type == "response.completed", [e.type for e in events]
        return events[0].response.id

    owner, other = _owner(ask(input="start"), a, b)
    prev = owner.issued_responses[0]
    for i in range(4):
        # 1:1 round robin would send the first follow-up (and one of any two in a row) elsewhere.
        for j in range(i % 2):
            c.chat.completions.create(model="m", messages=msgs(f"between {i}"))
        prev = ask(input=f"follow {i}", previous_response_id=prev)
        assert prev in owner.issued_responses
    assert other.count("/v1/chat/completions") > 0, "both targets take new work (1:1)"
    assert not [r for r in other.requests if (r.body or {}).get("previous_response_id")]


def test_previous_response_target_down_no_failover(gateway, mocks):
    gw, (a, b) = kinds_gateway(gateway, mocks, ["openai", "openai"], weights=[1, 1], routing={"retries": 0})
    c = sdk(gw)
    first = c.responses.create(model="m", input="start")
    owner, other = _owner(first.id, a, b)
    owner.default = Behaviour(status=503)
    with pytest.raises(APIStatusError):
        c.responses.create(model="m", input="follow", previous_response_id=first.id)
    assert not [r for r in other.requests if (r.body or {}).get("previous_response_id")], \
        "the follow-up went to a target that cannot know the response"


def test_responses_reach_other_kinds_translated_but_never_with_stored_state(gateway, mocks):
    """A Responses request reaches an Anthropic target translated through chat; one that
    names a `previous_response_id` cannot (the upstream keeps that history), so that target
    is skipped, and a model with no other target refuses it naming the field."""
    a, b = mocks("a", "b")
    gw = gateway([upstream(a, kind="anthropic"), upstream(b)], [
        {"name": "m", "targets": [{"upstream": "a", "weight": 100}, {"upstream": "b", "weight": 1}]},
        {"name": "claude-only", "targets": [{"upstream": "a", "weight": 1}]}], server={"workers": 1})
    raw = sdk(gw).responses.with_raw_response.create(model="claude-only", input="translated")
    assert raw.parse().output_text == expected("translated")
    assert a.requests[-1].path == "/v1/messages"
    row_of(gw, raw.headers["x-request-id"], upstream="a", endpoint="/v1/responses")
    served = a.count()
    with http(gw) as h:
        for i in range(3):
            # Only b can take it (a's weight would win otherwise); b does not know the id.
            resp = h.post("/v1/responses", json={"model": "m", "input": f"r{i}",
                                                 "previous_response_id": "resp_unknown_to_the_gateway"})
            assert resp.status_code == 400 and "not found" in error_of(resp)["message"]
            row_of(gw, resp.headers["x-request-id"], upstream="b", endpoint="/v1/responses", status=400)
        resp = h.post("/v1/responses", json={"model": "claude-only", "input": "x",
                                             "previous_response_id": "resp_1"})
    assert resp.status_code == 400
    err = error_of(resp)
    assert "previous_response_id" in err["message"], err
    assert a.count() == served
    row_of(gw, resp.headers["x-request-id"], endpoint="/v1/responses", status=400, error=err["message"])


# --------------------------------------------------------------------------- Azure
def test_azure_deployment_urls(gateway, mocks):
    gw, (a,) = kinds_gateway(gateway, mocks, ["azure"], models_up=["my-deploy"],
                             ups_extra={"a": {"api_version": "2024-10-21"}})
    c = sdk(gw)
    raw = c.chat.completions.with_raw_response.create(model="m", messages=msgs("azure hi"))
    r = raw.parse()
    assert r.choices[0].message.content == expected("azure hi") and r.model == "my-deploy"
    text = "".join(ch.choices[0].delta.content or "" for ch in c.chat.completions.create(
        model="m", messages=msgs("azure s"), stream=True) if ch.choices)
    assert text == expected("azure s")
    assert c.embeddings.create(model="m", input="x").model == "my-deploy"
    assert c.completions.create(model="m", prompt="p").model == "my-deploy"
    ops = ["chat/completions", "chat/completions", "embeddings", "completions"]
    assert [rec.path.split("?")[0] for rec in a.requests] == [f"/openai/deployments/my-deploy/{op}" for op in ops]
    for rec in a.requests:
        assert rec.query == {"api-version": "2024-10-21"}
        upstream_auth(rec, "azure", key_of(a))
    row_of(gw, raw.headers["x-request-id"], upstream_model="my-deploy", endpoint="/v1/chat/completions",
           response_content=expected("azure hi"))


def test_azure_v1_surface_without_api_version(gateway, mocks):
    gw, (a,) = kinds_gateway(gateway, mocks, ["azure"], models_up=["dep-v1"])
    c = sdk(gw)
    assert c.chat.completions.create(model="m", messages=msgs("v1")).choices[0].message.content == expected("v1")
    assert c.responses.create(model="m", input="v1 responses").output_text == expected("v1 responses")
    assert [(rec.path, rec.query, rec.body["model"]) for rec in a.requests] == [
        ("/openai/v1/chat/completions", {}, "dep-v1"), ("/openai/v1/responses", {}, "dep-v1")]
    for rec in a.requests:
        upstream_auth(rec, "azure", key_of(a))


def test_messages_to_azure_target_translated(gateway, mocks):
    gw, (a,) = kinds_gateway(gateway, mocks, ["azure"], models_up=["my-deploy"],
                             ups_extra={"a": {"api_version": "2024-10-21"}})
    r = claude(gw).messages.create(model="m", max_tokens=100, system="Be brief.", messages=msgs("azure claude"))
    assert r.content[0].text == expected("azure claude") and r.stop_reason == "end_turn"
    rec = a.requests[0]
    assert rec.path == "/openai/deployments/my-deploy/chat/completions?api-version=2024-10-21"
    upstream_auth(rec, "azure", key_of(a))
    assert rec.body["messages"][-1]["role"] == "user"


# --------------------------------------------------------------------------- upstream config
def test_unknown_kind_is_a_config_error(tmp_path, mocks):
    a = mocks("a")
    cfg = base_config([upstream(a, kind="anthropik")], [{"name": "m", "targets": [{"upstream": "a"}]}])
    path = tmp_path / "gw.toml"
    path.write_text(to_toml(cfg))
    run = subprocess.run([str(binary_path()), "check", "--config", str(path)], capture_output=True, text=True,
                         timeout=30)
    out = run.stdout + run.stderr
    assert run.returncode == 1 and "upstream[0].kind" in out and "anthropik" in out, out
    cfg["upstream"][0]["kind"] = "anthropic"
    path.write_text(to_toml(cfg))
    run = subprocess.run([str(binary_path()), "check", "--config", str(path)], capture_output=True, text=True,
                         timeout=30)
    assert run.returncode == 0, run.stdout + run.stderr


def test_static_headers_and_anthropic_version(gateway, mocks):
    a, b = mocks("a", "b")
    gw = gateway([upstream(a, headers={"x-team": "blue", "OpenAI-Organization": "org-1"}),
                  upstream(b, kind="anthropic", anthropic_version="2023-01-01",
                           headers={"anthropic-beta": "tools-2024-05-16"})],
                 [{"name": "m-a", "targets": [{"upstream": "a", "weight": 1}]},
                  {"name": "m-b", "targets": [{"upstream": "b", "weight": 1}]}])
    c = sdk(gw)
    c.chat.completions.create(model="m-a", messages=msgs("h"))
    c.chat.completions.create(model="m-b", messages=msgs("h"))
    claude(gw).messages.create(model="m-b", max_tokens=20, messages=msgs("h"))
    assert a.requests[0].headers["x-team"] == "blue" and a.requests[0].headers["openai-organization"] == "org-1"
    for rec in b.requests:
        assert rec.headers["anthropic-beta"] == "tools-2024-05-16"
        assert rec.headers["anthropic-version"] == "2023-01-01" and rec.headers["x-api-key"] == key_of(b)
