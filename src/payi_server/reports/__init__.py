"""Reports: spend and request counts over time, read from the hourly rollups (never from the request log).

- ``query``: what a report asks for (range, bucket, time zone, dimensions, filters) and how it is parsed;
- ``buckets``: hour / day / month buckets in the caller's time zone, the same on SQLite and PostgreSQL;
- ``service``: ``ReportService.spend`` runs a report against the rollup tables of a ``Scope``;
- ``scope``: which applications a caller (key or dashboard user) may see;
- ``requestlog``: the request log itself, streamed page by page (keyset) for exports;
- ``formats``: CSV and JSON/JSONL renderings of both.
"""
