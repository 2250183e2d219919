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
from tiandi.service.chips import router as chips_router
from tiandi.service.deps import API_PREFIX, Services, install_error_handlers
from tiandi.service.field import router as field_router
from tiandi.service.operators import router as operators_router
from tiandi.service.page import mount_page
from tiandi.service.platform import router as platform_router
from tiandi.service.reports import router as reports_router
from tiandi.service.reshape import router as reshape_router
from tiandi.service.review import router as review_router
from tiandi.service.runs import router as runs_router
from tiandi.service.tiles import install_tiles
from tiandi.service.uav import router as uav_router
from tiandi.settings import Settings

__all__ = ["API_PREFIX", "create_app"]


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
    app.include_router(chips_router, prefix=API_PREFIX)
    app.include_router(reports_router, prefix=API_PREFIX)
    app.include_router(uav_router, prefix=API_PREFIX)
    install_tiles(app)
    mount_page(app)
    return app
