"""``payi-server prices sync``: bring a newer managed price catalog in (registered by ``cli``).

The catalog is the installed genai-prices package (``pip install -U genai-prices``, then sync; a server start does
the same), or ``--file``, an operator's JSON price file (negotiated prices, models genai-prices does not list yet).
Changes become new dated versions; ``--dry-run`` prints the diff and writes nothing. See ``pricing/sync.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .auth.manage import Tenancy
from .errors import ApiError
from .jsonio import dumps
from .pricing.seed import load_seed, seed_version
from .pricing.sync import genai_prices_version, load_price_file, sync_catalog
from .store.changes import utcnow

prices_cli = typer.Typer(no_args_is_help=True, help="The managed price catalog (system.* categories).")

FileOpt = Annotated[
    Path | None,
    typer.Option("--file", help="A JSON price file instead of the installed genai-prices catalog (docs/pricing.md)."),
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print what would change; write nothing.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def register(app: typer.Typer, cli: Any) -> None:
    """Add the commands to ``app``; ``cli`` is the ``payi_server.cli`` module (its settings, runner and output)."""
    app.add_typer(prices_cli, name="prices")

    @prices_cli.command("sync")
    def prices_sync(file: FileOpt = None, dry_run: DryRunOpt = False, as_json: JsonOpt = False) -> None:
        """Bring in a newer catalog as new dated versions (past costs never change)."""
        settings = cli._settings()
        now = utcnow().replace(microsecond=0)
        if file is not None:
            try:
                wanted = load_price_file(file, now=now)  # a bad file fails before the database is touched
            except ApiError as exc:
                cli.err.print(f"[red]error:[/red] {exc.message}")
                raise typer.Exit(2) from None
            source, seed_hash = f"file {file.name}", None
        else:
            wanted = load_seed()
            source, seed_hash = f"genai-prices {genai_prices_version()}", seed_version()

        async def work(t: Tenancy) -> dict[str, Any]:
            plan = await sync_catalog(t.db, wanted, dry_run=dry_run, now=now, seed_hash=seed_hash)
            return {
                "source": source,
                "dry_run": dry_run,
                "effective": plan.effective.isoformat(),
                "counts": plan.counts(),
                "changes": [change.view() for change in plan.changes],
                "lines": [change.line() for change in plan.changes],
            }

        result = cli._run(settings, work)
        if as_json:
            result.pop("lines")
            sys.stdout.write(dumps(result).decode() + "\n")
            return
        lines = result["lines"]
        head = "would change" if dry_run else "changed"
        sys.stdout.write(f"{result['source']}: {len(lines)} resource(s) {head}, effective {result['effective']}\n")
        for line in lines:
            sys.stdout.write(line + "\n")
        counts = result["counts"]
        verbs = ("would insert", "would update") if dry_run else ("inserted", "updated")
        sys.stdout.write(
            f"{verbs[0]} {counts['inserted']} version(s), {verbs[1]} {counts['updated']}, "
            f"unchanged {counts['unchanged']}\n"
        )
