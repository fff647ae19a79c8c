"""``/api/auth``, ``/api/tokens``, ``/api/users``, ``/api/institutions``: sign-in, credentials, accounts.

Thin handlers: parsing and responses here; rules in ``server/auth``. The rule table
(``server.auth.rules``) has already checked scope and role; the services check the institution.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server.app_errors import AppError, InvalidInput, PayloadTooLarge, Unauthenticated
from server.auth import accounts, api_tokens, login, sessions
from server.auth.middleware import Authenticator
from server.auth.principal import AuthMethod
from server.auth.resolvers import client_address, session_key, user_principal
from server.errors import status_for
from server.http import ctx_of, json_response, principal_of
from server.reading import logos
from server.routes.audit_record import writer_of
from server.services.audit import record_sign_in

JSON = "application/json"
MAX_BODY = 64 * 1024


def _json(data: Any, status: int = 200) -> Response:
    return json_response(data, status=status, media_type=JSON)


def _auth(request: Request) -> Authenticator:
    return request.app.state.auth  # type: ignore[no-any-return]


async def _body(request: Request) -> dict[str, Any]:
    raw = b""
    async for chunk in request.stream():  # the sign-in is public: never buffer a large body
        raw += chunk
        if len(raw) > MAX_BODY:
            raise PayloadTooLarge(f"the body of an accounts request is at most {MAX_BODY} bytes")
    try:
        data = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"request body is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InvalidInput("request body must be a JSON object")
    return data


def _int_param(request: Request, name: str) -> int:
    raw = request.path_params[name]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:  # ids are 32-bit (INTEGER on PostgreSQL)
        raise InvalidInput(f"{name} must be a positive integer, got {raw[:40]!r}")
    return int(raw)


# -- sign-in -----------------------------------------------------------------------------------


async def sign_in(request: Request) -> Response:
    ctx = ctx_of(request)
    # JSON only: a cross-site form cannot send it without a CORS preflight (no login CSRF).
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != JSON:
        raise InvalidInput("send the sign-in as application/json")
    body = await _body(request)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        raise InvalidInput("send {\"username\": ..., \"password\": ...}")
    address = client_address(request)
    try:
        user = await login.check_password(ctx, username, password, address)
    except AppError as exc:
        record_sign_in(writer_of(request.scope), username=username, ok=False, client_address=address,
                       reason=exc.message, status=status_for(exc))
        raise
    record_sign_in(writer_of(request.scope), username=username, ok=True, client_address=address,
                   principal=user_principal(user, AuthMethod.SESSION))
    previous = request.cookies.get(sessions.COOKIE)
    cookie, csrf = await sessions.start_session(ctx, user, client_address(request), previous)
    if previous:
        _auth(request).cache.forget(session_key(previous))
    view = await accounts.view_of(ctx, user)
    response = _json({"user": view.brief_json(), "csrf_token": csrf})
    sessions.set_cookie(response, ctx.settings, cookie)
    return response


async def sign_out(request: Request) -> Response:
    ctx = ctx_of(request)
    cookie = request.cookies.get(sessions.COOKIE)
    if cookie:
        await sessions.end_session(ctx, cookie)
        _auth(request).cache.forget(session_key(cookie))
    response = Response(status_code=204)
    sessions.clear_cookie(response, ctx.settings)
    return response


async def sign_out_everywhere(request: Request) -> Response:
    ctx, p = ctx_of(request), principal_of(request)
    if p.user_id is None:
        raise InvalidInput("this credential belongs to no user account")
    await sessions.end_all_sessions(ctx, p.user_id)
    _auth(request).cache.forget_user(p.user_id)
    response = Response(status_code=204)
    sessions.clear_cookie(response, ctx.settings)
    return response


async def me(request: Request) -> Response:
    ctx, p = ctx_of(request), principal_of(request)
    if p.user_id is None:
        raise Unauthenticated("not signed in as a user")
    csrf = None
    cookie = request.cookies.get(sessions.COOKIE)
    if p.method is AuthMethod.SESSION and cookie:
        csrf = await sessions.session_csrf(ctx, cookie)
    view = await accounts.view_of(ctx, await accounts.get_user(ctx, p.user_id))
    return _json({"user": view.brief_json(), "csrf_token": csrf})


# -- API tokens --------------------------------------------------------------------------------


async def list_tokens(request: Request) -> Response:
    raw = request.query_params.get("user_id")
    if raw is not None and (not (raw.isascii() and raw.isdigit()) or len(raw) > 9):
        raise InvalidInput("user_id must be a positive integer")
    rows = await api_tokens.list_tokens(ctx_of(request), principal_of(request), int(raw) if raw else None)
    return _json({"tokens": [api_tokens.token_json(t, name) for t, name in rows]})


def _expiry(body: dict[str, Any]) -> datetime | None:
    expires = body.get("expires_in")
    if expires is None:
        return None
    if not isinstance(expires, str):
        raise InvalidInput("expires_in must be a duration like 30d, 12h or 90m")
    return api_tokens.expiry_after(expires)


async def create_token(request: Request) -> Response:
    ctx, p = ctx_of(request), principal_of(request)
    body = await _body(request)
    user_id = body.get("user_id", p.user_id)
    if not isinstance(user_id, int) or isinstance(user_id, bool) or not 0 < user_id < 2**31:
        raise InvalidInput("user_id must be a user's id")
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise InvalidInput("user_id must be an integer")
    token, secret = await api_tokens.create_token(ctx, p, user_id, scope=body.get("scope", "write"),
                                                  name=body.get("name", ""), expires_at=_expiry(body))
    user = await accounts.get_user(ctx, user_id)
    return _json({"token": api_tokens.token_json(token, user.username), "secret": secret}, status=201)


async def revoke_token(request: Request) -> Response:
    await api_tokens.revoke_token(ctx_of(request), principal_of(request), _int_param(request, "token_id"))
    return Response(status_code=204)


# -- users and institutions --------------------------------------------------------------------


async def list_users(request: Request) -> Response:
    views = await accounts.list_users(ctx_of(request), principal_of(request))
    return _json({"users": [v.as_json() for v in views]})


async def create_user(request: Request) -> Response:
    p = principal_of(request)
    body = await _body(request)
    unknown = set(body) - {"username", "password", "display_name", "role", "institution_id"}
    if unknown:
        raise InvalidInput(f"unknown field(s): {', '.join(sorted(unknown))}")
    view = await accounts.create_user(
        ctx_of(request), p, body.get("username"), body.get("password"), role=body.get("role"),
        institution_id=body.get("institution_id", p.institution_id), display_name=body.get("display_name", ""))
    return _json(view.as_json(), status=201)


async def update_user(request: Request) -> Response:
    user_id = _int_param(request, "user_id")
    view = await accounts.update_user(ctx_of(request), principal_of(request), user_id, await _body(request))
    _auth(request).cache.forget_user(user_id)
    return _json(view.as_json())


async def list_institutions(request: Request) -> Response:
    rows = await accounts.list_institutions(ctx_of(request), principal_of(request))
    return _json({"institutions": [accounts.institution_json(i) for i in rows]})


async def create_institution(request: Request) -> Response:
    body = await _body(request)
    inst = await accounts.create_institution(ctx_of(request), principal_of(request), body.get("name"),
                                             body.get("parent_id"))
    return _json(accounts.institution_json(inst), status=201)


async def put_logo(request: Request) -> Response:
    """The institution's logo as the raw body (image/png or image/jpeg, size-limited)."""
    raw = request.headers.get("content-length") or "0"
    if raw.isascii() and raw.isdigit() and int(raw) > logos.LOGO_LIMIT:
        raise PayloadTooLarge(f"a logo may be at most {logos.LOGO_LIMIT} bytes")
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    body = await logos.set_logo(ctx_of(request), principal_of(request), _int_param(request, "institution_id"),
                                media, await request.body())
    return _json(body)


async def get_logo(request: Request) -> Response:
    data, media = await logos.get_logo(ctx_of(request), _int_param(request, "institution_id"))
    return Response(data, media_type=media, headers={"X-Content-Type-Options": "nosniff",
                                                      "Cache-Control": "private, no-cache"})


async def delete_logo(request: Request) -> Response:
    await logos.remove_logo(ctx_of(request), principal_of(request), _int_param(request, "institution_id"))
    return Response(status_code=204)


routes: list[BaseRoute] = [
    Route("/auth/login", sign_in, methods=["POST"]),
    Route("/auth/logout", sign_out, methods=["POST"]),
    Route("/auth/logout-all", sign_out_everywhere, methods=["POST"]),
    Route("/auth/me", me, methods=["GET"]),
    Route("/tokens", list_tokens, methods=["GET"]),
    Route("/tokens", create_token, methods=["POST"]),
    Route("/tokens/{token_id}", revoke_token, methods=["DELETE"]),
    Route("/users", list_users, methods=["GET"]),
    Route("/users", create_user, methods=["POST"]),
    Route("/users/{user_id}", update_user, methods=["PATCH"]),
    Route("/institutions", list_institutions, methods=["GET"]),
    Route("/institutions", create_institution, methods=["POST"]),
    Route("/institutions/{institution_id}/logo", put_logo, methods=["PUT"]),
    Route("/institutions/{institution_id}/logo", get_logo, methods=["GET"]),
    Route("/institutions/{institution_id}/logo", delete_logo, methods=["DELETE"]),
]
