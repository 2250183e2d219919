"""The platform service: one FastAPI app over the patch store, versioned under ``/api/v1``.

:func:`create_app` opens the patch store the settings name
(:func:`tiandi.redline.store.open_store`) and the token table
(:attr:`tiandi.settings.Settings.tokens_path`); ``tiandi serve`` runs it with uvicorn.
The OpenAPI description is at ``/openapi.json`` (interactive docs at ``/docs``); the
ecologists' review page is at ``/review/`` (:mod:`tiandi.service.page`).
"""

from __future__ import annotations

from fastapi import FastAPI

from tiandi.redline.store.open import open_store
from tiandi.service.auth import TokenStore
from tiandi.service.deps import Services, install_error_handlers
from tiandi.service.field import router as field_router
from tiandi.service.operators import router as operators_router
from tiandi.service.page import mount_page
from tiandi.service.platform import router as platform_router
from tiandi.service.reshape import router as reshape_router
from tiandi.service.review import router as review_router
from tiandi.service.runs import router as runs_router
from tiandi.settings import Settings

API_PREFIX = "/api/v1"


def create_app(settings: Settings) -> FastAPI:
    """The service app over the settings' patch store and token table."""
    app = FastAPI(
        title="tiandi",
        version="1",
        summary="Change patches (图斑) in red-line zones and reserves: read, review, audit.",
        description=(
            "Send `Authorization: Bearer <token>` (tokens from `tiandi auth token create`). "
            "Roles: platform (read), ecologist (read, review), operator (read, every "
            "station, runs), field (its own station's tasks, package and results). Errors "
            'are JSON `{"error": code, "message": text}`.'
        ),
    )
    app.state.services = Services(open_store(settings), TokenStore(settings.tokens_path))
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(platform_router, prefix=API_PREFIX)
    app.include_router(review_router, prefix=API_PREFIX)
    app.include_router(reshape_router, prefix=API_PREFIX)
    app.include_router(field_router, prefix=API_PREFIX)
    app.include_router(runs_router, prefix=API_PREFIX)
    app.include_router(operators_router, prefix=API_PREFIX)
    mount_page(app)
    return app
