"""The ecologists' review page, served by the service itself (no CDN: air-gapped networks).

The page is plain HTML, CSS and JavaScript modules in ``tiandi/service/web/static/``; its
map library, OpenLayers, comes from the npm registry at setup time (``make setup`` runs
``npm ci`` in ``tiandi/service/web/``, whose ``package.json`` and ``package-lock.json`` pin
it) and is served from ``web/node_modules/ol`` (its ``dist/ol.js`` build and ``ol.css``).

Routes (no token needed: the page holds no data; every data request carries the bearer
token the user typed in):

- ``/`` redirects to ``/review/``, the page;
- ``/review/static/…`` the page's own modules and styles;
- ``/review/vendor/ol.js`` and ``/review/vendor/ol.css``: OpenLayers.

When OpenLayers is not installed, ``/review/`` and the vendor routes answer 503 with a
message telling the user to run ``make setup``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

WEB_DIR = Path(__file__).with_name("web")
STATIC_DIR = WEB_DIR / "static"
OL_DIR = WEB_DIR / "node_modules" / "ol"
VENDOR_FILES = {
    "ol.js": (OL_DIR / "dist" / "ol.js", "text/javascript"),
    "ol.css": (OL_DIR / "ol.css", "text/css"),
}
PAGE_PATH = "/review/"

router = APIRouter(include_in_schema=False)


def missing_assets() -> list[Path]:
    """The map-library files the page needs that are not installed (empty when ready)."""
    return [path for path, _ in VENDOR_FILES.values() if not path.is_file()]


def _setup_message(missing: list[Path]) -> str:
    names = ", ".join(str(p) for p in missing)
    return (
        f"The review page's map library (OpenLayers) is not installed: missing {names}. "
        f"Run `make setup` (it runs `npm ci` in {WEB_DIR}) and reload this page."
    )


def _setup_error(missing: list[Path]) -> HTMLResponse:
    text = _setup_message(missing).replace("&", "&amp;").replace("<", "&lt;")
    body = (
        '<!doctype html><html lang="en"><meta charset="utf-8"><title>tiandi: setup needed'
        f"</title><h1>Setup needed / 需要安装</h1><p>{text}</p></html>"
    )
    return HTMLResponse(body, status_code=503)


@router.get("/")
def root() -> RedirectResponse:
    """The service's front door: the review page."""
    return RedirectResponse(PAGE_PATH, status_code=307)


@router.get("/review")
def review_no_slash() -> RedirectResponse:
    """``/review`` → ``/review/`` (the page's relative links need the slash)."""
    return RedirectResponse(PAGE_PATH, status_code=307)


@router.get(PAGE_PATH)
def review_page() -> Response:
    """The review page, or 503 saying to run ``make setup`` when OpenLayers is missing."""
    missing = missing_assets()
    if missing:
        return _setup_error(missing)
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")


@router.get("/review/vendor/{name}")
def vendor(name: str) -> Response:
    """OpenLayers' build (``ol.js``) and stylesheet (``ol.css``), from node_modules."""
    found = VENDOR_FILES.get(name)
    if found is None:
        return Response(f"no vendor file {name!r}; there are: ol.js, ol.css", status_code=404)
    path, media_type = found
    if not path.is_file():
        return _setup_error([path])
    return FileResponse(path, media_type=media_type)


def mount_page(app: FastAPI) -> None:
    """Add the page's routes and its static folder to ``app``."""
    app.include_router(router)
    app.mount("/review/static", StaticFiles(directory=STATIC_DIR), name="review-static")
