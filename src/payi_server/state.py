"""What a running server holds: created at start-up by ``app.create_app``'s lifespan, never at import."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .auth.cache import KeyCache
from .auth.manage import Tenancy
from .auth.throttle import FailureThrottle
from .ids import IdGenerator
from .limits.leases import LeaseBook
from .metering.gate import Gate
from .metering.journal import Journal
from .metrics import Metrics
from .metering.meter import Meter
from .metering.recorder import Recorder
from .pricing.book import PriceBook
from .pricing.deployments import Deployments
from .settings import Settings
from .store.changes import ChangeFeed
from .store.engine import Database
from .store.retention import Retention, RetentionSweeper


@dataclass
class AppState:
    settings: Settings
    db: Database
    changes: ChangeFeed
    keys: KeyCache
    book: PriceBook
    recorder: Recorder
    meter: Meter
    leases: LeaseBook
    metrics: Metrics
    throttle: FailureThrottle
    tenancy: Tenancy
    ids: IdGenerator
    node_id: int
    deployments: Deployments
    gate: Gate  # the proxy's one way into metering
    journal: Journal | None = None
    retention: Retention | None = None
    sweeper: RetentionSweeper | None = None
    extras: dict[str, Any] = field(default_factory=dict)
