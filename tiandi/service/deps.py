"""What every endpoint shares: the caller's token, role checks, the store, JSON errors.

Errors leave the service as JSON ``{"error": code, "message": text}`` (plus details
where useful): :func:`error_response` builds them and :func:`install_error_handlers`
maps tiandi's exceptions and FastAPI's own to them (401/403 auth, 404 unknown, 409
conflicts, 422 bad input).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from tiandi.errors import (
    AuthError,
    ConflictError,
    InputError,
    LifecycleError,
    NotFoundError,
    TiandiError,
)
from tiandi.redline.store.gpkg import PatchStore
from tiandi.service.auth import ServiceRole, TokenInfo, TokenStore

#: Where the versioned API is mounted.
API_PREFIX = "/api/v1"

_bearer = HTTPBearer(auto_error=False, description="A token from `tiandi auth token create`.")

#: Roles that may read the platform endpoints (zones, runs, patches, statistics, audit).
READERS = frozenset({ServiceRole.PLATFORM, ServiceRole.ECOLOGIST, ServiceRole.OPERATOR})


@dataclass(frozen=True)
class Services:
    """What the app holds: the patch store and the token table."""

    store: PatchStore
    tokens: TokenStore


def services(request: Request) -> Services:
    """The app's :class:`Services`."""
    found: Services = request.app.state.services
    return found


def store(request: Request) -> PatchStore:
    """The app's patch store."""
    return services(request).store


def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> TokenInfo:
    """The token of the request, checked: 401 when missing, unknown, expired or revoked."""
    if credentials is None or not credentials.credentials:
        raise AuthError(
            "no bearer token: send the header 'Authorization: Bearer <token>' with a token "
            "from `tiandi auth token create`",
            code="missing_token",
        )
    return services(request).tokens.authenticate(credentials.credentials, now=datetime.now(UTC))


Caller = Annotated[TokenInfo, Depends(caller)]


def require(*roles: ServiceRole) -> Callable[[TokenInfo], TokenInfo]:
    """A dependency admitting only tokens of ``roles`` (403 naming the role needed)."""
    allowed = frozenset(roles)

    def check(token: Caller) -> TokenInfo:
        if token.role not in allowed:
            needed = ", ".join(sorted(r.value for r in allowed))
            raise AuthError(
                f"token {token.token_id} has role {token.role.value!r}; this needs one of: "
                f"{needed}",
                status=403,
                code="forbidden",
            )
        return token

    return check


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    """The JSON error body every failure uses."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": code, "message": message, **extra}, status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query"))
        parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Map exceptions to JSON errors with the right status."""

    async def on_auth(_: Request, exc: Exception) -> JSONResponse:
        err = exc if isinstance(exc, AuthError) else AuthError(str(exc))
        return error_response(err.status, err.code, str(err))

    async def on_tiandi(_: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, NotFoundError):
            return error_response(404, "not_found", str(exc))
        if isinstance(exc, ConflictError):
            return error_response(409, "stale_version", str(exc), version=exc.current_version)
        if isinstance(exc, LifecycleError):
            return error_response(409, "transition_not_allowed", str(exc))
        if isinstance(exc, InputError):
            return error_response(422, "invalid_input", str(exc))
        return error_response(500, "service_error", str(exc))

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        message = _validation_message(exc) if isinstance(exc, RequestValidationError) else ""
        return error_response(422, "invalid_request", message or str(exc))

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
        detail = exc.detail if isinstance(exc, StarletteHTTPException) else str(exc)
        code = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
        return error_response(status, code, str(detail))

    app.add_exception_handler(AuthError, on_auth)
    app.add_exception_handler(TiandiError, on_tiandi)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
