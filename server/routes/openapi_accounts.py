# ruff: noqa: E501  (a data document: long lines read better than wrapped ones)
"""The accounts part of the OpenAPI document (``/auth``, ``/tokens``, ``/users``, ``/institutions``),
merged into ``server.routes.openapi.OPENAPI``. Closed object schemas, as in the rest of the document.

Authentication (every path but ``/auth/login`` and ``/openapi.json``): ``Authorization: Bearer``
with an API token (``cirrus_...``), or the ``cirrus_session`` cookie of ``/auth/login`` — then a
state-changing request also sends ``X-CSRF-Token``. Without credentials: 401 with
``WWW-Authenticate: Bearer``; a credential lacking the scope or role: 403.
"""

from __future__ import annotations

from typing import Any

from server.auth.principal import Role
from server.auth.secrets import SCOPE_LEVELS
from server.routes.openapi_parts import INT, STRING, TIMESTAMP, closed, error, json_body, nullable, ref

ROLE = {"type": "string", "enum": [r.value for r in Role]}
SCOPE = {"type": "string", "enum": list(SCOPE_LEVELS),
         "description": "read < stow < write < admin; each includes the ones before it"}
BAD = error("A malformed body or value (names it)")
UNAUTHENTICATED = error("No valid credentials")
FORBIDDEN = error("The credential lacks the scope, or the role may not do this (or a missing CSRF token)")
NOT_FOUND = error("No such thing (or not visible to the caller)")
CONFLICT = error("The name is taken")
NO_CONTENT = {"description": "Done"}
TOKEN_ID = {"name": "token_id", "in": "path", "required": True, "schema": INT}
USER_ID = {"name": "user_id", "in": "path", "required": True, "schema": INT}

SCHEMAS: dict[str, Any] = {
    "SignedInUser": closed({"id": INT, "username": STRING, "role": ROLE, "institution_id": INT,
                             "institution_name": STRING, "display_name": STRING}),
    "SignIn": closed({"user": ref("SignedInUser"),
                       "csrf_token": {**nullable(STRING), "description": "send as X-CSRF-Token with state-changing requests (null when not signed in by cookie)"}}),
    "User": closed({"id": INT, "username": STRING, "display_name": STRING, "role": ROLE, "institution_id": INT,
                     "institution_name": STRING, "active": {"type": "boolean"}, "locked_until": nullable(TIMESTAMP),
                     "created_at": TIMESTAMP, "password_changed_at": TIMESTAMP}),
    "UserList": closed({"users": {"type": "array", "items": ref("User")}}),
    "ApiToken": closed({"id": INT, "name": STRING, "prefix": {**STRING, "description": "the first characters of the token"},
                         "scope": SCOPE, "user_id": INT, "username": STRING, "created_at": TIMESTAMP,
                         "expires_at": nullable(TIMESTAMP), "revoked_at": nullable(TIMESTAMP),
                         "last_used_at": nullable(TIMESTAMP)}),
    "ApiTokenList": closed({"tokens": {"type": "array", "items": ref("ApiToken")}}),
    "NewApiToken": closed({"token": ref("ApiToken"),
                            "secret": {**STRING, "description": "the token (cirrus_...): shown this once, stored hashed"}}),
    "Institution": closed({"id": INT, "name": STRING, "parent_id": nullable(INT), "created_at": TIMESTAMP}),
    "InstitutionList": closed({"institutions": {"type": "array", "items": ref("Institution")}}),
}

PATHS: dict[str, Any] = {
    "/auth/login": {"post": {
        "summary": "Sign in: sets the cirrus_session cookie (HttpOnly, SameSite=Lax, Secure unless CIRRUS_COOKIE_SECURE=false)",
        "operationId": "signIn",
        "requestBody": json_body(closed({"username": STRING, "password": STRING})),
        "responses": {"200": {"description": "Signed in", **json_body(ref("SignIn"))}, "400": BAD,
                      "401": error("Wrong username or password"), "413": error("A body over 64 KiB"),
                      "429": error("Too many failed sign-ins for the account or the client address, or more "
                                     "than CIRRUS_LOGINS_PER_MINUTE sign-ins from the address (Retry-After)")}}},
    "/auth/logout": {"post": {"summary": "End this session", "operationId": "signOut",
                              "responses": {"204": NO_CONTENT, "401": UNAUTHENTICATED, "403": FORBIDDEN}}},
    "/auth/logout-all": {"post": {"summary": "End every session of the signed-in user", "operationId": "signOutEverywhere",
                                  "responses": {"204": NO_CONTENT, "401": UNAUTHENTICATED, "403": FORBIDDEN}}},
    "/auth/me": {"get": {"summary": "The signed-in user", "operationId": "me",
                         "responses": {"200": {"description": "Signed in", **json_body(ref("SignIn"))},
                                       "401": UNAUTHENTICATED}}},
    "/tokens": {
        "get": {"summary": "API tokens of the caller (or of user_id, for administrators)", "operationId": "listTokens",
                "parameters": [{"name": "user_id", "in": "query", "schema": INT}],
                "responses": {"200": {"description": "Tokens", **json_body(ref("ApiTokenList"))}, "400": BAD,
                              "401": UNAUTHENTICATED, "403": FORBIDDEN, "404": NOT_FOUND}},
        "post": {"summary": "Mint an API token (the secret is in this answer only)", "operationId": "createToken",
                 "requestBody": json_body(closed({"name": STRING, "scope": SCOPE,
                                                    "expires_in": {**STRING, "description": "30d, 12h or 90m; absent: no expiry"},
                                                    "user_id": {**INT, "description": "default: the caller"}},
                                                   optional=("name", "scope", "expires_in", "user_id"))),
                 "responses": {"201": {"description": "The token", **json_body(ref("NewApiToken"))}, "400": BAD,
                               "401": UNAUTHENTICATED, "403": FORBIDDEN, "404": NOT_FOUND}},
    },
    "/tokens/{token_id}": {"delete": {"summary": "Revoke a token", "operationId": "revokeToken", "parameters": [TOKEN_ID],
                                      "responses": {"204": NO_CONTENT, "400": BAD, "401": UNAUTHENTICATED,
                                                    "403": FORBIDDEN, "404": NOT_FOUND}}},
    "/users": {
        "get": {"summary": "Users (an institution administrator: of their institution)", "operationId": "listUsers",
                "responses": {"200": {"description": "Users", **json_body(ref("UserList"))},
                              "401": UNAUTHENTICATED, "403": FORBIDDEN}},
        "post": {"summary": "Create a user", "operationId": "createUser",
                 "requestBody": json_body(closed({"username": STRING, "password": STRING, "display_name": STRING,
                                                    "role": ROLE, "institution_id": INT},
                                                   optional=("display_name", "institution_id"))),
                 "responses": {"201": {"description": "The user", **json_body(ref("User"))},
                               "400": error("A malformed value, or a password the policy refuses (says why)"),
                               "401": UNAUTHENTICATED, "403": FORBIDDEN, "404": NOT_FOUND, "409": CONFLICT}},
    },
    "/users/{user_id}": {"patch": {
        "summary": "Change role, active, display name or password, or unlock (a new password ends the user's sessions)",
        "operationId": "updateUser", "parameters": [USER_ID],
        "requestBody": json_body(closed({"role": ROLE, "active": {"type": "boolean"}, "display_name": STRING,
                                           "password": STRING, "unlock": {"type": "boolean"}},
                                          optional=("role", "active", "display_name", "password", "unlock"))),
        "responses": {"200": {"description": "The user", **json_body(ref("User"))}, "400": BAD,
                      "401": UNAUTHENTICATED, "403": FORBIDDEN, "404": NOT_FOUND}}},
    "/institutions": {
        "get": {"summary": "Institutions (others than administrators: their own)", "operationId": "listInstitutions",
                "responses": {"200": {"description": "Institutions", **json_body(ref("InstitutionList"))},
                              "401": UNAUTHENTICATED, "403": FORBIDDEN}},
        "post": {"summary": "Create an institution (parent_id: its superior hospital)", "operationId": "createInstitution",
                 "requestBody": json_body(closed({"name": STRING, "parent_id": nullable(INT)}, optional=("parent_id",))),
                 "responses": {"201": {"description": "The institution", **json_body(ref("Institution"))}, "400": BAD,
                               "401": UNAUTHENTICATED, "403": FORBIDDEN, "409": CONFLICT}},
    },
}
