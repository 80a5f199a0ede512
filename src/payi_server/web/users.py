"""The dashboard's users, at ``/users``: everyone sees who has access; admins add users, change roles, set new
passwords and remove users (the same ``Accounts`` rules as ``payi-server users``; the organisation keeps an admin).

A generated password is shown once, by the page the change redirects to (``web.flash``); a new password ends the
user's sessions, a role change applies to their next page.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from ..errors import ApiError
from ..ids import numeric_id
from .accounts import ROLES, generate_password
from .context import PageFilters
from .flash import redirect_with, take_flash
from .render import SECURITY_HEADERS, render
from .session import Admin, PageNotFound, Viewer, accounts

router = APIRouter(include_in_schema=False)


def _field(form: object, name: str, size: int = 300) -> str:
    value = form.get(name) if hasattr(form, "get") else None
    return value.strip()[:size] if isinstance(value, str) else ""


async def _email_of(request: Request, org_id: int, user_id: str) -> str:
    number = numeric_id(user_id)
    if number is None:
        raise PageNotFound("There is no such user.")
    try:
        return await accounts(request).user_email(org_id, number)
    except ApiError:
        raise PageNotFound("There is no such user.") from None


@router.get("/users")
async def users_page(request: Request, user: Viewer) -> Response:
    users = await accounts(request).list_users(user.org_id)
    return render(
        request,
        "users.html",
        {"filters": PageFilters.from_request(request), "users": users, "roles": ROLES, **await take_flash(request, user)},
    )


@router.post("/users")
async def create_user(request: Request, user: Admin) -> Response:
    """A new user with the password typed, or a generated one shown once."""
    form = await request.form()
    email, role = _field(form, "email"), _field(form, "role", 16)
    typed = str(form.get("password") or "")[:2000]
    password = typed or generate_password()
    try:
        created = await accounts(request).create_user(user.org_id, email, password, role)
    except ApiError as exc:
        return await redirect_with(request, user, "/users#new-user", error=exc.message,
                                   user_form={"email": email, "role": role})
    if typed:
        return await redirect_with(request, user, "/users", notice=f"{created['email']} can sign in with the password you set.")
    return await redirect_with(request, user, "/users", notice=f"{created['email']} can sign in now.",
                               new_password={"email": created["email"], "password": password})


@router.post("/users/{user_id}/role")
async def change_role(request: Request, user_id: str, user: Admin) -> Response:
    email = await _email_of(request, user.org_id, user_id)
    role = _field(await request.form(), "role", 16)
    try:
        await accounts(request).set_role(user.org_id, email, role)
    except ApiError as exc:
        return await redirect_with(request, user, "/users", error=exc.message)
    return await redirect_with(request, user, "/users", notice=f"{email} is now {role}.")


@router.post("/users/{user_id}/password")
async def new_password(request: Request, user_id: str, user: Admin) -> Response:
    """A generated password, shown once; the user's sessions end."""
    email = await _email_of(request, user.org_id, user_id)
    if email == user.email:
        return await redirect_with(request, user, "/users", error="Your own password is changed with "
                                   "'payi-server users set-password' (or by another admin): this page would sign you out.")
    password = generate_password()
    await accounts(request).set_password(user.org_id, email, password)
    return await redirect_with(request, user, "/users", notice=f"{email} has a new password; their sessions ended.",
                               new_password={"email": email, "password": password})


@router.post("/users/{user_id}/delete")
async def delete_user(request: Request, user_id: str, user: Admin) -> Response:
    email = await _email_of(request, user.org_id, user_id)
    try:
        await accounts(request).delete_user(user.org_id, email, keep_an_admin=True)
    except ApiError as exc:
        return await redirect_with(request, user, "/users", error=exc.message)
    if email == user.email:  # their session is gone with them
        return RedirectResponse("/login", status_code=303, headers=SECURITY_HEADERS)
    return await redirect_with(request, user, "/users", notice=f"{email} was removed.")
