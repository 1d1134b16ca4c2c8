"""The mock upstream's Anthropic Messages API: `POST /v1/messages`, stream and not.

Follows Anthropic's public API reference (and what the `anthropic` SDK parses):
content blocks `text`, `thinking` (when `thinking.type` is "enabled") and `tool_use`;
`stop_reason` end_turn / max_tokens / stop_sequence / tool_use; usage
`input_tokens` / `output_tokens`; the stream's event sequence message_start,
content_block_start, ping, content_block_delta (text_delta, thinking_delta,
signature_delta, input_json_delta), content_block_stop, message_delta (stop_reason
and usage), message_stop; errors as `{"type":"error","error":{"type","message"}}`.

It is as strict as the real API where a gateway's translation could go wrong:
`max_tokens` is required, roles are only user/assistant (the system prompt is a
top-level field), tools need an `input_schema`, every `tool_result` answers a
`tool_use` of the previous assistant turn and every `tool_use` is answered, and a
final assistant prefill may not end with whitespace. Text is the same as the
OpenAI surfaces give for the same conversation (see mock_answers).
"""
from __future__ import annotations

import hashlib
import json
from typing import Optional

from mock_answers import (_text_of, answer_for, limit_answer, pieces, strip_prefill, thinking_for,
                          tool_arguments, words)

VERSION_HEADER = "anthropic-version"
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
               500: "api_error", 529: "overloaded_error"}
ERROR_MESSAGES = {401: "invalid x-api-key", 429: "Number of request tokens has exceeded your rate limit",
                  529: "Overloaded"}
BLOCK_TYPES = {"text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking",
               "search_result"}
STOP_REASONS = {"length": "max_tokens", "stop": "stop_sequence"}
IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}


def error(status: int, message: Optional[str] = None, type_: Optional[str] = None) -> dict:
    """Anthropic's error body for an HTTP status."""
    t = type_ or ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": t, "message": message or ERROR_MESSAGES.get(
        status, f"mock upstream error {status}")}}


def check_headers(headers: dict) -> Optional[tuple[int, dict]]:
    """A missing key is a 401, a missing version a 400, as the real API answers. The key is
    `x-api-key`, or `Authorization: Bearer` as the current `anthropic` SDKs send it."""
    if not headers.get("x-api-key") and not headers.get("authorization", "").startswith("Bearer "):
        return 401, error(401, "x-api-key header is required")
    if not headers.get(VERSION_HEADER):
        return 400, error(400, "anthropic-version: header is required")
    return None


def _blocks(content) -> list:
    return [{"type": "text", "text": content}] if isinstance(content, str) else (content or [])


def _validate_tools(body: dict) -> Optional[str]:
    for i, t in enumerate(body.get("tools") or []):
        if not isinstance(t, dict) or not t.get("name"):
            return f"tools.{i}.name: Field required"
        if "type" not in t and not isinstance(t.get("input_schema"), dict):
            return f"tools.{i}.custom.input_schema: Field required"
    return None


def _validate_pairs(messages: list) -> Optional[str]:
    """tool_use / tool_result pairing: the user turn right after an assistant turn (consecutive
    user messages count as one turn, as the API merges them) answers each of its tool_use ids,
    and holds no tool_result for any other id."""
    def ids(m, kind, key):
        return [b.get(key) for b in _blocks(m.get("content")) if b.get("type") == kind]

    for i, m in enumerate(messages):
        if m.get("role") != "user" or (i and messages[i - 1].get("role") == "user"):
            continue
        k, results = i, []
        while k < len(messages) and messages[k].get("role") == "user":
            results += ids(messages[k], "tool_result", "tool_use_id")
            k += 1
        uses = ids(messages[i - 1], "tool_use", "id") if i else []
        stray = [r for r in results if r not in uses]
        if stray:
            return (f"messages.{i}.content: unexpected `tool_use_id` found in `tool_result` blocks: "
                    f"{stray[0]}. Each `tool_result` block must have a corresponding `tool_use` block "
                    f"in the previous message.")
        missing = [u for u in uses if u not in results]
        if missing:
            return (f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately "
                    f"after: {missing[0]}. Each `tool_use` block must have a corresponding `tool_result` "
                    f"block in the next message.")
    return None


def _image_ok(source) -> bool:
    if not isinstance(source, dict):
        return False
    if source.get("type") == "url":
        return isinstance(source.get("url"), str)
    return source.get("type") == "base64" and source.get("media_type") in IMAGE_TYPES \
        and isinstance(source.get("data"), str) and not source["data"].startswith("data:")


def validate(body) -> Optional[str]:
    """The 400 message the real API would give, or None."""
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    if not isinstance(body.get("model"), str):
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int) or isinstance(body.get("max_tokens"), bool):
        return "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: Field required"
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            role = m.get("role") if isinstance(m, dict) else None
            return (f"messages.{i}.role: Input should be 'user' or 'assistant' (found {role!r}; "
                    f"the system prompt is the top-level `system` field)")
        if not isinstance(m.get("content"), (str, list)):
            return f"messages.{i}.content: Field required"
        for j, b in enumerate(_blocks(m["content"])):
            if not isinstance(b, dict) or b.get("type") not in BLOCK_TYPES:
                return f"messages.{i}.content.{j}.type: Input tag {b.get('type') if isinstance(b, dict) else b!r} " \
                       f"found using 'type' does not match any of the expected tags"
            if b["type"] == "image" and not _image_ok(b.get("source")):
                return f"messages.{i}.content.{j}.image.source: expected a base64 source with a media_type " \
                       f"of {sorted(IMAGE_TYPES)} and data, or a url source"
    system = body.get("system")
    if system is not None and not isinstance(system, (str, list)):
        return "system: Input should be a valid string or list of text blocks"
    temperature = body.get("temperature")
    if temperature is not None and not (isinstance(temperature, (int, float)) and 0 <= temperature <= 1):
        return "temperature: Input should be less than or equal to 1"
    if messages[-1]["role"] == "assistant" and _text_of(messages[-1]["content"]).rstrip() != \
            _text_of(messages[-1]["content"]):
        return "messages: final assistant content cannot end with trailing whitespace"
    return _validate_tools(body) or _validate_pairs(messages)


# --------------------------------------------------------------------------- answers
def _conversation(messages: list) -> tuple[str, list, Optional[str]]:
    """(last user text, tool results ending the conversation, assistant prefill)."""
    prefill = None
    turns = messages
    if turns and turns[-1].get("role") == "assistant":
        prefill = _text_of(turns[-1]["content"])
        turns = turns[:-1]
    last_user, results = "", []
    for m in turns:
        if m.get("role") != "user":
            continue
        blocks = _blocks(m.get("content"))
        tool_results = [b for b in blocks if b.get("type") == "tool_result"]
        if tool_results:
            results = [_text_of(b.get("content")) for b in tool_results]
        else:
            results = []
            last_user = _text_of(blocks)
    return last_user, results, prefill


def _input_tokens(body: dict) -> int:
    n = words(_text_of(body.get("system") or ""))
    for m in body.get("messages") or []:
        for b in _blocks(m.get("content")):
            n += words(_text_of(b.get("content")) if b.get("type") == "tool_result" else b.get("text", ""))
    return n


def answer(body: dict) -> dict:
    """The whole Message for a request (already validated)."""
    last_user, results, prefill = _conversation(body["messages"])
    content: list = []
    if (body.get("thinking") or {}).get("type") == "enabled":
        thought = thinking_for(last_user)
        content.append({"type": "thinking", "thinking": thought,
                        "signature": "sig-" + hashlib.sha256(thought.encode()).hexdigest()[:24]})
    tool_choice = (body.get("tool_choice") or {}).get("type")
    if body.get("tools") and not results and tool_choice != "none":
        full = answer_for(last_user)
        names = [t.get("name") for t in body["tools"]]
        for i in range(2):
            content.append({"type": "tool_use", "id": f"toolu_mock_{i}", "name": names[i % len(names)],
                            "input": tool_arguments(full, i)})
        stop, hit, out = "tool_use", None, 2 * len(pieces(json.dumps(content[-1]["input"])))
    else:
        text = strip_prefill(answer_for(last_user, results), prefill)
        text, why, hit = limit_answer(text, body["max_tokens"], body.get("stop_sequences"))
        content.append({"type": "text", "text": text})
        stop, out = STOP_REASONS.get(why, "end_turn"), len(pieces(text))
    out += sum(len(pieces(b["thinking"])) for b in content if b["type"] == "thinking")
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:20]
    return {"id": f"msg_mock{digest}", "type": "message", "role": "assistant", "model": body["model"],
            "content": content, "stop_reason": stop, "stop_sequence": hit,
            "usage": {"input_tokens": _input_tokens(body), "output_tokens": out}}


def stream_events(message: dict) -> list[tuple[str, str, Optional[str]]]:
    """(event name, data JSON, content piece or None) for the stream of a Message, in order.
    A piece is the text a delta adds to the answer ("" for thinking and tool input)."""
    def ev(name: str, **data):
        return name, json.dumps({"type": name, **data})

    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {"input_tokens": message["usage"]["input_tokens"], "output_tokens": 1}}
    events = [(*ev("message_start", message=start), None)]
    for i, block in enumerate(message["content"]):
        kind = block["type"]
        empty = {"text": {"type": "text", "text": ""},
                 "thinking": {"type": "thinking", "thinking": "", "signature": ""},
                 "tool_use": {**block, "input": {}}}[kind]
        events.append((*ev("content_block_start", index=i, content_block=empty), None))
        if i == 0:
            events.append((*ev("ping"), None))
        if kind == "text":
            for p in pieces(block["text"]):
                events.append((*ev("content_block_delta", index=i, delta={"type": "text_delta", "text": p}), p))
        elif kind == "thinking":
            for p in pieces(block["thinking"]):
                events.append((*ev("content_block_delta", index=i,
                                   delta={"type": "thinking_delta", "thinking": p}), ""))
            events.append((*ev("content_block_delta", index=i,
                               delta={"type": "signature_delta", "signature": block["signature"]}), None))
        else:
            args = json.dumps(block["input"])
            step = max(1, len(args) // 3 + 1)
            for j in range(0, len(args), step):
                events.append((*ev("content_block_delta", index=i,
                                   delta={"type": "input_json_delta", "partial_json": args[j:j + step]}), ""))
        events.append((*ev("content_block_stop", index=i), None))
    events.append((*ev("message_delta", delta={"stop_reason": message["stop_reason"],
                                               "stop_sequence": message["stop_sequence"]},
                       usage={"output_tokens": message["usage"]["output_tokens"]}), None))
    events.append((*ev("message_stop"), None))
    return events


def in_band_error() -> tuple[str, str]:
    """The `event: error` an overloaded API sends in the middle of a stream."""
    return "error", json.dumps(error(529))
