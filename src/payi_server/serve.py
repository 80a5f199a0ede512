"""Running the server: one process, or ``--workers N`` processes sharing the port.

Each worker binds its own listening socket with ``SO_REUSEPORT`` (the kernel spreads connections over them) and
runs uvicorn on it. Sockets are created with ``IPPROTO_TCP`` explicitly: asyncio only sets ``TCP_NODELAY`` on
accepted sockets whose protocol says TCP, and without it Nagle's algorithm holds small stream chunks back by tens
of milliseconds (uvicorn's own multi-worker socket has that problem).

The parent supervises: a worker that dies is restarted; SIGTERM or SIGINT is passed to every worker, each of
which stops accepting, finishes its requests and drains its queued records before exiting. Once the first start is
prepared (migrations, the first organization), the parent replaces itself (``exec``, same process, same port
reservation) with ``python -m payi_server.serve``, which imports only what supervising needs: the application,
the database driver and the catalog stay in the workers (the supervisor went from 100 MB to about 15).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .logs import configure_logging

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger("payi_server.serve")

_RESTART_DELAY = 1.0


def bind_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.set_inheritable(True)
    except BaseException:
        sock.close()
        raise
    return sock


def _config(host: str, port: int) -> uvicorn.Config:
    import uvicorn

    return uvicorn.Config(
        "payi_server.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
        server_header=False,
        proxy_headers=False,
        ws="none",
    )


def reserve_port(host: str, port: int, workers: int) -> socket.socket:
    """Claim the port before anything else happens (``OSError`` when it is taken): one worker gets its listening
    socket now; several get a bound, not listening, ``SO_REUSEPORT`` socket that holds the port while they bind
    theirs (it takes no connections)."""
    if workers <= 1:
        return bind_socket(host, port, reuse_port=False)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def run_worker(host: str, port: int, reuse_port: bool, sock: socket.socket | None = None) -> None:
    """One worker process: its own socket (or the one reserved for it), one uvicorn server."""
    import uvicorn

    from .settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    sock = sock or bind_socket(host, port, reuse_port=reuse_port)
    uvicorn.Server(_config(host, port)).run(sockets=[sock])


def serve(
    host: str,
    port: int,
    workers: int,
    data_dir: Path,
    reserved: socket.socket | None = None,
    *,
    log_level: str = "info",
    log_format: str = "json",
) -> None:
    if workers <= 1:
        run_worker(host, port, reuse_port=False, sock=reserved)
        return
    if port == 0:
        raise SystemExit("--workers needs a fixed port (every worker binds the same one)")
    # Become the slim supervisor (``main`` below): same process id, same stdout, the port reservation inherited.
    args = [sys.executable, "-m", "payi_server.serve", host, str(port), str(workers), str(data_dir), log_level,
            log_format]
    if reserved is not None:
        reserved.set_inheritable(True)
        args.append(str(reserved.fileno()))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, args)


def supervise(host: str, port: int, workers: int, data_dir: Path, reserved: socket.socket | None = None) -> None:
    """Start ``workers`` worker processes, restart any that dies, pass SIGTERM/SIGINT on, wait for them."""
    # Metrics from every worker, summed at scrape time (prometheus_client's multiprocess mode).
    metrics_dir = data_dir / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    ctx = multiprocessing.get_context("spawn")
    procs: dict[int, Any] = {}
    stopping = False

    def start(slot: int) -> None:
        proc = ctx.Process(target=run_worker, args=(host, port, True), name=f"payi-worker-{slot}", daemon=False)
        proc.start()
        procs[slot] = proc

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for proc in procs.values():
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for slot in range(workers):
        start(slot)
    if reserved is not None:
        reserved.close()  # the workers hold the port now
    log.info("serving with %s workers on %s:%s", workers, host, port)
    while not stopping:
        time.sleep(0.2)
        for slot, proc in list(procs.items()):
            if not proc.is_alive() and not stopping:
                log.warning("worker %s exited with %s; restarting", slot, proc.exitcode)
                time.sleep(_RESTART_DELAY)
                start(slot)
    for proc in procs.values():
        proc.join(timeout=60)
        if proc.is_alive():
            proc.kill()


def main(argv: list[str]) -> None:
    """``python -m payi_server.serve HOST PORT WORKERS DATA_DIR LOG_LEVEL LOG_FORMAT [RESERVED_FD]``"""
    host, port, workers, data_dir, log_level, log_format = argv[:6]
    configure_logging(log_level, log_format)
    reserved = socket.socket(fileno=int(argv[6])) if len(argv) > 6 else None
    supervise(host, int(port), int(workers), Path(data_dir), reserved)


if __name__ == "__main__":
    main(sys.argv[1:])
