"""Command line entry of the fake upstream: ``python -m tests.fakes.upstream --port 9100 --latency-ms 0``.

One process by default; ``--workers N`` starts N processes sharing the port through SO_REUSEPORT (recording and
``/_fake/stats`` are then per worker). ``--port 0`` picks a free port; the address is printed on stderr as
``fake upstream listening on http://HOST:PORT (pid N)``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import sys
from typing import Any

from tests.fakes.config import FakeConfig


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.fakes.upstream", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9100, help="0: a free port (printed on stderr)")
    p.add_argument("--workers", type=int, default=1, help="processes sharing the port (SO_REUSEPORT)")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--chunk-delay-ms", type=float, default=0.0)
    p.add_argument("--stream-chunks", type=int, default=4)
    p.add_argument("--output-tokens", type=int, default=16, help="default (and maximum) output tokens")
    p.add_argument("--input-token-factor", type=int, default=1)
    p.add_argument("--reasoning-tokens", type=int, default=0)
    p.add_argument("--verify-sigv4", action="store_true")
    p.add_argument("--anthropic-full-delta-usage", action="store_true")
    p.add_argument(
        "--max-recorded", type=int, default=1000, help="recorded requests kept (0: record nothing)"
    )
    p.add_argument("--log-level", default="warning")
    return p.parse_args(argv)


def serve_forever(config_json: bytes, host: str, port: int, log_level: str, reuse_port: bool) -> None:
    """Run one server process (also the target of each worker process)."""
    import uvicorn

    from tests.fakes.serve import bind_socket
    from tests.fakes.upstream import create_app

    sock = bind_socket(host, port, reuse_port=reuse_port)
    real_port = sock.getsockname()[1]
    uv_config = uvicorn.Config(
        create_app(FakeConfig.from_json(config_json)),
        host=host,
        port=real_port,
        log_level=log_level,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        lifespan="on",
        ws="none",
    )
    print(
        f"fake upstream listening on http://{host}:{real_port} (pid {os.getpid()})",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.Server(uv_config).run(sockets=[sock])


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    config = FakeConfig(
        latency_ms=args.latency_ms,
        chunk_delay_ms=args.chunk_delay_ms,
        stream_chunks=args.stream_chunks,
        default_output_tokens=args.output_tokens,
        input_token_factor=args.input_token_factor,
        reasoning_tokens=args.reasoning_tokens,
        verify_sigv4=args.verify_sigv4,
        anthropic_full_delta_usage=args.anthropic_full_delta_usage,
        record=args.max_recorded > 0,
        max_recorded=max(1, args.max_recorded),
    )
    raw = config.to_json()
    if args.workers <= 1:
        serve_forever(raw, args.host, args.port, args.log_level, False)
        return
    if args.port == 0:
        raise SystemExit("--workers > 1 needs a fixed --port (the workers share it with SO_REUSEPORT)")
    # N single-process servers sharing the port through SO_REUSEPORT; each owns a socket with TCP_NODELAY
    # (uvicorn's own multi-worker socket leaves Nagle on). Recording and /_fake/stats are per worker.
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(
            target=serve_forever, args=(raw, args.host, args.port, args.log_level, True), daemon=False
        )
        for _ in range(args.workers)
    ]
    for proc in procs:
        proc.start()

    def stop(signum: int, frame: Any) -> None:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for proc in procs:
        proc.join()
