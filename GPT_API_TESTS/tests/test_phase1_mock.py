"""Self-tests of the mock upstream, talking to it directly (no gateway).

Why: every gateway test trusts the mock; if the mock's streams or failure
injections were wrong, gateway tests would prove nothing. These run even
before the gateway binary exists.
"""
import base64
import json
import struct
import socket
import ssl
import time

import httpx
import pytest
from openai import APIStatusError, OpenAI

from helpers import expected, msgs, sse_data, chat_texts
from mock_upstream import Behaviour, context_length_exceeded, embedding_for, completion_answer


def direct(m) -> OpenAI:
    return OpenAI(base_url=m.base_url, api_key="sk-direct", max_retries=0, timeout=10)


def test_mock_chat_non_stream_and_stream(mocks):
    m = mocks("a")
    c = direct(m)
    r = c.chat.completions.create(model="x", messages=msgs("hello world"))
    assert r.choices[0].message.content == expected("hello world")
    assert r.model == "x" and r.usage.prompt_tokens == 2
    chunks = list(c.chat.completions.create(model="x", messages=msgs("hello world"), stream=True,
                                            stream_options={"include_usage": True}))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == expected("hello world")
    usage = [ch for ch in chunks if ch.usage]
    assert len(usage) == 1 and usage[0].choices == [] and usage[0].usage.completion_tokens == r.usage.completion_tokens
    assert m.requests[1].content_sent == text


def test_mock_prefill_continues(mocks):
    m = mocks("a")
    full = expected("go on")
    r = direct(m).chat.completions.create(model="x", messages=msgs("go on") + [
        {"role": "assistant", "content": full[:13]}])
    assert r.choices[0].message.content == full[13:]


def test_mock_tool_stream_two_parallel_calls(mocks):
    m = mocks("a")
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    calls = {}
    finish = None
    for ch in direct(m).chat.completions.create(model="x", messages=msgs("w"), tools=tools, stream=True):
        for tc in ch.choices[0].delta.tool_calls or []:
            c = calls.setdefault(tc.index, {"id": None, "name": None, "args": ""})
            c["id"] = c["id"] or tc.id
            c["name"] = c["name"] or (tc.function.name if tc.function else None)
            c["args"] += (tc.function.arguments or "") if tc.function else ""
        finish = ch.choices[0].finish_reason or finish
    assert finish == "tool_calls" and sorted(calls) == [0, 1]
    assert [json.loads(calls[i]["args"])["n"] for i in (0, 1)] == [0, 1]
    assert calls[1]["id"] == "call_mock_1" and calls[1]["name"] == "get_weather"


def test_mock_completions_embeddings_rerank(mocks):
    m = mocks("a")
    c = direct(m)
    assert c.completions.create(model="x", prompt="p q").choices[0].text == completion_answer("p q")
    text = "".join(ch.choices[0].text for ch in c.completions.create(model="x", prompt="p q", stream=True)
                   if ch.choices)
    assert text == completion_answer("p q")
    for fmt in ("float", "base64"):
        e = c.embeddings.create(model="e", input=["a b", "c"], encoding_format=fmt)
        vec = e.data[1].embedding
        if isinstance(vec, str):  # the SDK hands base64 back undecoded when asked for it explicitly
            raw = base64.b64decode(vec)
            vec = list(struct.unpack(f"<{len(raw) // 4}f", raw))
        assert vec == embedding_for("c")
    r = httpx.post(m.base_url + "/rerank", json={"model": "r", "query": "red fox",
                                                 "documents": ["blue sky", "red fox jumps"]})
    assert [x["index"] for x in r.json()["results"]] == [1, 0]


def test_mock_failure_scripts(mocks):
    m = mocks("a")
    m.script(Behaviour(status=503, headers={"Retry-After": "1"}), context_length_exceeded())
    c = direct(m)
    with pytest.raises(APIStatusError) as e:
        c.chat.completions.create(model="x", messages=msgs("a"))
    assert e.value.status_code == 503 and e.value.response.headers["retry-after"] == "1"
    with pytest.raises(APIStatusError) as e:
        c.chat.completions.create(model="x", messages=msgs("a"))
    assert e.value.status_code == 400 and e.value.body["code"] == "context_length_exceeded"
    assert c.chat.completions.create(model="x", messages=msgs("a")).choices[0].message.content == expected("a")
    m.script(Behaviour(reset=True))
    with pytest.raises(httpx.TransportError):
        httpx.post(m.base_url + "/chat/completions", json={"model": "x", "messages": msgs("a")})


def _raw_stream(m, beh, text="cut me", timeout=5.0):
    m.script(beh)
    body = {"model": "x", "messages": msgs(text), "stream": True}
    lines, err = [], None
    try:
        with httpx.stream("POST", m.base_url + "/chat/completions", json=body, timeout=timeout) as r:
            for line in r.iter_lines():
                lines.append(line)
    except httpx.HTTPError as e:
        err = e
    return sse_data(lines), err


def test_mock_stream_faults(mocks):
    m = mocks("a")
    data, err = _raw_stream(m, Behaviour(cut_after=3))
    assert err is not None and "[DONE]" not in data
    assert chat_texts(data)[0] == m.requests[-1].content_sent == "Echo: cut me"
    data, err = _raw_stream(m, Behaviour(malformed_at=2, crlf=True))
    assert err is None and chat_texts(data) == (expected("cut me"), 1) and data[-1] == "[DONE]"
    data, err = _raw_stream(m, Behaviour(no_done=True))
    assert err is None and "[DONE]" not in data and chat_texts(data)[0] == expected("cut me")
    data, err = _raw_stream(m, Behaviour(close_delimited=True))
    assert err is None and chat_texts(data)[0] == expected("cut me") and data[-1] == "[DONE]"
    data, err = _raw_stream(m, Behaviour(stall_after=2), timeout=0.5)
    assert isinstance(err, httpx.ReadTimeout) and len(m.requests[-1].content_sent.split()) == 2


def test_mock_sees_peer_hang_up(mocks):
    m = mocks("a")
    m.script(Behaviour(chunk_interval_ms=100))
    body = {"model": "x", "messages": msgs("a b c d e f g h i j k l m n o p"), "stream": True}
    with httpx.stream("POST", m.base_url + "/chat/completions", json=body, timeout=5) as r:
        it = r.iter_lines()
        while len(sse_data([next(it)])) == 0 or len(m.requests[0].event_times) < 3:
            pass
        closed = time.monotonic()
    rec = m.wait_for(lambda reqs: reqs[0] if reqs[0].peer_closed_at else None, 2)
    assert rec.peer_closed_at - closed < 0.5


def test_mock_tls(mocks, tls_ca):
    ca, ca_path = tls_ca
    m = mocks("s", tls=ca)
    assert m.base_url.startswith("https://")
    r = httpx.post(m.base_url + "/chat/completions", json={"model": "x", "messages": msgs("t")},
                   verify=ssl.create_default_context(cafile=ca_path))
    assert r.json()["choices"][0]["message"]["content"] == expected("t")


def test_mock_stop_refuses_connections(mocks):
    m = mocks("a")
    port = m.port
    m.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1)
