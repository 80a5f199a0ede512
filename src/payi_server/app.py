"""Builds the ASGI application from its parts. Nothing is created at import time."""

from __future__ import annotations

import gc
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.routing import Route
from starlette.types import ASGIApp
from sqlalchemy import insert

from . import __version__
from .api import admin, categories, deployments, health, ingest, limits, reports, requests, use_cases, whoami
from .api import retention as retention_api
from .api.errors import install_error_handlers
from .api.openapi import install_openapi
from .alerts.worker import AlertWorker
from .auth.cache import KeyCache
from .auth.dependency import check_route_table
from .auth.keys import KeyHasher
from .auth.manage import Tenancy
from .auth.throttle import FailureThrottle
from .ids import IdGenerator
from .limits.leases import LeaseBook
from .limits.service import make_instance_limit
from .metering.journal import Journal
from .metering.meter import Meter
from .metering.replay import replay_journal
from .metering.gate import Gate
from .metering.recorder import Observer, Recorder
from .usecases.service import KNOWN_INSTANCES_ENTITY
from .pricing.book import PriceBook
from .pricing.deployments import Deployments
from .proxy.route import METHODS as PROXY_METHODS
from .proxy.route import PATH as PROXY_PATH
from .proxy.route import ProxyEndpoint
from .jsonio import ORJSONResponse
from .logs import configure_logging
from .metrics import Metrics
from .middleware.body_limit import BodyLimitMiddleware
from .middleware.hot_lane import Guarded, HotLane, PayiApp
from .middleware.request_log import RequestLogMiddleware
from .settings import Settings, load_settings, resolve_secret
from .state import AppState
from . import web
from .store.changes import ChangeFeed, utcnow
from .store.engine import Database
from .store.retention import Defaults, Retention, RetentionSweeper
from .store.tables import nodes
from .telemetry import OtelExport

PROXY_PREFIX = "/api/v1/proxy/"
GC_YOUNG_THRESHOLD = 100_000  # the cyclic collector's first generation, set at start (see ``lifespan``)


def _redis(url: str) -> Any:
    from redis.asyncio import Redis  # only where Redis is configured: 7 MB a process otherwise

    return Redis.from_url(url, socket_connect_timeout=0.5)


async def start_state(settings: Settings, metrics: Metrics | None = None) -> AppState:
    """Open the database, check the secret, and start the background work of one server process.

    With ``migrate_on_start`` (the default) the process prepares the database first: the migrations and the
    managed price catalog. ``payi-server serve`` does both once, before its workers start, and starts them
    without it; ``payi-server migrate`` does both ahead of a rolling deploy."""
    if settings.migrate_on_start:
        # Imported here, not by the module: a worker that ``payi-server serve`` started never migrates (its
        # supervisor did), and never loads Alembic.
        from .store.migrate import migrate

        await migrate(settings.sqlalchemy_url)
    db = Database(settings.sqlalchemy_url, pool_size=settings.database_pool_size)
    hasher = KeyHasher(resolve_secret(settings))
    tenancy = Tenancy(db, hasher)
    try:
        await tenancy.check_secret()
    except BaseException:  # refusing to start: close the database first
        await db.dispose()
        raise
    async with db.write() as conn:
        node_id = (
            await conn.execute(
                insert(nodes)
                .values(hostname=socket.gethostname()[:255], pid=os.getpid(), started_at=utcnow())
                .returning(nodes.c.id)
            )
        ).scalar_one()
    changes = ChangeFeed(db, interval=settings.key_refresh_interval)
    keys = KeyCache(db, hasher, max_size=settings.key_cache_size)
    keys.attach(changes)
    if settings.migrate_on_start:
        # The same: genai-prices' data (about 20 MB a process) is imported only where the catalog is synced.
        from .pricing.sync import sync_system_catalog

        await sync_system_catalog(db)
    book = PriceBook(db)
    await book.load()
    book.attach(changes)
    deployment_map = Deployments(db)
    await deployment_map.load()
    deployment_map.attach(changes)
    if settings.redis_url:
        changes.use_redis(
            _redis(settings.redis_url), f"{settings.redis_prefix}:changes"
        )
    await changes.start()
    metrics = metrics or Metrics()
    ids = IdGenerator(node_id)
    leases = LeaseBook(db, ids, node_id, ttl=settings.lease_ttl)
    observers: list[Observer] = []
    if settings.otel_endpoint:
        observers.append(OtelExport(settings.otel_endpoint, settings.otel_service_name))
    recorder = Recorder(
        db,
        observers=observers,
        batch_size=settings.record_batch_size,
        flush_interval=settings.record_flush_interval,
        linger=settings.record_linger,
        metrics=metrics,
        make_limit=make_instance_limit,
        leases=leases,
    )
    changes.subscribe(KNOWN_INSTANCES_ENTITY, recorder.known_instances.forget)
    await recorder.start()
    await leases.start()
    meter = Meter(book, ids, recorder)
    # Calls a process that died had answered but not recorded are recorded before this one takes traffic.
    journal_dir = settings.data_dir / "journal"
    await replay_journal(journal_dir, meter, db)
    recorder.journal = Journal.open(journal_dir, node_id)
    retention = Retention(
        db,
        Defaults(settings.request_retention_days, settings.payload_retention_days),
        batch_size=settings.retention_batch_size,
    )
    def swept(result: dict[str, Any]) -> None:
        for kind in ("requests", "payloads", "partitions"):
            metrics.retention_deleted.labels(kind).inc(result[kind])
        if "default_rows" in result:
            metrics.default_partition_rows.set(result["default_rows"])

    sweeper = RetentionSweeper(retention, node_id, settings.retention_interval, observe=swept)
    await sweeper.start()
    metrics.start()
    return AppState(
        settings=settings,
        db=db,
        changes=changes,
        keys=keys,
        book=book,
        deployments=deployment_map,
        gate=Gate(meter, leases, deployment_map, recorder.journal),
        recorder=recorder,
        meter=meter,
        journal=recorder.journal,
        leases=leases,
        metrics=metrics,
        throttle=FailureThrottle(settings.auth_failure_limit, settings.auth_failure_window, db),
        tenancy=tenancy,
        ids=ids,
        node_id=node_id,
        retention=retention,
        sweeper=sweeper,
    )


async def stop_state(state: AppState) -> None:
    if state.sweeper is not None:
        await state.sweeper.stop()
    await state.recorder.stop()  # drains what is queued (settling every hold)
    await state.leases.stop()  # then gives the leases' budget back
    if state.journal is not None:
        state.journal.close(clean=state.recorder.held == 0)
    await state.changes.stop()
    await state.keys.stop()
    await state.metrics.stop()
    await state.db.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    proxy = ProxyEndpoint()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await start_state(settings, metrics)
        app.state.payi = state
        alerts = AlertWorker(state.db)  # webhooks on limit state changes (alerts/)
        await alerts.start()
        app.state.payi_alerts = alerts
        # What start-up built (the price catalog, tokenizer tables, SQLAlchemy's metadata) lives as long as the
        # process: keep it out of the cyclic collector's full passes, which otherwise walk it again and again.
        gc.collect()
        gc.freeze()
        # Calls in flight and records queued for the group commit keep tens of thousands of young objects alive (a
        # batch of 175 proxied calls at 2,400 a second), and the first generation's count (net allocations, never
        # below 0) climbs to that many between collections. With the default threshold (700) the collector ran about
        # 80 times a second per worker and took 4-5% of its time. At 10,000 calls naming a limit (their holds live
        # until their batch commits) still set it off 3-4 times a second, 3-4 ms each on one worker: 4-6 us of a
        # call's 0.4 ms. At 100,000 it runs about once a minute (measured with gc.callbacks under wrk load); what it
        # finds in cycles is a few hundred objects a minute.
        gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)
        try:
            yield
        finally:
            await alerts.stop()
            await proxy.close()
            await stop_state(state)

    app = PayiApp(
        title="Pay-i (self-hosted)",
        version=__version__,
        lifespan=lifespan,
        default_response_class=ORJSONResponse,
        docs_url="/docs",
        redoc_url=None,
        # No 307 to the path with/without a trailing slash: its Location is built from the client's Host header,
        # it has no Pay-i error body, and "/x/%2F" would be "redirected" elsewhere. Unknown paths are 404s.
        redirect_slashes=False,
    )
    install_error_handlers(app)
    app.include_router(ingest.router)  # the busiest REST routes first: routes are matched in order
    app.include_router(health.router)
    app.include_router(admin.router)
    app.include_router(deployments.router)
    app.include_router(retention_api.router)
    app.include_router(whoami.router)
    app.include_router(requests.router)
    app.include_router(categories.router)
    app.include_router(limits.router)
    app.include_router(use_cases.router)
    app.include_router(reports.router)
    web.install(app)
    # First in the table: the hot path should not try every REST route before matching.
    proxy_route = Route(PROXY_PATH, endpoint=proxy, methods=PROXY_METHODS, include_in_schema=False)
    app.router.routes.insert(0, proxy_route)
    # Then single ingests, without FastAPI's dependency solving (the FastAPI route documents it).
    ingest_route = Route(
        "/api/v1/ingest", endpoint=ingest.IngestEndpoint(), methods=["POST"], include_in_schema=False
    )
    app.router.routes.insert(1, ingest_route)
    check_route_table(app.router.routes)
    install_openapi(app)
    bounds: dict[str, Any] = {"max_bytes": settings.max_body_bytes, "proxy_max_bytes": settings.proxy_max_body_bytes,
                              "proxy_prefix": PROXY_PREFIX}
    app.add_middleware(BodyLimitMiddleware, **bounds)
    app.add_middleware(RequestLogMiddleware, access_log=settings.access_log, metrics=metrics)

    def lane(endpoint: ASGIApp) -> ASGIApp:  # the same parts, in the same order, as the stack above
        return Guarded(
            endpoint, app.exception_handlers, BodyLimitMiddleware(endpoint, **bounds),
            RequestLogMiddleware(endpoint, access_log=settings.access_log, metrics=metrics),
        )

    app.hot_lane = HotLane([proxy_route, ingest_route], wrap=lane)  # the same routes, ahead of the stack
    return app


def create_app_from_env() -> FastAPI:
    """Entry point for ``uvicorn --factory`` worker processes."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)
