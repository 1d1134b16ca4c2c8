"""The mock upstream's OpenAI Responses API: `POST /v1/responses`, stream and not.

Follows OpenAI's API reference (and what `openai`'s `responses.create` parses): a
Response object with `output` items (`message` with `output_text` parts, or
`function_call` items when tools are offered), usage input_tokens / output_tokens /
total_tokens; streams as `event:` + `data:` lines (response.created,
response.in_progress, response.output_item.added, response.content_part.added,
response.output_text.delta / .done, response.content_part.done,
response.function_call_arguments.delta / .done, response.output_item.done,
response.completed), each with a `sequence_number`, and no `[DONE]`.

Response ids are issued by the mock and remembered (MockUpstream.issued_responses):
a `previous_response_id` it did not issue itself is refused with 400
`previous_response_not_found`, as the real API does for an unknown id -- which is
how a test proves that a follow-up reached the upstream that produced the response.
"""
from __future__ import annotations

import json
import uuid
from typing import Optional

from mock_answers import CREATED, _text_of, answer_for, limit_answer, pieces, tool_arguments, words


def not_found(previous: str) -> dict:
    return {"error": {"message": f"Previous response with id '{previous}' not found.",
                      "type": "invalid_request_error", "param": "previous_response_id",
                      "code": "previous_response_not_found"}}


def validate(body) -> Optional[str]:
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        return "Missing required parameter: 'model'."
    if not isinstance(body.get("input"), (str, list)):
        return "Missing required parameter: 'input'."
    for i, t in enumerate(body.get("tools") or []):
        if t.get("type") == "function" and not t.get("name"):
            return f"Missing required parameter: 'tools[{i}].name'."
    return None


def _conversation(inp) -> tuple[str, list]:
    """(last user text, function_call_output results that follow it)."""
    if isinstance(inp, str):
        return inp, []
    last_user, results = "", []
    for item in inp:
        if item.get("type") == "function_call_output":
            results.append(str(item.get("output", "")))
        elif item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, list):
                content = [{"text": p.get("text", "")} for p in content if p.get("type") in ("input_text", "text")]
            last_user, results = _text_of(content), []
    return last_user, results


def _input_tokens(body: dict) -> int:
    inp = body["input"]
    if isinstance(inp, str):
        return words(inp) + words(body.get("instructions") or "")
    n = words(body.get("instructions") or "")
    for item in inp:
        n += words(str(item.get("output", ""))) if item.get("type") == "function_call_output" else \
            words(_text_of(item.get("content")))
    return n


def answer(body: dict, response_id: str) -> dict:
    """The completed Response object for a request (already validated)."""
    last_user, results = _conversation(body["input"])
    output: list = []
    status, incomplete = "completed", None
    if body.get("tools") and not results and body.get("tool_choice") != "none":
        full = answer_for(last_user)
        names = [t.get("name", "tool") for t in body["tools"]]
        for i in range(2):
            args = json.dumps(tool_arguments(full, i))
            output.append({"type": "function_call", "id": f"fc_mock_{i}", "call_id": f"call_mock_{i}",
                           "name": names[i % len(names)], "arguments": args, "status": "completed"})
        out = sum(len(pieces(o["arguments"])) for o in output)
    else:
        text, why, _ = limit_answer(answer_for(last_user, results), body.get("max_output_tokens"), None)
        if why == "length":
            status, incomplete = "incomplete", {"reason": "max_output_tokens"}
        output.append({"type": "message", "id": f"msg_{response_id[5:]}", "status": status, "role": "assistant",
                       "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]})
        out = len(pieces(text))
    n = _input_tokens(body)
    return {
        "id": response_id, "object": "response", "created_at": CREATED, "status": status, "error": None,
        "incomplete_details": incomplete, "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"), "model": body["model"], "output": output,
        "parallel_tool_calls": True, "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None}, "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0), "text": {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"), "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0), "truncation": "disabled", "user": None, "metadata": {},
        "usage": {"input_tokens": n, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": out,
                  "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": n + out},
    }


def new_id() -> str:
    return "resp_" + uuid.uuid4().hex


def stream_events(resp: dict) -> list[tuple[str, str, Optional[str]]]:
    """(event name, data JSON, content piece or None) for the stream of a Response, in order."""
    events: list = []

    def ev(name: str, piece: Optional[str] = None, **data):
        events.append((name, json.dumps({"type": name, "sequence_number": len(events), **data}), piece))

    opening = {**resp, "status": "in_progress", "output": [], "usage": None, "incomplete_details": None}
    ev("response.created", response=opening)
    ev("response.in_progress", response=opening)
    for i, item in enumerate(resp["output"]):
        at = {"item_id": item["id"], "output_index": i}
        if item["type"] == "function_call":
            ev("response.output_item.added", output_index=i,
               item={**item, "arguments": "", "status": "in_progress"})
            args = item["arguments"]
            step = max(1, len(args) // 3 + 1)
            for j in range(0, len(args), step):
                ev("response.function_call_arguments.delta", "", **at, delta=args[j:j + step])
            ev("response.function_call_arguments.done", **at, arguments=args)
        else:
            part = item["content"][0]
            ev("response.output_item.added", output_index=i, item={**item, "status": "in_progress", "content": []})
            ev("response.content_part.added", **at, content_index=0, part={**part, "text": ""})
            for p in pieces(part["text"]):
                ev("response.output_text.delta", p, **at, content_index=0, delta=p, logprobs=[])
            ev("response.output_text.done", **at, content_index=0, text=part["text"], logprobs=[])
            ev("response.content_part.done", **at, content_index=0, part=part)
        ev("response.output_item.done", output_index=i, item=item)
    ev("response.completed" if resp["status"] == "completed" else "response.incomplete", response=resp)
    return events


def in_band_error(sequence_number: int) -> tuple[str, str]:
    return "error", json.dumps({"type": "error", "code": "server_error", "param": None,
                                "message": "The server had an error while processing your request.",
                                "sequence_number": sequence_number})
