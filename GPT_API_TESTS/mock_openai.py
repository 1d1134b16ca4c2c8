"""The mock upstream's OpenAI surfaces: chat/completions, completions and embeddings.

Chat follows OpenAI's API reference where a gateway could get it wrong: `max_tokens` /
`max_completion_tokens` and `stop` cut the answer (finish_reason "length" / "stop"),
offered tools are called (two parallel calls) unless the conversation ends with their
results, and `tool` messages must pair with the assistant turn's `tool_calls` (400
otherwise, with OpenAI's message). Streams end with `data: [DONE]` (added by the server).
"""
from __future__ import annotations

import base64
import json
import struct
from typing import Any, Optional

from mock_answers import (CREATED, chat_answer, chat_tool_results, completion_answer, embedding_for, limit_answer,
                          pieces, tool_calls_for, usage)


def error_body(status: int, message: str = None, code: Any = None, type_: str = None) -> dict:
    return {"error": {"message": message or f"mock upstream error {status}",
                      "type": type_ or ("server_error" if status >= 500 else "invalid_request_error"),
                      "param": None, "code": code}}


def chat_problem(body: dict) -> Optional[str]:
    """OpenAI's 400 for tool messages that do not pair with an assistant turn's tool_calls."""
    messages = body.get("messages") if isinstance(body.get("messages"), list) else []
    for i, m in enumerate(messages):
        if m.get("role") == "assistant" and m.get("tool_calls"):
            k, answered = i + 1, set()
            while k < len(messages) and messages[k].get("role") == "tool":
                answered.add(messages[k].get("tool_call_id"))
                k += 1
            missing = [c.get("id") for c in m["tool_calls"] if c.get("id") not in answered]
            if missing:
                return ("An assistant message with 'tool_calls' must be followed by tool messages responding "
                        f"to each 'tool_call_id'. The following tool_call_ids did not have response messages: "
                        f"{', '.join(map(str, missing))}")
        if m.get("role") == "tool":
            j = i - 1
            while j >= 0 and messages[j].get("role") == "tool":
                j -= 1
            calls = messages[j].get("tool_calls") if j >= 0 else None
            if not calls or m.get("tool_call_id") not in {c.get("id") for c in calls}:
                return ("Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                        "message with 'tool_calls'.")
    return None


def error_event(_seq: int) -> tuple[Optional[str], str]:
    """The in-band error a chat/completions stream ends with: a `data: {"error": ...}` event."""
    return None, json.dumps(error_body(500, "The server had an error while processing your request."))


def whole_answer(body: dict, chat: bool) -> dict:
    """The whole chat.completion (or text_completion) for a request."""
    model = body.get("model")
    if not chat:
        text = completion_answer(body.get("prompt", ""))
        return {"id": "cmpl-mock", "object": "text_completion", "created": CREATED, "model": model,
                "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": "stop"}],
                "usage": usage(body, len(pieces(text)))}
    if calls_tools(body):
        calls = tool_calls_for(body)
        msg = {"role": "assistant", "content": None, "tool_calls": calls}
        return {"id": "chatcmpl-mock", "object": "chat.completion", "created": CREATED, "model": model,
                "choices": [{"index": 0, "message": msg, "finish_reason": "tool_calls", "logprobs": None}],
                "usage": usage(body, 2)}
    text, finish = chat_text(body)
    return {"id": "chatcmpl-mock", "object": "chat.completion", "created": CREATED, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": finish, "logprobs": None}],
            "usage": usage(body, len(pieces(text)))}


def calls_tools(body: dict) -> bool:
    """Tools offered and no tool results to answer: the model calls the tools."""
    return bool(body.get("tools")) and not chat_tool_results(body.get("messages", [])) \
        and body.get("tool_choice") != "none"


def chat_text(body: dict) -> tuple[str, str]:
    """The chat answer under max_tokens / max_completion_tokens and `stop`, with its finish_reason."""
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    text, why, _ = limit_answer(chat_answer(body.get("messages", [])), limit, body.get("stop"))
    return text, why or "stop"


def embeddings(body: dict) -> dict:
    """Deterministic vectors (float or base64) for each input."""
    inp = body.get("input", "")
    inputs = inp if isinstance(inp, list) else [inp]
    data = []
    for i, t in enumerate(inputs):
        vec = embedding_for(str(t))
        if body.get("encoding_format") == "base64":
            vec = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode()
        data.append({"object": "embedding", "index": i, "embedding": vec})
    n = sum(len(str(t).split()) for t in inputs)
    return {"object": "list", "data": data, "model": body.get("model"),
            "usage": {"prompt_tokens": n, "total_tokens": n}}


def stream_events(body: dict, chat: bool) -> tuple[list, Optional[dict]]:
    """(event name (None), data JSON, content piece or None) for every event, in order, without
    [DONE]; and the usage the stream reports (only when the request asked for it)."""
    model = body.get("model")
    base = {"id": "chatcmpl-mock" if chat else "cmpl-mock",
            "object": "chat.completion.chunk" if chat else "text_completion",
            "created": CREATED, "model": model}

    def ev(choices, **extra):
        return json.dumps({**base, "choices": choices, **extra})

    events: list = []
    if chat and calls_tools(body):
        calls = tool_calls_for(body)
        events.append((ev([{"index": 0, "delta": {"role": "assistant", "content": None},
                            "finish_reason": None}]), None))
        n = 0
        for i, c in enumerate(calls):
            args = c["function"]["arguments"]
            first = {"index": i, "id": c["id"], "type": "function",
                     "function": {"name": c["function"]["name"], "arguments": ""}}
            events.append((ev([{"index": 0, "delta": {"tool_calls": [first]}, "finish_reason": None}]), ""))
            step = max(1, len(args) // 3 + 1)
            for j in range(0, len(args), step):
                part = {"index": i, "function": {"arguments": args[j:j + step]}}
                events.append((ev([{"index": 0, "delta": {"tool_calls": [part]},
                                    "finish_reason": None}]), ""))
                n += 1
        events.append((ev([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]), None))
        completion = n
    elif chat:
        text, finish = chat_text(body)
        events.append((ev([{"index": 0, "delta": {"role": "assistant", "content": ""},
                            "finish_reason": None}]), None))
        for p in pieces(text):
            events.append((ev([{"index": 0, "delta": {"content": p}, "finish_reason": None}]), p))
        events.append((ev([{"index": 0, "delta": {}, "finish_reason": finish}]), None))
        completion = len(pieces(text))
    else:
        text = completion_answer(body.get("prompt", ""))
        for p in pieces(text):
            events.append((ev([{"text": p, "index": 0, "logprobs": None, "finish_reason": None}]), p))
        events.append((ev([{"text": "", "index": 0, "logprobs": None, "finish_reason": "stop"}]), None))
        completion = len(pieces(text))
    sent = None
    if (body.get("stream_options") or {}).get("include_usage"):
        sent = usage(body, completion)
        events.append((ev([], usage=sent), None))
    return [(None, text, piece) for text, piece in events], sent
