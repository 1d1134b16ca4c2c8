"""The mock upstream's Gemini API: `POST /v1beta/models/{model}:generateContent` and
`:streamGenerateContent` (`?alt=sse` for server-sent events, else the JSON array stream).

Follows the Gemini API reference (and what `google-genai` parses): `contents` of `user` /
`model` turns made of parts (`text`, `inlineData`, `functionCall`, `functionResponse`),
`systemInstruction`, `tools[].functionDeclarations`, `toolConfig.functionCallingConfig`,
`generationConfig` (maxOutputTokens, stopSequences, temperature, topP, topK, ...);
answers with `candidates[0].content.parts`, `finishReason` STOP / MAX_TOKENS (a function
call ends with STOP too, as Gemini does), `usageMetadata` (promptTokenCount,
candidatesTokenCount, totalTokenCount); errors as `{"error":{"code","message","status"}}`.
Streamed chunks carry `usageMetadata` with the prompt count each, the last one the whole
usage and the finish reason alongside the last text, as the real API sends them; SSE
events end with CRLF CRLF like Google's. The key is `x-goog-api-key` (or `?key=`).

As strict as the API where a translation could go wrong: roles are only user/model (the
system prompt is `systemInstruction`), unknown fields are refused with the protobuf JSON
parser's message, a turn of functionResponse parts must follow the model turn of
functionCall parts one for one. Gemini's function calls carry no id.
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Optional

from mock_answers import answer_for, limit_answer, pieces, strip_prefill, tool_arguments, words

STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
          409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL", 503: "UNAVAILABLE",
          504: "DEADLINE_EXCEEDED"}
MESSAGES = {429: "Resource has been exhausted (e.g. check quota).",
            500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
            503: "The model is overloaded. Please try again later."}
NO_KEY = ("Method doesn't allow unregistered callers (callers without established identity). Please use API Key "
          "or other form of API consumer identity to call this API.")
# protobuf JSON accepts a field's camelCase and its original snake_case name
REQUEST_FIELDS = {"contents", "systemInstruction", "system_instruction", "tools", "toolConfig", "tool_config",
                  "generationConfig", "generation_config", "safetySettings", "safety_settings", "cachedContent",
                  "cached_content", "labels"}
GENERATION_FIELDS = {"maxOutputTokens", "stopSequences", "temperature", "topP", "topK", "candidateCount",
                     "presencePenalty", "frequencyPenalty", "seed", "responseMimeType", "responseSchema",
                     "responseJsonSchema", "responseLogprobs", "logprobs", "thinkingConfig", "responseModalities"}
PART_FIELDS = {"text", "inlineData", "fileData", "functionCall", "functionResponse", "thought", "thoughtSignature",
               "executableCode", "codeExecutionResult", "videoMetadata"}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.title() for w in rest)


def _get(d: dict, camel: str):
    """A field by its camelCase or snake_case name."""
    snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel)
    return d.get(camel, d.get(snake)) if isinstance(d, dict) else None


def error(status: int, message: Optional[str] = None) -> dict:
    """Gemini's error body for an HTTP status."""
    return {"error": {"code": status, "message": message or MESSAGES.get(status, f"mock upstream error {status}"),
                      "status": STATUS.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT")}}


def route(path: str) -> tuple[str, Optional[str]]:
    """(method "generateContent" | "streamGenerateContent" | "", model) of a request path."""
    m = re.fullmatch(r"/v1beta/models/([^/:]+):(generateContent|streamGenerateContent)", path)
    return (m.group(2), m.group(1)) if m else ("", None)


def check_key(headers: dict, query: dict) -> Optional[tuple[int, dict]]:
    if not headers.get("x-goog-api-key") and not query.get("key"):
        return 403, error(403, NO_KEY)
    return None


# --------------------------------------------------------------------------- validation
def _unknown(obj: dict, allowed: set, where: str) -> Optional[str]:
    for k in obj:
        if k not in allowed and _camel(k) not in allowed:
            return f"Invalid JSON payload received. Unknown name \"{k}\" at '{where}': Cannot find field."
    return None


def _calls(content: dict) -> list:
    return [_get(p, "functionCall") for p in content.get("parts") or [] if _get(p, "functionCall")]


def _responses(content: dict) -> list:
    return [_get(p, "functionResponse") for p in content.get("parts") or [] if _get(p, "functionResponse")]


def validate(body) -> Optional[str]:
    """The INVALID_ARGUMENT message the real API would give, or None."""
    if not isinstance(body, dict):
        return "Invalid JSON payload received. Expected an object."
    problem = _unknown(body, REQUEST_FIELDS, "")
    if problem:
        return problem
    gen = _get(body, "generationConfig") or {}
    problem = _unknown(gen, GENERATION_FIELDS, "generation_config")
    if problem:
        return problem
    if (_get(gen, "candidateCount") or 1) > 1:
        return "Only one candidate can be specified in the current model"
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return "* GenerateContentRequest.contents: contents is not specified\n"
    for i, c in enumerate(contents):
        if not isinstance(c, dict) or c.get("role", "user") not in ("user", "model"):
            role = c.get("role") if isinstance(c, dict) else None
            return f"Please use a valid role: user, model. (found {role!r} at contents[{i}])"
        parts = c.get("parts")
        if not isinstance(parts, list) or not parts:
            return f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.\n"
        for j, p in enumerate(parts):
            problem = _unknown(p, PART_FIELDS, f"contents[{i}].parts[{j}]") if isinstance(p, dict) else "part"
            if problem:
                return problem
            inline = _get(p, "inlineData")
            if inline is not None and not (_get(inline, "mimeType") and isinstance(inline.get("data"), str)):
                return f"* GenerateContentRequest.contents[{i}].parts[{j}].inline_data: mime_type and data required\n"
    for i, c in enumerate(contents):
        responses = _responses(c)
        if responses:
            calls = _calls(contents[i - 1]) if i else []
            if len(calls) != len(responses) or contents[i - 1].get("role") != "model":
                return ("Please ensure that the number of function response parts is equal to the number of "
                        "function call parts of the function call turn.")
            if sorted(r.get("name", "") for r in responses) != sorted(c_.get("name", "") for c_ in calls):
                return "Please ensure that function response names match the function call names."
        elif _calls(c) and i + 1 < len(contents) and not _responses(contents[i + 1]):
            return ("Please ensure that function call turn comes immediately after a user turn or after a "
                    "function response turn, and is followed by its function response turn.")
    for i, t in enumerate(body.get("tools") or []):
        for j, d in enumerate(_get(t, "functionDeclarations") or []):
            if not d.get("name"):
                return f"* GenerateContentRequest.tools[{i}].function_declarations[{j}].name: name is required\n"
    return None


# --------------------------------------------------------------------------- answers
def _text(parts) -> str:
    return " ".join(p["text"] for p in parts or [] if isinstance(p, dict) and isinstance(p.get("text"), str)
                    and not p.get("thought"))


def response_text(response) -> str:
    """A functionResponse's `response` as text: its one string value, else its JSON."""
    if isinstance(response, dict) and len(response) == 1 and isinstance(next(iter(response.values())), str):
        return next(iter(response.values()))
    return json.dumps(response)


def _conversation(contents: list) -> tuple[str, list, Optional[str]]:
    """(last user text, function results ending the conversation, model prefill)."""
    prefill, turns = None, contents
    if turns and turns[-1].get("role") == "model" and not _calls(turns[-1]):
        prefill, turns = _text(turns[-1]["parts"]), turns[:-1]
    last_user, results = "", []
    for c in turns:
        if c.get("role", "user") != "user":
            continue
        responses = _responses(c)
        if responses:
            results = [response_text(r.get("response")) for r in responses]
        else:
            results, last_user = [], _text(c["parts"])
    return last_user, results, prefill


def _prompt_tokens(body: dict) -> int:
    n = words(_text((_get(body, "systemInstruction") or {}).get("parts")))
    for c in body["contents"]:
        n += words(_text(c["parts"])) + sum(words(response_text(r.get("response"))) for r in _responses(c))
    return n


def _calls_tools(body: dict, results: list) -> bool:
    declared = [d for t in body.get("tools") or [] for d in _get(t, "functionDeclarations") or []]
    mode = (_get(_get(body, "toolConfig") or {}, "functionCallingConfig") or {}).get("mode", "AUTO")
    return bool(declared) and not results and mode != "NONE"


def answer(body: dict, model: str) -> dict:
    """The whole GenerateContentResponse for a request (already validated)."""
    last_user, results, prefill = _conversation(body["contents"])
    gen = _get(body, "generationConfig") or {}
    if _calls_tools(body, results):
        full = answer_for(last_user)
        names = [d["name"] for t in body["tools"] for d in _get(t, "functionDeclarations") or []]
        parts = [{"functionCall": {"name": names[i % len(names)], "args": tool_arguments(full, i)}}
                 for i in range(2)]
        finish = "STOP"
        out = sum(len(pieces(json.dumps(p["functionCall"]["args"]))) for p in parts)
    else:
        text = strip_prefill(answer_for(last_user, results), prefill)
        text, why, _ = limit_answer(text, _get(gen, "maxOutputTokens"), _get(gen, "stopSequences"))
        parts, finish, out = [{"text": text}], ("MAX_TOKENS" if why == "length" else "STOP"), len(pieces(text))
    n = _prompt_tokens(body)
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    return {"candidates": [{"content": {"parts": parts, "role": "model"}, "finishReason": finish, "index": 0}],
            "usageMetadata": {"promptTokenCount": n, "candidatesTokenCount": out, "totalTokenCount": n + out},
            "modelVersion": model, "responseId": f"mock{digest}"}


def stream_events(resp: dict) -> list[tuple[None, str, Optional[str]]]:
    """(None, chunk JSON, content piece or None) of the stream for an answer: one chunk per text
    piece (the last with the finish reason and the whole usage), function calls in one chunk."""
    cand = resp["candidates"][0]
    usage = resp["usageMetadata"]
    partial = {"promptTokenCount": usage["promptTokenCount"], "totalTokenCount": usage["promptTokenCount"]}
    meta = {"modelVersion": resp["modelVersion"], "responseId": resp["responseId"]}

    def chunk(parts, last: bool) -> str:
        c = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if last:
            c["finishReason"] = cand["finishReason"]
        return json.dumps({"candidates": [c], "usageMetadata": usage if last else partial, **meta})

    parts = cand["content"]["parts"]
    if "functionCall" in parts[0]:
        return [(None, chunk(parts, True), "")]
    texts = pieces(parts[0]["text"]) or [""]
    return [(None, chunk([{"text": p}], i == len(texts) - 1), p) for i, p in enumerate(texts)]


def in_band_error(_seq: int) -> tuple[None, str]:
    """What a failing Gemini stream ends with: an error object in place of the next chunk."""
    return None, json.dumps(error(503))
