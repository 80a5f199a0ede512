"""Alerts at ``/alerts``: webhook endpoints (generic JSON or Slack), "send test", and the delivery log. Everyone
sees them; admins add and remove endpoints and send tests. An endpoint's signing secret is shown once."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ..alerts.deliver import DESCRIBE, deliver_one
from ..alerts.endpoints import FORMATS, AlertEndpoints
from ..errors import ApiError
from ..ids import numeric_id
from .context import PageFilters
from .flash import redirect_with, take_flash
from .pages import db_of
from .render import render
from .session import Admin, PageNotFound, Viewer

router = APIRouter(include_in_schema=False)


def _endpoint_id(value: str) -> int:
    number = numeric_id(value)
    if number is None:
        raise PageNotFound("There is no such endpoint.")
    return number


@router.get("/alerts")
async def alerts_page(request: Request, user: Viewer) -> Response:
    service = AlertEndpoints(db_of(request))
    return render(
        request,
        "alerts.html",
        {"filters": PageFilters.from_request(request), "endpoints": await service.list_endpoints(user.org_id),
         "deliveries": await service.log(user.org_id), "formats": FORMATS, "describe": DESCRIBE,
         **await take_flash(request, user)},
    )


@router.post("/alerts")
async def create_endpoint(request: Request, user: Admin) -> Response:
    form = await request.form()
    name, url, fmt = (str(form.get(k) or "")[:2100] for k in ("name", "url", "format"))
    try:
        endpoint, secret = await AlertEndpoints(db_of(request)).create(user.org_id, name, url, fmt)
    except ApiError as exc:
        return await redirect_with(request, user, "/alerts#new-endpoint", error=exc.message,
                                   endpoint_form={"name": name, "format": fmt})
    return await redirect_with(request, user, "/alerts", notice=f"Endpoint '{endpoint['name']}' added.",
                               new_secret={"name": endpoint["name"], "secret": secret})


@router.post("/alerts/{endpoint_id}/test")
async def send_test(request: Request, endpoint_id: str, user: Admin) -> Response:
    db = db_of(request)
    try:
        delivery_id = await AlertEndpoints(db).send_test(user.org_id, _endpoint_id(endpoint_id))
    except ApiError:
        raise PageNotFound("There is no such endpoint.") from None
    worker = getattr(request.app.state, "payi_alerts", None)
    status = await deliver_one(db, worker.http, delivery_id) if worker is not None else None
    notice = {"sent": "Test alert sent.", None: "Test alert queued."}.get(status, "The test alert failed: see the log below.")
    return await redirect_with(request, user, "/alerts", notice=notice)


@router.post("/alerts/{endpoint_id}/delete")
async def delete_endpoint(request: Request, endpoint_id: str, user: Admin) -> Response:
    try:
        name = await AlertEndpoints(db_of(request)).delete(user.org_id, _endpoint_id(endpoint_id))
    except ApiError:
        raise PageNotFound("There is no such endpoint.") from None
    return await redirect_with(request, user, "/alerts", notice=f"Endpoint '{name}' removed.")
