"""Helpers of the console tests (the `/admin/` JSON endpoints and the browser test): a
gateway with an admin key in front of two mocks, and traffic whose rows the tests know --
plain answers from two keys, a request that failed over from `a` to `b`, a stream that
broke mid-way on `a` and was continued on `b`, and a refusal.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from gateway import upstream
from helpers import CLIENT_KEY, http, msgs, sdk, wait_until
from mock_upstream import Behaviour

ADMIN_KEY = "admin-secret-for-console-tests"
ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}
KEY_B = CLIENT_KEY + "-b"


def keys() -> list:
    return [{"name": "team-a", "key": CLIENT_KEY}, {"name": "team-b", "key": KEY_B}]


def console_gateway(gateway, mocks, monkeypatch, database: dict | None = None, **kw):
    """One model `m` over mocks `a` (preferred) and `b`, a second model `n` on `b`;
    continuation by prefill so a broken stream moves on to `b`."""
    monkeypatch.setenv("GPT_API_TEST_ADMIN_KEY", ADMIN_KEY)
    a, b = mocks("a", "b")
    models = [
        {"name": "m", "targets": [{"upstream": "a", "weight": 100, "continuation": "prefill"},
                                  {"upstream": "b", "weight": 1, "continuation": "prefill"}]},
        {"name": "n", "targets": [{"upstream": "b"}]},
    ]
    gw = gateway([upstream(a), upstream(b)], models, admin={"key_env": "GPT_API_TEST_ADMIN_KEY"},
                 client_keys=keys(), server={"workers": 1}, database=database,
                 routing={"breaker_cooldown_ms": 1}, **kw)
    return gw, a, b


@dataclass
class Traffic:
    """The ids of what `send_traffic` sent, by kind."""
    plain_a: list = field(default_factory=list)   # team-a on model m, answered by a
    plain_b: list = field(default_factory=list)   # team-b on model n, answered by b
    failed_over: str = ""                          # a answered 401, b answered
    recovered: str = ""                            # a broke mid-stream, b continued it
    refused: str = ""                              # 404 model_not_found

    def all(self) -> list:
        return [*self.plain_a, *self.plain_b, self.failed_over, self.recovered, self.refused]


def send_traffic(gw, a) -> Traffic:
    traffic = Traffic()
    for n in range(3):
        raw = sdk(gw).chat.completions.with_raw_response.create(model="m", messages=msgs(f"plain {n}"))
        traffic.plain_a.append(raw.headers["x-request-id"])
    for n in range(2):
        raw = sdk(gw, key=KEY_B).chat.completions.with_raw_response.create(model="n", messages=msgs(f"bee {n}"))
        traffic.plain_b.append(raw.headers["x-request-id"])
    a.script(Behaviour(status=401))
    raw = sdk(gw).chat.completions.with_raw_response.create(model="m", messages=msgs("fail over"))
    assert raw.headers["x-gpt-api-upstream"] == "b"
    traffic.failed_over = raw.headers["x-request-id"]
    # `a`'s breaker opened on the 401 for 1 ms only: the stream below goes to `a` first.
    a.script(Behaviour(cut_after=2))
    with http(gw).stream("POST", "/v1/chat/completions", headers={"authorization": f"Bearer {CLIENT_KEY}"},
                         json={"model": "m", "stream": True, "messages": msgs("one two three four five six")}) as r:
        traffic.recovered = r.headers["x-request-id"]
        body = "".join(r.iter_text())
    assert "[DONE]" in body, body
    refused = http(gw).post("/v1/chat/completions", json={"model": "nope", "messages": msgs("x")},
                            headers={"authorization": f"Bearer {CLIENT_KEY}"})
    assert refused.status_code == 404
    traffic.refused = refused.headers["x-request-id"]
    return traffic


def admin_get(gw, path: str, headers: dict | None = None) -> httpx.Response:
    return http(gw).get(path, headers=ADMIN if headers is None else headers)


def wait_for_rows(gw, ids: list) -> None:
    """Until the admin API finds every id (the log writes in batches)."""
    for request_id in ids:
        wait_until(lambda: admin_get(gw, f"/admin/requests/{request_id}").status_code == 200, timeout=10)
