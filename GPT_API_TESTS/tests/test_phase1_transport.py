"""Phase 1: transport behaviour -- HTTPS upstreams, chunk forwarding, framing, DB row latency."""
import socket
import time

from gateway import upstream
from helpers import expected, http, msgs, sdk, stream_text
from mock_upstream import Behaviour


def model(name="m", up="a"):
    return {"name": name, "targets": [{"upstream": up, "weight": 1}]}


def test_https_upstream_with_private_ca(gateway, mocks, tls_ca):
    ca, ca_path = tls_ca
    s = mocks("s", tls=ca)
    gw = gateway([upstream(s, ca_file=ca_path)], [model(up="s")])
    c = sdk(gw)
    for _ in range(3):  # several requests: pooled TLS connections are reused correctly
        assert c.chat.completions.create(model="m", messages=msgs("tls")).choices[0].message.content == expected("tls")
    text, _ = stream_text(c.chat.completions.create(model="m", messages=msgs("tls stream"), stream=True))
    assert text == expected("tls stream")
    assert s.count() == 4


def test_chunks_forwarded_as_they_arrive(gateway, mocks):
    a = mocks("a")
    a.default = Behaviour(chunk_interval_ms=200)
    gw = gateway([upstream(a)], [model()])
    stream = sdk(gw).chat.completions.create(model="m", messages=msgs("slow"), stream=True)
    first_content_at = None
    text = ""
    for ch in stream:
        if ch.choices and ch.choices[0].delta.content and first_content_at is None:
            first_content_at = time.monotonic()
        text += (ch.choices[0].delta.content or "") if ch.choices else ""
    rec = a.requests[-1]
    assert text == expected("slow")
    # The mock sent ~20 events 200 ms apart; the client must have had the first content
    # event long before the mock even sent the last one.
    assert len(rec.event_times) >= 10
    assert first_content_at < rec.event_times[-1] - 1.0, (first_content_at, rec.event_times)
    # and each content event is no more than a moment behind the mock's send time
    assert first_content_at - rec.event_times[1] < 0.3


def test_close_delimited_upstream_bodies(gateway, mocks):
    a = mocks("a")
    a.default = Behaviour(close_delimited=True)
    gw = gateway([upstream(a)], [model()])
    c = sdk(gw)
    assert c.chat.completions.create(model="m", messages=msgs("whole")).choices[0].message.content == expected("whole")
    text, chunks = stream_text(c.chat.completions.create(model="m", messages=msgs("whole"), stream=True))
    assert text == expected("whole") and chunks[-1].choices[0].finish_reason == "stop"


def test_crlf_upstream_stream(gateway, mocks):
    a = mocks("a")
    a.default = Behaviour(crlf=True)
    gw = gateway([upstream(a)], [model()])
    text, _ = stream_text(sdk(gw).chat.completions.create(model="m", messages=msgs("crlf"), stream=True))
    assert text == expected("crlf")


def test_expect_100_continue_answered_promptly(gateway, mocks):
    a = mocks("a")
    gw = gateway([upstream(a)], [model()])
    host, port = gw.listening["addr"].rsplit(":", 1)
    body = b'{"model": "m", "messages": [{"role": "user", "content": "expect"}]}'
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        t0 = time.monotonic()
        s.settimeout(0.5)
        first = s.recv(64)
        assert first.startswith(b"HTTP/1.1 100"), first
        assert time.monotonic() - t0 < 0.5
        s.settimeout(5)
        s.sendall(body)
        data = b""
        while b"\r\n\r\n" not in data or expected("expect").encode() not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    assert b"HTTP/1.1 200" in data and expected("expect").encode() in data


def test_db_row_appears_within_a_second(gateway, mocks):
    a = mocks("a")
    gw = gateway([upstream(a)], [model()])
    raw = sdk(gw).chat.completions.with_raw_response.create(model="m", messages=msgs("log me"))
    t0 = time.monotonic()
    rid = raw.headers["x-request-id"]
    row = gw.db_row(rid, timeout=1.0)
    assert time.monotonic() - t0 <= 1.0
    assert row["status"] == 200 and row["model"] == "m" and row["upstream"] == "a"
    assert row["endpoint"] == "/v1/chat/completions" and not row["stream"]
    assert row["response_content"] == expected("log me")
    assert row["completion_tokens"] == raw.parse().usage.completion_tokens


def test_stream_db_row_has_accumulated_text(gateway, mocks):
    a = mocks("a")
    gw = gateway([upstream(a)], [model()])
    raw = sdk(gw).chat.completions.with_raw_response.create(model="m", messages=msgs("log stream"), stream=True)
    text, _ = stream_text(raw.parse())
    row = gw.db_row(raw.headers["x-request-id"], timeout=2.0)
    assert row["stream"] and row["status"] == 200 and row["response_content"] == text
    assert row["finish_reason"] == "stop" and row["completion_tokens"] == len(text.split())
    assert row["ttft_ms"] is not None and row["ttft_ms"] >= 0


def _answer(s, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = s.recv(65536)
        assert chunk, f"connection closed before {marker!r}: {data!r}"
        data += chunk
    return data


def _open_connections(client) -> int:
    text = client.get("/metrics").text
    line = next(l for l in text.splitlines() if l.startswith("gpt_api_open_connections "))
    return int(float(line.split()[1]))


def test_idle_keep_alive_connection_serves_again(gateway, mocks):
    # Past a second without a request a connection gives up its read buffer and its task
    # (it is parked until the client speaks): the next request on it, whole or in pieces, is
    # answered as on a busy one, and the connection count stays true.
    a = mocks("a")
    gw = gateway([upstream(a)], [model()])
    host, port = gw.listening["addr"].rsplit(":", 1)

    def request(text: str) -> tuple[bytes, bytes]:
        body = b'{"model": "m", "messages": [{"role": "user", "content": "%s"}]}' % text.encode()
        head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body))
        return head, body

    metrics = http(gw)  # its own kept-alive connection is counted too
    before = _open_connections(metrics)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        for round, text in enumerate(["idle one", "idle two", "idle three"]):
            head, body = request(text)
            if round < 2:
                s.sendall(head + body)
            else:
                s.sendall(head)  # the head wakes the parked connection, the body follows
                time.sleep(0.3)
                s.sendall(body)
            data = _answer(s, expected(text).encode())
            assert data.startswith(b"HTTP/1.1 200"), data
            time.sleep(1.5)  # past the buffered wait: parked
            assert _open_connections(metrics) == before + 1
    deadline = time.monotonic() + 5
    while _open_connections(metrics) != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _open_connections(metrics) == before
    metrics.close()
    assert a.count() == 3
