"""After a crash: record the proxied calls a dead process started and never recorded (``metering.journal``).

Run at start-up, before the server takes traffic. A call already in the request log (its record committed just
before the crash) is skipped by its id, so a call is never recorded twice; the journal files are deleted only once
every recovered call is committed, so a crash during recovery loses nothing either.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from ..auth.cache import Principal
from ..auth.keys import KeyKind
from ..errors import ApiError
from ..store.engine import Database
from .journal import CUT_OFF_WARNING, Recovered, finish_recovery, recover
from .meter import Meter
from .recorder import Pending

log = logging.getLogger("payi_server.replay")

def _pending(meter: Meter, call: Recovered) -> Pending | None:
    principal = Principal(key_id=0, kind=KeyKind.APPLICATION, org_id=call.org_id, app_id=call.app_id)
    try:
        pending = meter.prepare(principal, call.event, request_id=call.request_id)
    except ApiError as exc:  # e.g. a custom category deleted since: nothing to price it with
        log.error("journaled call %s cannot be recorded: %s", call.request_id, exc.code)
        return None
    pending.lenient_limits = True  # a limit deleted since is skipped; the call is still recorded
    if call.cut_off:
        pending.warnings.append(CUT_OFF_WARNING)
    return pending


async def replay_journal(directory: Path, meter: Meter, db: Database) -> int:
    """Record every call the journals of dead processes hold; returns how many were recorded."""
    if not directory.is_dir():
        return 0
    calls = await asyncio.to_thread(recover, directory)
    if not calls:
        finish_recovery(directory)
        return 0
    try:
        done = await db.request_log.recorded(sorted(c.request_id for c in calls))
        pendings = [p for c in calls if c.request_id not in done and (p := _pending(meter, c)) is not None]
        results = await asyncio.gather(*(meter.recorder.submit(p) for p in pendings), return_exceptions=True)
    except BaseException:
        finish_recovery(directory, delete=False)  # the next start tries again
        raise
    failed = [r for r in results if isinstance(r, BaseException)]
    finish_recovery(directory, delete=not failed)
    if failed:
        log.error("could not record %s of %s journaled calls; they are kept for the next start", len(failed), len(results))
    else:
        log.warning("recorded %s calls a stopped server process had answered but not recorded", len(pendings))
    return len(pendings) - len(failed)
