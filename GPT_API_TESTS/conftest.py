"""Shared pytest fixtures: mock upstreams, a TLS CA, and gateway processes.

Teardown order matters: `gateway` depends on `mocks`, so gateways are stopped
(SIGTERM, exit code 0 asserted) before their upstreams disappear.
"""
from __future__ import annotations

import pytest

from gateway import Gateway, UPSTREAM_KEY_PREFIX, base_config
from mock_upstream import MockUpstream


@pytest.fixture
def tls_ca(tmp_path):
    """A private CA (trustme) and the path of its PEM, for `ca_file`."""
    import trustme
    ca = trustme.CA()
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, str(path)


@pytest.fixture
def mocks():
    """Factory: mocks("a", "b") -> started MockUpstreams; all stopped at teardown."""
    made: list[MockUpstream] = []

    def make(*names: str, tls=None):
        out = []
        for n in names:
            m = MockUpstream(n, tls=tls)
            m.start()
            made.append(m)
            out.append(m)
        return out if len(out) != 1 else out[0]

    yield make
    for m in made:
        m.stop()


@pytest.fixture
def gateway(tmp_path, mocks):
    """Factory: gateway(upstreams=[...], models=[...], routing=..., ...) -> started Gateway.

    At teardown every gateway gets SIGTERM and must exit 0, and no secret (upstream
    or client key) may appear anywhere in its output.
    """
    made: list[tuple[Gateway, list[str]]] = []

    def make(upstreams, models, wrapper=None, **kw) -> Gateway:
        cfg = base_config(upstreams, models, **kw)
        gw = Gateway(tmp_path / f"gw{len(made)}", cfg, wrapper=wrapper)
        secrets = [k["key"] for k in kw.get("client_keys") or [] if "key" in k]
        made.append((gw, secrets))
        return gw.start()

    yield make
    problems = []
    for gw, secrets in made:
        rc = gw.stop()
        if rc != 0:
            problems.append(f"gateway exited with {rc} after SIGTERM:\n{gw.output()}")
        out = "\n".join(gw.raw_output)
        for s in [UPSTREAM_KEY_PREFIX] + secrets:
            if s in out:
                problems.append(f"secret {s!r} appears in the gateway's log output")
    assert not problems, "\n".join(problems)


def pytest_terminal_summary(terminalreporter):
    """One line when the PostgreSQL tests were skipped, so a green run says what it left out."""
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if "PostgreSQL part skipped" in str(r.longrepr)]
    if skipped:
        terminalreporter.write_line(
            f"PostgreSQL: {len(skipped)} tests SKIPPED (no PostgreSQL binaries: initdb, pg_ctl); "
            f"apt-get install postgresql to run them", yellow=True)
