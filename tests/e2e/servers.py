"""Real ``payi-server serve`` processes on loopback ports, for end-to-end and multi-process tests."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx2

KEY_LINE = re.compile(r"(organization key|key slot 1|key slot 2)[^:]*:\s+(payi_\S+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def payi_server_command() -> list[str]:
    exe = shutil.which("payi-server", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "payi_server"]


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen[str]
    log_path: Path
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def output(self) -> str:
        return self.log_path.read_text()


@contextmanager
def run_server(
    workdir: Path, env: dict[str, str] | None = None, args: list[str] | None = None, timeout: float = 30.0
) -> Iterator[ServerProcess]:
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PAYI_")}
    full_env.update({"PAYI_SERVER_PORT": str(port), "PAYI_SERVER_LOG_FORMAT": "json"})
    full_env.update(env or {})
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"server-{port}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [*payi_server_command(), "serve", *(args or [])],
            cwd=workdir,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    server = ServerProcess(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}:\n{server.output}")
            try:
                if httpx2.get(server.url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not become ready:\n{server.output}")
            time.sleep(0.05)
        for label, key in KEY_LINE.findall(server.output):
            server.keys[{"organization key": "org", "key slot 1": "app1", "key slot 2": "app2"}[label]] = key
        yield server
    finally:
        stop(process)


def stop(process: subprocess.Popen[str], timeout: float = 15.0) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
