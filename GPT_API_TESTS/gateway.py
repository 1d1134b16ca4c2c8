"""Start and watch a real gpt-api process for a test.

Why: the suite tests the gateway from the outside, exactly as a client and an
operator see it -- a TOML config file, JSON log lines on stdout, the SQLite
request log. Everything here waits on events (log lines, DB rows) with a
deadline; nothing sleeps a fixed time hoping the gateway is ready.
"""
from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

HERE = Path(__file__).resolve().parent
DEFAULT_BIN = HERE.parent / "target" / "release" / "gpt-api"
UPSTREAM_KEY_PREFIX = "sk-upstream-secret-"


def binary_path() -> Path:
    return Path(os.environ.get("GPT_API_BIN") or DEFAULT_BIN).resolve()


# --------------------------------------------------------------------------- TOML
def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v)} to TOML")


def to_toml(cfg: dict) -> str:
    """Tables for dicts of scalars, arrays of tables for lists of dicts (nested values inline)."""
    out = []
    for section, val in cfg.items():
        if isinstance(val, dict):
            out.append(f"[{section}]")
            out += [f"{k} = {_toml_value(v)}" for k, v in val.items()]
            out.append("")
        elif isinstance(val, list):
            for item in val:
                out.append(f"[[{section}]]")
                out += [f"{k} = {_toml_value(v)}" for k, v in item.items()]
                out.append("")
    return "\n".join(out)


def export_env(name: str, value: str) -> str:
    """Put a secret in this process's environment, which every Gateway inherits, for a config
    field that names an env var (`*_env`); returns the variable's name."""
    os.environ[name] = value
    return name


def env_name(*parts: str) -> str:
    return "_".join(re.sub(r"[^A-Za-z0-9]", "_", p).upper() for p in ("GPT_API_TEST",) + parts)


def upstream(mock, name: Optional[str] = None, ca_file: Optional[str] = None, kind: Optional[str] = None,
             **overrides) -> dict:
    """An [[upstream]] entry for a MockUpstream; its key is recognisable so leaks can be found.
    `kind` ("openai", "azure", "anthropic", "gemini", "bedrock", "cohere") picks the mock's
    base_url for that kind. A bedrock upstream signs with the mock's AWS credentials, named by
    env vars (`aws_access_key_id_env`, `aws_secret_access_key_env`) set here, and its region;
    every other kind gets `api_key`."""
    name = name or mock.name
    d = {"name": name, "base_url": mock.url_for(kind or "openai"), "connect_timeout_ms": 1000, "timeout_ms": 10000}
    if kind == "bedrock":
        d.update(region=mock.aws_region,
                 aws_access_key_id_env=export_env(env_name("AWS_KEY_ID", name), mock.aws_access_key_id),
                 aws_secret_access_key_env=export_env(env_name("AWS_SECRET", name), mock.aws_secret_access_key))
    else:
        d["api_key"] = UPSTREAM_KEY_PREFIX + name
    if kind:
        d["kind"] = kind
    if ca_file:
        d["ca_file"] = ca_file
    d.update(overrides)
    return d


# --------------------------------------------------------------------------- process
class Gateway:
    """A running gpt-api. `url` is http://127.0.0.1:PORT (no /v1)."""

    def __init__(self, workdir: Path, config: dict, wrapper: Optional[list] = None):
        self.workdir = Path(workdir)
        self.wrapper = wrapper or []  # a command the binary runs under (e.g. no_io_uring.py)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.config_path = self.workdir / "gpt_api.toml"
        self.config_path.write_text(to_toml(config))
        self.db_path = self.workdir / "gpt_api.db"
        self.lines: list[dict] = []      # every JSON line from stdout
        self.raw_output: list[str] = []  # every stdout/stderr line, for leak checks and failure reports
        self._cond = threading.Condition()
        self.proc: Optional[subprocess.Popen] = None
        self.url = ""
        self.listening: dict = {}

    def start(self, timeout: float = 15.0) -> "Gateway":
        exe = binary_path()
        if not exe.exists():
            raise RuntimeError(f"gateway binary {exe} not found: build it (cargo build --release) "
                               f"or set GPT_API_BIN")
        self.proc = subprocess.Popen([*self.wrapper, str(exe), "--config", str(self.config_path)], cwd=self.workdir,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        for stream, is_out in ((self.proc.stdout, True), (self.proc.stderr, False)):
            threading.Thread(target=self._reader, args=(stream, is_out), daemon=True).start()
        try:
            self.listening = self.wait_line(lambda l: l.get("event") == "listening", timeout)
        except TimeoutError:
            self.proc.kill()
            raise RuntimeError("gateway did not print its `listening` line in time:\n" + self.output())
        self.url = "http://" + self.listening["addr"]
        return self

    def _reader(self, stream, is_out: bool):
        for line in stream:
            line = line.rstrip("\n")
            with self._cond:
                self.raw_output.append(line)
                if is_out:
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        obj = None
                    if isinstance(obj, dict):
                        self.lines.append(obj)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def output(self) -> str:
        with self._cond:
            return "\n".join(self.raw_output[-60:])

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, wait for exit, return the exit code (the caller asserts it is 0)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"gateway did not exit within {timeout}s of SIGTERM:\n" + self.output())

    # -- log lines
    def wait_line(self, pred: Callable[[dict], bool], timeout: float = 5.0) -> dict:
        deadline = time.monotonic() + timeout
        with self._cond:
            seen = 0
            while True:
                for line in self.lines[seen:]:
                    if pred(line):
                        return line
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc is not None and self.proc.poll() is not None and seen == len(self.lines)):
                    raise TimeoutError("no matching log line; last output:\n" + "\n".join(self.raw_output[-30:]))
                self._cond.wait(min(left, 0.1))

    def access(self, request_id: str, timeout: float = 5.0) -> dict:
        """The access log line of one request."""
        return self.wait_line(lambda l: l.get("event") == "access" and l.get("request_id") == request_id, timeout)

    def access_lines(self) -> list[dict]:
        with self._cond:
            return [l for l in self.lines if l.get("event") == "access"]

    # -- database
    def db_row(self, request_id: str, timeout: float = 5.0) -> dict:
        """The request_logs row with this id, waiting for the batched writer to flush it."""
        deadline = time.monotonic() + timeout
        last_err = None
        while True:
            try:
                con = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=1)
                try:
                    con.row_factory = sqlite3.Row
                    row = con.execute("SELECT * FROM request_logs WHERE id = ?", (request_id,)).fetchone()
                    if row is not None:
                        return dict(row)
                finally:
                    con.close()
            except sqlite3.Error as e:  # file or table not created yet
                last_err = e
            if time.monotonic() > deadline:
                raise TimeoutError(f"no request_logs row for {request_id} within {timeout}s ({last_err})")
            time.sleep(0.02)  # polling interval of a deadline loop, not a wait for readiness

    def db_rows(self) -> list[dict]:
        con = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=1)
        try:
            con.row_factory = sqlite3.Row
            return [dict(r) for r in con.execute("SELECT * FROM request_logs")]
        finally:
            con.close()


def base_config(upstreams: list, models: list, routing: Optional[dict] = None,
                client_keys: Optional[list] = None, server: Optional[dict] = None,
                database: Optional[dict] = None, admin: Optional[dict] = None,
                limits: Optional[dict] = None) -> dict:
    """A test config: localhost on an OS-chosen port, 2 unpinned workers, fast backoff."""
    cfg: dict = {
        "server": {"listen": "127.0.0.1:0", "workers": 2, "pin_cores": False, "shutdown_grace_ms": 3000,
                   **(server or {})},
        "database": {"url": "sqlite://gpt_api.db", "store_content": True, "flush_interval_ms": 20,
                     **(database or {})},
        "routing": {"retries": 2, "backoff_base_ms": 20, "backoff_max_ms": 200, **(routing or {})},
    }
    if admin:
        cfg["admin"] = admin
    if limits:
        cfg["limits"] = limits
    if client_keys:
        cfg["client_key"] = client_keys
    cfg["upstream"] = upstreams
    cfg["model"] = models
    return cfg
