"""A PostgreSQL server of the test's own (initdb in a temporary directory, a free port), so that a test can
restart it without disturbing the shared one. Needs the Debian PostgreSQL binaries and root (to run them as
the ``postgres`` user); skips otherwise."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.servers import free_port


def _bin_dir() -> Path | None:
    root = Path("/usr/lib/postgresql")
    versions = sorted(root.iterdir(), reverse=True) if root.exists() else []
    for version in versions:
        if (version / "bin" / "pg_ctl").exists():
            return version / "bin"
    return None


@dataclass
class PrivatePostgres:
    bin: Path
    data: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/payi"

    def _run(self, *args: str, timeout: float = 60) -> None:
        # stdout/stderr not captured: the server pg_ctl starts would hold the pipes open
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *args], check=True, timeout=timeout,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data / "db"), "-l", str(self.data / "server.log"),
            "-o", options, "-w", "-m", "fast", action, *extra,
        )

    def restart(self) -> None:
        self.pg_ctl("restart")


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = _bin_dir()
    if bin_dir is None or os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("needs the PostgreSQL server binaries and root (to run them as user postgres)")
    work = Path(tempfile.mkdtemp(prefix="payi-pg-"))
    work.chmod(0o755)
    shutil.chown(work, "postgres", "postgres")
    server = PrivatePostgres(bin=bin_dir, data=work, port=free_port())
    try:
        server._run(str(bin_dir / "initdb"), "-D", str(work / "db"), "-A", "trust", "-U", "postgres", "--no-sync")
        server.pg_ctl("start")
        server._run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres", "payi")
        yield server
    finally:
        try:
            server.pg_ctl("stop")
        except subprocess.SubprocessError:
            pass
        shutil.rmtree(work, ignore_errors=True)
