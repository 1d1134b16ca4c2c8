"""Self-tests of the mock's Gemini, Bedrock Converse and Cohere v2 surfaces, with the official
SDKs pointed straight at it (no gateway).

Why: the provider tests through the gateway trust these surfaces to be what the SDKs expect
from the real providers; here `google-genai`, `boto3` (bedrock-runtime, SigV4 and the AWS
event-stream framing included) and `cohere` prove it. They run before the gateway exists.
"""
import json

import boto3
import botocore.exceptions
import cohere
import httpx
import pytest
from botocore.config import Config
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

import mock_bedrock
from helpers import expected, msgs
from mock_answers import FIXED_SENTENCE, answer_for, tool_arguments
from mock_upstream import Behaviour

WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"


def root(m) -> str:
    return m.base_url[:-len("/v1")]


# --------------------------------------------------------------------------- Gemini
def gemini(m, key: str = "g-key") -> genai.Client:
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=root(m), api_version="v1beta",
                                                                        timeout=10_000))


GEMINI_TOOL = types.Tool(function_declarations=[types.FunctionDeclaration(
    name="get_weather", description="Weather in a city", parameters_json_schema=WEATHER_SCHEMA)])


def test_gemini_generate_content(mocks):
    m = mocks("a")
    c = gemini(m)
    r = c.models.generate_content(model="gemini-x", contents="hello gemini",
                                  config=types.GenerateContentConfig(system_instruction="Be brief.",
                                                                     temperature=0.2, top_k=40))
    assert r.text == expected("hello gemini") and r.candidates[0].finish_reason == types.FinishReason.STOP
    n = len(expected("hello gemini").split())
    u = r.usage_metadata
    assert (u.prompt_token_count, u.candidates_token_count, u.total_token_count) == (4, n, 4 + n)
    rec = m.requests[0]
    assert (rec.surface, rec.path, rec.model) == ("gemini", "/v1beta/models/gemini-x:generateContent", "gemini-x")
    assert rec.headers["x-goog-api-key"] == "g-key" and rec.usage_sent == r.usage_metadata.model_dump(
        exclude_none=True, by_alias=True)
    assert rec.body["systemInstruction"] == {"parts": [{"text": "Be brief."}], "role": "user"}
    # limits: maxOutputTokens cuts (MAX_TOKENS), a stop sequence ends with STOP
    r = c.models.generate_content(model="gemini-x", contents="cut short",
                                  config=types.GenerateContentConfig(max_output_tokens=3))
    assert r.text == "Echo: cut short" and r.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    r = c.models.generate_content(model="gemini-x", contents="stop here",
                                  config=types.GenerateContentConfig(stop_sequences=["deterministic"]))
    assert r.text == expected("stop here").split("deterministic")[0]
    assert r.candidates[0].finish_reason == types.FinishReason.STOP
    # multi-turn: the answer echoes the last user turn; a final model turn is continued (prefill)
    full = expected("second")
    turns = [types.Content(role="user", parts=[types.Part(text="first")]),
             types.Content(role="model", parts=[types.Part(text=expected("first"))]),
             types.Content(role="user", parts=[types.Part(text="second")])]
    assert c.models.generate_content(model="gemini-x", contents=turns).text == full
    prefill = turns + [types.Content(role="model", parts=[types.Part(text=full[:11])])]
    assert c.models.generate_content(model="gemini-x", contents=prefill).text == full[11:]


def test_gemini_stream_sse_and_json_array(mocks):
    m = mocks("a")
    c = gemini(m)  # held: a dropped client closes its connections under a running stream
    chunks = list(c.models.generate_content_stream(model="gemini-x", contents="stream gemini"))
    assert "".join(ch.text or "" for ch in chunks) == expected("stream gemini") == m.requests[0].content_sent
    assert len(chunks) == len(expected("stream gemini").split()) > 5
    assert [ch.candidates[0].finish_reason for ch in chunks[-2:]] == [None, types.FinishReason.STOP]
    # every chunk carries the prompt count; the last one the whole usage
    assert {ch.usage_metadata.prompt_token_count for ch in chunks} == {2}
    assert chunks[-1].usage_metadata.candidates_token_count == len(chunks)
    rec = m.requests[0]
    assert rec.path == "/v1beta/models/gemini-x:streamGenerateContent?alt=sse" and rec.query == {"alt": "sse"}
    # Without alt=sse: one JSON array, an element per chunk, as Google sends it.
    r = httpx.post(root(m) + "/v1beta/models/gemini-x:streamGenerateContent", headers={"x-goog-api-key": "k"},
                   json={"contents": [{"role": "user", "parts": [{"text": "stream gemini"}]}]})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.text.startswith("[{") and ",\r\n{" in r.text and r.text.endswith("}]")
    raw = httpx.post(root(m) + "/v1beta/models/gemini-x:streamGenerateContent?alt=sse", headers={"x-goog-api-key": "k"},
                     json={"contents": [{"role": "user", "parts": [{"text": "stream gemini"}]}]}).text
    assert raw.startswith("data: {") and raw.endswith("}\r\n\r\n"), "Google's SSE events end with CRLF CRLF"
    assert r.json() == [json.loads(e[len("data: "):]) for e in raw.split("\r\n\r\n") if e], "same chunks"
    assert [c_["candidates"][0]["content"]["parts"][0]["text"] for c_ in r.json()] == [ch.text for ch in chunks]


def test_gemini_function_calls(mocks):
    m = mocks("a")
    c = gemini(m)
    config = types.GenerateContentConfig(tools=[GEMINI_TOOL])
    r = c.models.generate_content(model="gemini-x", contents="weather?", config=config)
    want = [("get_weather", tool_arguments(answer_for("weather?"), i)) for i in (0, 1)]
    assert [(f.name, f.args) for f in r.function_calls] == want and r.candidates[0].finish_reason == "STOP"
    assert all(f.id is None for f in r.function_calls), "the Gemini API gives function calls no id"
    declared = m.requests[0].body["tools"][0]["functionDeclarations"][0]
    assert declared["parameters_json_schema"] == WEATHER_SCHEMA, "this SDK writes the field in snake_case"
    streamed = list(c.models.generate_content_stream(model="gemini-x", contents="weather?", config=config))
    assert [(f.name, f.args) for ch in streamed for f in ch.function_calls or []] == want
    turn = [types.Content(role="user", parts=[types.Part(text="weather?")]), r.candidates[0].content,
            types.Content(role="user", parts=[
                types.Part.from_function_response(name="get_weather", response={"result": "sunny"}),
                types.Part.from_function_response(name="get_weather", response={"result": "rainy"})])]
    r2 = c.models.generate_content(model="gemini-x", contents=turn, config=config)
    assert r2.text == answer_for("", ["sunny", "rainy"]) and not r2.function_calls
    none = types.GenerateContentConfig(tools=[GEMINI_TOOL], tool_config=types.ToolConfig(
        function_calling_config=types.FunctionCallingConfig(mode="NONE")))
    assert c.models.generate_content(model="gemini-x", contents="no tools", config=none).text == expected("no tools")
    with pytest.raises(genai_errors.ClientError) as e:
        c.models.generate_content(model="gemini-x", contents=turn[:2] + [turn[2].model_copy(
            update={"parts": turn[2].parts[:1]})], config=config)
    assert e.value.code == 400 and "number of function response parts" in e.value.message


def test_gemini_errors_in_its_shape(mocks):
    m = mocks("a")
    r = httpx.post(root(m) + "/v1beta/models/g:generateContent", json={"contents": [{"parts": [{"text": "x"}]}]})
    assert r.status_code == 403 and r.json()["error"]["status"] == "PERMISSION_DENIED"
    r = httpx.post(root(m) + "/v1beta/models/g:generateContent?key=k", json={"contents": [{"parts": [{"text": "x"}]}]})
    assert r.status_code == 200 and m.requests[-1].query == {"key": "k"}, "the key may come as ?key="
    c = gemini(m)
    bad = [{"contents": [{"role": "system", "parts": [{"text": "s"}]}]},
           {"contents": [{"parts": [{"text": "x"}]}], "max_tokens": 5},
           {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"max_tokens": 5}}]
    for body in bad:
        r = httpx.post(root(m) + "/v1beta/models/g:generateContent", headers={"x-goog-api-key": "k"}, json=body)
        assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT", (body, r.text)
    m.script(Behaviour(status=503))
    with pytest.raises(genai_errors.ServerError) as e:
        c.models.generate_content(model="g", contents="x")
    assert (e.value.code, e.value.status) == (503, "UNAVAILABLE") and "overloaded" in e.value.message
    m.script(Behaviour(status=429))
    with pytest.raises(genai_errors.ClientError) as e:
        c.models.generate_content(model="g", contents="x")
    assert e.value.status == "RESOURCE_EXHAUSTED"


def test_gemini_stream_faults(mocks):
    m = mocks("a")
    c = gemini(m)
    m.script(Behaviour(error_event_after=3))
    got = ""
    with pytest.raises(genai_errors.ServerError) as e:
        for ch in c.models.generate_content_stream(model="g", contents="overload me"):
            got += ch.text or ""
    assert e.value.code == 503 and got == m.requests[0].content_sent == "Echo: overload me"
    m.script(Behaviour(cut_after=2))
    with pytest.raises(Exception, match="incomplete chunked read"):  # the SDK's own httpx fork raises it
        list(c.models.generate_content_stream(model="g", contents="cut me"))
    assert m.requests[1].content_sent == "Echo: cut"
    m.script(Behaviour(error_event_after=2))
    r = httpx.post(root(m) + "/v1beta/models/g:streamGenerateContent", headers={"x-goog-api-key": "k"},
                   json={"contents": [{"parts": [{"text": "array error"}]}]})
    array = r.json()
    assert array[-1] == {"error": {"code": 503, "message": "The model is overloaded. Please try again later.",
                                   "status": "UNAVAILABLE"}} and len(array) == 3


# --------------------------------------------------------------------------- Bedrock
def bedrock(m, secret=None, key_id=None, region=None):
    return boto3.client("bedrock-runtime", endpoint_url=root(m), region_name=region or m.aws_region,
                        aws_access_key_id=key_id or m.aws_access_key_id,
                        aws_secret_access_key=secret or m.aws_secret_access_key,
                        config=Config(retries={"total_max_attempts": 1}, read_timeout=10))


def user(text: str) -> dict:
    return {"role": "user", "content": [{"text": text}]}


BEDROCK_TOOLS = {"tools": [{"toolSpec": {"name": "get_weather", "description": "Weather in a city",
                                         "inputSchema": {"json": WEATHER_SCHEMA}}}], "toolChoice": {"auto": {}}}


def test_bedrock_converse(mocks):
    m = mocks("a")
    c = bedrock(m)
    r = c.converse(modelId=MODEL_ID, messages=[user("hello bedrock")], system=[{"text": "Be brief."}],
                   inferenceConfig={"maxTokens": 200, "temperature": 0.3, "topP": 0.9})
    n = len(expected("hello bedrock").split())
    assert r["output"]["message"] == {"role": "assistant", "content": [{"text": expected("hello bedrock")}]}
    assert r["stopReason"] == "end_turn" and r["usage"] == {"inputTokens": 4, "outputTokens": n, "totalTokens": 4 + n}
    rec = m.requests[0]
    assert (rec.surface, rec.model) == ("bedrock", MODEL_ID)
    assert rec.path == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse", "boto3 encodes the model id"
    assert rec.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={m.aws_access_key_id}/")
    assert "/us-east-1/bedrock/aws4_request" in rec.headers["authorization"]
    assert rec.usage_sent == r["usage"]
    r = c.converse(modelId=MODEL_ID, messages=[user("cut short")], inferenceConfig={"maxTokens": 3})
    assert r["stopReason"] == "max_tokens" and r["output"]["message"]["content"][0]["text"] == "Echo: cut short"
    r = c.converse(modelId=MODEL_ID, messages=[user("stop here")], inferenceConfig={"stopSequences": ["determ"]})
    assert r["stopReason"] == "stop_sequence"
    full = expected("two")
    turns = [user("one"), {"role": "assistant", "content": [{"text": expected("one")}]}, user("two"),
             {"role": "assistant", "content": [{"text": full[:9]}]}]
    assert c.converse(modelId="m", messages=turns)["output"]["message"]["content"][0]["text"] == full[9:]


def test_bedrock_converse_stream_event_stream_framing(mocks):
    m = mocks("a")
    r = bedrock(m).converse_stream(modelId=MODEL_ID, messages=[user("stream bedrock")])
    events = list(r["stream"])
    kinds = [next(iter(e)) for e in events]
    deltas = kinds.count("contentBlockDelta")
    assert kinds == ["messageStart"] + ["contentBlockDelta"] * deltas + ["contentBlockStop", "messageStop", "metadata"]
    assert "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e) == \
        expected("stream bedrock") == m.requests[0].content_sent
    assert events[-2]["messageStop"]["stopReason"] == "end_turn"
    assert events[-1]["metadata"]["usage"] == {"inputTokens": 2, "outputTokens": deltas, "totalTokens": 2 + deltas}
    assert m.requests[0].path.endswith("/converse-stream")
    assert r["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/vnd.amazon.eventstream"
    # The frames themselves: CRCs, string headers, the padding field real Bedrock adds.
    signed = m.requests[0].headers
    raw = httpx.post(root(m) + m.requests[0].path, content=m.requests[0].raw_body,
                     headers={k: v for k, v in signed.items() if k not in ("content-length", "transfer-encoding")})
    frames = mock_bedrock.decode_messages(raw.content)
    assert [h[":event-type"] for h, _ in frames] == kinds and all(h[":message-type"] == "event" for h, _ in frames)
    assert all("p" in json.loads(p) for _, p in frames)


def test_bedrock_tool_use(mocks):
    m = mocks("a")
    c = bedrock(m)
    r = c.converse(modelId=MODEL_ID, messages=[user("weather?")], toolConfig=BEDROCK_TOOLS)
    want = [{"toolUse": {"toolUseId": f"tooluse_mock_{i}", "name": "get_weather",
                         "input": tool_arguments(answer_for("weather?"), i)}} for i in (0, 1)]
    assert r["stopReason"] == "tool_use" and r["output"]["message"]["content"] == want
    s = c.converse_stream(modelId=MODEL_ID, messages=[user("weather?")], toolConfig=BEDROCK_TOOLS)
    starts, args = [], {}
    for e in s["stream"]:
        if "contentBlockStart" in e:
            starts.append(e["contentBlockStart"]["start"]["toolUse"])
        if "contentBlockDelta" in e:
            i = e["contentBlockDelta"]["contentBlockIndex"]
            args[i] = args.get(i, "") + e["contentBlockDelta"]["delta"]["toolUse"]["input"]
        if "messageStop" in e:
            assert e["messageStop"]["stopReason"] == "tool_use"
    assert starts == [{"toolUseId": w["toolUse"]["toolUseId"], "name": "get_weather"} for w in want]
    assert [json.loads(args[i]) for i in (0, 1)] == [w["toolUse"]["input"] for w in want]
    turn = [user("weather?"), r["output"]["message"], {"role": "user", "content": [
        {"toolResult": {"toolUseId": "tooluse_mock_0", "content": [{"text": "sunny"}]}},
        {"toolResult": {"toolUseId": "tooluse_mock_1", "content": [{"json": {"sky": "rainy"}}]}}]}]
    r2 = c.converse(modelId=MODEL_ID, messages=turn, toolConfig=BEDROCK_TOOLS)
    assert r2["output"]["message"]["content"][0]["text"] == answer_for("", ["sunny", '{"sky": "rainy"}'])
    turn[2]["content"] = turn[2]["content"][:1]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        c.converse(modelId=MODEL_ID, messages=turn, toolConfig=BEDROCK_TOOLS)
    assert e.value.response["Error"]["Code"] == "ValidationException"


def test_bedrock_sigv4_is_checked(mocks):
    m = mocks("a")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        bedrock(m, secret="wrong-secret").converse(modelId=MODEL_ID, messages=[user("x")])
    err = e.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert err["Error"]["Code"] == "InvalidSignatureException" and err["Error"]["Message"] == mock_bedrock.BAD_SIGNATURE
    with pytest.raises(botocore.exceptions.ClientError) as e:
        bedrock(m, key_id="AKIAOTHER").converse(modelId=MODEL_ID, messages=[user("x")])
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        bedrock(m, region="eu-west-1").converse(modelId=MODEL_ID, messages=[user("x")])
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"
    # A signed request altered on the way (another body) no longer matches its signature.
    bedrock(m).converse(modelId=MODEL_ID, messages=[user("original")])
    rec = m.requests[-1]
    headers = {k: v for k, v in rec.headers.items() if k not in ("content-length",)}
    tampered = httpx.post(root(m) + rec.path, headers=headers, content=rec.raw_body.replace(b"original", b"tampered"))
    assert tampered.status_code == 403 and tampered.headers["x-amzn-errortype"] == "InvalidSignatureException"
    assert tampered.json() == {"message": mock_bedrock.BAD_SIGNATURE}
    unsigned = httpx.post(root(m) + rec.path, json={"messages": [user("x")]})
    assert unsigned.status_code == 403 and unsigned.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    assert len(m.requests) == 6


def test_bedrock_errors_and_stream_exceptions(mocks):
    m = mocks("a")
    c = bedrock(m)
    m.script(Behaviour(status=429))
    with pytest.raises(c.exceptions.ThrottlingException) as e:
        c.converse(modelId=MODEL_ID, messages=[user("x")])
    assert e.value.response["Error"]["Message"] == "Too many requests, please wait before trying again."
    with pytest.raises(c.exceptions.ValidationException):
        c.converse(modelId=MODEL_ID, messages=[{"role": "assistant", "content": [{"text": "first"}]}])
    with pytest.raises(c.exceptions.ValidationException):  # the system prompt is not a role
        c.converse(modelId=MODEL_ID, messages=[user("a"), user("b")])
    r = httpx.post(root(m) + "/model/x/converse", json={"messages": [user("x")], "max_tokens": 5})
    assert r.status_code == 403, "unsigned requests are refused before the body is read"
    m.script(Behaviour(error_event_after=3))
    got = ""
    with pytest.raises(botocore.exceptions.EventStreamError) as e:
        for ev in c.converse_stream(modelId=MODEL_ID, messages=[user("overload me")])["stream"]:
            got += ev.get("contentBlockDelta", {}).get("delta", {}).get("text", "")
    assert e.value.response["Error"]["Code"] == "serviceUnavailableException"
    assert got == m.requests[-1].content_sent == "Echo: overload me"
    m.script(Behaviour(cut_after=2))
    with pytest.raises(Exception):
        list(c.converse_stream(modelId=MODEL_ID, messages=[user("cut me")])["stream"])
    assert m.requests[-1].content_sent == "Echo: cut"


# --------------------------------------------------------------------------- Cohere
def co(m, key: str = "co-key") -> cohere.ClientV2:
    return cohere.ClientV2(api_key=key, base_url=root(m), timeout=10)


NO_RETRY = {"max_retries": 0}
COHERE_TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                                "parameters": WEATHER_SCHEMA}}


def test_cohere_chat(mocks):
    m = mocks("a")
    c = co(m)
    r = c.chat(model="command-x", messages=[{"role": "system", "content": "Be brief."},
                                            {"role": "user", "content": "hello cohere"}], temperature=0.3, p=0.9, k=5)
    n = len(expected("hello cohere").split())
    assert r.message.content[0].text == expected("hello cohere") and r.finish_reason == "COMPLETE"
    assert (r.usage.tokens.input_tokens, r.usage.tokens.output_tokens) == (4, n)
    assert (r.usage.billed_units.input_tokens, r.usage.billed_units.output_tokens) == (4, n)
    rec = m.requests[0]
    assert (rec.surface, rec.path, rec.headers["authorization"]) == ("cohere", "/v2/chat", "Bearer co-key")
    assert rec.body["stream"] is False and rec.usage_sent == r.usage.model_dump(exclude_none=True)
    r = c.chat(model="c", messages=msgs("cut short"), max_tokens=3)
    assert r.finish_reason == "MAX_TOKENS" and r.message.content[0].text == "Echo: cut short"
    r = c.chat(model="c", messages=msgs("stop here"), stop_sequences=["deterministic"])
    assert r.finish_reason == "STOP_SEQUENCE" and "deterministic" not in r.message.content[0].text
    turns = msgs("one") + [{"role": "assistant", "content": expected("one")}] + msgs("two")
    assert c.chat(model="c", messages=turns).message.content[0].text == expected("two")


def test_cohere_chat_stream(mocks):
    m = mocks("a")
    events = list(co(m).chat_stream(model="c", messages=msgs("stream cohere")))
    types_ = [e.type for e in events]
    deltas = types_.count("content-delta")
    assert types_ == ["message-start", "content-start"] + ["content-delta"] * deltas + ["content-end", "message-end"]
    assert "".join(e.delta.message.content.text for e in events if e.type == "content-delta") == \
        expected("stream cohere") == m.requests[0].content_sent
    end = events[-1].delta
    assert end.finish_reason == "COMPLETE" and end.usage.tokens.output_tokens == deltas
    assert m.requests[0].body["stream"] is True
    with httpx.stream("POST", root(m) + "/v2/chat", headers={"authorization": "Bearer k"},
                      json={"model": "c", "stream": True, "messages": msgs("raw")}) as r:
        lines = [line for line in r.iter_lines() if line]
    assert lines[0] == "event: message-start" and lines[1].startswith('data: {"type": "message-start"')


def test_cohere_tools(mocks):
    m = mocks("a")
    c = co(m)
    r = c.chat(model="c", messages=msgs("weather?"), tools=[COHERE_TOOL])
    assert r.finish_reason == "TOOL_CALL" and r.message.tool_plan == "I will call get_weather twice."
    want = [(f"get_weather_mock{i}", "get_weather", tool_arguments(answer_for("weather?"), i)) for i in (0, 1)]
    assert [(t.id, t.function.name, json.loads(t.function.arguments)) for t in r.message.tool_calls] == want
    calls, plan = {}, ""
    for e in c.chat_stream(model="c", messages=msgs("weather?"), tools=[COHERE_TOOL]):
        if e.type == "tool-plan-delta":
            plan += e.delta.message.tool_plan
        elif e.type == "tool-call-start":
            tc = e.delta.message.tool_calls
            calls[e.index] = [tc.id, tc.function.name, ""]
        elif e.type == "tool-call-delta":
            calls[e.index][2] += e.delta.message.tool_calls.function.arguments
        elif e.type == "message-end":
            assert e.delta.finish_reason == "TOOL_CALL"
    assert plan == r.message.tool_plan and [(i, n, json.loads(a)) for i, n, a in calls.values()] == want
    turn = msgs("weather?") + [
        {"role": "assistant", "tool_plan": r.message.tool_plan,
         "tool_calls": [t.model_dump(exclude_none=True) for t in r.message.tool_calls]},
        {"role": "tool", "tool_call_id": "get_weather_mock0", "content": "sunny"},
        {"role": "tool", "tool_call_id": "get_weather_mock1", "content": [{"type": "text", "text": "rainy"}]}]
    r2 = c.chat(model="c", messages=turn, tools=[COHERE_TOOL])
    assert r2.finish_reason == "COMPLETE" and r2.message.content[0].text == answer_for("", ["sunny", "rainy"])
    assert c.chat(model="c", messages=msgs("none"), tools=[COHERE_TOOL], tool_choice="NONE").finish_reason == "COMPLETE"
    turn[-1]["tool_call_id"] = "other"
    with pytest.raises(cohere.BadRequestError) as e:
        c.chat(model="c", messages=turn, tools=[COHERE_TOOL])
    assert "other" in e.value.body["message"]


def test_cohere_errors_in_its_shape(mocks):
    m = mocks("a")
    r = httpx.post(root(m) + "/v2/chat", json={"model": "c", "messages": msgs("x")})
    assert r.status_code == 401 and r.json() == {"message": "no api key supplied"}
    c = co(m)
    with pytest.raises(cohere.BadRequestError) as e:
        c.chat(model="c", messages=msgs("x"), request_options={"additional_body_parameters": {"max_completion_tokens": 5}})
    assert e.value.body == {"message": "invalid request: unknown field: parameter max_completion_tokens is not a valid "
                                       "field"}
    m.script(Behaviour(status=429))
    with pytest.raises(cohere.TooManyRequestsError) as e:
        c.chat(model="c", messages=msgs("x"), request_options=NO_RETRY)
    assert e.value.body == {"message": "You are past the per minute request limit, please wait before trying again."}
    m.script(Behaviour(error_event_after=2))
    events = list(c.chat_stream(model="c", messages=msgs("fail soon")))
    assert events[-1].type == "message-end" and events[-1].delta.finish_reason == "ERROR"
    assert events[-1].delta.error and "content-end" not in [e.type for e in events]
    assert "".join(e.delta.message.content.text for e in events if e.type == "content-delta") == "Echo: fail"
    m.script(Behaviour(refuse_prefill=True))
    with pytest.raises(cohere.BadRequestError):
        c.chat(model="c", messages=msgs("x") + [{"role": "assistant", "content": "Echo:"}], request_options=NO_RETRY)


def test_every_new_surface_answers_the_same_text(mocks):
    """The answer is a function of the conversation only, whatever the dialect: the ground
    stream continuation across kinds stands on."""
    m = mocks("a")
    text = "same everywhere"
    client = gemini(m)
    g = client.models.generate_content(model="g", contents=text).text
    b = bedrock(m).converse(modelId="b", messages=[user(text)])["output"]["message"]["content"][0]["text"]
    c = co(m).chat(model="c", messages=msgs(text)).message.content[0].text
    assert g == b == c == expected(text) == f"Echo: {text} {FIXED_SENTENCE}"


# --------------------------------------------------------------------------- the matrix's readers
class _AtMock:
    """The mock standing where the gateway will: its surfaces have the gateway's ingress paths."""
    def __init__(self, m):
        self.url = root(m)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("dialect", ["chat", "responses", "messages", "gemini", "converse", "cohere"])
def test_matrix_readers_agree_with_the_mock(mocks, dialect, stream):
    """provider_support.ask and its readers, run against each dialect's own mock surface, read
    back exactly what the mock sent: the matrix through the gateway relies on them."""
    from provider_support import CLIENT_AWS_KEY_ID, CLIENT_AWS_SECRET, CONVERSATION, ask, conversation_of, \
        mock_text, usage_pair
    m = mocks("a")
    m.default = Behaviour(headers={"x-request-id": "rid-1"})
    m.aws_access_key_id, m.aws_secret_access_key = CLIENT_AWS_KEY_ID, CLIENT_AWS_SECRET
    r = ask(_AtMock(m), dialect, stream)
    rec = m.requests[-1]
    assert r.text == expected("second turn") == mock_text(rec) and r.rid == "rid-1"
    assert r.stop == {"chat": "stop", "responses": "completed", "messages": "end_turn", "gemini": "STOP",
                      "converse": "end_turn", "cohere": "COMPLETE"}[dialect]
    assert r.usage == usage_pair(rec.usage_sent) and r.usage[0] == 23, "every mock counts a prompt alike"
    assert conversation_of(rec) == CONVERSATION
