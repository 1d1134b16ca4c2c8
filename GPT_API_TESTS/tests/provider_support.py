"""Shared pieces of the issue-19 provider tests (Gemini, Bedrock Converse, Cohere v2 as client
dialects and as upstream kinds): the official SDKs pointed at the gateway, one request per
ingress dialect over raw HTTP (or boto3 where it must be signed), and readers that put any
dialect's answer, usage and upstream request in one comparable form.

Ingress paths and auth, per the issue-19 contract: Gemini `POST /v1beta/models/{model}:
generateContent` / `:streamGenerateContent?alt=sse` with `x-goog-api-key`; Bedrock `POST
/model/{modelId}/converse` / `converse-stream`, SigV4-signed with a client key's
`aws_access_key_id` and the secret its `aws_secret_access_key_env` names; Cohere `POST
/v2/chat` with a bearer key.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Optional
from unittest import mock

import boto3
import cohere
import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from google import genai
from google.genai import types

import mock_anthropic
import mock_bedrock
import mock_cohere
import mock_gemini
import mock_responses
from dialect_support import ANTHROPIC_HEADERS, named_events
from gateway import env_name, export_env
from helpers import CLIENT_KEY, expected
from mock_answers import _text_of, chat_answer

REGION = "us-east-1"
CLIENT_AWS_KEY_ID = "AKIACLIENTTEAMA00001"
# Contains the client key, so the conftest's leak check covers the AWS secret too.
CLIENT_AWS_SECRET = CLIENT_KEY + "-aws-secret"
CLIENT_KEYS_AWS = [{"name": "team-a", "key": CLIENT_KEY, "aws_access_key_id": CLIENT_AWS_KEY_ID,
                    "aws_secret_access_key_env": export_env(env_name("CLIENT_AWS_SECRET", "team-a"),
                                                            CLIENT_AWS_SECRET)}]

INGRESS = ["chat", "responses", "messages", "gemini", "converse", "cohere"]
KINDS = ["openai", "azure", "anthropic", "gemini", "bedrock", "cohere"]
# The ingress dialect's own word for a natural end, and for a turn that calls tools (the row's
# finish_reason uses the same vocabulary; a Responses row says the response status).
STOP = {"chat": "stop", "responses": "completed", "messages": "end_turn", "gemini": "STOP",
        "converse": "end_turn", "cohere": "COMPLETE"}
TOOL_STOP = {"chat": "tool_calls", "responses": "completed", "messages": "tool_use", "gemini": "STOP",
             "converse": "tool_use", "cohere": "TOOL_CALL"}
SYSTEM = "Be brief."
# system + two user turns, the first answered: (role, text)
CONVERSATION = [("system", SYSTEM), ("user", "first turn"), ("assistant", expected("first turn")),
                ("user", "second turn")]
WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def endpoint(ingress: str, stream: bool, model: str = "m") -> str:
    """The ingress path a row's `endpoint` holds (no query string)."""
    return {"chat": "/v1/chat/completions", "responses": "/v1/responses", "messages": "/v1/messages",
            "gemini": f"/v1beta/models/{model}:{'streamGenerateContent' if stream else 'generateContent'}",
            "converse": f"/model/{model}/{'converse-stream' if stream else 'converse'}",
            "cohere": "/v2/chat"}[ingress]


# --------------------------------------------------------------------------- SDK clients
def gemini_client(gw, key: str = CLIENT_KEY) -> genai.Client:
    """google-genai against the gateway (it appends /v1beta/models/...; key as x-goog-api-key).
    Hold the client while a stream is read: a dropped client closes its connections."""
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=gw.url, api_version="v1beta",
                                                                    timeout=20_000))


def bedrock_client(gw, key_id: str = CLIENT_AWS_KEY_ID, secret: str = CLIENT_AWS_SECRET, region: str = REGION):
    """boto3's bedrock-runtime against the gateway, signing with a client key's AWS credentials."""
    return boto3.client("bedrock-runtime", endpoint_url=gw.url, region_name=region, aws_access_key_id=key_id,
                        aws_secret_access_key=secret,
                        config=Config(retries={"total_max_attempts": 1}, read_timeout=20, connect_timeout=5))


def cohere_client(gw, key: str = CLIENT_KEY) -> cohere.ClientV2:
    return cohere.ClientV2(api_key=key, base_url=gw.url, timeout=20)


NO_RETRY = {"max_retries": 0}
GEMINI_TOOL = types.Tool(function_declarations=[types.FunctionDeclaration(
    name="get_weather", description="Weather in a city", parameters_json_schema=WEATHER_SCHEMA)])
BEDROCK_TOOLS = {"tools": [{"toolSpec": {"name": "get_weather", "description": "Weather in a city",
                                         "inputSchema": {"json": WEATHER_SCHEMA}}}], "toolChoice": {"auto": {}}}
COHERE_TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                                "parameters": WEATHER_SCHEMA}}


def signed_post(gw, path: str, body: bytes, key_id: str = CLIENT_AWS_KEY_ID, secret: str = CLIENT_AWS_SECRET,
                region: str = REGION, when: Optional[datetime.datetime] = None, stream: bool = False,
                send: Optional[bytes] = None):
    """POST a SigV4-signed request (service `bedrock`) with httpx: the raw bytes both ways.
    `when` signs with another clock (a stale date); `send` is a body sent in place of the signed
    one; `stream` returns the open response."""
    req = AWSRequest(method="POST", url=gw.url + path, data=body,
                     headers={"content-type": "application/json", "accept": "application/json"})
    signer = SigV4Auth(Credentials(key_id, secret), "bedrock", region)
    if when is not None:  # botocore reads its clock through this function
        with mock.patch("botocore.auth.get_current_datetime", lambda: when.replace(tzinfo=None)):
            signer.add_auth(req)
    else:
        signer.add_auth(req)
    headers = dict(req.headers.items())
    body = body if send is None else send
    client = httpx.Client(timeout=20)
    if stream:
        return client.send(client.build_request("POST", gw.url + path, content=body, headers=headers), stream=True)
    with client:
        return client.post(gw.url + path, content=body, headers=headers)


# --------------------------------------------------------------------------- one reply, any dialect
@dataclass
class Reply:
    text: str
    stop: Optional[str]                  # in the ingress dialect's vocabulary
    usage: Optional[tuple]               # (input, output) as the client saw it
    rid: str                             # x-request-id
    tool_calls: list = field(default_factory=list)   # (name, parsed arguments)


def _sse_json(lines) -> list[tuple[Optional[str], dict]]:
    return [(n, d) for n, d in named_events(lines)]


def chat_messages(conv: list) -> list:
    return [{"role": r, "content": t} for r, t in conv]


def ask(gw, ingress: str, stream: bool, conv: list = CONVERSATION, model: str = "m") -> Reply:
    """Send a text conversation ((role, text) pairs, system first if any) in the ingress dialect."""
    system = [t for r, t in conv if r == "system"]
    turns = [(r, t) for r, t in conv if r != "system"]
    h = {"authorization": f"Bearer {CLIENT_KEY}"}
    with httpx.Client(base_url=gw.url, timeout=20) as c:
        if ingress == "chat":
            body = {"model": model, "messages": chat_messages(conv), "stream": stream}
            if not stream:
                r = c.post("/v1/chat/completions", json=body, headers=h)
                assert r.status_code == 200, r.text
                j = r.json()
                return Reply(j["choices"][0]["message"]["content"], j["choices"][0]["finish_reason"],
                             (j["usage"]["prompt_tokens"], j["usage"]["completion_tokens"]), r.headers["x-request-id"])
            body["stream_options"] = {"include_usage": True}
            with c.stream("POST", "/v1/chat/completions", json=body, headers=h) as r:
                assert r.status_code == 200, r.read()
                chunks = [d for _, d in _sse_json(line for line in r.iter_lines() if line != "data: [DONE]")]
                rid = r.headers["x-request-id"]
            text = "".join((ch["choices"][0]["delta"].get("content") or "") for ch in chunks if ch.get("choices"))
            finish = [ch["choices"][0]["finish_reason"] for ch in chunks if ch.get("choices")
                      and ch["choices"][0].get("finish_reason")]
            usage = [ch["usage"] for ch in chunks if ch.get("usage")]
            return Reply(text, finish[-1] if finish else None,
                         (usage[-1]["prompt_tokens"], usage[-1]["completion_tokens"]) if usage else None, rid)
        if ingress == "responses":
            body = {"model": model, "input": [{"role": r, "content": t} for r, t in turns], "stream": stream}
            if system:
                body["instructions"] = system[0]
            if not stream:
                r = c.post("/v1/responses", json=body, headers=h)
                assert r.status_code == 200, r.text
                j, rid = r.json(), r.headers["x-request-id"]
            else:
                with c.stream("POST", "/v1/responses", json=body, headers=h) as r:
                    assert r.status_code == 200, r.read()
                    events = _sse_json(r.iter_lines())
                    rid = r.headers["x-request-id"]
                assert events[-1][0] == "response.completed", events[-1]
                delta = "".join(d["delta"] for n, d in events if n == "response.output_text.delta")
                j = events[-1][1]["response"]
                assert delta == "".join(p["text"] for o in j["output"] if o["type"] == "message"
                                        for p in o["content"]), "the deltas add up to the final response"
            text = "".join(p["text"] for o in j["output"] if o["type"] == "message" for p in o["content"]
                           if p["type"] == "output_text")
            u = j.get("usage")
            return Reply(text, j["status"], (u["input_tokens"], u["output_tokens"]) if u else None, rid)
        if ingress == "messages":
            body = {"model": model, "max_tokens": 1000, "messages": chat_messages(turns), "stream": stream}
            if system:
                body["system"] = system[0]
            hh = {**ANTHROPIC_HEADERS, "x-api-key": CLIENT_KEY}
            if not stream:
                r = c.post("/v1/messages", json=body, headers=hh)
                assert r.status_code == 200, r.text
                j = r.json()
                return Reply("".join(b["text"] for b in j["content"] if b["type"] == "text"), j["stop_reason"],
                             (j["usage"]["input_tokens"], j["usage"]["output_tokens"]), r.headers["x-request-id"])
            with c.stream("POST", "/v1/messages", json=body, headers=hh) as r:
                assert r.status_code == 200, r.read()
                events = _sse_json(r.iter_lines())
                rid = r.headers["x-request-id"]
            text = "".join(d["delta"].get("text", "") for n, d in events if n == "content_block_delta")
            delta = [d for n, d in events if n == "message_delta"]
            start = [d for n, d in events if n == "message_start"]
            # message_delta's usage is cumulative and may carry input_tokens too (a translated
            # stream learns them only at its end); the SDK takes them from there when present
            usage = None
            if start and delta:
                final = delta[-1]["usage"]
                inp = final.get("input_tokens")
                usage = (start[0]["message"]["usage"]["input_tokens"] if inp is None else inp, final["output_tokens"])
            return Reply(text, delta[-1]["delta"]["stop_reason"] if delta else None, usage, rid)
        if ingress == "gemini":
            body = {"contents": [{"role": "model" if r == "assistant" else "user", "parts": [{"text": t}]}
                                 for r, t in turns]}
            if system:
                body["systemInstruction"] = {"parts": [{"text": system[0]}]}
            gh = {"x-goog-api-key": CLIENT_KEY}
            if not stream:
                r = c.post(f"/v1beta/models/{model}:generateContent", json=body, headers=gh)
                assert r.status_code == 200, r.text
                chunks, rid = [r.json()], r.headers["x-request-id"]
            else:
                with c.stream("POST", f"/v1beta/models/{model}:streamGenerateContent?alt=sse", json=body,
                              headers=gh) as r:
                    assert r.status_code == 200, r.read()
                    chunks = [d for _, d in _sse_json(r.iter_lines())]
                    rid = r.headers["x-request-id"]
            return gemini_reply(chunks, rid)
        if ingress == "cohere":
            body = {"model": model, "messages": chat_messages(conv), "stream": stream}
            if not stream:
                r = c.post("/v2/chat", json=body, headers=h)
                assert r.status_code == 200, r.text
                j = r.json()
                u = (j.get("usage") or {}).get("tokens")
                return Reply("".join(p.get("text", "") for p in j["message"].get("content") or []), j["finish_reason"],
                             (u["input_tokens"], u["output_tokens"]) if u else None, r.headers["x-request-id"])
            with c.stream("POST", "/v2/chat", json=body, headers=h) as r:
                assert r.status_code == 200, r.read()
                events = _sse_json(r.iter_lines())
                rid = r.headers["x-request-id"]
            assert all(n is None or n == d["type"] for n, d in events), "event names are the data's type"
            text = "".join(d["delta"]["message"]["content"]["text"] for _, d in events if d["type"] == "content-delta")
            end = [d for _, d in events if d["type"] == "message-end"]
            u = ((end[-1]["delta"].get("usage") or {}).get("tokens")) if end else None
            return Reply(text, end[-1]["delta"].get("finish_reason") if end else None,
                         (u["input_tokens"], u["output_tokens"]) if u else None, rid)
    assert ingress == "converse", ingress
    kw = dict(modelId=model, messages=[{"role": r, "content": [{"text": t}]} for r, t in turns])
    if system:
        kw["system"] = [{"text": system[0]}]
    b = bedrock_client(gw)
    if not stream:
        r = b.converse(**kw)
        return Reply("".join(x.get("text", "") for x in r["output"]["message"]["content"]), r["stopReason"],
                     (r["usage"]["inputTokens"], r["usage"]["outputTokens"]),
                     r["ResponseMetadata"]["HTTPHeaders"]["x-request-id"])
    r = b.converse_stream(**kw)
    events = list(r["stream"])
    return converse_reply(events, r["ResponseMetadata"]["HTTPHeaders"]["x-request-id"])


def gemini_reply(chunks: list, rid: str) -> Reply:
    """A Gemini answer from its chunks (one for a whole answer): text, last finishReason, last usage."""
    text, finish, usage, calls = "", None, None, []
    for ch in chunks:
        assert "error" not in ch, ch
        for cand in ch.get("candidates") or []:
            for p in (cand.get("content") or {}).get("parts") or []:
                text += p.get("text", "") if not p.get("thought") else ""
                if "functionCall" in p:
                    calls.append((p["functionCall"]["name"], p["functionCall"].get("args")))
            finish = cand.get("finishReason") or finish
        u = ch.get("usageMetadata")
        if u:
            usage = (u.get("promptTokenCount", 0), u.get("candidatesTokenCount", 0))
    return Reply(text, finish, usage, rid, calls)


def converse_reply(events: list, rid: str) -> Reply:
    """A ConverseStream answer from boto3's parsed events."""
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and "messageStop" in kinds, kinds
    text = "".join(e["contentBlockDelta"]["delta"].get("text", "") for e in events if "contentBlockDelta" in e)
    stop = [e["messageStop"]["stopReason"] for e in events if "messageStop" in e]
    meta = [e["metadata"]["usage"] for e in events if "metadata" in e]
    return Reply(text, stop[-1], (meta[-1]["inputTokens"], meta[-1]["outputTokens"]) if meta else None, rid)


# --------------------------------------------------------------------------- what the upstream got and said
def usage_pair(u: Optional[dict]) -> Optional[tuple]:
    """(input, output) tokens of any dialect's usage object as a mock sent it."""
    if not u:
        return None
    if "prompt_tokens" in u:
        return u["prompt_tokens"], u["completion_tokens"]
    if "promptTokenCount" in u:
        return u["promptTokenCount"], u.get("candidatesTokenCount", 0)
    if "inputTokens" in u:
        return u["inputTokens"], u["outputTokens"]
    if "tokens" in u:
        return u["tokens"]["input_tokens"], u["tokens"]["output_tokens"]
    return u["input_tokens"], u["output_tokens"]


def conversation_of(rec) -> list[tuple[str, str]]:
    """The (role, text) turns of a text conversation as an upstream got it, in any dialect
    (system first; Gemini's `model` role read as assistant; tool turns left out)."""
    b = rec.body
    if rec.surface == "gemini":
        sys_ = (b.get("systemInstruction") or b.get("system_instruction") or {}).get("parts")
        out = [("system", " ".join(p.get("text", "") for p in sys_))] if sys_ else []
        return out + [("assistant" if c.get("role") == "model" else "user",
                       " ".join(p["text"] for p in c["parts"] if "text" in p)) for c in b["contents"]]
    if rec.surface == "bedrock":
        out = [("system", " ".join(s["text"] for s in b["system"] if "text" in s))] if b.get("system") else []
        return out + [(m["role"], " ".join(x["text"] for x in m["content"] if "text" in x)) for m in b["messages"]]
    if rec.surface == "anthropic":
        out = [("system", _text_of(b["system"]))] if b.get("system") else []
        return out + [(m["role"], _text_of(m["content"])) for m in b["messages"]]
    if "input" in b:  # Responses API
        out = [("system", b["instructions"])] if b.get("instructions") else []
        inp = b["input"] if isinstance(b["input"], list) else [{"role": "user", "content": b["input"]}]
        for item in inp:
            content = item.get("content")
            if isinstance(content, list):
                content = [{"text": p.get("text", "")} for p in content]
            role = "system" if item.get("role") == "developer" else item.get("role")
            out.append((role, _text_of(content)))
        return out
    # chat completions and Cohere v2: messages with roles
    return [("system" if m["role"] == "developer" else m["role"], _text_of(m.get("content")))
            for m in b["messages"] if m["role"] != "tool"]


def mock_text(rec) -> str:
    """The text a mock answered a (non-tool-call) request with, recomputed from the request:
    the answers are pure functions of the request."""
    if rec.surface == "gemini":
        return "".join(p.get("text", "") for p in mock_gemini.answer(rec.body, rec.model)["candidates"][0]
                       ["content"]["parts"])
    if rec.surface == "bedrock":
        return "".join(x.get("text", "") for x in mock_bedrock.answer(rec.body)["output"]["message"]["content"])
    if rec.surface == "cohere":
        return "".join(p["text"] for p in mock_cohere.answer(rec.body)["message"].get("content") or [])
    if rec.surface == "anthropic":
        return "".join(b.get("text", "") for b in mock_anthropic.answer(rec.body)["content"])
    if "input" in rec.body:  # Responses API
        return "".join(p["text"] for o in mock_responses.answer(rec.body, "resp_mock")["output"]
                       if o["type"] == "message" for p in o["content"])
    return chat_answer(rec.body["messages"])
