"""The dashboard's changes, admins only: applications, key slots, key revocation, limit resets.

Every route here takes ``Admin`` (a viewer gets 403 whatever the page shows) and, through it, a valid CSRF
token. A new key is shown once, in the answer to the POST that created it (never in a URL, a redirect, a
cookie or a log), with ``Cache-Control: no-store``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from ..auth.manage import IssuedKey
from ..errors import ApiError
from ..ids import numeric_id
from ..limits.service import LimitService
from ..reports.scope import load_scope
from .errors import web_error
from .lists import applications_context
from .pages import db_of
from .render import SECURITY_HEADERS, render
from .session import Admin, PageNotFound

router = APIRouter(include_in_schema=False)


def _int(value: str, what: str) -> int:
    number = numeric_id(value)
    if number is None:
        raise PageNotFound(f"There is no such {what}.")
    return number


async def _seen_here(request: Request) -> None:
    """Apply key changes to this process's key cache now (other processes follow within a second)."""
    await request.app.state.payi.changes.poll_once()


async def _with_new_keys(request: Request, user: Admin, issued: list[tuple[str, IssuedKey]], notice: str) -> Response:
    context = await applications_context(request, user)
    context["new_keys"] = [{"label": label, "key": key.plaintext} for label, key in issued]
    context["notice"] = notice
    return render(request, "applications.html", context)


@router.post("/applications")
async def create_application(request: Request, user: Admin) -> Response:
    form = await request.form()
    name = str(form.get("name") or "")
    description = str(form.get("description") or "")[:2000]
    store_prompts = form.get("store_prompts") == "on"
    try:
        app, keys = await request.app.state.payi.tenancy.create_application(
            user.org_id, name, description=description, store_prompts=store_prompts
        )
    except ApiError as exc:
        raise web_error(exc) from None
    await _seen_here(request)
    issued = [(f"{app['name']}, slot {k.row['slot']}", k) for k in keys]
    return await _with_new_keys(request, user, issued, f"Application '{app['name']}' created.")


@router.post("/applications/{app_id}/keys/{slot}/regenerate")
async def regenerate_key(request: Request, app_id: str, slot: str, user: Admin) -> Response:
    tenancy = request.app.state.payi.tenancy
    try:
        app = await tenancy.get_application(user.org_id, _int(app_id, "application"))
        issued = await tenancy.regenerate(user.org_id, int(app["app_id"]), _int(slot, "key slot"))
    except ApiError as exc:
        raise web_error(exc) from None
    await _seen_here(request)
    notice = f"Slot {issued.row['slot']} of '{app['name']}' has a new key; the key it replaced no longer works."
    return await _with_new_keys(request, user, [(f"{app['name']}, slot {issued.row['slot']}", issued)], notice)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: str, user: Admin) -> Response:
    try:
        await request.app.state.payi.tenancy.revoke_key(user.org_id, _int(key_id, "key"))
    except ApiError as exc:
        raise web_error(exc) from None
    await _seen_here(request)
    context = await applications_context(request, user)
    context["notice"] = "The key is revoked: it no longer works."
    return render(request, "applications.html", context)


@router.post("/limits/reset")
async def reset_limit(request: Request, user: Admin) -> Response:
    form = await request.form()
    app_id = _int(str(form.get("app_id") or ""), "application")
    limit_id = str(form.get("limit_id") or "")[:100]
    scope = await load_scope(db_of(request), user.org_id)
    if app_id not in scope.app_ids or app_id in scope.deleted:
        raise PageNotFound("There is no such limit.")
    try:
        await LimitService(db_of(request)).reset(app_id, limit_id)
    except ApiError as exc:
        raise web_error(exc) from None
    back = str(form.get("back") or "/limits")
    target = back if back.startswith("/limits") and "//" not in back else "/limits"
    return RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
