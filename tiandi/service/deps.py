"""What every endpoint shares: the caller's token, role checks, the store, JSON errors.

Errors leave the service as JSON ``{"error": code, "message": text}`` (plus details
where useful): :func:`error_response` builds them and :func:`install_error_handlers`
maps tiandi's exceptions and FastAPI's own to them (401/403 auth, 404 unknown, 409
conflicts, 413/415/422 refused uploads, 422 bad input, 503 a service it needs is down).
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
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from tiandi.errors import (
    AuthError,
    ConflictError,
    DuplicateImportError,
    InputError,
    LifecycleError,
    NotFoundError,
    ServiceError,
    TiandiError,
    UploadError,
)
from tiandi.redline.store.gpkg import PatchStore
from tiandi.service.auth import ServiceRole, TokenInfo, TokenStore
from tiandi.settings import Settings

#: Where the versioned API is mounted.
API_PREFIX = "/api/v1"

_bearer = HTTPBearer(auto_error=False, description="A token from `tiandi auth token create`.")

#: Roles that may read the platform endpoints (zones, runs, patches, statistics, audit).
READERS = frozenset({ServiceRole.PLATFORM, ServiceRole.ECOLOGIST, ServiceRole.OPERATOR})


class ErrorBody(BaseModel):
    """The JSON body of every error: a code, a message saying what is wrong and what to
    do, and details where useful (e.g. ``version`` and ``current`` on a stale decision)."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(description="Machine-readable code, e.g. invalid_request, forbidden.")
    message: str = Field(description="What is wrong and what to do.")


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` declaring ``codes`` with the JSON error body."""
    described = {
        400: "The request body cannot be read (not UTF-8 JSON), or a query parameter "
        "cannot be parsed (a tile colormap or rescale)",
        401: "No token, or an unknown, expired or revoked one",
        403: "The token's role (or station) may not do this",
        404: "Unknown patch, zone or path",
        409: "Stale version, or a transition the patch's state forbids (nothing written)",
        413: "The upload is larger than the service accepts",
        415: "The upload is not of the accepted type (a GeoPackage)",
        422: "Invalid request: a parameter or body field is missing or wrong",
        503: "A service this one depends on (e.g. Prefect) does not answer",
    }
    # Inline JSON schema under application/json (not ``model``): FastAPI would put a model
    # under the route's own media type (text/html, image/png), which errors never use.
    body = {"application/json": {"schema": ErrorBody.model_json_schema()}}
    return {c: {"description": described[c], "content": body} for c in codes}


#: Error answers every authenticated endpoint may give (declared in the OpenAPI spec).
ERROR_RESPONSES = error_responses(401, 403, 404, 422)
#: ... plus 409 for writes checked against a version, and 400 for a body that is not JSON.
WRITE_ERROR_RESPONSES = error_responses(400, 401, 403, 404, 409, 422)


@dataclass(frozen=True)
class Services:
    """What the app holds: the patch store and the token table."""

    store: PatchStore
    tokens: TokenStore


def services(request: Request) -> Services:
    """The app's :class:`Services`."""
    found: Services = request.app.state.services
    return found


def app_settings(request: Request) -> Settings:
    """The settings the app was created with (``app.state.settings``)."""
    found: Settings = request.app.state.settings
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


#: (exception class, status, code) in the order they are tried (subclasses first).
_STATUS: tuple[tuple[type[Exception], int, str], ...] = (
    (NotFoundError, 404, "not_found"),
    (DuplicateImportError, 409, "duplicate_import"),
    (LifecycleError, 409, "transition_not_allowed"),
    (InputError, 422, "invalid_input"),
    (ServiceError, 503, "service_unavailable"),
)


def tiandi_error_response(exc: Exception) -> JSONResponse:
    """The JSON error of one of tiandi's exceptions (500 for one not listed)."""
    if isinstance(exc, UploadError):
        return error_response(exc.status, exc.code, str(exc))
    if isinstance(exc, ConflictError):
        return error_response(409, "stale_version", str(exc), version=exc.current_version)
    for cls, status, code in _STATUS:
        if isinstance(exc, cls):
            return error_response(status, code, str(exc))
    return error_response(500, "service_error", str(exc))


def install_error_handlers(app: FastAPI) -> None:
    """Map exceptions to JSON errors with the right status."""

    async def on_auth(_: Request, exc: Exception) -> JSONResponse:
        err = exc if isinstance(exc, AuthError) else AuthError(str(exc))
        return error_response(err.status, err.code, str(err))

    async def on_tiandi(_: Request, exc: Exception) -> JSONResponse:
        return tiandi_error_response(exc)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        message = _validation_message(exc) if isinstance(exc, RequestValidationError) else ""
        return error_response(422, "invalid_request", message or str(exc))

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
        detail = exc.detail if isinstance(exc, StarletteHTTPException) else str(exc)
        code = {400: "invalid_body", 404: "not_found", 405: "method_not_allowed"}.get(
            status, "http_error"
        )
        if status == 400 and "body" in str(detail).lower():
            detail = f"{detail}: send a JSON object (UTF-8) as the request body"
        elif status == 400:  # a query parameter a dependency (titiler's) could not parse
            code = "invalid_parameter"
            detail = f"{detail}: check the query parameters against /openapi.json"
        return error_response(status, code, str(detail))

    app.add_exception_handler(AuthError, on_auth)
    app.add_exception_handler(TiandiError, on_tiandi)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
