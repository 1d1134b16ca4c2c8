"""Phase 1: the command line as an operator meets it -- help, version, options in either
place and spelling, one line per error, `check` listing every config problem, the `health`
probe, timestamps on log lines, and every config snippet the docs show passing `check`.
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

from gateway import Gateway, base_config, binary_path, upstream
from helpers import wait_until

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = """
[[upstream]]
name = "u"
base_url = "http://127.0.0.1:9/v1"

[[model]]
name = "m"
targets = [{ upstream = "u" }]
"""


def gpt_api(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "GPT_API_CONFIG"}
    full_env.update(env or {})
    return subprocess.run([str(binary_path()), *args], capture_output=True, text=True, timeout=30,
                          env=full_env, cwd=cwd)


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "gw.toml"
    path.write_text(MINIMAL)
    return path


# --------------------------------------------------------------------------- conventions
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_goes_to_stdout_with_exit_0(flag):
    run = gpt_api(flag)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("usage: gpt-api") and run.stderr == ""
    for listed in ("--version", "--config", "check", "health", "--url"):
        assert listed in run.stdout


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag):
    run = gpt_api(flag)
    assert run.returncode == 0 and re.fullmatch(r"gpt-api \d+\.\d+\.\d+\n", run.stdout), run


@pytest.mark.parametrize("args", [
    ["check", "--config", "{}"], ["check", "--config={}"], ["--config", "{}", "check"],
    ["--config={}", "check"], ["-c", "{}", "check"],
])
def test_config_option_before_or_after_the_command(config, args):
    run = gpt_api(*[a.format(config) for a in args])
    assert (run.returncode, run.stdout, run.stderr) == (0, "config ok\n", "")


def test_config_from_the_environment(config):
    run = gpt_api("check", env={"GPT_API_CONFIG": str(config)})
    assert (run.returncode, run.stdout) == (0, "config ok\n"), run.stderr


@pytest.mark.parametrize("args, message", [
    (["--bogus"], "gpt-api: unknown option '--bogus'"),
    (["check", "--config"], "gpt-api: --config needs a value"),
    (["lint"], "gpt-api: unknown command 'lint'"),
    (["check", "--url", "http://127.0.0.1:1/health"], "gpt-api: --url is an option of 'gpt-api health' only"),
])
def test_usage_errors_are_one_line_with_exit_2(args, message):
    run = gpt_api(*args)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and run.stderr.startswith(message), run.stderr


@pytest.mark.parametrize("command", [["check"], []])
def test_missing_config_file_is_one_line_naming_it_once(tmp_path, command):
    missing = tmp_path / "nowhere" / "gpt_api.toml"
    run = gpt_api(*command, "--config", str(missing))
    assert run.returncode == (1 if command else 2)
    assert run.stderr.count("\n") == 1 and run.stderr.count(str(missing)) == 1, run.stderr
    assert "cannot read" in run.stderr


# --------------------------------------------------------------------------- check
def test_check_lists_every_problem_at_its_location(tmp_path, config):
    broken = MINIMAL.replace('name = "u"', 'name = "u"\ntimeout_ms = "slow"') \
                    .replace('targets = [{ upstream = "u" }]', 'targets = [{ upstream = "vlm" }]')
    broken = "[routing]\nretires = 2\ncontinuation = \"sometimes\"\n" + broken + '[[client_key]]\nname = "a"\nkey_env = "GPT_API_TEST_UNSET"\n'
    config.write_text(broken)
    run = gpt_api("check", "--config", str(config))
    assert run.returncode == 1
    lines = run.stderr.splitlines()
    for expected in [
        "routing.retires: unknown key",
        "routing.continuation: 'sometimes' is not one of \"prefill\", \"restart\", \"auto\", \"none\"",
        "upstream[0].timeout_ms: expected a whole number, found string",
        "model[0].targets[0].upstream: unknown upstream 'vlm'",
        "client_key[0].key_env: environment variable GPT_API_TEST_UNSET is not set",
    ]:
        assert f"{config}: {expected}" in lines, run.stderr
    assert lines[-1] == f"5 problems in {config}" and len(lines) == 6, run.stderr


def test_syntax_errors_keep_their_marker_line(config):
    config.write_text('[server]\nlisten = "127.0.0.1:8080\n')
    run = gpt_api("check", "--config", str(config))
    assert run.returncode == 1
    lines = run.stderr.splitlines()
    assert lines[0].startswith(f"{config}: TOML parse error at line 2"), run.stderr
    assert len(lines) >= 4 and any(re.match(r"^\s*\|\s*\^", l) for l in lines), run.stderr


# --------------------------------------------------------------------------- snippets
def toml_snippets() -> list[tuple[str, str]]:
    """Every ```toml block of README.md, and gpt_api.example.toml whole."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"^```toml\n(.*?)^```", readme, re.S | re.M)
    found = [(f"README.md toml block {i + 1}", b) for i, b in enumerate(blocks)]
    return found + [("gpt_api.example.toml", (ROOT / "gpt_api.example.toml").read_text())]


def complete(snippet: str) -> tuple[str, dict]:
    """The documented completion rule for fragments: a snippet without [[upstream]] gets one
    stub upstream (a `[[model]]` may then name it), and every `*_env` variable a snippet
    names is set to a placeholder. Nothing else is added or changed."""
    if not re.search(r"^\[\[upstream\]\]", snippet, re.M):
        snippet += '\n[[upstream]]\nname = "stub"\nbase_url = "http://127.0.0.1:9/v1"\n'
    names = re.findall(r'^\s*\w*_env\s*=\s*"([^"]+)"', snippet, re.M)
    return snippet, {name: "placeholder-secret" for name in names}


def test_there_are_snippets_to_check():
    assert len(toml_snippets()) >= 2


@pytest.mark.parametrize("where, snippet", toml_snippets(), ids=[w for w, _ in toml_snippets()])
def test_every_documented_config_snippet_passes_check(tmp_path, where, snippet):
    text, env = complete(snippet)
    path = tmp_path / "snippet.toml"
    path.write_text(text)
    run = gpt_api("check", "--config", str(path), env=env, cwd=ROOT)
    assert run.returncode == 0, f"{where} fails `gpt-api check`:\n{run.stderr}\n--- checked text:\n{text}"


# --------------------------------------------------------------------------- health, log lines
def test_health_probe_and_timestamped_log_lines(gateway, mocks, tmp_path):
    gw = gateway([upstream(mocks("a"))], [{"name": "m", "targets": [{"upstream": "a"}]}])
    ok = gpt_api("health", "--url", gw.url + "/health")
    assert ok.returncode == 0 and ok.stdout.startswith(gw.url + "/health: HTTP/1.1 200"), ok
    # Without --url: server.listen of the config (here the port the gateway got).
    listening = tmp_path / "listening.toml"
    listening.write_text(f'[server]\nlisten = "{gw.listening["addr"]}"\n')
    assert gpt_api("health", "--config", str(listening)).returncode == 0
    # A 404 is not healthy, nor is a port nobody listens on.
    not_found = gpt_api("health", "--url", gw.url + "/nothing")
    assert not_found.returncode == 1 and "404" in not_found.stderr and not_found.stderr.count("\n") == 1
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    refused = gpt_api("health", "--url", f"http://127.0.0.1:{closed}/health")
    assert refused.returncode == 1 and refused.stderr.startswith("gpt-api health: "), refused
    zero = gpt_api("health", "--config", str(gw.config_path))  # listen port 0: cannot know where
    assert zero.returncode == 1 and "--url" in zero.stderr
    # Every JSON log line starts with its time: RFC 3339, UTC, milliseconds.
    first = next(l for l in gw.raw_output if l.startswith("{"))
    assert re.match(r'^\{"ts":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","level":', first), first
    assert all("ts" in json.loads(l) for l in gw.raw_output if l.startswith("{"))


# --------------------------------------------------------------------------- the port
def test_a_port_held_by_another_process_is_refused_unless_shared(gateway, mocks, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ups = [upstream(mocks("a"))]
    models = [{"name": "m", "targets": [{"upstream": "a"}]}]
    first = gateway(ups, models, server={"listen": f"127.0.0.1:{port}"})
    assert first.listening["addr"] == f"127.0.0.1:{port}"
    # A second gateway on the same port: refused at start, with one clear line.
    second = Gateway(tmp_path / "second", base_config(ups, models, server={"listen": f"127.0.0.1:{port}"}))
    with pytest.raises(RuntimeError):
        second.start(timeout=10)
    assert second.proc.wait(timeout=10) != 0
    # (the output is read by threads: wait for the line rather than race them)
    wait_until(lambda: "address in use" in second.output())
    # Opting in on both sides: they share it (e.g. for a restart without a gap).
    shared = {"listen": f"127.0.0.1:{port}", "share_port": True}
    first.stop()
    sharing = [gateway(ups, models, server=shared) for _ in range(2)]
    assert all(g.listening["addr"] == f"127.0.0.1:{port}" for g in sharing)
