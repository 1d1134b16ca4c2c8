"""Phase 1: every endpoint through the gateway with the official openai SDK."""
import json

import pytest

from gateway import UPSTREAM_KEY_PREFIX, upstream
from helpers import CLIENT_KEY, expected, http, msgs, sdk, stream_text
from mock_upstream import completion_answer, embedding_for, rerank_results

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "weather",
                                           "parameters": {"type": "object", "properties": {}}}}]


@pytest.fixture
def gw1(gateway, mocks):
    """Model `m` served by mock `a` under the upstream model name `m-up`, plus embedding/rerank models."""
    a = mocks("a")
    gw = gateway([upstream(a)], [
        {"name": "m", "targets": [{"upstream": "a", "model": "m-up", "weight": 1}]},
        {"name": "emb", "targets": [{"upstream": "a", "weight": 1}]},
        {"name": "rr", "targets": [{"upstream": "a", "model": "rr-up", "weight": 1}]},
    ])
    return gw, a


def test_chat_non_stream(gw1):
    gw, a = gw1
    raw = sdk(gw).chat.completions.with_raw_response.create(model="m", messages=msgs("hello there"))
    r = raw.parse()
    assert r.choices[0].message.content == expected("hello there")
    assert r.model == "m-up"  # the upstream's answer is passed on unchanged, not re-aliased
    rid = raw.headers.get("x-request-id")
    assert rid
    assert raw.headers.get("x-gpt-api-upstream") == "a" and raw.headers.get("x-gpt-api-attempts") == "1"
    seen = a.requests[-1]
    assert seen.path == "/v1/chat/completions"
    assert seen.body["model"] == "m-up" and seen.body["messages"] == msgs("hello there")
    assert seen.headers["authorization"] == f"Bearer {UPSTREAM_KEY_PREFIX}a"
    assert CLIENT_KEY not in json.dumps(seen.headers)
    line = gw.access(rid)
    assert line["status"] == 200 and line["model"] == "m" and line["upstream"] == "a"
    assert line["upstream_model"] == "m-up" and line["tried"] == ["a/m-up"] and line["attempts"] == 1
    assert line["stream"] is False and line["error"] is None and line["path"] == "/v1/chat/completions"


def test_chat_stream_text_and_usage_hidden(gw1):
    gw, a = gw1
    text, chunks = stream_text(sdk(gw).chat.completions.create(model="m", messages=msgs("stream me"),
                                                              stream=True))
    assert text == expected("stream me") == a.requests[-1].content_sent
    assert all(c.usage is None for c in chunks), "usage chunk leaked to a client that did not ask"
    assert all(c.choices for c in chunks)
    assert [c.choices[0].finish_reason for c in chunks][-1] == "stop"
    # the gateway asked the upstream for usage anyway, to log it
    assert a.requests[-1].body["stream_options"] == {"include_usage": True}
    assert a.requests[-1].body["model"] == "m-up"


def test_chat_stream_include_usage(gw1):
    gw, a = gw1
    text, chunks = stream_text(sdk(gw).chat.completions.create(
        model="m", messages=msgs("count me"), stream=True, stream_options={"include_usage": True}))
    assert text == expected("count me")
    usage = [c for c in chunks if c.usage is not None]
    assert len(usage) == 1 and usage[0].choices == []
    direct = sdk(gw).chat.completions.create(model="m", messages=msgs("count me"))
    assert usage[0].usage.total_tokens == direct.usage.total_tokens
    assert usage[0].usage.completion_tokens == len(text.split())


def test_chat_tool_call_stream_two_parallel_calls(gw1):
    gw, a = gw1
    calls, finish = {}, None
    for ch in sdk(gw).chat.completions.create(model="m", messages=msgs("weather?"), tools=TOOLS, stream=True):
        for tc in ch.choices[0].delta.tool_calls or []:
            c = calls.setdefault(tc.index, {"id": None, "type": None, "name": None, "args": ""})
            c["id"] = c["id"] or tc.id
            c["type"] = c["type"] or tc.type
            c["name"] = c["name"] or (tc.function and tc.function.name)
            c["args"] += (tc.function and tc.function.arguments) or ""
        finish = ch.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    whole = sdk(gw).chat.completions.create(model="m", messages=msgs("weather?"), tools=TOOLS)
    want = whole.choices[0].message.tool_calls
    assert len(want) == 2 and sorted(calls) == [0, 1]
    for i, tc in enumerate(want):
        assert calls[i] == {"id": tc.id, "type": "function", "name": tc.function.name,
                            "args": tc.function.arguments}
        json.loads(calls[i]["args"])
    assert a.requests[-2].body["tools"] == TOOLS


def test_completions(gw1):
    gw, a = gw1
    c = sdk(gw)
    assert c.completions.create(model="m", prompt="say it").choices[0].text == completion_answer("say it")
    chunks = list(c.completions.create(model="m", prompt="say it", stream=True))
    assert "".join(ch.choices[0].text for ch in chunks if ch.choices) == completion_answer("say it")
    assert all(ch.usage is None for ch in chunks)
    assert a.requests[-1].path == "/v1/completions" and a.requests[-1].body["model"] == "m-up"


def test_embeddings(gw1):
    gw, a = gw1
    e = sdk(gw).embeddings.create(model="emb", input=["first text", "second"], encoding_format="float")
    assert [d.embedding for d in e.data] == [embedding_for("first text"), embedding_for("second")]
    assert e.usage.prompt_tokens == 3
    assert a.requests[-1].path == "/v1/embeddings" and a.requests[-1].body["model"] == "emb"


def test_rerank(gw1):
    gw, a = gw1
    docs = ["the cat sat", "a dog ran far", "cat and dog"]
    with http(gw) as h:
        r = h.post("/v1/rerank", json={"model": "rr", "query": "dog cat", "documents": docs, "top_n": 2},
                   headers={"authorization": f"Bearer {CLIENT_KEY}"})
    assert r.status_code == 200, r.text
    assert r.json()["results"] == rerank_results("dog cat", docs, 2)
    assert r.headers.get("x-request-id")
    assert a.requests[-1].path == "/v1/rerank" and a.requests[-1].body["model"] == "rr-up"


def test_models_list(gw1):
    gw, a = gw1
    page = sdk(gw).models.list()
    assert sorted(m.id for m in page.data) == ["emb", "m", "rr"]
    assert all(m.object == "model" for m in page.data)
    assert a.count() == 0, "/v1/models is answered by the gateway itself"


def test_health(gw1):
    gw, _ = gw1
    with http(gw) as h:
        r = h.get("/health")
    assert r.status_code == 200 and r.headers.get("x-request-id")
