"""A throwaway Redis for the fleet tests: Debian's `redis-server` (scripts/test.sh installs
it) on a free port, its data in an append-only file, stopped and started again by the test
to play an outage. Without the binary the test fails and says what to install."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, workdir: Path):
        self.binary = shutil.which("redis-server")
        assert self.binary, ("redis-server not found: install it (Debian: apt-get install redis-server; "
                             "scripts/test.sh does) to run the fleet tests")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> "RedisServer":
        self.proc = subprocess.Popen(
            # An append-only file: data survives a stop and start, as a real outage's would.
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.02)  # polling interval of a deadline loop
        raise RuntimeError("redis-server did not answer PING within 10 s")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def command(self, *args: str) -> bytes:
        """One command in RESP, its raw reply."""
        parts = [f"*{len(args)}\r\n".encode()]
        for a in args:
            parts.append(f"${len(a.encode())}\r\n{a}\r\n".encode())
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(b"".join(parts))
            return s.recv(65536)
