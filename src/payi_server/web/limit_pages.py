"""One limit's page, and admins creating, editing and deleting limits from the dashboard.

Every rule of a limit (names, max, threshold, type, enforcement, periods and zones, what may change after
creation) is ``LimitService``'s: these routes only read the form, scope the application to the user's
organisation, and show the service's answer. A change answers 303 (``web.flash``); a refused change goes back to
the form with the service's message and what was typed.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from ..errors import ApiError
from ..ids import numeric_id
from ..limits.config import LIMIT_ID, parse_config
from ..limits.service import LimitService
from ..reports.scope import load_scope, narrow
from ..usecases.service import UseCaseService
from .accounts import WebUser
from .context import PageFilters
from .data import limits_in
from .flash import redirect_with, take_flash
from .pages import db_of
from .render import render
from .session import Admin, PageNotFound, Viewer

router = APIRouter(include_in_schema=False)

PERIODS = {"": "never (until reset)", "day": "each day", "week": "each week (Monday)", "month": "each month"}
FORM_FIELDS = ("app_id", "limit_name", "max", "limit_type", "threshold", "period", "timezone", "strict")


def _text(form: FormData, name: str, size: int = 200) -> str:
    value = form.get(name)
    return value.strip()[:size] if isinstance(value, str) else ""


def threshold_of(percent: str) -> str | None:
    """The form's threshold in percent ('80') as the service's fraction ('0.8'); blank: no threshold."""
    if not percent:
        return None
    try:
        return str(Decimal(percent) / 100)
    except InvalidOperation:
        return percent  # the service refuses it with its own message


async def own_app(request: Request, user: WebUser, value: str) -> int:
    """A live application of the user's organisation, or "not found"."""
    app_id = numeric_id(value)
    scope = await load_scope(db_of(request), user.org_id)
    if app_id is None or app_id not in scope.app_ids or app_id in scope.deleted:
        raise PageNotFound("There is no such limit.")
    return app_id


def _limit_id(value: str) -> str:
    if not LIMIT_ID.match(value):
        raise PageNotFound("There is no such limit.")
    return value


def limit_link(app_id: Any, limit_id: str) -> str:
    return f"/limits/{app_id}/{limit_id}"


@router.post("/limits")
async def create_limit(request: Request, user: Admin) -> Response:
    form = await request.form()
    typed = {name: _text(form, name) for name in FORM_FIELDS}
    app_id = await own_app(request, user, typed["app_id"])
    try:
        limit, created = await LimitService(db_of(request)).create(
            app_id,
            name=typed["limit_name"],
            max=typed["max"] or "0",
            limit_type=typed["limit_type"] or None,
            threshold=threshold_of(typed["threshold"]),
            enforcement="strict" if typed["strict"] else "default",
            period=typed["period"] or None,
            timezone=(typed["timezone"] or None) if typed["period"] else None,
        )
    except ApiError as exc:
        return await redirect_with(request, user, "/limits#new-limit", error=exc.message, limit_form=typed)
    if not created:
        return await redirect_with(request, user, limit_link(app_id, limit["limit_id"]),
                                   notice=f"A limit named '{limit['limit_name']}' with this configuration exists already.")
    return await redirect_with(request, user, limit_link(app_id, limit["limit_id"]),
                               notice=f"Limit '{limit['limit_name']}' created.")


@router.get("/limits/{app_id}/{limit_id}")
async def limit_page(request: Request, app_id: str, limit_id: str, user: Viewer) -> Response:
    number = await own_app(request, user, app_id)
    scope = narrow(await load_scope(db_of(request), user.org_id), [str(number)])
    try:
        history, _more = await LimitService(db_of(request)).history(number, _limit_id(limit_id), size=20)
    except ApiError:
        raise PageNotFound("There is no such limit.") from None
    found = await limits_in(db_of(request), scope, limit_id)
    if not found:
        raise PageNotFound("There is no such limit.")
    filters = PageFilters.from_request(request)
    row = found[0]
    return render(
        request,
        "limit.html",
        {"filters": filters, "l": row, "history": history, "periods": PERIODS, **await take_flash(request, user)},
    )


@router.post("/limits/{app_id}/{limit_id}")
async def edit_limit(request: Request, app_id: str, limit_id: str, user: Admin) -> Response:
    """Rename, change the max, switch strict enforcement: what the service lets change on a live limit."""
    number = await own_app(request, user, app_id)
    limit_id = _limit_id(limit_id)
    form = await request.form()
    link = limit_link(number, limit_id)
    service = LimitService(db_of(request))
    try:
        before = await service.get(number, limit_id)
        name, amount = _text(form, "limit_name"), _text(form, "max", 40)
        after = await service.update(
            number, limit_id, name=name if name and name != before["limit_name"] else None, max=amount or None
        )
        mode = "strict" if _text(form, "strict") else "default"
        if mode != (before["enforcement"] or "default"):
            after = await service.update_properties(number, limit_id, {"enforcement": mode})
    except ApiError as exc:
        if exc.status == 404:
            raise PageNotFound("There is no such limit.") from None
        return await redirect_with(request, user, link + "#edit", error=exc.message)
    return await redirect_with(request, user, link, notice=f"Limit '{after['limit_name']}' saved.")


@router.post("/use-cases/{app_id}/{name}/limit")
async def set_instance_limit(request: Request, app_id: str, name: str, user: Admin) -> Response:
    """The limit every new instance of a use case gets (the limits rules, as ``POST .../limit_config``)."""
    number = await own_app(request, user, app_id)
    form = await request.form()
    typed = {field: _text(form, field) for field in FORM_FIELDS}
    try:
        config = parse_config(
            max=typed["max"] or "0", limit_type=typed["limit_type"] or None, threshold=threshold_of(typed["threshold"]),
            enforcement="strict" if typed["strict"] else "default", period=typed["period"] or None,
            timezone=(typed["timezone"] or None) if typed["period"] else None,
        ).as_json()
        await UseCaseService(db_of(request)).set_limit_config(number, name, config)
    except ApiError as exc:
        if exc.status == 404:
            raise PageNotFound("There is no such use case.") from None
        return await redirect_with(request, user, "/use-cases", error=exc.message)
    return await redirect_with(request, user, "/use-cases",
                               notice=f"New instances of '{name}' get a limit of ${config['max']:,.2f}.")


@router.post("/use-cases/{app_id}/{name}/limit/delete")
async def remove_instance_limit(request: Request, app_id: str, name: str, user: Admin) -> Response:
    number = await own_app(request, user, app_id)
    try:
        await UseCaseService(db_of(request)).set_limit_config(number, name, None)
    except ApiError:
        raise PageNotFound("There is no such use case.") from None
    return await redirect_with(request, user, "/use-cases", notice=f"New instances of '{name}' get no limit.")


@router.post("/limits/{app_id}/{limit_id}/delete")
async def delete_limit(request: Request, app_id: str, limit_id: str, user: Admin) -> Response:
    number = await own_app(request, user, app_id)
    service = LimitService(db_of(request))
    try:
        before = await service.get(number, _limit_id(limit_id))
        await service.delete(number, limit_id)
    except ApiError:
        raise PageNotFound("There is no such limit.") from None
    return await redirect_with(request, user, "/limits", notice=f"Limit '{before['limit_name']}' deleted.")
