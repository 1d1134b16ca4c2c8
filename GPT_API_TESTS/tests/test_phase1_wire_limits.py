"""Phase 1: the edge's limits on the wire (issue 12) -- raw sockets and real clients.

The head's byte limit holds however the head arrives; the header-field count is a limit of
its own (431); a refused upload is read back by a client that writes its whole body before
reading; chunk extensions are accepted and ignored.
"""
import http.client
import json
import re
import socket
import time

import pytest

from gateway import upstream
from helpers import port_of, status_of, still_serving

MODEL = {"name": "m", "targets": [{"upstream": "a", "weight": 1}]}
CHAT = b'{"model":"m","messages":[{"role":"user","content":"wire"}]}'


@pytest.fixture
def gw(gateway, mocks):
    a = mocks("a")
    return gateway([upstream(a)], [MODEL], server={"max_header_bytes": 8192, "max_headers": 20})


@pytest.fixture
def gw_defaults(gateway, mocks):
    """The shipped limits: max_body_bytes 10 MiB, max_headers 100."""
    a = mocks("a")
    return gateway([upstream(a)], [MODEL])


def exchange(g, *writes: bytes, pause: float = 0.2, timeout: float = 5.0) -> bytes:
    """Sends each write separately (a pause between them, so they arrive as separate reads)
    and reads until the gateway closes or the timeout passes."""
    with socket.create_connection(("127.0.0.1", port_of(g)), timeout=timeout) as s:
        for i, data in enumerate(writes):
            if i:
                time.sleep(pause)
            s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except socket.timeout:
            pass
        return b"".join(chunks)


def error_body(response: bytes) -> dict:
    return json.loads(response.split(b"\r\n\r\n", 1)[1])["error"]


def head_of(length: int) -> bytes:
    """A GET /health head of exactly `length` bytes."""
    start, end = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: ", b"\r\nConnection: close\r\n\r\n"
    return start + b"a" * (length - len(start) - len(end)) + end


@pytest.mark.parametrize("split", [None, 4000, 8000])
def test_the_header_byte_limit_holds_however_the_head_arrives(gw, split):
    """Item 1: a head over max_header_bytes is refused whether it came in one write or the
    limit was crossed only by a second read (before: accepted up to ~32 KB)."""
    for length, status in [(8192, 200), (8193, 431), (17000, 431), (30000, 431)]:
        head = head_of(length)
        writes = [head] if split is None else [head[:split], head[split:]]
        response = exchange(gw, *writes)
        assert status_of(response) == status, (length, split)
        if status == 431:
            error = error_body(response)
            assert error["code"] == "headers_too_large"
            assert "8192 bytes" in error["message"]
    still_serving(gw)


def test_the_header_count_is_a_documented_limit_answered_with_431(gw, gw_defaults):
    """Item 4: server.max_headers (20 here; 100 by default) fields pass, one more is 431
    with an OpenAI-shaped error naming the limit (before: 400 'httparse error')."""
    for g, limit in [(gw, 20), (gw_defaults, 100)]:
        for fields, status in [(limit, 200), (limit + 1, 431)]:
            # Host and Connection count: limit - 2 padding fields.
            pad = b"".join(b"X-F%d: v\r\n" % i for i in range(fields - 2))
            response = exchange(g, b"GET /health HTTP/1.1\r\nHost: x\r\n" + pad + b"Connection: close\r\n\r\n")
            assert status_of(response) == status, (limit, fields)
        error = error_body(response)
        assert error == {"message": f"The request has more header fields than the limit of {limit}",
                         "type": "invalid_request_error", "code": "headers_too_large"}
    rid = re.search(rb"x-request-id: (\S+)", response, re.I).group(1).decode()
    assert gw_defaults.db_row(rid)["status"] == 431


def test_a_refused_upload_is_read_by_a_client_that_writes_before_reading(gw_defaults):
    """Item 2: 11 MB without Expect: 100-continue against the 10 MiB limit. http.client writes
    the whole body before it reads; it must get the 413, not BrokenPipeError."""
    body = b"x" * 11_000_000
    for _ in range(3):
        conn = http.client.HTTPConnection("127.0.0.1", port_of(gw_defaults), timeout=30)
        conn.request("POST", "/v1/chat/completions", body=body,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        payload = json.loads(resp.read())
        assert resp.status == 413, payload
        assert payload["error"]["code"] == "request_too_large"
        rid = resp.getheader("x-request-id")
        conn.close()
        assert gw_defaults.db_row(rid)["status"] == 413
    # Chunked, length unknown in advance: the same.
    conn = http.client.HTTPConnection("127.0.0.1", port_of(gw_defaults), timeout=30)
    conn.request("POST", "/v1/chat/completions", body=iter([b"x" * (1 << 20)] * 11),
                 headers={"Content-Type": "application/json"}, encode_chunked=True)
    resp = conn.getresponse()
    assert resp.status == 413 and b"request_too_large" in resp.read()
    conn.close()
    still_serving(gw_defaults)


def test_chunk_extensions_are_ignored(gw):
    """Item 3: RFC 9112 §7.1.1 -- a recipient ignores unknown chunk extensions (before: 400)."""
    half = len(CHAT) // 2
    body = (b"%x;foo=bar\r\n%s\r\n" % (half, CHAT[:half])
            + b'%x ; name="quoted;value" ;flag\r\n%s\r\n' % (len(CHAT) - half, CHAT[half:])
            + b"0;last=1\r\nX-Trailer: dropped\r\n\r\n")
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    response = exchange(gw, head + body)
    assert status_of(response) == 200 and b"Echo: wire" in response
    # Still strict on everything else: a malformed extension or a bare LF is 400.
    for bad in [b"%x;\r\n%s\r\n0\r\n\r\n" % (len(CHAT), CHAT), b"%x\n%s\r\n0\r\n\r\n" % (len(CHAT), CHAT)]:
        response = exchange(gw, head + bad)
        assert status_of(response) == 400 and b"invalid chunked body" in response
    still_serving(gw)
