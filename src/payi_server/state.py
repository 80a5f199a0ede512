"""What a running server holds: created at start-up by ``app.create_app``'s lifespan, never at import."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .auth.cache import KeyCache
from .auth.manage import Tenancy
from .auth.throttle import FailureThrottle
from .ids import IdGenerator
from .limits.leases import LeaseBook
from .metering.journal import Journal
from .metrics import Metrics
from .metering.meter import Meter
from .metering.recorder import Recorder
from .pricing.book import PriceBook
from .pricing.deployments import Deployments
from .settings import Settings
from .store.changes import ChangeFeed
from .store.engine import Database


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
    journal: Journal | None = None
    # (app, category, model or deployment the request named) -> the model the provider reported for it: how a
    # call to an Azure deployment is estimated before it is made.
    reported_models: dict[tuple[int | None, str, str], str] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
