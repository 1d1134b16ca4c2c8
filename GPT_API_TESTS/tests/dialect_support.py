"""Shared pieces of the dialect tests (Anthropic Messages, Responses API, Azure; issue 19 adds
Gemini, Bedrock and Cohere upstreams: see provider_support for their clients).

A gateway over mocks of given kinds, the `anthropic` SDK pointed at it, and readers
for named-event SSE streams (Anthropic's and the Responses API's `event:` lines).
"""
from __future__ import annotations

import json
from typing import Optional

import anthropic
import httpx

from gateway import UPSTREAM_KEY_PREFIX, upstream
from helpers import CLIENT_KEY, one_model
from mock_answers import _text_of

CLIENT_KEYS = [{"name": "team-a", "key": CLIENT_KEY}]
ONE = {"workers": 1}
TOOL = {"name": "get_weather", "description": "Weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
CHAT_TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                              "parameters": TOOL["input_schema"]}}
FN_TOOL = {"type": "function", "name": "get_weather", "parameters": TOOL["input_schema"]}
ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01", "content-type": "application/json"}


def key_of(mock, kind: str = "openai") -> str:
    """The upstream key gateway.upstream() configures for a mock (bedrock: its access key id)."""
    return mock.aws_access_key_id if kind == "bedrock" else UPSTREAM_KEY_PREFIX + mock.name


def kinds_gateway(gateway, mocks, kinds: list, routing: Optional[dict] = None, models_up=None,
                  ups_extra: Optional[dict] = None, weights=None, client_keys=None, **kw):
    """Model `m` over one mock per kind (mocks a, b, ...; the first preferred, or `weights`);
    one worker, so round-robin and breakers are predictable. Returns (gateway, [mocks])."""
    made = mocks(*"abcd"[:len(kinds)])
    made = made if isinstance(made, list) else [made]
    ups = [upstream(m, kind=k, **((ups_extra or {}).get(m.name) or {})) for m, k in zip(made, kinds)]
    gw = gateway(ups, [one_model(made, weights=weights, models_up=models_up)], routing=routing,
                 server=kw.pop("server", ONE), client_keys=client_keys, **kw)
    return gw, made


def claude(gw, key: str = CLIENT_KEY, timeout: float = 20.0, **kw) -> anthropic.Anthropic:
    """The `anthropic` SDK pointed at the gateway (it sends the key as `Authorization: Bearer`)."""
    return anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0, timeout=timeout, **kw)


def claude_x_api_key(gw, key: str = CLIENT_KEY) -> anthropic.Anthropic:
    """The `anthropic` SDK sending the key as `x-api-key`, as its older releases and most tools do."""
    return anthropic.Anthropic(base_url=gw.url, api_key=None, max_retries=0, timeout=20,
                               default_headers={"x-api-key": key})


def named_events(lines) -> list[tuple[Optional[str], dict]]:
    """(event name, data JSON) pairs of an SSE stream with `event:` lines."""
    out, name = [], None
    for line in lines:
        line = line.rstrip("\r")
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            out.append((name, json.loads(line[5:].strip())))
            name = None
    return out


def post_stream(gw, path: str, body: dict, headers: Optional[dict] = None) -> tuple[httpx.Response, list]:
    """POST a stream request with httpx: (response, [(event, data)]); a broken body raises."""
    with httpx.Client(base_url=gw.url, timeout=20) as h, \
            h.stream("POST", path, json=body, headers=headers or {}) as r:
        if r.status_code != 200:
            r.read()
            return r, []
        return r, named_events(r.iter_lines())


def messages_text(events: list) -> str:
    """The text of an Anthropic event stream (text_delta pieces joined)."""
    return "".join(d["delta"].get("text", "") for n, d in events
                   if n == "content_block_delta" and d["delta"]["type"] == "text_delta")


def check_messages_sequence(events: list):
    """The Anthropic stream grammar: message_start, then blocks (start, deltas, stop), then
    message_delta and message_stop; pings anywhere; every event's name is its data's type."""
    assert events, "no events"
    assert all(n == d.get("type") for n, d in events), f"not an Anthropic event stream: {events[:3]}"
    names = [n for n, _ in events if n != "ping"]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"], names
    start = events[0][1]["message"]
    assert (start["type"], start["role"], start["content"]) == ("message", "assistant", []), start
    open_block = None
    for n, d in events[1:-2]:
        if n == "content_block_start":
            assert open_block is None, names
            open_block = d["index"]
        elif n == "content_block_delta":
            assert d["index"] == open_block, names
        elif n == "content_block_stop":
            assert d["index"] == open_block, names
            open_block = None
        else:
            assert n == "ping", names
    assert open_block is None
    assert names.count("message_start") == 1 and names.count("message_stop") == 1


def chat_messages_text(messages: list) -> list[tuple[str, str]]:
    """(role, text) of chat messages, content strings and part lists alike."""
    return [(m["role"], _text_of(m.get("content"))) for m in messages]


def anthropic_error(resp: httpx.Response) -> dict:
    """The `error` object of an Anthropic-shaped error response (shape asserted)."""
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    body = resp.json()
    assert body.get("type") == "error" and set(body["error"]) >= {"type", "message"}, body
    return body["error"]


def tool_calls_of_row(row: dict) -> list[tuple[str, str, dict]]:
    """(id, name, parsed arguments) of a row's tool_calls (OpenAI's merged shape asserted)."""
    assert row["tool_calls"] is not None, f"row {row['id']} has no tool_calls"
    calls = json.loads(row["tool_calls"])
    assert all(c["type"] == "function" and set(c["function"]) >= {"name", "arguments"} for c in calls), calls
    return [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls]


def row_of(gw, rid: str, **want) -> dict:
    row = gw.db_row(rid)
    got = {k: row[k] for k in want}
    assert got == want, f"row {rid}: {got} != {want}"
    return row


def upstream_auth(rec, kind: str, key: str):
    """The upstream got its own key in its kind's header, never the client's."""
    if kind == "anthropic":
        assert rec.headers.get("x-api-key") == key and rec.headers.get("anthropic-version") == "2023-06-01"
        assert "authorization" not in rec.headers
    elif kind == "azure":
        assert rec.headers.get("api-key") == key and "authorization" not in rec.headers
    elif kind == "gemini":
        assert rec.headers.get("x-goog-api-key") == key and "key" not in rec.query
        assert "authorization" not in rec.headers
    elif kind == "bedrock":
        # `key` is the access key id; the mock has checked the signature made with its secret
        assert rec.headers.get("authorization", "").startswith(f"AWS4-HMAC-SHA256 Credential={key}/")
    else:
        assert rec.headers.get("authorization") == f"Bearer {key}"
    assert CLIENT_KEY not in json.dumps(rec.headers)
