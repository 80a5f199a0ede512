"""Serve any ASGI app with uvicorn on a free loopback port in a background thread.

    with serve_app(app) as base_url:        # "http://127.0.0.1:54321"
        ...

The listening socket is bound (port 0) and listening before the thread starts, so the URL is known at once and
early connections wait in the backlog. ``serve_app`` returns once the app's lifespan startup has completed
(startup failures are re-raised in the caller). On exit it stops accepting, closes idle keep-alive
connections, gives in-flight requests ``grace`` seconds, then cancels them and closes their sockets — a hung
request (``x-fake-hang``) never blocks the test. Stopping takes a few milliseconds, not uvicorn's usual 0.1-0.2 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn


@dataclass
class ServedApp:
    """Handle of a running server (what ``serve_app`` yields is ``handle.base_url``)."""

    base_url: str
    host: str
    port: int
    server: uvicorn.Server
    loop: asyncio.AbstractEventLoop | None = None
    stop_event: asyncio.Event | None = None
    thread: threading.Thread | None = None
    errors: list[BaseException] = field(default_factory=list)


def bind_socket(host: str = "127.0.0.1", port: int = 0, *, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket for ``uvicorn.Server.serve(sockets=[...])``.

    The protocol must be IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose
    ``proto`` is IPPROTO_TCP, and without it Nagle + delayed ACK hold back small stream frames by ~40 ms.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


async def _run(handle: ServedApp, sock: socket.socket, ready: threading.Event, grace: float) -> None:
    server = handle.server
    handle.loop = asyncio.get_running_loop()
    handle.stop_event = asyncio.Event()
    try:
        config = server.config
        if not config.loaded:
            config.load()
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[sock])
        if server.should_exit:  # lifespan startup failed
            raise RuntimeError("ASGI app failed to start (lifespan startup failed)")
    except BaseException as exc:
        handle.errors.append(exc)
        ready.set()
        return
    ready.set()
    ticker = asyncio.ensure_future(_tick(server))
    try:
        await handle.stop_event.wait()
    finally:
        ticker.cancel()
    try:
        await _shutdown(server, grace)
    except Exception as exc:
        handle.errors.append(exc)


async def _tick(server: uvicorn.Server) -> None:
    """What uvicorn's main loop does besides waiting: refresh the Date header once a second."""
    while True:
        await server.on_tick(0)
        await asyncio.sleep(1.0)


async def _shutdown(server: uvicorn.Server, grace: float) -> None:
    server.should_exit = True
    for srv in getattr(server, "servers", []):
        srv.close()
    state = server.server_state
    for conn in list(state.connections):
        conn.shutdown()  # closes idle keep-alive connections, lets active ones finish their response
    tasks = list(state.tasks)
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)
    for conn in list(state.connections):
        transport = getattr(conn, "transport", None)
        if transport is not None and not transport.is_closing():
            transport.close()
    await asyncio.sleep(0)  # let connection_lost callbacks run
    await server.lifespan.shutdown()
    if getattr(server.lifespan, "should_exit", False):  # uvicorn sets it when the shutdown failed
        raise RuntimeError("ASGI app failed to shut down (lifespan shutdown failed)")


def start_server(
    app: Any, *, host: str = "127.0.0.1", port: int = 0, grace: float = 1.0, **uvicorn_kwargs: Any
) -> ServedApp:
    """Start serving ``app``; stop it with ``stop_server(handle)``. Prefer the ``serve_app`` context manager."""
    kwargs: dict[str, Any] = {
        "log_config": None,  # never touch the test process's logging configuration
        "access_log": False,
        "server_header": False,
        "lifespan": "auto",
        "ws": "none",
        "timeout_keep_alive": 5,
    }
    kwargs.update(uvicorn_kwargs)
    sock = bind_socket(host, port)
    real_port = sock.getsockname()[1]
    config = uvicorn.Config(app, host=host, port=real_port, **kwargs)
    server = uvicorn.Server(config)
    handle = ServedApp(base_url=f"http://{host}:{real_port}", host=host, port=real_port, server=server)
    ready = threading.Event()

    def target() -> None:
        try:
            asyncio.run(_run(handle, sock, ready, grace))
        except BaseException as exc:  # pragma: no cover - reported to the caller
            handle.errors.append(exc)
        finally:
            sock.close()
            ready.set()

    thread = threading.Thread(target=target, name=f"serve_app:{real_port}", daemon=True)
    handle.thread = thread
    thread.start()
    if not ready.wait(timeout=30):
        raise TimeoutError("server did not start within 30 s")
    if handle.errors:
        thread.join(timeout=5)
        raise RuntimeError(f"server failed to start: {handle.errors[0]!r}") from handle.errors[0]
    return handle


def stop_server(handle: ServedApp, timeout: float = 10.0) -> None:
    loop, event, thread = handle.loop, handle.stop_event, handle.thread
    if loop is not None and event is not None and not loop.is_closed():
        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(event.set)
    if thread is not None:
        thread.join(timeout=timeout)
        if thread.is_alive():
            raise TimeoutError("server thread did not stop")


@contextlib.contextmanager
def serve(app: Any, **kwargs: Any) -> Iterator[ServedApp]:
    """Like ``serve_app`` but yields the ``ServedApp`` handle (port, server, errors)."""
    handle = start_server(app, **kwargs)
    try:
        yield handle
    except BaseException:
        stop_server(handle)
        raise
    stop_server(handle)
    if handle.errors:  # e.g. the app's lifespan shutdown failed
        raise RuntimeError(f"server failed: {handle.errors[0]!r}") from handle.errors[0]


@contextlib.contextmanager
def serve_app(app: Any, **kwargs: Any) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 (free port) in a background thread; yields the base URL without a trailing slash.

    ``kwargs``: ``host``, ``port``, ``grace`` (seconds in-flight requests get at shutdown) and any
    ``uvicorn.Config`` argument (e.g. ``lifespan="off"``, ``http="h11"``, ``log_level``).
    """
    with serve(app, **kwargs) as handle:
        yield handle.base_url
