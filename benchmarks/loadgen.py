"""A small closed-loop HTTP load generator (aiohttp) shared by the benchmarks.

``concurrency`` workers each send requests back to back for ``duration`` seconds (after ``warmup`` seconds
that are not measured) and record every latency. Runs in its own process so it does not share the server's
event loop.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp


@dataclass
class Result:
    name: str
    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0

    def pct(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(round(p / 100 * (len(data) - 1))))]

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "concurrency": self.concurrency,
            "requests": len(self.latencies_ms),
            "errors": self.errors,
            "statuses": self.statuses,
            "rps": round(self.rps, 1),
            "p50_ms": round(self.pct(50), 3),
            "p90_ms": round(self.pct(90), 3),
            "p99_ms": round(self.pct(99), 3),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 3) if self.latencies_ms else None,
        }


async def run(
    name: str,
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    concurrency: int = 1,
    duration: float = 5.0,
    warmup: float = 1.0,
    read_body: bool = True,
    first_chunk: bool = False,
) -> Result:
    result = Result(name=name, concurrency=concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        measure_from = start + warmup
        stop_at = measure_from + duration

        async def worker() -> None:
            while True:
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    return
                t1 = 0.0
                try:
                    async with session.request(method, url, headers=headers, data=body) as response:
                        if first_chunk:
                            # time to the first streamed chunk: latency ends at the first body bytes
                            await response.content.readany()
                            t1 = time.perf_counter()
                            await response.read()
                        elif read_body:
                            await response.read()
                        status = response.status
                except aiohttp.ClientError:
                    if t0 >= measure_from:
                        result.errors += 1
                    continue
                t1 = t1 or time.perf_counter()
                if t0 >= measure_from:
                    result.latencies_ms.append((t1 - t0) * 1000)
                    result.statuses[status] = result.statuses.get(status, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.seconds = duration
    return result
