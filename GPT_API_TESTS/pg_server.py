"""A throwaway PostgreSQL server for the database tests (phase2).

Why: the gateway's request log must work against PostgreSQL as well as SQLite, and the
outage test must stop and restart the database under load. This starts a private
server from the machine's own binaries (`/usr/local/bin`, `pg_config --bindir` or Debian's
`/usr/lib/postgresql/<N>/bin`) in a
temp directory, on a free port, with trust auth -- as the `postgres` user when running
as root, since PostgreSQL refuses to run as root -- and removes it afterwards.

Usage::

    with PgServer() as pg:          # raises PgUnavailable where there are no binaries
        url = pg.url                # postgres://postgres@127.0.0.1:PORT/postgres
        pg.query("SELECT count(*) FROM request_logs")
        pg.stop(); pg.start()       # an outage
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Optional


class PgUnavailable(RuntimeError):
    """No PostgreSQL binaries on this machine."""


def bin_dir() -> Optional[Path]:
    candidates = [Path("/usr/local/bin")]
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    # Debian keeps them off PATH, one directory per major version: the newest first.
    versions = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(versions, key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0,
                         reverse=True)
    for d in candidates:
        if (d / "initdb").exists() and (d / "pg_ctl").exists():
            return d
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self):
        self.bin = bin_dir()
        if self.bin is None:
            raise PgUnavailable("no PostgreSQL binaries (initdb, pg_ctl) on this machine")
        self.as_postgres = os.geteuid() == 0
        self.dir = Path(tempfile.mkdtemp(prefix="gpt-api-pg-"))
        os.chmod(self.dir, 0o755)
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        self.port = _free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        self.running = False

    # -- lifecycle
    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if check and out.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stdout}{out.stderr}")
        return out

    def init(self) -> "PgServer":
        self._run("initdb", "-A", "trust", "-U", "postgres", "--no-sync", "-D", str(self.data))
        return self

    def start(self) -> None:
        """Start (again); returns once the server accepts connections."""
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "start", "-w", "-o", opts, "-l", str(self.dir / "server.log"), "-D", str(self.data))
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """Stop: `fast` cuts open connections like a crash of the database would, to the client."""
        self._run("pg_ctl", "stop", "-m", mode, "-w", "-D", str(self.data))
        self.running = False

    def close(self) -> None:
        if self.running:
            self._run("pg_ctl", "stop", "-m", "immediate", "-w", "-D", str(self.data), check=False)
            self.running = False
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "PgServer":
        try:
            self.init()
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- queries (through psql, so the suite needs no driver for this)
    def _psql(self) -> str:
        if (self.bin / "psql").exists():
            return str(self.bin / "psql")
        return shutil.which("psql") or "psql"

    def database_url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def query(self, sql: str, url: Optional[str] = None) -> list[dict]:
        """Rows of a SELECT as dicts (JSON-typed: numbers, bools, strings, None); `url`
        picks another database of this server."""
        wrapped = f"SELECT coalesce(json_agg(q), '[]') FROM ({sql}) AS q"
        out = subprocess.run(
            [self._psql(),
             "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", url or self.url, "-c", wrapped],
            capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise RuntimeError(f"psql failed: {out.stderr}")
        return json.loads(out.stdout)

    def execute(self, sql: str, url: Optional[str] = None) -> None:
        out = subprocess.run(
            [self._psql(),
             "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url or self.url, "-c", sql],
            capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise RuntimeError(f"psql failed: {out.stderr}")
