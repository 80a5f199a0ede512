"""The dashboard's changes, admins only: applications, key slots, key revocation, limit resets.

Every route here takes ``Admin`` (a viewer gets 403 whatever the page shows) and, through it, a valid CSRF
token. Every change answers 303 to the page that shows it (POST-redirect-GET, ``web.flash``): a reload re-posts
nothing. A new key is shown once, by the first view of that page (kept sealed server-side until then, never in a
URL, a redirect, a cookie or a log), with ``Cache-Control: no-store``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ..errors import ApiError
from ..ids import numeric_id
from ..limits.service import LimitService
from ..reports.scope import load_scope
from .errors import web_error
from .flash import redirect_with
from .pages import db_of
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
    new_keys = [{"label": f"{app['name']}, slot {k.row['slot']}", "key": k.plaintext} for k in keys]
    return await redirect_with(request, user, "/applications", notice=f"Application '{app['name']}' created.",
                               new_keys=new_keys)


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
    new_keys = [{"label": f"{app['name']}, slot {issued.row['slot']}", "key": issued.plaintext}]
    return await redirect_with(request, user, "/applications", notice=notice, new_keys=new_keys)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: str, user: Admin) -> Response:
    try:
        await request.app.state.payi.tenancy.revoke_key(user.org_id, _int(key_id, "key"))
    except ApiError as exc:
        raise web_error(exc) from None
    await _seen_here(request)
    return await redirect_with(request, user, "/applications", notice="The key is revoked: it no longer works.")


@router.post("/limits/reset")
async def reset_limit(request: Request, user: Admin) -> Response:
    form = await request.form()
    app_id = _int(str(form.get("app_id") or ""), "application")
    limit_id = str(form.get("limit_id") or "")[:100]
    scope = await load_scope(db_of(request), user.org_id)
    if app_id not in scope.app_ids or app_id in scope.deleted:
        raise PageNotFound("There is no such limit.")
    try:
        history = await LimitService(db_of(request)).reset(app_id, limit_id)
    except ApiError as exc:
        raise web_error(exc) from None
    back = str(form.get("back") or "/limits")
    target = back if back.startswith("/limits") and "//" not in back else "/limits"
    return await redirect_with(request, user, target, notice=f"Limit '{history['limit_name']}' was reset to zero.")
