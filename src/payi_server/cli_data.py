"""``payi-server retention ...`` and ``payi-server erase``: how long an application's requests are kept, and erasing
a user or an account from them (registered by ``cli``)."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from .auth.manage import Tenancy
from .errors import api_error
from .settings import Settings
from .store.erasure import describe, erase
from .store.retention import LEASE_NAME, MAX_DAYS, Defaults, Lease, Retention, run_sweep

retention_cli = typer.Typer(
    no_args_is_help=True, help="Retention: how long request rows and stored prompts are kept, per application."
)

AppArg = Annotated[str, typer.Argument(help="Application name or id.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
_DAYS_HELP = f"Days kept: 0 (forever) to {MAX_DAYS}, or 'default' (the server's setting)."


def _retention(t: Tenancy, settings: Settings) -> Retention:
    return Retention(
        t.db,
        Defaults(settings.request_retention_days, settings.payload_retention_days),
        batch_size=settings.retention_batch_size,
    )


def _days(value: str | None, name: str) -> dict[str, int | None]:
    if value is None:
        return {}
    if value == "default":
        return {name: None}
    if not (value.isascii() and value.isdigit()) or int(value) > MAX_DAYS:
        raise api_error("invalid_days", option=name.replace('_', '-'), help=_DAYS_HELP)
    return {name: int(value)}


def register(app: typer.Typer, cli: Any) -> None:
    """Add the commands to ``app``; ``cli`` is the ``payi_server.cli`` module (its settings, runner and output)."""
    app.add_typer(retention_cli, name="retention")

    @retention_cli.command("show")
    def retention_show(app_: Annotated[str | None, typer.Argument(metavar="[APP]", help="Application name or id (default: all).")] = None, as_json: JsonOpt = False) -> None:
        """Show each application's retention: its own setting, and what applies."""
        settings = cli._settings()

        async def work(t: Tenancy) -> list[dict[str, Any]]:
            org = await cli._org(t)
            retention = _retention(t, settings)
            if app_:
                found = await t.find_application(org, app_)
                return [{"name": found["name"], **(await retention.get(int(found["app_id"]))).view()}]
            names = {int(a["app_id"]): a["name"] for a in await t.list_applications(org)}
            return [{"name": names[p.app_id], **p.view()} for p in await retention.policies() if p.app_id in names]

        cli._emit(
            cli._run(settings, work),
            as_json,
            ["application_id", "name", "request_days", "payload_days", "effective_request_days", "effective_payload_days"],
        )

    @retention_cli.command("status")
    def retention_status(as_json: JsonOpt = False) -> None:
        """The server's defaults and the last sweep (when, what it deleted, whether one is running)."""
        settings = cli._settings()

        async def work(t: Tenancy) -> dict[str, Any]:
            last = await Lease(t.db, LEASE_NAME, owner=0).status() or {"running": False, "finished_at": None, "result": None}
            return {
                "request_days": settings.request_retention_days or None,
                "payload_days": settings.payload_retention_days or None,
                "interval_seconds": settings.retention_interval,
                **last,
            }

        cli._emit(cli._run(settings, work), as_json)

    @retention_cli.command("set")
    def retention_set(
        app_: AppArg,
        requests: Annotated[str | None, typer.Option("--requests", help="Request rows: " + _DAYS_HELP)] = None,
        payloads: Annotated[str | None, typer.Option("--payloads", help="Prompts and responses: " + _DAYS_HELP)] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Set an application's retention (the next sweep deletes what it makes expire)."""
        settings = cli._settings()

        async def work(t: Tenancy) -> dict[str, Any]:
            changes = {**_days(requests, "request_days"), **_days(payloads, "payload_days")}
            if not changes:
                raise api_error("nothing_to_change")
            found = await t.find_application(await cli._org(t), app_)
            return (await _retention(t, settings).set(int(found["app_id"]), changes)).view()

        cli._emit(cli._run(settings, work), as_json)

    @retention_cli.command("run")
    def retention_run(as_json: JsonOpt = False) -> None:
        """Delete what expired now (as the server does every PAYI_SERVER_RETENTION_INTERVAL seconds)."""
        settings = cli._settings()

        async def work(t: Tenancy) -> dict[str, Any]:
            lease = Lease(t.db, LEASE_NAME, owner=-os.getpid())
            result = await run_sweep(_retention(t, settings), lease)
            if result is None:
                raise api_error("sweep_running")
            return result

        cli._emit(cli._run(settings, work), as_json, ["applications", "requests", "payloads", "seconds"])

    @app.command("erase")
    def erase_cmd(
        app_: AppArg,
        user: Annotated[str | None, typer.Option("--user", help="The user_id to erase.")] = None,
        account: Annotated[str | None, typer.Option("--account", help="The account_name to erase.")] = None,
        delete_requests: Annotated[
            bool, typer.Option("--delete-requests", help="Delete the requests (default: keep them without the identity).")
        ] = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Erase a user or an account from an application: stored prompts deleted, requests anonymised (or deleted),
        rollups merged into the anonymous rows (report totals unchanged)."""
        if (user is None) == (account is None):
            cli.err.print("[red]error:[/red] give one of --user or --account")
            raise typer.Exit(2)
        identity, value = ("user_id", user) if user is not None else ("account_name", account)
        assert value is not None
        settings = cli._settings()

        async def work(t: Tenancy) -> dict[str, Any]:
            if not value or len(value) > 200:
                raise api_error("invalid_identity")
            found = await t.find_application(await cli._org(t), app_)
            counts = await erase(
                t.db, int(found["app_id"]), identity, value, delete_requests=delete_requests,  # type: ignore[arg-type]
                batch_size=settings.retention_batch_size,
            )
            return describe(counts, delete_requests)

        cli._emit(cli._run(settings, work), as_json)
