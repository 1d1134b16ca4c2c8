"""Phase 1, issue 19: the Gemini, Bedrock and Cohere SDKs as clients of the gateway.

`google-genai` (base_url = the gateway: `/v1beta/models/{model}:generateContent`, key as
`x-goog-api-key`), `boto3` bedrock-runtime (endpoint_url = the gateway, SigV4 with a client
key's `aws_access_key_id` and the secret named by its `aws_secret_access_key_env`) and
`cohere.ClientV2` (base_url = the gateway: `/v2/chat`, bearer key) each talk to a target of
their own kind (passed through untouched) and to two other kinds (translated): stream,
non-stream, tools and tool results. Every request's row is checked: `endpoint` = ingress
path, tokens = the upstream's usage, finish_reason in the ingress dialect's vocabulary.
"""
import json

import botocore.exceptions
import cohere
import httpx
import pytest
from google.genai import errors as genai_errors
from google.genai import types

import mock_bedrock
import mock_cohere
import mock_gemini
from dialect_support import key_of, kinds_gateway, named_events, row_of, tool_calls_of_row, upstream_auth
from helpers import CLIENT_KEY, expected, msgs
from mock_answers import answer_for, tool_arguments
from provider_support import (BEDROCK_TOOLS, CLIENT_KEYS_AWS, COHERE_TOOL, GEMINI_TOOL, NO_RETRY,
                              SYSTEM, bedrock_client, cohere_client, conversation_of, gemini_client, mock_text,
                              signed_post, usage_pair)

GEMINI_TARGETS = ["gemini", "openai", "anthropic"]    # its own kind first, then two others
BEDROCK_TARGETS = ["bedrock", "openai", "cohere"]
COHERE_TARGETS = ["cohere", "anthropic", "gemini"]
WRONG = "sk-wrong-client-key-4711"
WANT_CALLS = [("get_weather", tool_arguments(answer_for("weather?"), i)) for i in (0, 1)]


def gw_for(gateway, mocks, kind: str, **kw):
    return kinds_gateway(gateway, mocks, [kind], client_keys=CLIENT_KEYS_AWS, **kw)


def check_upstream(a, kind: str, conversation: list):
    rec = a.requests[-1]
    assert rec.surface == kind, "the upstream is spoken to in its own dialect"
    upstream_auth(rec, kind, key_of(a, kind))
    assert conversation_of(rec) == conversation
    return rec


def check_row(gw, rid: str, rec, path: str, finish: str, stream: bool, text=None):
    sent = usage_pair(rec.usage_sent)
    assert sent is not None, "the upstream was asked for usage"
    want = dict(endpoint=path, status=200, upstream="a", client_key="team-a", finish_reason=finish,
                prompt_tokens=sent[0], completion_tokens=sent[1], total_tokens=sum(sent))
    if text is not None:
        want["response_content"] = text
    row = row_of(gw, rid, **want)
    assert bool(row["stream"]) == stream
    return row


def tool_turn_result_ok(text: str, rec):
    """The answer after a tool round trip: the mock's answer to the results it got, which are
    the client's."""
    assert text == mock_text(rec) and text.startswith("Tool results: "), text
    assert "sunny" in text and "rainy" in text


# --------------------------------------------------------------------------- Gemini
@pytest.mark.parametrize("kind", GEMINI_TARGETS)
def test_gemini_sdk_generate_content(gateway, mocks, kind):
    gw, (a,) = gw_for(gateway, mocks, kind)
    c = gemini_client(gw)
    r = c.models.generate_content(model="m", contents="hello gemini",
                                  config=types.GenerateContentConfig(system_instruction=SYSTEM, temperature=0.5))
    assert r.text == expected("hello gemini") and r.candidates[0].finish_reason == types.FinishReason.STOP
    rec = check_upstream(a, kind, [("system", SYSTEM), ("user", "hello gemini")])
    sent = usage_pair(rec.usage_sent)
    u = r.usage_metadata
    assert (u.prompt_token_count, u.candidates_token_count, u.total_token_count) == (*sent, sum(sent))
    check_row(gw, r.sdk_http_response.headers["x-request-id"], rec, "/v1beta/models/m:generateContent", "STOP",
              False, expected("hello gemini"))

    chunks = list(c.models.generate_content_stream(model="m", contents="stream gemini",
                                                   config=types.GenerateContentConfig(system_instruction=SYSTEM)))
    assert "".join(ch.text or "" for ch in chunks) == expected("stream gemini")
    assert [ch.candidates[0].finish_reason for ch in chunks if ch.candidates and ch.candidates[0].finish_reason] \
        == [types.FinishReason.STOP]
    rec = check_upstream(a, kind, [("system", SYSTEM), ("user", "stream gemini")])
    assert rec.content_sent == expected("stream gemini"), "streamed from the upstream too"
    last = [ch.usage_metadata for ch in chunks if ch.usage_metadata][-1]
    assert (last.prompt_token_count, last.candidates_token_count) == usage_pair(rec.usage_sent)
    check_row(gw, chunks[0].sdk_http_response.headers["x-request-id"], rec, "/v1beta/models/m:streamGenerateContent",
              "STOP", True, expected("stream gemini"))


@pytest.mark.parametrize("kind", GEMINI_TARGETS)
def test_gemini_sdk_function_calls_round_trip(gateway, mocks, kind):
    gw, (a,) = gw_for(gateway, mocks, kind)
    c = gemini_client(gw)
    config = types.GenerateContentConfig(tools=[GEMINI_TOOL])
    r = c.models.generate_content(model="m", contents="weather?", config=config)
    assert [(f.name, f.args) for f in r.function_calls] == WANT_CALLS
    assert r.candidates[0].finish_reason == types.FinishReason.STOP, "Gemini ends a function call turn with STOP"
    sent = json.dumps(a.requests[-1].body)
    assert "get_weather" in sent and '"city"' in sent, "the tool reached the upstream"
    row = check_row(gw, r.sdk_http_response.headers["x-request-id"], a.requests[-1],
                    "/v1beta/models/m:generateContent", "STOP", False)
    assert [(name, args) for _, name, args in tool_calls_of_row(row)] == WANT_CALLS

    chunks = list(c.models.generate_content_stream(model="m", contents="weather?", config=config))
    assert [(f.name, f.args) for ch in chunks for f in ch.function_calls or []] == WANT_CALLS
    row = check_row(gw, chunks[0].sdk_http_response.headers["x-request-id"], a.requests[-1],
                    "/v1beta/models/m:streamGenerateContent", "STOP", True)
    assert [(name, args) for _, name, args in tool_calls_of_row(row)] == WANT_CALLS

    turn = [types.Content(role="user", parts=[types.Part(text="weather?")]), r.candidates[0].content,
            types.Content(role="user", parts=[
                types.Part.from_function_response(name="get_weather", response={"result": "sunny"}),
                types.Part.from_function_response(name="get_weather", response={"result": "rainy"})])]
    r2 = c.models.generate_content(model="m", contents=turn, config=config)
    assert not r2.function_calls and r2.candidates[0].finish_reason == types.FinishReason.STOP
    tool_turn_result_ok(r2.text, a.requests[-1])


def test_gemini_to_gemini_passes_through(gateway, mocks):
    gw, (a,) = gw_for(gateway, mocks, "gemini", models_up=["gemini-up"])
    body = json.dumps({"contents": [{"role": "user", "parts": [{"text": "as is"}]}],
                       "generationConfig": {"temperature": 0.25, "topK": 7}}).encode()
    with httpx.Client(base_url=gw.url, timeout=20) as h:
        r = h.post("/v1beta/models/m:generateContent", content=body,
                   headers={"x-goog-api-key": CLIENT_KEY, "content-type": "application/json"})
        assert r.status_code == 200, r.text
        rec = a.requests[-1]
        assert rec.raw_body == body, "the body goes through byte for byte"
        assert rec.path == "/v1beta/models/gemini-up:generateContent" and rec.model == "gemini-up"
        upstream_auth(rec, "gemini", key_of(a))
        assert r.json() == mock_gemini.answer(rec.body, "gemini-up"), "the answer comes back as the upstream gave it"
        with h.stream("POST", "/v1beta/models/m:streamGenerateContent?alt=sse", content=body,
                      headers={"x-goog-api-key": CLIENT_KEY, "content-type": "application/json"}) as s:
            events = named_events(s.iter_lines())
        rec = a.requests[-1]
        assert rec.path == "/v1beta/models/gemini-up:streamGenerateContent?alt=sse" and rec.raw_body == body
        assert [d for _, d in events] == [json.loads(d) for _, d, _ in mock_gemini.stream_events(
            mock_gemini.answer(rec.body, "gemini-up"))]


@pytest.mark.parametrize("kind", ["openai", "gemini"])
def test_gemini_key_in_query_is_never_logged(gateway, mocks, kind):
    gw, (a,) = gw_for(gateway, mocks, kind)
    body = {"contents": [{"role": "user", "parts": [{"text": "query key"}]}]}
    r = httpx.post(f"{gw.url}/v1beta/models/m:generateContent?key={CLIENT_KEY}", json=body, timeout=20)
    assert r.status_code == 200 and r.json()["candidates"][0]["content"]["parts"][0]["text"] == expected("query key")
    rid = r.headers["x-request-id"]
    line = gw.access(rid)
    assert CLIENT_KEY not in json.dumps(line) and "key=" not in json.dumps(line)
    row = row_of(gw, rid, endpoint="/v1beta/models/m:generateContent", client_key="team-a", status=200)
    assert CLIENT_KEY not in json.dumps(row, default=str)
    assert "key" not in a.requests[-1].query and CLIENT_KEY not in a.requests[-1].path
    upstream_auth(a.requests[-1], kind, key_of(a))
    # A wrong key is refused in Gemini's shape, from the header and from the query alike.
    for url, headers in ((f"{gw.url}/v1beta/models/m:generateContent?key={WRONG}", {}),
                         (f"{gw.url}/v1beta/models/m:generateContent", {"x-goog-api-key": WRONG})):
        bad = httpx.post(url, json=body, headers=headers, timeout=20)
        assert bad.status_code in (401, 403), bad.text
        err = bad.json()["error"]
        assert err["code"] == bad.status_code and err["message"] and err["status"] in (
            "UNAUTHENTICATED", "PERMISSION_DENIED"), err
        assert WRONG not in json.dumps(gw.access(bad.headers["x-request-id"]))
    client = gemini_client(gw, key=WRONG)  # held: a dropped client closes its connections
    with pytest.raises(genai_errors.ClientError) as e:
        client.models.generate_content(model="m", contents="x")
    assert e.value.code in (401, 403)
    assert a.count() == 1


@pytest.mark.parametrize("kind", ["gemini", "anthropic"])
def test_gemini_json_array_stream(gateway, mocks, kind):
    """Without `alt=sse` Gemini streams one JSON array, an element per chunk."""
    gw, (a,) = gw_for(gateway, mocks, kind)
    body = {"contents": [{"role": "user", "parts": [{"text": "array stream"}]}]}
    with httpx.Client(base_url=gw.url, timeout=20) as h:
        with h.stream("POST", "/v1beta/models/m:streamGenerateContent", json=body,
                      headers={"x-goog-api-key": CLIENT_KEY}) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
            raw = r.read()
            rid = r.headers["x-request-id"]
    chunks = json.loads(raw)
    assert isinstance(chunks, list) and len(chunks) > 1, raw[:200]
    text = "".join(p.get("text", "") for ch in chunks for p in ch["candidates"][0]["content"]["parts"])
    assert text == expected("array stream") == a.requests[-1].content_sent
    assert [ch["candidates"][0].get("finishReason") for ch in chunks if ch["candidates"][0].get("finishReason")] == [
        "STOP"]
    usage = [ch["usageMetadata"] for ch in chunks if ch.get("usageMetadata")][-1]
    assert (usage["promptTokenCount"], usage["candidatesTokenCount"]) == usage_pair(a.requests[-1].usage_sent)
    check_row(gw, rid, a.requests[-1], "/v1beta/models/m:streamGenerateContent", "STOP", True, expected("array stream"))


# --------------------------------------------------------------------------- Bedrock
def user(text: str) -> dict:
    return {"role": "user", "content": [{"text": text}]}


def rid_of(resp: dict) -> str:
    return resp["ResponseMetadata"]["HTTPHeaders"]["x-request-id"]


@pytest.mark.parametrize("kind", BEDROCK_TARGETS)
def test_bedrock_sdk_converse(gateway, mocks, kind):
    gw, (a,) = gw_for(gateway, mocks, kind)
    b = bedrock_client(gw)
    r = b.converse(modelId="m", messages=[user("hello bedrock")], system=[{"text": SYSTEM}],
                   inferenceConfig={"maxTokens": 500, "temperature": 0.5})
    assert r["output"]["message"] == {"role": "assistant", "content": [{"text": expected("hello bedrock")}]}
    assert r["stopReason"] == "end_turn"
    rec = check_upstream(a, kind, [("system", SYSTEM), ("user", "hello bedrock")])
    sent = usage_pair(rec.usage_sent)
    assert (r["usage"]["inputTokens"], r["usage"]["outputTokens"], r["usage"]["totalTokens"]) == (*sent, sum(sent))
    check_row(gw, rid_of(r), rec, "/model/m/converse", "end_turn", False, expected("hello bedrock"))

    s = b.converse_stream(modelId="m", messages=[user("stream bedrock")], system=[{"text": SYSTEM}])
    assert s["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/vnd.amazon.eventstream"
    events = list(s["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and kinds[-2:] == ["messageStop", "metadata"], kinds
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == expected("stream bedrock") and events[-2]["messageStop"]["stopReason"] == "end_turn"
    rec = check_upstream(a, kind, [("system", SYSTEM), ("user", "stream bedrock")])
    usage = events[-1]["metadata"]["usage"]
    assert (usage["inputTokens"], usage["outputTokens"]) == usage_pair(rec.usage_sent)
    check_row(gw, rid_of(s), rec, "/model/m/converse-stream", "end_turn", True, expected("stream bedrock"))


@pytest.mark.parametrize("kind", BEDROCK_TARGETS)
def test_bedrock_sdk_tool_use_round_trip(gateway, mocks, kind):
    gw, (a,) = gw_for(gateway, mocks, kind)
    b = bedrock_client(gw)
    r = b.converse(modelId="m", messages=[user("weather?")], toolConfig=BEDROCK_TOOLS)
    assert r["stopReason"] == "tool_use"
    uses = [x["toolUse"] for x in r["output"]["message"]["content"] if "toolUse" in x]
    assert [(u["name"], u["input"]) for u in uses] == WANT_CALLS and all(u["toolUseId"] for u in uses)
    row = check_row(gw, rid_of(r), a.requests[-1], "/model/m/converse", "tool_use", False)
    assert [(n, args) for _, n, args in tool_calls_of_row(row)] == WANT_CALLS

    s = b.converse_stream(modelId="m", messages=[user("weather?")], toolConfig=BEDROCK_TOOLS)
    starts, args = {}, {}
    events = list(s["stream"])
    for e in events:
        if "contentBlockStart" in e:
            starts[e["contentBlockStart"]["contentBlockIndex"]] = e["contentBlockStart"]["start"]["toolUse"]["name"]
        if "contentBlockDelta" in e and "toolUse" in e["contentBlockDelta"]["delta"]:
            i = e["contentBlockDelta"]["contentBlockIndex"]
            args[i] = args.get(i, "") + e["contentBlockDelta"]["delta"]["toolUse"]["input"]
    assert [(starts[i], json.loads(args[i])) for i in sorted(starts)] == WANT_CALLS
    assert [e["messageStop"]["stopReason"] for e in events if "messageStop" in e] == ["tool_use"]
    check_row(gw, rid_of(s), a.requests[-1], "/model/m/converse-stream", "tool_use", True)

    turn = [user("weather?"), r["output"]["message"], {"role": "user", "content": [
        {"toolResult": {"toolUseId": uses[0]["toolUseId"], "content": [{"text": "sunny"}]}},
        {"toolResult": {"toolUseId": uses[1]["toolUseId"], "content": [{"text": "rainy"}]}}]}]
    r2 = b.converse(modelId="m", messages=turn, toolConfig=BEDROCK_TOOLS)
    assert r2["stopReason"] == "end_turn"
    tool_turn_result_ok(r2["output"]["message"]["content"][0]["text"], a.requests[-1])


def test_bedrock_to_bedrock_passes_through(gateway, mocks):
    gw, (a,) = gw_for(gateway, mocks, "bedrock", models_up=["anthropic.claude-up-v1:0"])
    body = json.dumps({"messages": [user("as is")], "inferenceConfig": {"maxTokens": 77}}).encode()
    r = signed_post(gw, "/model/m/converse", body)
    assert r.status_code == 200, r.text
    rec = a.requests[-1]
    assert rec.raw_body == body and rec.model == "anthropic.claude-up-v1:0"
    upstream_auth(rec, "bedrock", a.aws_access_key_id)  # re-signed with the upstream's credentials
    assert r.json() == mock_bedrock.answer(rec.body)
    s = signed_post(gw, "/model/m/converse-stream", body, stream=True)
    try:
        assert s.status_code == 200 and s.headers["content-type"] == "application/vnd.amazon.eventstream"
        frames = mock_bedrock.decode_messages(s.read())
    finally:
        s.close()
    rec = a.requests[-1]
    want = mock_bedrock.stream_events(mock_bedrock.answer(rec.body))
    assert [(h[":event-type"], json.loads(p)) for h, p in frames] == [(n, json.loads(d)) for n, d, _ in want]


def test_bedrock_bad_signature_is_refused(gateway, mocks):
    import datetime
    gw, (a,) = gw_for(gateway, mocks, "openai")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        bedrock_client(gw, secret="not-the-secret").converse(modelId="m", messages=[user("x")])
    err = e.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert err["Error"]["Code"] in ("InvalidSignatureException", "AccessDeniedException"), err["Error"]
    body = json.dumps({"messages": [user("x")]}).encode()
    stale = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
    cases = {"wrong secret": dict(secret="not-the-secret"), "unknown key id": dict(key_id="AKIANOBODY0000000000"),
             "date 20 minutes old": dict(when=stale),
             "another body than signed": dict(send=json.dumps({"messages": [user("y")]}).encode())}
    for why, kw in cases.items():
        r = signed_post(gw, "/model/m/converse", body, **kw)
        assert r.status_code == 403, (why, r.status_code, r.text)
        assert r.headers.get("x-amzn-errortype"), f"{why}: Bedrock names the error in x-amzn-ErrorType"
        assert set(r.json()) == {"message"} and r.json()["message"], (why, r.text)
        row_of(gw, r.headers["x-request-id"], endpoint="/model/m/converse", status=403)
    unsigned = httpx.post(gw.url + "/model/m/converse", content=body, timeout=20)
    assert unsigned.status_code == 403 and set(unsigned.json()) == {"message"}
    good = signed_post(gw, "/model/m/converse", body)
    assert good.status_code == 200 and good.headers["x-request-id"]
    assert a.count() == 1, "no refused request reached the upstream"


# --------------------------------------------------------------------------- Cohere
@pytest.mark.parametrize("kind", COHERE_TARGETS)
def test_cohere_sdk_chat(gateway, mocks, kind):
    gw, (a,) = gw_for(gateway, mocks, kind)
    c = cohere_client(gw)
    raw = c.with_raw_response.chat(model="m", messages=[{"role": "system", "content": SYSTEM}] + msgs("hello cohere"),
                                   temperature=0.5, request_options=NO_RETRY)
    r = raw.data
    assert r.message.content[0].text == expected("hello cohere") and r.finish_reason == "COMPLETE"
    rec = check_upstream(a, kind, [("system", SYSTEM), ("user", "hello cohere")])
    sent = usage_pair(rec.usage_sent)
    assert (r.usage.tokens.input_tokens, r.usage.tokens.output_tokens) == sent
    check_row(gw, raw.headers["x-request-id"], rec, "/v2/chat", "COMPLETE", False, expected("hello cohere"))

    with c.with_raw_response.chat_stream(model="m", messages=msgs("stream cohere"), request_options=NO_RETRY) as s:
        events = list(s.data)
        rid = s.headers["x-request-id"]
    types_ = [e.type for e in events]
    assert types_[0] == "message-start" and types_[-1] == "message-end", types_
    text = "".join(e.delta.message.content.text for e in events if e.type == "content-delta")
    assert text == expected("stream cohere") and events[-1].delta.finish_reason == "COMPLETE"
    rec = check_upstream(a, kind, [("user", "stream cohere")])
    tokens = events[-1].delta.usage.tokens
    assert (tokens.input_tokens, tokens.output_tokens) == usage_pair(rec.usage_sent)
    check_row(gw, rid, rec, "/v2/chat", "COMPLETE", True, expected("stream cohere"))


@pytest.mark.parametrize("kind", COHERE_TARGETS)
def test_cohere_sdk_tools_round_trip(gateway, mocks, kind):
    gw, (a,) = gw_for(gateway, mocks, kind)
    c = cohere_client(gw)
    raw = c.with_raw_response.chat(model="m", messages=msgs("weather?"), tools=[COHERE_TOOL], request_options=NO_RETRY)
    r = raw.data
    assert r.finish_reason == "TOOL_CALL"
    calls = r.message.tool_calls
    assert [(t.function.name, json.loads(t.function.arguments)) for t in calls] == WANT_CALLS and all(t.id for t in calls)
    row = check_row(gw, raw.headers["x-request-id"], a.requests[-1], "/v2/chat", "TOOL_CALL", False)
    assert [(n, args) for _, n, args in tool_calls_of_row(row)] == WANT_CALLS

    streamed = {}
    with c.with_raw_response.chat_stream(model="m", messages=msgs("weather?"), tools=[COHERE_TOOL],
                                         request_options=NO_RETRY) as s:
        events = list(s.data)
        rid = s.headers["x-request-id"]
    for e in events:
        if e.type == "tool-call-start":
            streamed[e.index] = [e.delta.message.tool_calls.function.name, ""]
        elif e.type == "tool-call-delta":
            streamed[e.index][1] += e.delta.message.tool_calls.function.arguments
    assert [(n, json.loads(args)) for n, args in streamed.values()] == WANT_CALLS
    assert events[-1].type == "message-end" and events[-1].delta.finish_reason == "TOOL_CALL"
    check_row(gw, rid, a.requests[-1], "/v2/chat", "TOOL_CALL", True)

    turn = msgs("weather?") + [
        {"role": "assistant", "tool_calls": [t.model_dump(exclude_none=True) for t in calls],
         **({"tool_plan": r.message.tool_plan} if r.message.tool_plan else {})},
        {"role": "tool", "tool_call_id": calls[0].id, "content": "sunny"},
        {"role": "tool", "tool_call_id": calls[1].id, "content": [{"type": "text", "text": "rainy"}]}]
    r2 = c.chat(model="m", messages=turn, tools=[COHERE_TOOL], request_options=NO_RETRY)
    assert r2.finish_reason == "COMPLETE"
    tool_turn_result_ok(r2.message.content[0].text, a.requests[-1])


def test_cohere_to_cohere_passes_through(gateway, mocks):
    gw, (a,) = gw_for(gateway, mocks, "cohere", models_up=["command-up"])
    body = json.dumps({"model": "m", "messages": msgs("as is"), "k": 3, "stream": False}, separators=(",", ":")).encode()
    headers = {"authorization": f"Bearer {CLIENT_KEY}", "content-type": "application/json"}
    with httpx.Client(base_url=gw.url, timeout=20) as h:
        r = h.post("/v2/chat", content=body, headers=headers)
        assert r.status_code == 200, r.text
        rec = a.requests[-1]
        assert rec.raw_body == body.replace(b'"model":"m"', b'"model":"command-up"'), "byte for byte but `model`"
        upstream_auth(rec, "cohere", key_of(a))
        assert r.json() == mock_cohere.answer(rec.body)
        stream_body = body.replace(b'"stream":false', b'"stream":true')
        with h.stream("POST", "/v2/chat", content=stream_body, headers=headers) as s:
            events = named_events(s.iter_lines())
    rec = a.requests[-1]
    assert [(n, d) for n, d in events] == [(n, json.loads(d)) for n, d, _ in mock_cohere.stream_events(
        mock_cohere.answer(rec.body))]


def test_cohere_errors_in_its_shape(gateway, mocks):
    gw, (a,) = gw_for(gateway, mocks, "openai")
    with pytest.raises(cohere.UnauthorizedError) as e:
        cohere_client(gw, key="wrong").chat(model="m", messages=msgs("x"), request_options=NO_RETRY)
    assert set(e.value.body) >= {"message"} and e.value.body["message"]
    with pytest.raises(cohere.NotFoundError) as e:
        cohere_client(gw).chat(model="no-such-model", messages=msgs("x"), request_options=NO_RETRY)
    assert "no-such-model" in e.value.body["message"]
    assert a.count() == 0
