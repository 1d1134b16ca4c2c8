"""The mock upstream's Cohere v2 Chat API: `POST /v2/chat`, stream and not.

Follows Cohere's v2 API reference (and what the `cohere` SDK parses): messages of role
system / user / assistant / tool (string content or `{"type":"text"}` / `image_url`
parts), assistant `tool_calls` (OpenAI-like, with a `tool_plan`), `tool` messages with
`tool_call_id`; `max_tokens`, `stop_sequences`, `temperature`, `p`, `k`, `tool_choice`
REQUIRED / NONE; `finish_reason` COMPLETE / MAX_TOKENS / STOP_SEQUENCE / TOOL_CALL;
usage `billed_units` and `tokens` (input_tokens / output_tokens). The stream is SSE with
`event:` lines named like each data's `type`: message-start, content-start,
content-delta, content-end, tool-plan-delta, tool-call-start, tool-call-delta,
tool-call-end, message-end (finish reason and usage); an error in the middle of a stream
is a message-end with finish_reason ERROR and its `error` text. Errors are
`{"message": ...}`; the key is a bearer token.

As strict as the API where a translation could go wrong: unknown fields are refused,
`model` and `messages` are required, every tool message answers a tool call of the
assistant turn before it and every tool call is answered.
"""
from __future__ import annotations

import hashlib
import json
from typing import Optional

from mock_answers import _text_of, answer_for, limit_answer, pieces, strip_prefill, tool_arguments, words

MESSAGES = {400: "invalid request", 401: "no api key supplied", 404: "model not found",
            429: "You are past the per minute request limit, please wait before trying again.",
            500: "internal server error, this has been reported to our developers",
            503: "service unavailable, please try again later"}
REQUEST_FIELDS = {"model", "messages", "tools", "strict_tools", "documents", "citation_options", "response_format",
                  "safety_mode", "max_tokens", "stop_sequences", "temperature", "seed", "frequency_penalty",
                  "presence_penalty", "k", "p", "logprobs", "tool_choice", "thinking", "priority", "stream"}
FINISH = {"length": "MAX_TOKENS", "stop": "STOP_SEQUENCE"}
STREAM_ERROR = "internal server error, this has been reported to our developers"


def error(status: int, message: Optional[str] = None) -> dict:
    """Cohere's error body for an HTTP status."""
    return {"message": message or MESSAGES.get(status, f"mock upstream error {status}")}


def check_key(headers: dict) -> Optional[tuple[int, dict]]:
    auth = headers.get("authorization", "")
    if not auth.startswith("Bearer ") or not auth[7:].strip():
        return 401, error(401)
    return None


def validate(body) -> Optional[str]:
    """The 400 message the real API would give, or None."""
    if not isinstance(body, dict):
        return "invalid request: the request body must be a JSON object"
    extra = sorted(set(body) - REQUEST_FIELDS)
    if extra:
        return f"invalid request: unknown field: parameter {extra[0]} is not a valid field"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "invalid request: model must be specified"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "invalid request: messages must contain at least one message"
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in ("system", "user", "assistant", "tool"):
            return f"invalid request: messages[{i}].role must be one of system, user, assistant, tool (got {role!r})"
        if role == "tool" and not m.get("tool_call_id"):
            return f"invalid request: messages[{i}]: tool messages require a tool_call_id"
        if role != "assistant" and m.get("content") in (None, "", []):
            return f"invalid request: messages[{i}].content must not be empty"
        for j, part in enumerate(m.get("content") if isinstance(m.get("content"), list) else []):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind not in ("text", "image_url", "document", "thinking"):
                return f"invalid request: messages[{i}].content[{j}].type {kind!r} is not supported"
    for i, m in enumerate(messages):
        if m["role"] == "assistant" and m.get("tool_calls"):
            k, answered = i + 1, set()
            while k < len(messages) and messages[k]["role"] == "tool":
                answered.add(messages[k]["tool_call_id"])
                k += 1
            missing = [c.get("id") for c in m["tool_calls"] if c.get("id") not in answered]
            if missing and k < len(messages):
                return f"invalid request: tool call id {missing[0]} has no matching tool message"
        if m["role"] == "tool":
            j = i - 1
            while j >= 0 and messages[j]["role"] == "tool":
                j -= 1
            calls = messages[j].get("tool_calls") if j >= 0 else None
            if not calls or m["tool_call_id"] not in {c.get("id") for c in calls}:
                return (f"invalid request: messages[{i}]: tool message with tool_call_id {m['tool_call_id']!r} "
                        f"does not follow an assistant message with that tool call")
    for i, t in enumerate(body.get("tools") or []):
        if not isinstance(t, dict) or t.get("type") != "function" or not (t.get("function") or {}).get("name"):
            return f"invalid request: tools[{i}] must be {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}"
    if body.get("tool_choice") not in (None, "REQUIRED", "NONE"):
        return "invalid request: tool_choice must be one of REQUIRED, NONE"
    return None


# --------------------------------------------------------------------------- answers
def tool_content_text(content) -> str:
    """A tool message's content as text (a string, text parts, or document parts' data)."""
    if isinstance(content, list):
        out = []
        for p in content:
            if p.get("type") == "document":
                data = (p.get("document") or {}).get("data")
                out.append(data if isinstance(data, str) else json.dumps(data))
            else:
                out.append(p.get("text", ""))
        return " ".join(out)
    return _text_of(content)


def _conversation(messages: list) -> tuple[str, list, Optional[str]]:
    """(last user text, tool results ending the conversation, assistant prefill)."""
    prefill, turns = None, messages
    if turns and turns[-1]["role"] == "assistant" and not turns[-1].get("tool_calls"):
        prefill, turns = _text_of(turns[-1].get("content")), turns[:-1]
    last_user, results = "", []
    for m in turns:
        if m["role"] == "user":
            last_user, results = _text_of(m["content"]), []
    for m in reversed(turns):
        if m["role"] != "tool":
            break
        results.insert(0, tool_content_text(m["content"]))
    return last_user, results, prefill


def _input_tokens(body: dict) -> int:
    return sum(words(tool_content_text(m.get("content")) if m["role"] == "tool" else _text_of(m.get("content")))
               for m in body["messages"])


def answer(body: dict) -> dict:
    """The whole v2 chat response for a request (already validated)."""
    last_user, results, prefill = _conversation(body["messages"])
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:20]
    if body.get("tools") and not results and body.get("tool_choice") != "NONE":
        full = answer_for(last_user)
        names = [t["function"]["name"] for t in body["tools"]]
        calls = [{"id": f"{names[i % len(names)]}_mock{i}", "type": "function",
                  "function": {"name": names[i % len(names)], "arguments": json.dumps(tool_arguments(full, i))}}
                 for i in range(2)]
        plan = f"I will call {names[0]} twice."
        message = {"role": "assistant", "tool_plan": plan, "tool_calls": calls}
        finish = "TOOL_CALL"
        out = len(pieces(plan)) + sum(len(pieces(c["function"]["arguments"])) for c in calls)
    else:
        text = strip_prefill(answer_for(last_user, results), prefill)
        text, why, _ = limit_answer(text, body.get("max_tokens"), body.get("stop_sequences"))
        message = {"role": "assistant", "content": [{"type": "text", "text": text}]}
        finish, out = FINISH.get(why, "COMPLETE"), len(pieces(text))
    n = _input_tokens(body)
    return {"id": f"mock-{digest}", "finish_reason": finish, "message": message,
            "usage": {"billed_units": {"input_tokens": n, "output_tokens": out},
                      "tokens": {"input_tokens": n, "output_tokens": out}}}


def stream_events(resp: dict) -> list[tuple[str, str, Optional[str]]]:
    """(event name, data JSON, content piece or None) of the v2 stream for an answer."""
    def ev(name: str, **data):
        return name, json.dumps({"type": name, **data})

    msg = resp["message"]
    events = [(*ev("message-start", id=resp["id"], delta={"message": {
        "role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}), None)]
    if msg.get("tool_calls"):
        for p in pieces(msg["tool_plan"]):
            events.append((*ev("tool-plan-delta", delta={"message": {"tool_plan": p}}), None))
        for i, c in enumerate(msg["tool_calls"]):
            first = {"id": c["id"], "type": "function", "function": {"name": c["function"]["name"], "arguments": ""}}
            events.append((*ev("tool-call-start", index=i, delta={"message": {"tool_calls": first}}), None))
            args = c["function"]["arguments"]
            step = max(1, len(args) // 3 + 1)
            for j in range(0, len(args), step):
                events.append((*ev("tool-call-delta", index=i, delta={"message": {"tool_calls": {
                    "function": {"arguments": args[j:j + step]}}}}), ""))
            events.append((*ev("tool-call-end", index=i), None))
    else:
        events.append((*ev("content-start", index=0, delta={"message": {"content": {"type": "text", "text": ""}}}),
                       None))
        for p in pieces(msg["content"][0]["text"]):
            events.append((*ev("content-delta", index=0, delta={"message": {"content": {"text": p}}}), p))
        events.append((*ev("content-end", index=0), None))
    events.append((*ev("message-end", id=resp["id"], delta={"finish_reason": resp["finish_reason"],
                                                             "usage": resp["usage"]}), None))
    return events


def in_band_error(_seq: int) -> tuple[str, str]:
    """How a failing Cohere stream ends: message-end with finish_reason ERROR and the error text."""
    return "message-end", json.dumps({"type": "message-end", "delta": {"finish_reason": "ERROR",
                                                                        "error": STREAM_ERROR}})
