"""Small client-side helpers shared by the test files."""
from __future__ import annotations

import json
import re
import time
from typing import Optional

import httpx
from openai import OpenAI

from gateway import upstream
from mock_upstream import full_chat_answer

CLIENT_KEY = "sk-client-anything"


def sdk(gw, key: str = CLIENT_KEY, timeout: float = 20.0) -> OpenAI:
    """The official SDK pointed at the gateway, with its own retries off (the gateway retries)."""
    return OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0, timeout=timeout)


def http(gw, timeout: float = 20.0) -> httpx.Client:
    return httpx.Client(base_url=gw.url, timeout=timeout)


def msgs(text: str) -> list:
    return [{"role": "user", "content": text}]


def expected(text: str) -> str:
    """The mock's full answer to a single user message."""
    return full_chat_answer(msgs(text))


def one_model(mocks_list, name: str = "m", weights=None, models_up=None, **extra) -> dict:
    """A [[model]] over the given mocks; the first target gets by far the highest weight so
    smooth weighted round-robin tries it first on a fresh gateway."""
    weights = weights or [100] + [1] * (len(mocks_list) - 1)
    targets = []
    for i, m in enumerate(mocks_list):
        t = {"upstream": m.name, "weight": weights[i]}
        if models_up and models_up[i]:
            t["model"] = models_up[i]
        targets.append(t)
    return {"name": name, "targets": targets, **extra}


def simple_gateway(gateway, mocks_list, routing=None, model_extra=None, ups_extra=None, **kw):
    """Gateway with one model `m` over the mocks (first mock preferred)."""
    ups = [upstream(m, **(ups_extra or {})) for m in mocks_list]
    return gateway(ups, [one_model(mocks_list, **(model_extra or {}))], routing=routing, **kw)


def stream_text(stream) -> tuple[str, list]:
    """Consume an SDK chat stream: (joined delta.content, all chunks)."""
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


def sse_data(lines) -> list[str]:
    """The `data:` payloads of an SSE byte/line stream (handles \\r\\n)."""
    out = []
    for line in lines:
        line = line.rstrip("\r")
        if line.startswith("data:"):
            out.append(line[5:].strip())
    return out


def chat_texts(payloads: list[str]) -> tuple[str, int]:
    """Join delta.content of chat chunk payloads; count payloads that are not valid JSON."""
    text, bad = "", 0
    for p in payloads:
        if p == "[DONE]":
            continue
        try:
            obj = json.loads(p)
        except ValueError:
            bad += 1
            continue
        for ch in obj.get("choices") or []:
            text += (ch.get("delta") or {}).get("content") or ch.get("text") or ""
    return text, bad


def error_of(resp: httpx.Response) -> dict:
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    body = resp.json()
    assert set(body) == {"error"}, body
    return body["error"]


def wait_until(pred, timeout: float = 5.0, interval: float = 0.02):
    """Poll `pred` until truthy (returns its value) or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(interval)


# --------------------------------------------------------------------------- raw exchanges
def port_of(g) -> int:
    return int(g.url.rsplit(":", 1)[1])


def status_of(response: bytes) -> int:
    match = re.match(rb"HTTP/1\.1 (\d{3})", response)
    assert match, response[:200]
    return int(match.group(1))


def still_serving(g):
    reply = sdk(g).chat.completions.create(model="m", messages=msgs("alive?"))
    assert reply.choices[0].message.content.startswith("Echo: alive?")
