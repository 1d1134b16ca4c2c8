"""The mock upstream's Amazon Bedrock Converse API: `POST /model/{modelId}/converse` and
`/model/{modelId}/converse-stream`.

Follows the bedrock-runtime service model (what `boto3` parses): content blocks `text`,
`image`, `toolUse`, `toolResult`; `stopReason` end_turn / max_tokens / stop_sequence /
tool_use; usage `inputTokens` / `outputTokens` / `totalTokens`; errors as a JSON
`{"message"}` with the error's name in the `x-amzn-ErrorType` header. The stream is AWS
event-stream binary framing (prelude, headers, payload, CRC32s), written by hand here so
that the gateway's decoder is checked against the format, not against itself: events
messageStart, contentBlockStart (tool use), contentBlockDelta, contentBlockStop,
messageStop, metadata; errors in the stream are `exception` messages.

Every request must be SigV4-signed (service `bedrock`, the mock's region) with the mock's
credentials: the signature is recomputed here from the request as received and a
mismatch is the 403 AWS gives. The conversation rules the real API enforces where a
translation could go wrong are enforced too: it starts with a user turn, roles alternate,
the system prompt is the top-level `system` list, every `toolResult` answers a `toolUse`
of the previous assistant turn and every `toolUse` is answered, unknown fields are
refused. Text is the same as the other surfaces give for the same conversation.
"""
from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import re
import struct
import zlib
from typing import Optional
from urllib.parse import parse_qsl, quote

from mock_answers import answer_for, limit_answer, pieces, strip_prefill, tool_arguments, words

SERVICE = "bedrock"
REGION = "us-east-1"
ERROR_TYPES = {400: "ValidationException", 403: "AccessDeniedException", 404: "ResourceNotFoundException",
               408: "ModelTimeoutException", 424: "ModelErrorException", 429: "ThrottlingException",
               500: "InternalServerException", 503: "ServiceUnavailableException"}
ERROR_MESSAGES = {429: "Too many requests, please wait before trying again.",
                  503: "Bedrock is unable to process your request.",
                  500: "The server encountered an internal error while processing the request."}
BAD_SIGNATURE = ("The request signature we calculated does not match the signature you provided. Check your "
                 "AWS Secret Access Key and signing method. Consult the service documentation for details.")
REQUEST_FIELDS = {"messages", "system", "inferenceConfig", "toolConfig", "guardrailConfig",
                  "additionalModelRequestFields", "promptVariables", "additionalModelResponseFieldPaths",
                  "requestMetadata", "performanceConfig", "serviceTier", "outputConfig"}
INFERENCE_FIELDS = {"maxTokens", "temperature", "topP", "stopSequences"}
BLOCK_TYPES = {"text", "image", "document", "video", "audio", "toolUse", "toolResult", "guardContent",
               "cachePoint", "reasoningContent", "citationsContent", "searchResult"}
STOP_REASONS = {"length": "max_tokens", "stop": "stop_sequence"}
MAX_SKEW = datetime.timedelta(minutes=15)


def credentials(name: str) -> tuple[str, str]:
    """(access key id, secret) of a mock; the secret carries the suite's upstream-key prefix so
    the gateway's log is checked for it like any upstream key."""
    return f"AKIAMOCK{name.upper()}", f"sk-upstream-secret-aws-{name}"


def error(status: int, message: Optional[str] = None, type_: Optional[str] = None) -> tuple[dict, dict]:
    """(body, headers) of Bedrock's error answer for an HTTP status."""
    t = type_ or ERROR_TYPES.get(status) or ("InternalServerException" if status >= 500 else "ValidationException")
    return ({"message": message or ERROR_MESSAGES.get(status, f"mock upstream error {status}")},
            {"x-amzn-ErrorType": t})


def route(path: str) -> tuple[str, Optional[str]]:
    """(operation "converse" | "converse-stream" | "", model id as sent in the path) of a path."""
    m = re.fullmatch(r"/model/([^/]+)/(converse|converse-stream)", path)
    return (m.group(2), m.group(1)) if m else ("", None)


# --------------------------------------------------------------------------- SigV4
_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,\s*"
                   r"SignedHeaders=([^,]+),\s*Signature=([0-9a-f]{64})$")


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signature(secret: str, method: str, raw_path: str, query: str, headers: dict, signed: list[str],
              body: bytes, amz_date: str, scope: str) -> str:
    """The SigV4 signature of a request as received: the path is URI-encoded once more (every
    AWS service but S3 signs the encoded path encoded again), headers by SignedHeaders."""
    canonical_query = "&".join(sorted(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
                                      for k, v in parse_qsl(query, keep_blank_values=True)))
    canonical_headers = "".join(f"{h}:{' '.join(headers.get(h, '').split())}\n" for h in signed)
    payload = headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
    canonical = "\n".join([method, quote(raw_path, safe="/~"), canonical_query, canonical_headers,
                           ";".join(signed), payload])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    date, region, service = scope.split("/")[:3]
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret).encode(), date), region), service), "aws4_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def check_signature(method: str, raw_path: str, query: str, headers: dict, body: bytes, access_key: str,
                    secret: str, region: str = REGION, now: Optional[datetime.datetime] = None
                    ) -> Optional[tuple[int, dict, dict]]:
    """None when the request is signed with these credentials; else AWS's 403 (status, body, headers)."""
    auth = headers.get("authorization", "")
    if not auth:
        return 403, *error(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
    m = _AUTH.match(auth)
    if not m:
        return 403, *error(403, "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' "
                                "parameters.", "IncompleteSignatureException")
    key_id, date, scope_region, service, signed, got = m.groups()
    if key_id != access_key:
        return 403, *error(403, "The security token included in the request is invalid.",
                           "UnrecognizedClientException")
    amz_date = headers.get("x-amz-date", "")
    try:
        when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return 403, *error(403, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
                                "header.", "IncompleteSignatureException")
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if abs(now - when) > MAX_SKEW or date != amz_date[:8]:
        return 403, *error(403, f"Signature expired: {amz_date} is now earlier or later than the allowed "
                                f"15 minutes from {now:%Y%m%dT%H%M%SZ}.", "InvalidSignatureException")
    if scope_region != region or service != SERVICE:
        return 403, *error(403, f"Credential should be scoped to a valid region and service "
                                f"('{region}', '{SERVICE}').", "InvalidSignatureException")
    names = signed.split(";")
    if "host" not in names or names != sorted(names):
        return 403, *error(403, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
                           "InvalidSignatureException")
    scope = f"{date}/{scope_region}/{service}/aws4_request"
    want = signature(secret, method, raw_path, query, headers, names, body, amz_date, scope)
    if not hmac.compare_digest(want, got):
        return 403, *error(403, BAD_SIGNATURE, "InvalidSignatureException")
    return None


# --------------------------------------------------------------------------- event stream
def _header(name: str, value: str) -> bytes:
    n, v = name.encode(), value.encode()
    return struct.pack("!B", len(n)) + n + b"\x07" + struct.pack("!H", len(v)) + v  # 7 = string


def message(headers: dict, payload: bytes) -> bytes:
    """One AWS event-stream message: prelude (total length, headers length, CRC32), headers,
    payload, CRC32 of all before it."""
    hdrs = b"".join(_header(k, v) for k, v in headers.items())
    total = 12 + len(hdrs) + len(payload) + 4
    prelude = struct.pack("!II", total, len(hdrs))
    head = prelude + struct.pack("!I", zlib.crc32(prelude)) + hdrs + payload
    return head + struct.pack("!I", zlib.crc32(head))


def event_frame(event_type: str, data: str) -> bytes:
    return message({":event-type": event_type, ":content-type": "application/json", ":message-type": "event"},
                   data.encode())


def exception_frame(exception_type: str, text: str) -> bytes:
    return message({":exception-type": exception_type, ":content-type": "application/json",
                    ":message-type": "exception"}, json.dumps({"message": text}).encode())


def in_band_error(_seq: int) -> bytes:
    """The exception a failing Bedrock stream ends with."""
    return exception_frame("serviceUnavailableException", ERROR_MESSAGES[503])


def decode_messages(data: bytes) -> list[tuple[dict, bytes]]:
    """(headers, payload) of each event-stream message, CRCs checked (for the mock's own tests)."""
    out, i = [], 0
    while i < len(data):
        total, hlen, pcrc = struct.unpack("!III", data[i:i + 12])
        assert zlib.crc32(data[i:i + 8]) == pcrc, "prelude CRC"
        assert zlib.crc32(data[i:i + total - 4]) == struct.unpack("!I", data[i + total - 4:i + total])[0], "CRC"
        headers, j, end = {}, i + 12, i + 12 + hlen
        while j < end:
            n = data[j]
            name = data[j + 1:j + 1 + n].decode()
            j += 1 + n
            assert data[j] == 7, "only string headers"
            (vlen,) = struct.unpack("!H", data[j + 1:j + 3])
            headers[name] = data[j + 3:j + 3 + vlen].decode()
            j += 3 + vlen
        out.append((headers, data[end:i + total - 4]))
        i += total
    return out


# --------------------------------------------------------------------------- validation
def _pairs_problem(messages: list) -> Optional[str]:
    for i, m in enumerate(messages):
        uses = [b["toolUse"].get("toolUseId") for b in m["content"] if "toolUse" in b]
        nxt = messages[i + 1]["content"] if i + 1 < len(messages) else None
        if uses and nxt is not None:
            results = [b["toolResult"].get("toolUseId") for b in nxt if "toolResult" in b]
            if sorted(map(str, results)) != sorted(map(str, uses)):
                return (f"The number of toolResult blocks at messages.{i + 1}.content exceeds or does not match "
                        f"the toolUse blocks of previous turn (toolUse ids {uses}, toolResult ids {results}).")
        if m["role"] == "user" and any("toolResult" in b for b in m["content"]):
            prev = messages[i - 1]["content"] if i else []
            if not any("toolUse" in b for b in prev):
                return (f"messages.{i}.content: toolResult blocks must follow an assistant turn with toolUse "
                        f"blocks.")
    return None


def validate(body) -> Optional[str]:
    """The ValidationException message the real API would give, or None."""
    if not isinstance(body, dict):
        return "Malformed input request, please reformat your input and try again."
    extra = sorted(set(body) - REQUEST_FIELDS)
    if extra:
        return f"Malformed input request: extraneous key [{extra[0]}] is not permitted, please reformat your input."
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "A conversation must start with a user message. Try again with a conversation that starts with " \
               "a user message."
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            return f"messages.{i}.role: Member must satisfy enum value set: [user, assistant]"
        if not isinstance(m.get("content"), list) or not m["content"]:
            return f"messages.{i}.content: Member must have length greater than or equal to 1"
        for j, b in enumerate(m["content"]):
            if not isinstance(b, dict) or len(b) != 1 or next(iter(b)) not in BLOCK_TYPES:
                return f"messages.{i}.content.{j}: a content block has exactly one member of {sorted(BLOCK_TYPES)}"
    if messages[0]["role"] != "user":
        return "A conversation must start with a user message. Try again with a conversation that starts with " \
               "a user message."
    for i in range(1, len(messages)):
        if messages[i]["role"] == messages[i - 1]["role"]:
            return "A conversation must alternate between user and assistant roles. Make sure the conversation " \
                   "alternates between user and assistant roles and try again."
    system = body.get("system")
    if system is not None and not (isinstance(system, list) and all(isinstance(s, dict) for s in system)):
        return "system: expected a list of system content blocks"
    inference = body.get("inferenceConfig") or {}
    if not isinstance(inference, dict) or set(inference) - INFERENCE_FIELDS:
        return f"inferenceConfig: extraneous key [{sorted(set(inference) - INFERENCE_FIELDS)[0]}] is not permitted"
    tools = (body.get("toolConfig") or {}).get("tools")
    if body.get("toolConfig") is not None:
        if not isinstance(tools, list) or not tools:
            return "toolConfig.tools: Member must have length greater than or equal to 1"
        for i, t in enumerate(tools):
            spec = t.get("toolSpec") if isinstance(t, dict) else None
            if not isinstance(spec, dict) or not spec.get("name") or \
                    not isinstance((spec.get("inputSchema") or {}).get("json"), dict):
                return f"toolConfig.tools.{i}.toolSpec: name and inputSchema.json are required"
    elif any("toolUse" in b or "toolResult" in b for m in messages for b in m["content"]):
        return "The toolConfig field must be defined when using toolUse and toolResult content blocks."
    return _pairs_problem(messages)


# --------------------------------------------------------------------------- answers
def _text(blocks) -> str:
    return " ".join(b["text"] for b in blocks or [] if isinstance(b, dict) and isinstance(b.get("text"), str))


def result_text(result: dict) -> str:
    """A toolResult's content as text: text blocks joined, JSON blocks serialized."""
    out = []
    for c in result.get("content") or []:
        if "text" in c:
            out.append(c["text"])
        elif "json" in c:
            out.append(json.dumps(c["json"]))
    return " ".join(out)


def _conversation(messages: list) -> tuple[str, list, Optional[str]]:
    """(last user text, tool results ending the conversation, assistant prefill)."""
    prefill, turns = None, messages
    if turns and turns[-1]["role"] == "assistant":
        prefill, turns = _text(turns[-1]["content"]), turns[:-1]
    last_user, results = "", []
    for m in turns:
        if m["role"] != "user":
            continue
        tool_results = [b["toolResult"] for b in m["content"] if "toolResult" in b]
        if tool_results:
            results = [result_text(r) for r in tool_results]
        else:
            results, last_user = [], _text(m["content"])
    return last_user, results, prefill


def _input_tokens(body: dict) -> int:
    n = words(_text(body.get("system")))
    for m in body["messages"]:
        n += words(_text(m["content"]))
        n += sum(words(result_text(b["toolResult"])) for b in m["content"] if "toolResult" in b)
    return n


def answer(body: dict) -> dict:
    """The whole ConverseResponse for a request (already validated)."""
    last_user, results, prefill = _conversation(body["messages"])
    inference = body.get("inferenceConfig") or {}
    tools = ((body.get("toolConfig") or {}).get("tools")) or []
    if tools and not results:
        full = answer_for(last_user)
        names = [t["toolSpec"]["name"] for t in tools]
        content = [{"toolUse": {"toolUseId": f"tooluse_mock_{i}", "name": names[i % len(names)],
                                "input": tool_arguments(full, i)}} for i in range(2)]
        stop = "tool_use"
        out = sum(len(pieces(json.dumps(b["toolUse"]["input"]))) for b in content)
    else:
        text = strip_prefill(answer_for(last_user, results), prefill)
        text, why, _ = limit_answer(text, inference.get("maxTokens"), inference.get("stopSequences"))
        content, stop, out = [{"text": text}], STOP_REASONS.get(why, "end_turn"), len(pieces(text))
    n = _input_tokens(body)
    return {"output": {"message": {"role": "assistant", "content": content}}, "stopReason": stop,
            "usage": {"inputTokens": n, "outputTokens": out, "totalTokens": n + out},
            "metrics": {"latencyMs": 42}}


def _padded(data: dict) -> str:
    # Bedrock pads every stream event with a "p" field (hides the token lengths on the wire).
    return json.dumps({**data, "p": "abcdefghijklmnopqrstuvwxyzABCDEF"[:len(json.dumps(data)) % 24 + 1]})


def stream_events(resp: dict) -> list[tuple[str, str, Optional[str]]]:
    """(event type, payload JSON, content piece or None) of the ConverseStream for an answer."""
    events = [("messageStart", _padded({"role": "assistant"}), None)]
    for i, block in enumerate(resp["output"]["message"]["content"]):
        if "toolUse" in block:
            use = block["toolUse"]
            events.append(("contentBlockStart", _padded({"start": {"toolUse": {
                "toolUseId": use["toolUseId"], "name": use["name"]}}, "contentBlockIndex": i}), None))
            args = json.dumps(use["input"])
            step = max(1, len(args) // 3 + 1)
            for j in range(0, len(args), step):
                events.append(("contentBlockDelta", _padded({"delta": {"toolUse": {"input": args[j:j + step]}},
                                                             "contentBlockIndex": i}), ""))
        else:
            for p in pieces(block["text"]):
                events.append(("contentBlockDelta", _padded({"delta": {"text": p}, "contentBlockIndex": i}), p))
        events.append(("contentBlockStop", _padded({"contentBlockIndex": i}), None))
    events.append(("messageStop", _padded({"stopReason": resp["stopReason"]}), None))
    events.append(("metadata", _padded({"usage": resp["usage"], "metrics": resp["metrics"]}), None))
    return events
