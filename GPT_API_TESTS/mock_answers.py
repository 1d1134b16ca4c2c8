"""What the mock upstream answers, as pure functions of the request body.

Why a module of its own: the mock speaks three dialects (OpenAI chat/completions,
Anthropic Messages, OpenAI Responses) and all of them must give the SAME text for
the same conversation, because a stream broken on one kind of upstream is
continued on another kind ("prefill" / "restart") and the client must still see
one coherent answer. The text depends on the conversation only -- the last user
turn, or the tool results that follow it -- never on the dialect or the mock.
"""
from __future__ import annotations

import hashlib
import json
import re
import struct
from typing import Any, Optional

FIXED_SENTENCE = "This deterministic answer comes from the mock upstream and is long enough to stream."
CREATED = 1700000000


def _text_of(content: Any) -> str:
    """Message content may be a string or a list of content parts (OpenAI or Anthropic)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def answer_for(last_user: str, tool_results: Optional[list] = None) -> str:
    """The full answer to a conversation: an echo of the last user turn, or of the tool results
    when the conversation ends with them (the model's turn after a tool round trip)."""
    if tool_results:
        return f"Tool results: {'; '.join(tool_results)}. {FIXED_SENTENCE}"
    return f"Echo: {last_user} {FIXED_SENTENCE}"


def strip_prefill(full: str, prefill: Optional[str]) -> str:
    """What is generated after an assistant prefill: the rest of the full answer."""
    if prefill and full.startswith(prefill):
        return full[len(prefill):]
    return full


def chat_tool_results(messages: list) -> list[str]:
    """Contents of the `tool` messages that end a chat conversation (before any prefill)."""
    tail = messages[:-1] if messages and messages[-1].get("role") == "assistant" else messages
    out: list[str] = []
    for m in reversed(tail):
        if m.get("role") != "tool":
            break
        out.insert(0, _text_of(m.get("content")))
    return out


def full_chat_answer(messages: list) -> str:
    """The complete answer for a chat request, ignoring any trailing assistant prefill."""
    last_user = ""
    for m in messages:
        if m.get("role") == "user":
            last_user = _text_of(m.get("content"))
    return answer_for(last_user, chat_tool_results(messages))


def chat_answer(messages: list) -> str:
    """What the mock actually generates: the full answer minus an assistant prefill prefix."""
    prefill = None
    if messages and messages[-1].get("role") == "assistant":
        prefill = _text_of(messages[-1].get("content"))
    return strip_prefill(full_chat_answer(messages), prefill)


def completion_answer(prompt: Any) -> str:
    if isinstance(prompt, list):
        prompt = " ".join(str(p) for p in prompt)
    return f"Echo: {prompt} {FIXED_SENTENCE}"


def thinking_for(last_user: str) -> str:
    """Anthropic extended thinking: deterministic reasoning text shown before the answer."""
    return f"The user wrote '{last_user}'. Answering with the echo."


def pieces(text: str) -> list[str]:
    """Split text into stream chunks (one word each, leading whitespace kept) that join back exactly."""
    out = re.findall(r"\s*\S+", text)
    tail = text[len("".join(out)):]
    if tail:
        out.append(tail)
    return out


def limit_answer(text: str, max_tokens: Optional[int], stops) -> tuple[str, Optional[str], Optional[str]]:
    """Apply a token limit (one piece = one token) and stop sequences, as providers do:
    (text, "length" | "stop" | None, the stop sequence hit)."""
    if isinstance(stops, str):
        stops = [stops]
    hit = None
    for s in stops or []:
        at = text.find(s) if s else -1
        if at >= 0 and (hit is None or at < text.find(hit)):
            hit = s
    if hit is not None:
        text = text[:text.find(hit)]
    if isinstance(max_tokens, int) and len(pieces(text)) > max_tokens:
        return "".join(pieces(text)[:max_tokens]), "length", None
    return text, ("stop" if hit is not None else None), hit


def words(text: str) -> int:
    return len(text.split())


def prompt_tokens(body: dict) -> int:
    if "messages" in body:
        return sum(words(_text_of(m.get("content"))) for m in body["messages"])
    p = body.get("prompt", "")
    return words(" ".join(map(str, p)) if isinstance(p, list) else str(p))


def usage(body: dict, completion: int) -> dict:
    p = prompt_tokens(body)
    return {"prompt_tokens": p, "completion_tokens": completion, "total_tokens": p + completion}


def tool_arguments(last_user_answer: str, i: int) -> dict:
    """The arguments of the mock's i-th tool call (same in every dialect)."""
    return {"query": last_user_answer[:40], "n": i, "city": ["Paris", "Tokyo"][i]}


def tool_calls_for(body: dict) -> list[dict]:
    """Two parallel tool calls, deterministic from the request."""
    tools = body.get("tools") or []
    names = [t.get("function", {}).get("name", "tool") for t in tools] or ["tool"]
    last_user = full_chat_answer(body.get("messages", []))
    calls = []
    for i in range(2):
        args = json.dumps(tool_arguments(last_user, i))
        calls.append({"id": f"call_mock_{i}", "type": "function",
                      "function": {"name": names[i % len(names)], "arguments": args}})
    return calls


def embedding_for(text: str, dim: int = 8) -> list[float]:
    """Deterministic float32-exact vector from the text's hash."""
    h = hashlib.sha256(text.encode()).digest()
    return [struct.unpack("<f", struct.pack("<f", (b - 128) / 128.0))[0] for b in h[:dim]]


def rerank_results(query: str, documents: list, top_n: Optional[int]) -> list[dict]:
    q = set(query.lower().split())
    scored = []
    for i, d in enumerate(documents):
        text = d.get("text", "") if isinstance(d, dict) else str(d)
        words_ = text.lower().split()
        score = round(len(q.intersection(words_)) / (len(words_) or 1), 6)
        scored.append({"index": i, "relevance_score": score})
    scored.sort(key=lambda r: (-r["relevance_score"], r["index"]))
    return scored[:top_n] if top_n else scored
