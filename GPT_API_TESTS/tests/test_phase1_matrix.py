"""Phase 1, issue 19: every ingress dialect to every upstream kind (6 x 6), stream and not.

One short text conversation -- a system prompt and two user turns, the first answered --
goes through every pair. The client must get the mock's answer in its own dialect, with
its own dialect's stop reason and the upstream's usage; the upstream must get the whole
conversation (system prompt, both turns, the answer between them) in its own dialect;
the request's row says the ingress path, the tokens and the finish reason in the ingress
vocabulary.
"""
import pytest

from dialect_support import key_of, kinds_gateway, upstream_auth
from helpers import expected
from provider_support import (CLIENT_KEYS_AWS, CONVERSATION, INGRESS, KINDS, STOP, ask, conversation_of, endpoint,
                              mock_text, usage_pair)

# The path each new kind's upstream request must have (the older kinds' are tested elsewhere).
UPSTREAM_PATH = {
    "anthropic": lambda stream: "/v1/messages",
    "gemini": lambda stream: f"/v1beta/models/m:{'streamGenerateContent?alt=sse' if stream else 'generateContent'}",
    "bedrock": lambda stream: f"/model/m/{'converse-stream' if stream else 'converse'}",
    "cohere": lambda stream: "/v2/chat",
}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("ingress", INGRESS)
def test_every_ingress_reaches_every_kind(gateway, mocks, ingress, kind, stream):
    gw, (a,) = kinds_gateway(gateway, mocks, [kind], client_keys=CLIENT_KEYS_AWS)
    reply = ask(gw, ingress, stream)

    assert a.count() == 1, "one upstream request"
    rec = a.requests[0]
    assert rec.surface == kind, "the upstream was spoken to in its own dialect"
    if kind in UPSTREAM_PATH:
        assert rec.path == UPSTREAM_PATH[kind](stream), rec.path
    upstream_auth(rec, kind, key_of(a, kind))
    assert conversation_of(rec) == CONVERSATION, "system prompt and both turns reached the upstream"

    want = expected("second turn")
    assert mock_text(rec) == want
    assert reply.text == want, f"{ingress} <- {kind}: {reply.text!r}"
    if stream:
        assert rec.content_sent == want, "the upstream was asked to stream too"
    assert reply.stop == STOP[ingress]
    sent = usage_pair(rec.usage_sent)
    assert sent is not None, "the upstream was asked for usage"
    assert reply.usage == sent, f"client usage {reply.usage} != upstream usage {sent}"

    row = gw.db_row(reply.rid)
    got = {k: row[k] for k in ("endpoint", "status", "upstream", "prompt_tokens", "completion_tokens",
                               "total_tokens", "finish_reason", "response_content", "client_key")}
    assert got == {"endpoint": endpoint(ingress, stream), "status": 200, "upstream": "a", "prompt_tokens": sent[0],
                   "completion_tokens": sent[1], "total_tokens": sent[0] + sent[1], "finish_reason": STOP[ingress],
                   "response_content": want, "client_key": "team-a"}
    assert bool(row["stream"]) == stream
