"""Phase 1, issue 19: the official Node SDKs as clients of the gateway.

`openai` (chat completions streamed with tools; `responses.create`, plain and streamed;
`responses.stream` with tools) and `@anthropic-ai/sdk` (`messages.stream` with tools, a
non-stream `messages.create`) run as real programs (`node/*.mjs`, versions pinned in
node/package-lock.json) against a gateway over the mock upstreams, same kind and across
kinds. Each program prints one JSON line: what the SDK parsed (text, tool calls, stop or
finish reason, usage) and the gateway's `x-request-id` of each call, so the test checks the
answer against what the mock produced and the request's row in the log.

Node and the SDKs are prepared by the runner (`npm ci` in test_runner_enhanced.py; Node
itself installed by scripts/test.sh): missing ones fail the test, saying what to install.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dialect_support import CLIENT_KEY, CLIENT_KEYS, TOOL, kinds_gateway, row_of, tool_calls_of_row
from helpers import expected
from mock_answers import _text_of, answer_for, tool_arguments

NODE_DIR = Path(__file__).resolve().parent.parent / "node"
PACKAGES = ("openai", "@anthropic-ai/sdk")
RESULTS = ["sunny", "rainy"]
NODE_TIMEOUT_S = 40


def run_node(program: str, gw, *args: str) -> dict:
    """Run node/<program> against the gateway; its one JSON line, parsed."""
    node = shutil.which("node")
    assert node, "node not found: install Node.js and npm (apt-get install nodejs npm; scripts/test.sh does)"
    missing = [p for p in PACKAGES if not (NODE_DIR / "node_modules" / p / "package.json").is_file()]
    assert not missing, (f"Node packages {missing} not installed: run `npm ci` in {NODE_DIR} "
                         "(test_runner_enhanced.py does; npm comes with apt-get install npm)")
    env = {**os.environ, "GATEWAY_URL": gw.url, "GATEWAY_KEY": CLIENT_KEY}
    proc = subprocess.run([node, str(NODE_DIR / program), *args], cwd=NODE_DIR, env=env, capture_output=True,
                          text=True, timeout=NODE_TIMEOUT_S)
    assert proc.returncode == 0, f"node {program} exited {proc.returncode}:\n{proc.stderr}\n{gw.output()[-3000:]}"
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, f"node {program} printed {proc.stdout!r}"
    return json.loads(lines[0])


def want_calls(prefix: str, question: str) -> list:
    """The mock's two weather calls for `question`, ids as the target's kind issues them."""
    return [(f"{prefix}_{i}", "get_weather", tool_arguments(answer_for(question), i)) for i in (0, 1)]


# --------------------------------------------------------------------------- openai: chat stream with tools
def check_chat_stream_tools(kind: str, id_prefix: str, gateway, mocks):
    gw, (a,) = kinds_gateway(gateway, mocks, [kind], client_keys=CLIENT_KEYS)
    first, second = run_node("openai_chat_stream_tools.mjs", gw, "weather?", *RESULTS)["turns"]
    want = want_calls(id_prefix, "weather?")

    assert first["finish_reason"] == "tool_calls" and first["text"] in (None, "")
    assert [(c["id"], c["name"], json.loads(c["arguments"])) for c in first["tool_calls"]] == want
    assert all(c["type"] == "function" for c in first["tool_calls"])
    for turn, rec in zip((first, second), a.requests):
        assert turn["chunk_objects"] == ["chat.completion.chunk"]
        assert turn["usage_chunks"] == turn["chunks_without_choices"] == 1, "include_usage: one usage chunk"
        sent = rec.usage_sent
        usage = turn["usage"]
        assert (usage["prompt_tokens"], usage["completion_tokens"]) == (
            (sent["input_tokens"], sent["output_tokens"]) if kind == "anthropic" else
            (sent["prompt_tokens"], sent["completion_tokens"]))
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    usage = first["usage"]
    row = row_of(gw, first["request_id"], endpoint="/v1/chat/completions", status=200, upstream="a",
                 finish_reason="tool_calls", prompt_tokens=usage["prompt_tokens"],
                 completion_tokens=usage["completion_tokens"], client_key="team-a")
    assert row["stream"] and tool_calls_of_row(row) == want

    # Turn 2: the SDK's assistant message and the tool results reached the upstream as its kind's turns.
    back = a.requests[1].body["messages"]
    if kind == "anthropic":
        sent_calls = [(b["id"], b["name"], b["input"]) for m in back if m["role"] == "assistant"
                      for b in m["content"] if b.get("type") == "tool_use"]
        sent_results = [(b["tool_use_id"], _text_of(b.get("content"))) for m in back
                        if m["role"] == "user" and isinstance(m["content"], list)
                        for b in m["content"] if b.get("type") == "tool_result"]
    else:
        sent_calls = [(t["id"], t["function"]["name"], json.loads(t["function"]["arguments"]))
                      for m in back if m["role"] == "assistant" for t in m.get("tool_calls") or []]
        sent_results = [(m["tool_call_id"], _text_of(m["content"])) for m in back if m["role"] == "tool"]
    assert sent_calls == want
    assert sent_results == [(want[0][0], "sunny"), (want[1][0], "rainy")]

    answer = answer_for("", RESULTS)
    assert second["text"] == second["streamed_text"] == answer and second["finish_reason"] == "stop"
    assert second["tool_calls"] == []
    usage = second["usage"]
    row = row_of(gw, second["request_id"], endpoint="/v1/chat/completions", status=200, finish_reason="stop",
                 prompt_tokens=usage["prompt_tokens"], completion_tokens=usage["completion_tokens"],
                 response_content=answer)
    assert row["stream"] and row["tool_calls"] is None


def test_openai_chat_stream_tools_to_anthropic_target(gateway, mocks):
    check_chat_stream_tools("anthropic", "toolu_mock", gateway, mocks)


def test_openai_chat_stream_tools_to_openai_target(gateway, mocks):
    check_chat_stream_tools("openai", "call_mock", gateway, mocks)


# --------------------------------------------------------------------------- anthropic: messages.stream with tools
def check_messages_tools(kind: str, id_prefix: str, gateway, mocks):
    gw, (a,) = kinds_gateway(gateway, mocks, [kind], client_keys=CLIENT_KEYS)
    first, second, third = run_node("anthropic_messages_tools.mjs", gw, "weather?", *RESULTS)["turns"]
    want = want_calls(id_prefix, "weather?")
    sent = [a.requests[i].usage_sent for i in range(3)]
    if kind == "anthropic":
        usage_sent = [(u["input_tokens"], u["output_tokens"]) for u in sent]
    else:
        usage_sent = [(u["prompt_tokens"], u["completion_tokens"]) for u in sent]
        tools = a.requests[0].body["tools"]
        assert [(t["function"]["name"], t["function"]["parameters"]) for t in tools] == [
            ("get_weather", TOOL["input_schema"])]

    # Turn 1: messages.stream, the tool called; MessageStream rebuilt each input from its JSON deltas.
    assert (first["type"], first["role"], first["stop_reason"], first["text"]) == (
        "message", "assistant", "tool_use", "")
    assert [(u["id"], u["name"], u["input"]) for u in first["tool_uses"]] == want
    events = [e for e in first["events"] if e != "ping"]
    assert events[0] == "message_start" and events[-2:] == ["message_delta", "message_stop"], events
    assert events.count("content_block_start") == events.count("content_block_stop") == 2, events
    assert (first["usage"]["input_tokens"], first["usage"]["output_tokens"]) == usage_sent[0]
    row = row_of(gw, first["request_id"], endpoint="/v1/messages", status=200, upstream="a",
                 finish_reason="tool_use", prompt_tokens=usage_sent[0][0], completion_tokens=usage_sent[0][1],
                 client_key="team-a")
    assert row["stream"] and tool_calls_of_row(row) == want

    # Turn 2: messages.create with the tool results.
    answer = answer_for("", RESULTS)
    assert (second["text"], second["stop_reason"], second["tool_uses"]) == (answer, "end_turn", [])
    assert (second["usage"]["input_tokens"], second["usage"]["output_tokens"]) == usage_sent[1]
    row = row_of(gw, second["request_id"], endpoint="/v1/messages", status=200, finish_reason="end_turn",
                 prompt_tokens=usage_sent[1][0], completion_tokens=usage_sent[1][1], response_content=answer)
    assert not row["stream"]

    # Turn 3: a text stream.
    answer = expected("weather? again")
    assert third["text"] == third["streamed_text"] == answer and third["stop_reason"] == "end_turn"
    assert (third["usage"]["input_tokens"], third["usage"]["output_tokens"]) == usage_sent[2]
    assert third["events"].count("content_block_delta") == len(answer.split())
    row = row_of(gw, third["request_id"], endpoint="/v1/messages", status=200, finish_reason="end_turn",
                 prompt_tokens=usage_sent[2][0], completion_tokens=usage_sent[2][1], response_content=answer)
    assert row["stream"]
    return a


def test_anthropic_messages_stream_tools_to_openai_target(gateway, mocks):
    a = check_messages_tools("openai", "call_mock", gateway, mocks)
    assert [r.path for r in a.requests] == ["/v1/chat/completions"] * 3
    back = a.requests[1].body["messages"]
    assert [(m["tool_call_id"], _text_of(m["content"])) for m in back if m["role"] == "tool"] == [
        ("call_mock_0", "sunny"), ("call_mock_1", "rainy")]


def test_anthropic_messages_stream_tools_to_anthropic_target(gateway, mocks):
    a = check_messages_tools("anthropic", "toolu_mock", gateway, mocks)
    assert [r.path for r in a.requests] == ["/v1/messages"] * 3


# --------------------------------------------------------------------------- openai: responses
def test_openai_responses_to_openai_target(gateway, mocks):
    gw, (a,) = kinds_gateway(gateway, mocks, ["openai"], models_up=["gpt-up"], client_keys=CLIENT_KEYS)
    plain, streamed, tools = run_node("openai_responses.mjs", gw, "hello node")["turns"]
    assert [r.path for r in a.requests] == ["/v1/responses"] * 3
    assert a.issued_responses == [plain["id"], streamed["id"], tools["id"]]
    assert a.requests[0].body["instructions"] == "Be brief."

    for turn, rec in zip((plain, streamed, tools), a.requests):
        sent = rec.usage_sent
        assert turn["usage"] == {k: sent[k] for k in ("input_tokens", "output_tokens", "total_tokens")}
        assert turn["status"] == "completed" and turn["model"] == "gpt-up"
    assert plain["text"] == plain["output_text"] == expected("hello node") and plain["function_calls"] == []
    row_of(gw, plain["request_id"], endpoint="/v1/responses", status=200, upstream="a", upstream_model="gpt-up",
           prompt_tokens=a.requests[0].usage_sent["input_tokens"],
           completion_tokens=a.requests[0].usage_sent["output_tokens"], response_content=expected("hello node"),
           stream=0, client_key="team-a")

    answer = expected("hello node streamed")
    assert streamed["text"] == streamed["streamed_text"] == answer
    assert streamed["events"][0] == "response.created" and streamed["events"][-1] == "response.completed"
    assert "error" not in streamed["events"]
    row_of(gw, streamed["request_id"], endpoint="/v1/responses", status=200, response_content=answer, stream=1,
           prompt_tokens=a.requests[1].usage_sent["input_tokens"],
           completion_tokens=a.requests[1].usage_sent["output_tokens"])

    want = [("get_weather", tool_arguments(answer_for("hello node"), i)) for i in (0, 1)]
    assert [(c["name"], json.loads(c["arguments"])) for c in tools["function_calls"]] == want
    assert [c["call_id"] for c in tools["function_calls"]] == ["call_mock_0", "call_mock_1"]
    assert [json.loads(x) for x in tools["arguments_done"]] == [args for _, args in want]
    assert tools["text"] == ""
    row = row_of(gw, tools["request_id"], endpoint="/v1/responses", status=200, stream=1)
    assert [(name, args) for _, name, args in tool_calls_of_row(row)] == want


@pytest.mark.parametrize("kind", ["anthropic", "gemini", "bedrock"])
def test_openai_responses_translated_to_other_kinds(gateway, mocks, kind):
    """The same SDK calls on targets that do not speak Responses: the gateway translates the
    request through chat and writes the answer and its events as the Responses API."""
    gw, (a,) = kinds_gateway(gateway, mocks, [kind], models_up=["up"], client_keys=CLIENT_KEYS)
    plain, streamed, tools = run_node("openai_responses.mjs", gw, "hello node")["turns"]
    assert [r.surface for r in a.requests] == [kind] * 3
    assert plain["text"] == plain["output_text"] == expected("hello node") and plain["status"] == "completed"
    answer = expected("hello node streamed")
    assert streamed["text"] == streamed["streamed_text"] == answer
    assert streamed["events"][0] == "response.created" and streamed["events"][-1] == "response.completed"
    assert "response.output_text.delta" in streamed["events"] and "error" not in streamed["events"]
    assert [(c["name"], json.loads(c["arguments"])) for c in tools["function_calls"]] == [
        ("get_weather", tool_arguments(answer_for("hello node"), i)) for i in (0, 1)]
    assert [json.loads(x) for x in tools["arguments_done"]] == [
        json.loads(c["arguments"]) for c in tools["function_calls"]]
    for turn in (plain, streamed, tools):
        usage = turn["usage"]
        assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
        row_of(gw, turn["request_id"], endpoint="/v1/responses", status=200, upstream="a",
               prompt_tokens=usage["input_tokens"], completion_tokens=usage["output_tokens"])
    row_of(gw, streamed["request_id"], response_content=answer, finish_reason="completed", stream=1)
