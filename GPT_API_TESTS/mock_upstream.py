"""In-process mock provider for the GPT_API end-to-end tests: OpenAI, Azure OpenAI, Anthropic,
Gemini, Amazon Bedrock (Converse) and Cohere (v2).

Why a hand-written mock: the tests must control every byte an upstream sends
(status codes, resets, stalls, cut streams, malformed events, framing) and see
every request the gateway makes, with timestamps. Answers are deterministic
functions of the request body only -- never of the mock's name -- so two mocks
give the same text for the same request, which is what stream continuation
("prefill" / "restart") relies on.

Usage::

    m = MockUpstream("a")
    base_url = m.start()            # http://127.0.0.1:PORT/v1
    m.script(Behaviour(status=503)) # the next request gets a 503, later ones are normal
    m.default = Behaviour(reset=True)
    ...
    m.stop()

Surfaces, by request path (one mock serves them all; `Received.surface` says which
one a request used):

- "openai": /v1/chat/completions, /v1/completions, /v1/embeddings (mock_openai), /v1/rerank,
  /v1/models, and /v1/responses (mock_responses); no key is checked.
- "anthropic": /v1/messages (mock_anthropic); a key (`x-api-key`, or `Authorization: Bearer`
  as the current `anthropic` SDK sends it) and `anthropic-version` required.
- "azure": {azure_url}/deployments/{deployment}/{chat/completions,completions,embeddings}
  with `?api-version=` (required), {azure_url}/responses?api-version=, and the v1
  surface {azure_url}/v1/{chat/completions,completions,embeddings,responses} (api-version
  optional); `api-key` required (Azure's 401 otherwise). A deployment answers with its
  name as `model`, so a test can see which URL the gateway built.
- "gemini": /v1beta/models/{model}:generateContent and :streamGenerateContent (`?alt=sse`
  for SSE, else the JSON array stream) (mock_gemini); `x-goog-api-key` (or `?key=`) required.
- "bedrock": /model/{modelId}/converse and /model/{modelId}/converse-stream (AWS event-stream
  framing) (mock_bedrock); SigV4 required and checked against the mock's credentials
  (`aws_access_key_id`, `aws_secret_access_key`, `aws_region`).
- "cohere": /v2/chat, `"stream": true` for its SSE stream (mock_cohere); a bearer key required.

`url_for(kind)` is the base_url an [[upstream]] of that kind uses for the mock; `Received.model`
is the model a request named in its URL (Gemini, Bedrock).

Every Behaviour applies to every surface: errors come in the surface's own shape
(Anthropic's `{"type":"error",...}` on /v1/messages, e.g. Behaviour(status=529) is
`overloaded_error`; Gemini's `{"error":{"code","message","status"}}`; Bedrock's `{"message"}`
with `x-amzn-ErrorType`; Cohere's `{"message"}`), and the stream faults (cut_after,
stall_after, malformed_at, error_event_after, ...) count the content deltas of whichever
dialect is streaming, in its framing (SSE, Gemini's JSON array, AWS event-stream; the
in-band error is an `exception` message on Bedrock, an error object on Gemini, a
message-end with finish_reason ERROR on Cohere). `no_done` leaves out the end marker of
the dialects that have one: [DONE], Anthropic's message_stop, the JSON array's `]`.
"""
from __future__ import annotations

import json
import select
import socket
import struct
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import parse_qs, unquote, urlsplit

import mock_anthropic
import mock_bedrock
import mock_cohere
import mock_gemini
import mock_openai
import mock_responses
# Re-exported: the tests import the answer helpers from here, as before they had a module of their own.
from mock_answers import (CREATED, completion_answer, embedding_for, full_chat_answer, pieces,  # noqa: F401
                          prompt_tokens, rerank_results)
from mock_openai import error_body


# --------------------------------------------------------------------------- behaviours
@dataclass
class Behaviour:
    """How the mock answers one request. The defaults give a normal answer."""
    status: Optional[int] = None          # answer with this status (body = error JSON unless `body`)
    headers: dict = field(default_factory=dict)
    body: Any = None                      # dict (sent as JSON), str or bytes
    delay_ms: int = 0                     # wait before answering at all
    reset: bool = False                   # read the request, then RST the connection
    silent: bool = False                  # read the request, never answer
    close_after_ms: Optional[int] = None  # read the request, hold it this long without a byte, then close
    refuse_prefill: bool = False          # a request ending in an assistant (Gemini: model) turn gets a 400
    idle_close_ms: Optional[int] = None   # answer normally, then close the kept-alive connection after this idle time
    headers_only: bool = False            # stream: send the 200 head, then never an event
    chunk_interval_ms: int = 0            # stream: pause between events
    cut_after: Optional[int] = None       # stream: close after k content chunks (no finish_reason)
    stall_after: Optional[int] = None     # stream: go silent after k content chunks
    malformed_at: Optional[int] = None    # stream: extra `data: {bad json` event after k content chunks
    no_done: bool = False                 # stream: finish_reason + usage, then end the body without [DONE]
    close_delimited: bool = False         # no content-length / chunked: body ends at close
    crlf: bool = False                    # stream: \r\n line endings
    error_event_after: Optional[int] = None  # stream: the dialect's in-band error event after k content
    #                                          chunks, then a clean end of the body (no finish)


def context_length_exceeded() -> Behaviour:
    return Behaviour(status=400, body=error_body(
        400, "This model's maximum context length is 8 tokens.", "context_length_exceeded"))


@dataclass
class Received:
    """One request as the mock saw it (times are time.monotonic())."""
    time: float
    upstream: str
    method: str
    path: str
    headers: dict
    body: Any
    raw_body: bytes
    behaviour: Behaviour
    event_times: list = field(default_factory=list)   # send time of every SSE data event
    content_sent: str = ""                            # content/text the mock streamed so far
    peer_closed_at: Optional[float] = None            # gateway hung up mid-response
    finished_at: Optional[float] = None               # mock finished writing the response
    surface: str = "openai"      # "openai" | "azure" | "anthropic" | "gemini" | "bedrock" | "cohere"
    query: dict = field(default_factory=dict)         # query parameters (one value each)
    deployment: Optional[str] = None                  # azure: the deployment named in the URL
    usage_sent: Optional[dict] = None                 # the usage object the mock answered with
    response_id: Optional[str] = None                 # /v1/responses: the id the mock issued
    model: Optional[str] = None                       # gemini, bedrock: the model named in the URL


# --------------------------------------------------------------------------- surfaces
AZURE_OPS = ("chat/completions", "completions", "embeddings")
AZURE_401 = ("Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
             "valid key for an active subscription and use a correct regional API endpoint for your resource.")


def route(path: str) -> tuple[str, str, Optional[str], bool]:
    """(surface, operation, azure deployment, api-version required) of a request path;
    operation "" when there is no such route."""
    if path.startswith("/openai/deployments/"):
        deployment, _, op = path[len("/openai/deployments/"):].partition("/")
        return "azure", (op if op in AZURE_OPS else ""), deployment, True
    if path.startswith("/openai/v1/"):
        op = path[len("/openai/v1/"):]
        return "azure", (op if op in AZURE_OPS + ("responses", "models") else ""), None, False
    if path == "/openai/responses":
        return "azure", "responses", None, True
    if path == "/v1/messages":
        return "anthropic", "messages", None, False
    if path.startswith("/v1beta/"):
        return "gemini", mock_gemini.route(path)[0], None, False
    if path.startswith("/model/"):
        return "bedrock", mock_bedrock.route(path)[0], None, False
    if path == "/v2/chat":
        return "cohere", "chat", None, False
    if path.startswith("/v1/"):
        return "openai", path[len("/v1/"):], None, False
    return "openai", "", None, False


def surface_error(surface: str, status: int, message: Optional[str] = None, code: Any = None) -> dict:
    """An error body in the shape of the surface a request used."""
    if surface == "anthropic":
        return mock_anthropic.error(status, message)
    if surface == "gemini":
        return mock_gemini.error(status, message)
    if surface == "bedrock":
        return mock_bedrock.error(status, message)[0]
    if surface == "cohere":
        return mock_cohere.error(status, message)
    return error_body(status, message, code)


def surface_error_headers(surface: str, status: int) -> dict:
    """Headers an error answer of the surface carries (Bedrock names the error in one)."""
    return mock_bedrock.error(status)[1] if surface == "bedrock" else {}


def ends_with_prefill(surface: str, body) -> bool:
    """The conversation ends with an assistant turn (Gemini: a model turn)."""
    if not isinstance(body, dict):
        return False
    if surface == "gemini":
        contents = body.get("contents")
        return bool(contents) and isinstance(contents[-1], dict) and contents[-1].get("role") == "model"
    messages = body.get("messages")
    return bool(messages) and isinstance(messages[-1], dict) and messages[-1].get("role") == "assistant"


# --------------------------------------------------------------------------- stream framings
class SseFraming:
    """Server-sent events (`event:` line when named); `done` ends with `data: [DONE]`."""
    content_type = "text/event-stream"

    def __init__(self, beh: Behaviour, error_event, done: bool, crlf: bool = False):
        self.nl = "\r\n" if beh.crlf or crlf else "\n"
        self.beh, self.error_event, self.done = beh, error_event, done

    def event(self, name: Optional[str], data: str) -> bytes:
        return ((f"event: {name}{self.nl}" if name else "") + f"data: {data}{self.nl}{self.nl}").encode()

    def error(self, seq: int) -> bytes:
        return self.event(*self.error_event(seq))

    def stops_before(self, name: Optional[str]) -> bool:
        return self.beh.no_done and name == "message_stop"  # Anthropic's end of stream, as [DONE] is OpenAI's

    def end(self) -> bytes:
        return f"data: [DONE]{self.nl}{self.nl}".encode() if self.done and not self.beh.no_done else b""


class JsonArrayFraming:
    """Gemini's stream without `alt=sse`: one JSON array, an element per chunk."""
    content_type = "application/json"

    def __init__(self, beh: Behaviour):
        self.beh, self.started = beh, False

    def event(self, _name, data: str) -> bytes:
        sep = ",\r\n" if self.started else "["
        self.started = True
        return (sep + data).encode()

    def error(self, seq: int) -> bytes:
        return self.event(*mock_gemini.in_band_error(seq)) + b"]"

    def stops_before(self, _name) -> bool:
        return False

    def end(self) -> bytes:
        return b"" if self.beh.no_done else (b"]" if self.started else b"[]")


class EventStreamFraming:
    """Bedrock's AWS event-stream: binary messages, errors as `exception` messages."""
    content_type = "application/vnd.amazon.eventstream"

    def event(self, name: str, data: str) -> bytes:
        return mock_bedrock.event_frame(name, data)

    def error(self, seq: int) -> bytes:
        return mock_bedrock.in_band_error(seq)

    def stops_before(self, _name) -> bool:
        return False

    def end(self) -> bytes:
        return b""


# --------------------------------------------------------------------------- server
class _PeerGone(Exception):
    pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    mock: "MockUpstream"

    def handle_error(self, request, client_address):
        # A peer that resets a kept-alive connection is normal traffic, not a mock failure.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def finish_request(self, request, client_address):
        # TLS handshake in the connection's own thread, so a slow peer blocks nobody.
        if self.mock.ssl_context is not None:
            try:
                request = self.mock.ssl_context.wrap_socket(request, server_side=True)
            except (OSError, ValueError):
                return
        self.mock._track(request, True)
        try:
            super().finish_request(request, client_address)
        finally:
            self.mock._track(request, False)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args):  # keep pytest output clean
        pass

    # -- request intake
    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(n) if n else b""

    def handle(self):
        # BaseHTTPRequestHandler.handle, plus a server-side keep-alive timeout when a
        # behaviour asks for one (the keep-alive race: the gateway may reuse a connection
        # that this side has just closed).
        self._idle_close_ms = None
        self.close_connection = True
        self.handle_one_request()
        while not self.close_connection:
            if self._idle_close_ms is not None:
                r, _, _ = select.select([self.connection], [], [], self._idle_close_ms / 1000)
                if not r:
                    self.server.mock._idle_closed()
                    return
            self.handle_one_request()

    def do_GET(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def _handle(self):
        mock = self.server.mock
        raw = self._read_body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        beh = mock._next_behaviour()
        rec = Received(time.monotonic(), mock.name, self.command, self.path,
                       {k.lower(): v for k, v in self.headers.items()}, body, raw, beh)
        url = urlsplit(self.path)
        rec.surface, self._op, rec.deployment, self._needs_version = route(url.path)
        rec.query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        if rec.surface == "gemini":
            rec.model = mock_gemini.route(url.path)[1]
        elif rec.surface == "bedrock":
            rec.model = unquote(mock_bedrock.route(url.path)[1] or "") or None
        mock._record(rec)
        try:
            self._respond(rec, beh)
        except (_PeerGone, OSError):
            if rec.peer_closed_at is None:
                rec.peer_closed_at = time.monotonic()
            self.close_connection = True
        finally:
            rec.finished_at = time.monotonic()
            mock._notify()

    # -- waiting that notices the gateway hanging up
    def _wait(self, rec: Received, seconds: Optional[float]):
        """Sleep up to `seconds` (None = until stop), raising _PeerGone if the peer closes."""
        mock = self.server.mock
        end = None if seconds is None else time.monotonic() + seconds
        sock = self.connection
        while True:
            left = 0.05 if end is None else min(0.05, end - time.monotonic())
            if left <= 0:
                return
            if mock._stopping.is_set():
                raise _PeerGone()
            if getattr(sock, "pending", lambda: 0)():
                return
            r, _, _ = select.select([sock], [], [], left)
            if r:
                try:
                    data = sock.recv(1, socket.MSG_PEEK) if not hasattr(sock, "pending") else sock.recv(1)
                except (OSError, ValueError):
                    data = b""
                if not data:
                    rec.peer_closed_at = time.monotonic()
                    raise _PeerGone()

    def _reset(self):
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        try:
            self.connection.close()
        except OSError:
            pass

    # -- responses
    def _respond(self, rec: Received, beh: Behaviour):
        if beh.delay_ms:
            self._wait(rec, beh.delay_ms / 1000)
        if beh.reset:
            self._reset()
            return
        if beh.silent:
            self._wait(rec, None)
            return
        if beh.close_after_ms is not None:
            self._wait(rec, beh.close_after_ms / 1000)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._idle_close_ms = beh.idle_close_ms
        denied = self._denied(rec)
        if denied:
            status, answer, *headers = denied  # Bedrock's denials name the error in a header
            self._send_whole(status, answer, beh, *headers)
            return
        if beh.refuse_prefill and ends_with_prefill(rec.surface, rec.body):
            self._send_whole(400, surface_error(rec.surface, 400, "A final assistant message (prefill) is not "
                                                "supported.", "invalid_prefill"), beh,
                             surface_error_headers(rec.surface, 400))
            return
        if beh.status is not None and beh.status != 200:
            b = beh.body if beh.body is not None else surface_error(rec.surface, beh.status)
            self._send_whole(beh.status, b, beh, surface_error_headers(rec.surface, beh.status))
            return
        body = rec.body if isinstance(rec.body, dict) else {}
        if rec.deployment:
            body = {**body, "model": rec.deployment}
        op, post = self._op, self.command == "POST"
        if self.command == "GET" and op == "models":
            self._send_whole(200, {"object": "list", "data": [
                {"id": "mock-model", "object": "model", "created": CREATED, "owned_by": "mock"}]}, beh)
        elif post and op in ("chat/completions", "completions"):
            self._openai(rec, beh, body, chat=op == "chat/completions")
        elif post and op == "embeddings":
            self._send_whole(200, mock_openai.embeddings(body), beh)
        elif post and op == "rerank" and rec.surface == "openai":
            res = rerank_results(body.get("query", ""), body.get("documents", []), body.get("top_n"))
            self._send_whole(200, {"id": "rerank-mock", "model": body.get("model"), "results": res,
                                   "usage": {"total_tokens": prompt_tokens({"prompt": body.get("query", "")})}}, beh)
        elif post and op == "messages":
            self._messages(rec, beh, body)
        elif post and op == "responses":
            self._responses(rec, beh, body)
        elif post and rec.surface == "gemini" and op:
            self._gemini(rec, beh, stream=op == "streamGenerateContent")
        elif post and rec.surface == "bedrock" and op:
            self._converse(rec, beh, stream=op == "converse-stream")
        elif post and rec.surface == "cohere":
            self._cohere(rec, beh)
        else:
            path = self.path.split("?")[0]
            self._send_whole(404, surface_error(rec.surface, 404, f"mock: no route {self.command} {path}",
                                                "not_found"), beh, surface_error_headers(rec.surface, 404))

    def _denied(self, rec: Received) -> Optional[tuple]:
        """The surface's own answer to a request without its key (or Azure's api-version, or a
        valid SigV4 signature): (status, body[, headers])."""
        if rec.surface == "anthropic":
            return mock_anthropic.check_headers(rec.headers)
        if rec.surface == "gemini":
            return mock_gemini.check_key(rec.headers, rec.query)
        if rec.surface == "cohere":
            return mock_cohere.check_key(rec.headers)
        if rec.surface == "bedrock":
            mock = self.server.mock
            path, _, query = self.path.partition("?")
            return mock_bedrock.check_signature(self.command, path, query, rec.headers, rec.raw_body,
                                                mock.aws_access_key_id, mock.aws_secret_access_key, mock.aws_region)
        if rec.surface == "azure":
            if not rec.headers.get("api-key"):
                return 401, {"error": {"code": "401", "message": AZURE_401}}
            if self._needs_version and not rec.query.get("api-version"):
                return 404, {"error": {"code": "404", "message": "Resource not found"}}
        return None

    def _openai(self, rec: Received, beh: Behaviour, body: dict, chat: bool):
        problem = mock_openai.chat_problem(body) if chat else None
        if problem:
            self._send_whole(400, error_body(400, problem), beh)
        elif body.get("stream"):
            events, rec.usage_sent = mock_openai.stream_events(body, chat)
            self._stream(rec, beh, events, SseFraming(beh, mock_openai.error_event, done=True))
        else:
            answer = mock_openai.whole_answer(body, chat)
            rec.usage_sent = answer["usage"]
            self._send_whole(200, answer, beh)

    def _messages(self, rec: Received, beh: Behaviour, body: dict):
        problem = mock_anthropic.validate(rec.body)
        if problem:
            self._send_whole(400, mock_anthropic.error(400, problem), beh)
            return
        message = mock_anthropic.answer(body)
        rec.usage_sent = message["usage"]
        if body.get("stream"):
            self._stream(rec, beh, mock_anthropic.stream_events(message),
                         SseFraming(beh, lambda _seq: mock_anthropic.in_band_error(), done=False))
        else:
            self._send_whole(200, message, beh)

    def _responses(self, rec: Received, beh: Behaviour, body: dict):
        problem = mock_responses.validate(rec.body)
        previous = body.get("previous_response_id")
        if problem:
            self._send_whole(400, error_body(400, problem), beh)
            return
        if previous and not self.server.mock.issued(previous):
            self._send_whole(400, mock_responses.not_found(previous), beh)
            return
        rec.response_id = self.server.mock._issue_response_id()
        resp = mock_responses.answer(body, rec.response_id)
        rec.usage_sent = resp["usage"]
        if body.get("stream"):
            self._stream(rec, beh, mock_responses.stream_events(resp),
                         SseFraming(beh, mock_responses.in_band_error, done=False))
        else:
            self._send_whole(200, resp, beh)

    def _gemini(self, rec: Received, beh: Behaviour, stream: bool):
        problem = mock_gemini.validate(rec.body)
        if problem:
            self._send_whole(400, mock_gemini.error(400, problem), beh)
            return
        resp = mock_gemini.answer(rec.body, rec.model)
        rec.usage_sent = resp["usageMetadata"]
        if not stream:
            self._send_whole(200, resp, beh)
        elif rec.query.get("alt") == "sse":
            # Google ends every SSE event with CRLF CRLF
            self._stream(rec, beh, mock_gemini.stream_events(resp),
                         SseFraming(beh, mock_gemini.in_band_error, done=False, crlf=True))
        else:
            self._stream(rec, beh, mock_gemini.stream_events(resp), JsonArrayFraming(beh))

    def _converse(self, rec: Received, beh: Behaviour, stream: bool):
        problem = mock_bedrock.validate(rec.body)
        if problem:
            answer, headers = mock_bedrock.error(400, problem)
            self._send_whole(400, answer, beh, headers)
            return
        resp = mock_bedrock.answer(rec.body)
        rec.usage_sent = resp["usage"]
        headers = {"x-amzn-RequestId": f"mock-{len(self.server.mock.requests)}"}
        if stream:
            self._stream(rec, beh, mock_bedrock.stream_events(resp), EventStreamFraming(), headers)
        else:
            self._send_whole(200, resp, beh, headers)

    def _cohere(self, rec: Received, beh: Behaviour):
        problem = mock_cohere.validate(rec.body)
        if problem:
            self._send_whole(400, mock_cohere.error(400, problem), beh)
            return
        resp = mock_cohere.answer(rec.body)
        rec.usage_sent = resp["usage"]
        if rec.body.get("stream"):
            self._stream(rec, beh, mock_cohere.stream_events(resp),
                         SseFraming(beh, mock_cohere.in_band_error, done=False))
        else:
            self._send_whole(200, resp, beh)

    def _send_whole(self, status: int, body: Any, beh: Behaviour, headers: Optional[dict] = None):
        if isinstance(body, (dict, list)):
            data, ctype = json.dumps(body).encode(), "application/json"
        else:
            data = body.encode() if isinstance(body, str) else body
            ctype = "application/json"
        self.send_response(status)
        self.send_header("content-type", ctype)
        for k, v in {**(headers or {}), **beh.headers}.items():
            self.send_header(k, str(v))
        if beh.close_delimited:
            self.send_header("connection", "close")
            self.close_connection = True
        else:
            self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _stream(self, rec: Received, beh: Behaviour, events: list, framing, headers: Optional[dict] = None):
        """Write `events` ((event name or None, data JSON, content piece or None) each) in the
        dialect's `framing` (SSE, JSON array, AWS event-stream), applying the behaviour's
        stream faults; the framing gives the in-band error and the end marker."""
        chunked = not beh.close_delimited
        self.send_response(200)
        self.send_header("content-type", framing.content_type)
        self.send_header("cache-control", "no-cache")
        for k, v in {**(headers or {}), **beh.headers}.items():
            self.send_header(k, str(v))
        if chunked:
            self.send_header("transfer-encoding", "chunked")
        else:
            self.send_header("connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.flush()

        def write(data: bytes):
            if not data:
                return
            frame = (b"%x\r\n" % len(data)) + data + b"\r\n" if chunked else data
            self.wfile.write(frame)
            self.wfile.flush()

        def end_body():
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        if beh.headers_only:
            self._wait(rec, None)
            return

        content_chunks = 0
        for i, (name, text, piece) in enumerate(events):
            if i and beh.chunk_interval_ms:
                self._wait(rec, beh.chunk_interval_ms / 1000)
            if piece is not None:
                if beh.cut_after is not None and content_chunks >= beh.cut_after:
                    self._close_now()
                    return
                if beh.stall_after is not None and content_chunks >= beh.stall_after:
                    self._wait(rec, None)
                    return
                if beh.error_event_after is not None and content_chunks >= beh.error_event_after:
                    write(framing.error(i))
                    end_body()
                    return
                if beh.malformed_at is not None and content_chunks == beh.malformed_at:
                    write(framing.event(name, "{bad json"))
            if framing.stops_before(name):
                break
            write(framing.event(name, text))
            rec.event_times.append(time.monotonic())
            if piece is not None:
                content_chunks += 1
                rec.content_sent += piece
        tail = framing.end()
        if tail:
            write(tail)
            if tail.startswith(b"data: [DONE]"):
                rec.event_times.append(time.monotonic())
        end_body()

    def _close_now(self):
        """Cut the stream: close the TCP connection without ending the chunked body."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class MockUpstream:
    """One mock provider. Thread-safe; every request is recorded in `.requests`."""

    def __init__(self, name: str, tls=None):
        self.name = name
        self.tls_ca = tls
        self.ssl_context = None
        if tls is not None:
            import ssl
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
            self.ssl_context = ctx
        self.default = Behaviour()
        # SigV4 credentials the Bedrock surface checks every request against
        self.aws_access_key_id, self.aws_secret_access_key = mock_bedrock.credentials(name)
        self.aws_region = mock_bedrock.REGION
        self.requests: list[Received] = []
        self.idle_closes = 0                  # kept-alive connections closed by `idle_close_ms`
        self.issued_responses: list[str] = []  # /v1/responses ids this mock issued, in order
        self._queue: deque = deque()
        self._cond = threading.Condition()
        self._conns: set = set()
        self._stopping = threading.Event()
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self.base_url = ""

    # -- lifecycle
    def start(self, port: int = 0) -> str:
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.mock = self
        port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name=f"mock-{self.name}")
        self._thread.start()
        scheme = "https" if self.ssl_context else "http"
        self.base_url = f"{scheme}://127.0.0.1:{port}/v1"
        return self.base_url

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def azure_url(self) -> str:
        """The base_url of this mock as an Azure OpenAI resource (`https://RESOURCE.openai.azure.com/openai`)."""
        return self.base_url[:-len("/v1")] + "/openai"

    def url_for(self, kind: str = "openai") -> str:
        """The base_url an [[upstream]] of this kind uses for this mock (the gateway appends
        `models/{model}:generateContent`, `/model/{id}/converse`, `/chat` to these)."""
        root = self.base_url[:-len("/v1")]
        return {"azure": self.azure_url, "gemini": root + "/v1beta", "bedrock": root,
                "cohere": root + "/v2"}.get(kind, self.base_url)

    def issued(self, response_id: str) -> bool:
        with self._cond:
            return response_id in self.issued_responses

    def _issue_response_id(self) -> str:
        rid = mock_responses.new_id()
        with self._cond:
            self.issued_responses.append(rid)
        return rid

    def stop(self):
        """Stop listening (new connects are refused) and drop every open connection."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._cond:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server = None

    # -- scripting
    def script(self, *behaviours: Behaviour):
        """Queue behaviours for the next requests (FIFO); afterwards `default` applies."""
        with self._cond:
            self._queue.extend(behaviours)

    def _next_behaviour(self) -> Behaviour:
        with self._cond:
            return self._queue.popleft() if self._queue else self.default

    # -- recording
    def _track(self, conn, add: bool):
        with self._cond:
            (self._conns.add if add else self._conns.discard)(conn)

    def _record(self, rec: Received):
        with self._cond:
            self.requests.append(rec)
            self._cond.notify_all()

    def _idle_closed(self):
        with self._cond:
            self.idle_closes += 1
            self._cond.notify_all()

    def _notify(self):
        with self._cond:
            self._cond.notify_all()

    def count(self, path: Optional[str] = None) -> int:
        """Requests seen (with this path, query string excluded, when given)."""
        with self._cond:
            return sum(1 for r in self.requests if path is None or r.path.split("?")[0] == path)

    def wait_for(self, predicate, timeout: float = 5.0):
        """Wait until predicate(self.requests) is truthy; return its value or raise TimeoutError."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                v = predicate(self.requests)
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"mock {self.name}: condition not met in {timeout}s "
                                       f"({len(self.requests)} requests seen)")
                self._cond.wait(min(left, 0.05))

    def wait_requests(self, n: int, timeout: float = 5.0) -> list[Received]:
        return self.wait_for(lambda reqs: list(reqs) if len(reqs) >= n else None, timeout)


if __name__ == "__main__":
    # Standalone: the upstream behind scripts/quickstart.sh (stdlib only, no venv needed).
    import argparse

    parser = argparse.ArgumentParser(description="OpenAI / Azure / Anthropic / Gemini / Bedrock / Cohere mock "
                                                 "upstream for GPT_API")
    parser.add_argument("--port", type=int, default=9001)
    args = parser.parse_args()
    mock = MockUpstream("mock")
    print(f"mock upstream on {mock.start(args.port)}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        mock.stop()
