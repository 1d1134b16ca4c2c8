"""Phase2 (database integrity) helpers: log backends to run against, reading rows back,
and a client that records what it saw of each request so rows can be checked against it.

Why: phase2 proves that every request becomes exactly one `request_logs` row whose fields
match what the client got -- on SQLite (the default) and on a throwaway PostgreSQL.
"""
from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

import httpx
import pytest

from helpers import sse_data
from mock_upstream import pieces, prompt_tokens
from pg_server import PgServer, PgUnavailable

ANY = object()  # an expectation that is not checked
BOOLEAN_COLUMNS = ("stream", "cancelled", "malformed")


# --------------------------------------------------------------------------- backends
@pytest.fixture(scope="module")
def pg_server():
    """One throwaway PostgreSQL per test module; without its binaries the test fails (never
    skips) saying what to install (`scripts/test.sh` installs them)."""
    try:
        server = PgServer().__enter__()
    except PgUnavailable as e:
        pytest.fail(f"PostgreSQL is needed: {e} (apt-get install postgresql)")
    yield server
    server.__exit__(None, None, None)


class LogDatabase:
    """Where a gateway logs: `url` for its config, `rows()` to read `request_logs`."""

    def __init__(self, kind: str, url: str, pg: Optional[PgServer] = None, sqlite_path=None):
        self.kind, self.url, self.pg, self.sqlite_path = kind, url, pg, sqlite_path

    def rows(self) -> list[dict]:
        if self.kind == "postgres":
            try:
                rows = self.pg.query("SELECT * FROM request_logs", url=self.url)
            except RuntimeError:  # the table is not created yet, or the server is stopped
                return []
        else:
            try:
                con = sqlite3.connect(f"file:{self.sqlite_path}?mode=ro", uri=True, timeout=5)
            except sqlite3.Error:
                return []
            try:
                con.row_factory = sqlite3.Row
                rows = [dict(r) for r in con.execute("SELECT * FROM request_logs")]
            except sqlite3.Error:
                return []
            finally:
                con.close()
        for row in rows:
            for column in BOOLEAN_COLUMNS:
                row[column] = bool(row[column])
        return rows

    def count(self) -> int:
        return len(self.rows())


def log_database(kind: str, workdir, pg_request) -> LogDatabase:
    """A fresh, empty log database of `kind` ("sqlite" or "postgres")."""
    if kind == "sqlite":
        path = workdir / "log.db"
        return LogDatabase("sqlite", f"sqlite://{path}", sqlite_path=path)
    pg: PgServer = pg_request.getfixturevalue("pg_server")
    name = "log_" + uuid.uuid4().hex[:12]
    pg.execute(f"CREATE DATABASE {name}")
    return LogDatabase("postgres", pg.database_url(name), pg=pg)


# --------------------------------------------------------------------------- what the client saw
@dataclass
class Seen:
    """One request as the client saw it, and the row it should have."""
    id: str
    status: int
    endpoint: str
    stream: bool = False
    model: Any = ANY
    client_key: Any = ANY
    upstream: Any = ANY
    upstream_model: Any = ANY
    tried: Any = ANY
    error: Any = None
    prompt_tokens: Any = ANY
    completion_tokens: Any = ANY
    total_tokens: Any = ANY
    finish_reason: Any = ANY
    response_content: Any = ANY
    tool_calls: Any = ANY
    cancelled: bool = False
    malformed: bool = False
    # A cancelled stream: the row's text starts with what the client read and is a prefix of this.
    full_text: Optional[str] = None
    client_text: str = ""
    notes: list = field(default_factory=list)

    def tokens(self, usage: Optional[dict]) -> "Seen":
        usage = usage or {}
        self.prompt_tokens = usage.get("prompt_tokens")
        self.completion_tokens = usage.get("completion_tokens")
        self.total_tokens = usage.get("total_tokens")
        return self


def merge_tool_calls(deltas: list[dict]) -> list[dict]:
    """Stream tool-call pieces merged by index, as OpenAI's message.tool_calls."""
    calls: dict[int, dict] = {}
    for piece in deltas:
        call = calls.setdefault(piece["index"], {"id": None, "type": None, "function": {"name": None, "arguments": ""}})
        call["id"] = call["id"] or piece.get("id")
        call["type"] = call["type"] or piece.get("type")
        function = piece.get("function") or {}
        call["function"]["name"] = call["function"]["name"] or function.get("name")
        call["function"]["arguments"] += function.get("arguments") or ""
    return [calls[i] for i in sorted(calls)]


@dataclass
class StreamSeen:
    text: str = ""
    finish_reason: Optional[str] = None
    usage: Optional[dict] = None
    tool_deltas: list = field(default_factory=list)
    bad_events: int = 0
    error: Optional[str] = None


def parse_stream(raw: str) -> StreamSeen:
    seen = StreamSeen()
    for payload in sse_data(raw.split("\n")):
        if payload == "[DONE]":
            continue
        try:
            event = json.loads(payload)
        except ValueError:
            seen.bad_events += 1
            continue
        if event.get("usage"):
            seen.usage = event["usage"]
        if "error" in event:
            seen.error = event["error"]["message"]
        for choice in event.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            seen.finish_reason = choice.get("finish_reason") or seen.finish_reason
            delta = choice.get("delta") or {}
            seen.text += delta.get("content") or choice.get("text") or ""
            seen.tool_deltas += delta.get("tool_calls") or []
    return seen


def mock_usage(body: dict, text: str) -> dict:
    """The usage the mock reports for a streamed text answer (it counts pieces)."""
    p, c = prompt_tokens(body), len(pieces(text))
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


class Client:
    """Sends requests to a gateway and keeps a `Seen` for each."""

    def __init__(self, gw, key: Optional[str]):
        self.http = httpx.Client(base_url=gw.url, timeout=30)
        self.key = key
        self.seen: list[Seen] = []

    def _headers(self, key=ANY) -> dict:
        key = self.key if key is ANY else key
        return {"authorization": f"Bearer {key}"} if key else {}

    def post(self, path: str, body, key=ANY, **expect) -> tuple[httpx.Response, Seen]:
        content = body if isinstance(body, (bytes, str)) else json.dumps(body)
        headers = {"content-type": "application/json", **self._headers(key)}
        resp = self.http.post(path, content=content, headers=headers)
        seen = Seen(id=resp.headers["x-request-id"], status=resp.status_code, endpoint=path, **expect)
        data = resp.json()
        if "error" in data:
            seen.error = data["error"]["message"]
        else:
            seen.tokens(data.get("usage"))
        self.seen.append(seen)
        return resp, seen

    def stream(self, path: str, body: dict, **expect) -> tuple[StreamSeen, Seen]:
        headers = {"content-type": "application/json", **self._headers()}
        with self.http.stream("POST", path, content=json.dumps(body), headers=headers) as resp:
            raw = resp.read().decode()
        seen = Seen(id=resp.headers["x-request-id"], status=resp.status_code, endpoint=path, stream=True, **expect)
        if not resp.headers.get("content-type", "").startswith("text/event-stream"):
            seen.error = json.loads(raw)["error"]["message"]
            self.seen.append(seen)
            return StreamSeen(), seen
        got = parse_stream(raw)
        seen.response_content = got.text if got.text or not got.tool_deltas else None
        seen.finish_reason = got.finish_reason
        seen.tokens(got.usage or mock_usage(body, got.text))
        if got.tool_deltas:
            seen.tool_calls = merge_tool_calls(got.tool_deltas)
        seen.malformed = got.bad_events > 0
        seen.error = got.error
        self.seen.append(seen)
        return got, seen

    def cancelled_stream(self, path: str, body: dict, full_text: str, **expect) -> Seen:
        """Reads the first content event, then hangs up."""
        headers = {"content-type": "application/json", **self._headers()}
        with self.http.stream("POST", path, content=json.dumps(body), headers=headers) as resp:
            buffer = ""
            for text in resp.iter_text():
                buffer += text
                if parse_stream(buffer).text:
                    break
            request_id = resp.headers["x-request-id"]
        seen = Seen(id=request_id, status=200, endpoint=path, stream=True, cancelled=True,
                    full_text=full_text, client_text=parse_stream(buffer).text,
                    prompt_tokens=None, completion_tokens=None, total_tokens=None, **expect)
        self.seen.append(seen)
        return seen


# --------------------------------------------------------------------------- checking rows
def check_rows(rows: list[dict], seen: list[Seen]) -> list[str]:
    """Every request has exactly one row and its fields match; returns the mismatches."""
    problems = []
    by_id: dict[str, list] = {}
    for row in rows:
        by_id.setdefault(row["id"], []).append(row)
    for s in seen:
        found = by_id.get(s.id, [])
        if len(found) != 1:
            problems.append(f"{s.id}: {len(found)} rows")
            continue
        row = found[0]
        checks = {
            "status": s.status, "endpoint": s.endpoint, "stream": s.stream, "model": s.model,
            "client_key": s.client_key, "upstream": s.upstream, "upstream_model": s.upstream_model,
            "error": s.error, "prompt_tokens": s.prompt_tokens, "completion_tokens": s.completion_tokens,
            "total_tokens": s.total_tokens, "finish_reason": s.finish_reason, "cancelled": s.cancelled,
            "malformed": s.malformed,
        }
        if s.full_text is None:
            checks["response_content"] = s.response_content
        for column, want in checks.items():
            if want is not ANY and row[column] != want:
                problems.append(f"{s.id} ({s.endpoint} {s.status}): {column} = {row[column]!r}, expected {want!r}")
        if s.tried is not ANY and json.loads(row["tried"]) != s.tried:
            problems.append(f"{s.id}: tried = {row['tried']}, expected {s.tried}")
        if s.tool_calls is not ANY:
            got = json.loads(row["tool_calls"]) if row["tool_calls"] is not None else None
            if got != s.tool_calls:
                problems.append(f"{s.id}: tool_calls = {got}, expected {s.tool_calls}")
        if s.full_text is not None:
            text = row["response_content"] or ""
            if not (text.startswith(s.client_text) and s.full_text.startswith(text)):
                problems.append(f"{s.id}: cancelled stream text {text!r} vs client {s.client_text!r}")
        if s.stream and s.status == 200 and not row["ttft_ms"]:
            problems.append(f"{s.id}: stream without ttft_ms")
        if not row["latency_ms"] or row["latency_ms"] <= 0:
            problems.append(f"{s.id}: latency_ms = {row['latency_ms']}")
    extra = set(by_id) - {s.id for s in seen}
    if extra:
        problems.append(f"rows for requests never sent: {sorted(extra)}")
    return problems
