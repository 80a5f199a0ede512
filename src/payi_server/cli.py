"""``payi-server``: serve, migrate, and manage applications and keys from the command line.

Management commands work on the database directly (no running server needed) and print machine-readable
output with ``--json``. Keys are printed once, when issued, and never again.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from . import cli_backup, cli_data, cli_prices
from .cli_show import hide_flag_types, key_row, show_secret, show_table
from .auth.keys import KeyHasher
from .auth.manage import Bootstrap, Tenancy, key_view
from .errors import ApiError, api_error
from .jsonio import dumps
from .logs import configure_logging
from .pricing.book import PriceBook
from .pricing.sync import sync_system_catalog
from .pricing.deployments import AZURE_CATEGORY, Deployments
from .reports.files import estimate_requests, write_report, write_requests
from .reports.query import build_query
from .reports.requestlog import make_log_query
from .reports.scope import load_scope, narrow
from .serve import reserve_port
from .serve import serve as run_server
from .settings import Settings, SettingsError, load_settings, resolve_secret
from .store.changes import utcnow
from .store.engine import Database
from .store.migrate import migrate
from .web.accounts import ROLES, Accounts, generate_password

hide_flag_types()  # no "--help <bool>" in any help
app = typer.Typer(no_args_is_help=True, add_completion=False, help="The self-hosted Pay-i service.")
apps_cli = typer.Typer(no_args_is_help=True, help="Applications (one per environment: billing-prod, ...).")
keys_cli = typer.Typer(no_args_is_help=True, help="API keys: two slots per application, and organization keys.")
users_cli = typer.Typer(no_args_is_help=True, help="Dashboard users (sign in at / with email and password).")
export_cli = typer.Typer(no_args_is_help=True, help="Export the request log or a report to a file.")
app.add_typer(apps_cli, name="apps")
app.add_typer(keys_cli, name="keys")
app.add_typer(users_cli, name="users")
app.add_typer(export_cli, name="export")
deployments_cli = typer.Typer(
    no_args_is_help=True, help="Deployments: the model an application's named (Azure) deployment runs."
)
app.add_typer(deployments_cli, name="deployments")
cli_data.register(app, sys.modules[__name__])  # retention ..., erase
cli_backup.register(app, sys.modules[__name__])  # backup, restore
cli_prices.register(app, sys.modules[__name__])  # prices sync

out = Console()
err = Console(stderr=True, soft_wrap=True)  # an error is one line, whatever the terminal's width
T = TypeVar("T")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


def _run(settings: Settings, work: Callable[[Tenancy], Awaitable[T]]) -> T:
    async def main() -> T:
        await migrate(settings.sqlalchemy_url)
        db = Database(settings.sqlalchemy_url, pool_size=2)
        try:
            tenancy = Tenancy(db, KeyHasher(resolve_secret(settings)))
            await tenancy.check_secret()
            return await work(tenancy)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except ApiError as exc:
        err.print(f"[red]error:[/red] {exc.message} ({exc.code})")
        raise typer.Exit(1) from None
    except SettingsError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


async def _org(tenancy: Tenancy) -> int:
    org_id = await tenancy.first_organization()
    if org_id is None:
        boot = await tenancy.bootstrap()
        assert boot is not None
        print_bootstrap(boot)
        return boot.org_id
    return org_id


def _emit(data: Any, as_json: bool, columns: list[str] | None = None) -> None:
    if as_json:
        sys.stdout.write(dumps(data).decode() + "\n")
        return
    rows = data if isinstance(data, list) else [data]
    show_table(out, rows, columns or (list(rows[0].keys()) if rows else []))


def print_bootstrap(boot: Bootstrap) -> None:
    """First start: show the new keys once (on the console, never through the log)."""
    lines = [
        "",
        "First start: created an organization, its key, and the application 'default' with two keys.",
        "These keys are shown ONCE and cannot be recovered. Store them now.",
        "organization key (admin API, CLI):",
        boot.org_key.plaintext,
        "application 'default', key slot 1:",
        boot.app_keys[0].plaintext,
        "application 'default', key slot 2:",
        boot.app_keys[1].plaintext,
        "",
    ]
    sys.stdout.write("\n".join(lines) + "\n")  # each key alone on its line, never wrapped or cut
    sys.stdout.flush()


def print_first_user(email: str, password: str, settings: Settings) -> None:
    """First start: the dashboard's first admin, shown once (never through the log)."""
    host = "localhost" if settings.host in ("0.0.0.0", "::", "127.0.0.1") else settings.host  # noqa: S104
    sys.stdout.write(
        f"Dashboard: http://{host}:{settings.port}/ - sign in as {email} with this password (shown once; change it\n"
        f"with: payi-server users set-password {email}):\n{password}\n\n"
    )
    sys.stdout.flush()


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        err.print(f"[red]error:[/red] not an ISO-8601 date-time: {value!r}")
        raise typer.Exit(2) from None
    if parsed.tzinfo is None:
        err.print("[red]error:[/red] give a time zone, e.g. 2027-01-01T00:00:00Z")
        raise typer.Exit(2)
    return parsed


# --- serve / migrate ----------------------------------------------------------------------------------
@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (PAYI_SERVER_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (PAYI_SERVER_PORT).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (PAYI_SERVER_WORKERS).")] = None,
) -> None:
    """Migrate the database, create the first organization if there is none, and serve the API."""
    overrides = {"host": host, "port": port, "workers": workers}
    settings = _settings(**overrides)
    # Worker processes read their settings from the environment: pass the command-line values on.
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"PAYI_SERVER_{name.upper()}"] = str(value)
    configure_logging(settings.log_level, settings.log_format)
    # The port first: a start that cannot serve must not create the organization (its keys would be shown, then
    # lost with the failed start).
    try:
        reserved = reserve_port(settings.host, settings.port, settings.workers)
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}")
        raise typer.Exit(1) from None

    async def prepare(tenancy: Tenancy) -> None:
        await sync_system_catalog(tenancy.db)  # once here: the workers start without preparing the database
        boot = await tenancy.bootstrap()
        if boot is not None:
            print_bootstrap(boot)
        first = await Accounts(tenancy.db).ensure_first_admin(await _org(tenancy))
        if first is not None:
            print_first_user(*first, settings)

    _run(settings, prepare)
    # Migrated and the catalog synced above, once, before the workers start.
    os.environ["PAYI_SERVER_MIGRATE_ON_START"] = "false"
    run_server(settings.host, settings.port, settings.workers, settings.data_dir, reserved,
               log_level=settings.log_level, log_format=settings.log_format)


@app.command("migrate")
def migrate_cmd() -> None:
    """Apply the database migrations, bring in the installed price catalog, and exit."""
    settings = _settings()

    async def main() -> tuple[str | None, dict[str, int] | None]:
        revision = await migrate(settings.sqlalchemy_url, complete=True)
        db = Database(settings.sqlalchemy_url, pool_size=1)
        try:
            return revision, await sync_system_catalog(db)
        finally:
            await db.dispose()

    revision, synced = asyncio.run(main())
    out.print(f"database at revision {revision}")
    if synced is not None:
        out.print(f"price catalog synced: {synced['inserted']} versions added, {synced['updated']} updated")


# --- applications -------------------------------------------------------------------------------------
@apps_cli.command("create")
def apps_create(
    name: str,
    description: Annotated[str, typer.Option()] = "",
    store_prompts: Annotated[bool, typer.Option(help="Store prompts and responses of requests.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create an application and its two keys (shown once)."""

    async def work(t: Tenancy) -> dict[str, Any]:
        created, keys = await t.create_application(await _org(t), name, description=description, store_prompts=store_prompts)
        return {"application": created, "keys": [key_view(k.row, k.plaintext) for k in keys]}

    result = _run(_settings(), work)
    if as_json:
        _emit(result, True)
        return
    _emit(result["application"], False)
    for key in result["keys"]:
        show_secret(f"{name}, key slot {key['slot']} (shown once: store it now):", key["key"])


@apps_cli.command("list")
def apps_list(as_json: JsonOpt = False) -> None:
    """List the applications."""

    async def work(t: Tenancy) -> list[dict[str, Any]]:
        return await t.list_applications(await _org(t))

    _emit(_run(_settings(), work), as_json, ["app_id", "name", "store_prompts", "created_at"])


@apps_cli.command("delete")
def apps_delete(app: Annotated[str, typer.Argument(help="Application name or id.")], as_json: JsonOpt = False) -> None:
    """Delete an application; its keys stop working, its recorded requests are kept."""

    async def work(t: Tenancy) -> dict[str, Any]:
        org = await _org(t)
        found = await t.find_application(org, app)
        return await t.delete_application(org, int(found["app_id"]))

    _emit(_run(_settings(), work), as_json)


# --- keys ---------------------------------------------------------------------------------------------
@keys_cli.command("list")
def keys_list(
    app: Annotated[str | None, typer.Option(help="Only this application's keys (name or id).")] = None,
    include_revoked: Annotated[bool, typer.Option()] = False,
    as_json: JsonOpt = False,
) -> None:
    """List keys (never their secret part)."""

    async def work(t: Tenancy) -> list[dict[str, Any]]:
        org = await _org(t)
        app_id = int((await t.find_application(org, app))["app_id"]) if app else None
        return await t.list_keys(org, app_id, include_revoked)

    listed = _run(_settings(), work)
    if as_json:
        _emit(listed, True)
        return
    _emit([key_row(k) for k in listed], False, ["key_id", "kind", "app", "slot", "prefix", "status", "used"])


@keys_cli.command("regenerate")
def keys_regenerate(
    app: Annotated[str, typer.Argument(help="Application name or id.")],
    slot: Annotated[int, typer.Option(min=1, max=2, help="Key slot, 1 or 2.")],
    expires: Annotated[str | None, typer.Option(help="Expiry, ISO-8601 with a time zone.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue a new key in a slot; the key it replaces stops working at once, the other slot is untouched."""

    async def work(t: Tenancy) -> dict[str, Any]:
        org = await _org(t)
        found = await t.find_application(org, app)
        issued = await t.regenerate(org, int(found["app_id"]), slot, _when(expires))
        return key_view(issued.row, issued.plaintext)

    issued = _run(_settings(), work)
    _emit(issued, as_json, ["key_id", "slot", "expires_at"])
    if not as_json:
        show_secret(f"{app}, key slot {slot} (shown once: store it now):", issued["key"])


@keys_cli.command("revoke")
def keys_revoke(key_id: int, as_json: JsonOpt = False) -> None:
    """Revoke a key (application or organization key)."""

    async def work(t: Tenancy) -> dict[str, Any]:
        return await t.revoke_key(await _org(t), key_id)

    _emit(_run(_settings(), work), as_json, ["key_id", "prefix", "revoked_at"])


@keys_cli.command("expire")
def keys_expire(
    key_id: int,
    at: Annotated[str | None, typer.Option(help="Expiry, ISO-8601 with a time zone; omit to clear.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Set or clear a key's expiry."""

    async def work(t: Tenancy) -> dict[str, Any]:
        return await t.set_expiry(await _org(t), key_id, _when(at))

    _emit(_run(_settings(), work), as_json, ["key_id", "prefix", "expires_at"])


@keys_cli.command("create-org")
def keys_create_org(
    label: Annotated[str, typer.Option()] = "",
    expires: Annotated[str | None, typer.Option(help="Expiry, ISO-8601 with a time zone.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an organization key (manages applications, keys and prices; cannot ingest or proxy)."""

    async def work(t: Tenancy) -> dict[str, Any]:
        issued = await t.create_org_key(await _org(t), label=label, expires_at=_when(expires))
        return key_view(issued.row, issued.plaintext)

    issued = _run(_settings(), work)
    _emit(issued, as_json, ["key_id", "label", "expires_at"])
    if not as_json:
        show_secret("organization key (shown once: store it now):", issued["key"])


# --- dashboard users -----------------------------------------------------------------------------------
def _password(generate: bool) -> tuple[str, bool]:
    """``(password, generated)``: prompted (hidden, twice) unless asked to generate one."""
    if generate:
        return generate_password(), True
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True), False


@users_cli.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="The user's email (their sign-in name).")],
    role: Annotated[str, typer.Option(help="admin (may change things) or viewer (reads only).")] = "viewer",
    generate_password_: Annotated[bool, typer.Option("--generate-password", help="Generate and print a password.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a dashboard user; the password is prompted for, or generated and printed once."""
    if role not in ROLES:
        err.print("[red]error:[/red] --role is admin or viewer")
        raise typer.Exit(2)
    password, generated = _password(generate_password_)

    async def work(t: Tenancy) -> dict[str, Any]:
        return await Accounts(t.db).create_user(await _org(t), email, password, role)

    user = _run(_settings(), work)
    if generated and as_json:
        user["password"] = password
    _emit(user, as_json, ["user_id", "email", "role"])
    if generated and not as_json:
        show_secret(f"password of {email} (shown once: store it now):", password)


@users_cli.command("list")
def users_list(as_json: JsonOpt = False) -> None:
    """List dashboard users (never their passwords)."""

    async def work(t: Tenancy) -> list[dict[str, Any]]:
        return await Accounts(t.db).list_users(await _org(t))

    _emit(_run(_settings(), work), as_json, ["user_id", "email", "role", "last_login_at", "disabled"])


@users_cli.command("set-password")
def users_set_password(
    email: str,
    generate_password_: Annotated[bool, typer.Option("--generate-password", help="Generate and print a password.")] = False,
) -> None:
    """Set a user's password; their sessions end."""
    password, generated = _password(generate_password_)

    async def work(t: Tenancy) -> None:
        await Accounts(t.db).set_password(await _org(t), email, password)

    _run(_settings(), work)
    if generated:
        show_secret(f"password set; the new password of {email} (shown once: store it now):", password)
    else:
        out.print("password set")


@users_cli.command("delete")
def users_delete(email: str) -> None:
    """Delete a dashboard user and end their sessions."""

    async def work(t: Tenancy) -> None:
        await Accounts(t.db).delete_user(await _org(t), email)

    _run(_settings(), work)
    out.print(f"deleted {email}")


# --- exports -----------------------------------------------------------------------------------------
Output = Annotated[Path, typer.Option("--output", "-o", help="File to write.")]
Start = Annotated[str | None, typer.Option(help="ISO-8601 start (default: 30 days ago); no zone: read in --tz.")]
End = Annotated[str | None, typer.Option(help="ISO-8601 end (default: now).")]
AppOpt = Annotated[list[str] | None, typer.Option("--app", help="Application name or id (repeatable; default: all).")]
FilterOpt = Annotated[list[str] | None, typer.Option("--filter", help="DIMENSION=VALUE, e.g. user=ann (repeatable).")]


def _filters(pairs: list[str] | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep:
            err.print(f"[red]error:[/red] --filter takes DIMENSION=VALUE, not {pair!r}")
            raise typer.Exit(2)
        out.setdefault(name.strip(), []).append(value)
    return out


@export_cli.command("requests")
def export_requests(
    output: Output,
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl")] = "jsonl",
    start: Start = None,
    end: End = None,
    tz: Annotated[str, typer.Option(help="Zone for dates given without one.")] = "UTC",
    apps: AppOpt = None,
    filters: FilterOpt = None,
) -> None:
    """Stream the request log (oldest first) to a file, with a progress bar."""
    if fmt not in ("csv", "jsonl"):
        err.print("[red]error:[/red] --format is csv or jsonl")
        raise typer.Exit(2)
    parsed = _filters(filters)

    async def work(t: Tenancy) -> int:
        scope = narrow(await load_scope(t.db, await _org(t)), apps or [])
        query = make_log_query(_when_in(start, tz), _when_in(end, tz), tz, parsed)
        total = await estimate_requests(t.db, scope, query)
        columns = (TextColumn("exporting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=err) as progress, output.open("wb") as fh:
            task = progress.add_task("requests", total=total or None)
            return await write_requests(t.db, scope, query, fmt, fh, lambda n: progress.advance(task, n))

    written = _run(_settings(), work)
    err.print(f"wrote {written} requests to {output}")


@export_cli.command("report")
def export_report(
    output: Output,
    fmt: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
    start: Start = None,
    end: End = None,
    bucket: Annotated[str, typer.Option(help="hour, day, month or total")] = "day",
    tz: Annotated[str, typer.Option(help="Zone of the buckets.")] = "UTC",
    group_by: Annotated[list[str] | None, typer.Option("--group-by", help="Dimension (repeatable).")] = None,
    apps: AppOpt = None,
    filters: FilterOpt = None,
) -> None:
    """Write a spend report (from the rollups) to a file."""
    if fmt not in ("csv", "json"):
        err.print("[red]error:[/red] --format is csv or json")
        raise typer.Exit(2)

    async def work(t: Tenancy) -> int:
        scope = narrow(await load_scope(t.db, await _org(t)), apps or [])
        query = build_query(start=_when_in(start, tz), end=_when_in(end, tz), bucket=bucket, tz=tz,
                            group_by=group_by or [], filters=_filters(filters))
        with output.open("wb") as fh:
            return await write_report(t.db, scope, query, fmt, fh)

    rows = _run(_settings(), work)
    err.print(f"wrote {rows} rows to {output}")


def _when_in(value: str | None, tz: str) -> datetime | None:
    """An ISO date or date-time; one without a zone is read in ``tz`` (by the report code)."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        err.print(f"[red]error:[/red] not an ISO-8601 date-time: {value!r}")
        raise typer.Exit(2) from None


# --- deployments ----------------------------------------------------------------------------------------
AppArg = Annotated[str, typer.Argument(help="Application name or id.")]
CategoryOpt = Annotated[str, typer.Option(help="The provider category the deployment belongs to.")]


@deployments_cli.command("set")
def deployments_set(
    app: AppArg,
    deployment: str,
    model: str,
    category: CategoryOpt = AZURE_CATEGORY,
    as_json: JsonOpt = False,
) -> None:
    """Map a deployment to the (priced) model it runs: calls naming it are estimated, and admitted by strict
    limits, from their first call."""

    async def work(t: Tenancy) -> dict[str, Any]:
        org = await _org(t)
        found = await t.find_application(org, app)
        await sync_system_catalog(t.db)  # as a server start does: the managed prices this version ships
        book = PriceBook(t.db)
        await book.load()
        if book.resolve(org, category, model, utcnow()) is None:
            raise api_error("resource_not_found", model=model, category=category)
        return await Deployments(t.db).set(org, int(found["app_id"]), category, deployment, model)

    _emit(_run(_settings(), work), as_json, ["deployment", "model", "category"])


@deployments_cli.command("list")
def deployments_list(app: AppArg, as_json: JsonOpt = False) -> None:
    """List an application's deployments and their models."""

    async def work(t: Tenancy) -> list[dict[str, Any]]:
        org = await _org(t)
        found = await t.find_application(org, app)
        return await Deployments(t.db).list(org, int(found["app_id"]))

    _emit(_run(_settings(), work), as_json, ["deployment", "model", "category"])


@deployments_cli.command("remove")
def deployments_remove(app: AppArg, deployment: str, category: CategoryOpt = AZURE_CATEGORY) -> None:
    """Remove a deployment's mapping (its calls are estimated from what the provider reports again)."""

    async def work(t: Tenancy) -> dict[str, Any]:
        org = await _org(t)
        found = await t.find_application(org, app)
        return await Deployments(t.db).remove(org, int(found["app_id"]), category, deployment)

    _run(_settings(), work)
    err.print(f"removed the mapping of {deployment}")


def main() -> None:
    app()
