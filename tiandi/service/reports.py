"""The run report over HTTP: ``GET /api/v1/runs/{run_id}/report.html`` and ``.pdf``.

The same page as ``tiandi report`` (:mod:`tiandi.redline.reports.run_report`), for the
run folder the patch store recorded, with lifecycle counts from the app's store;
``zone`` limits it to one zone's patches. The HTML is sent with a Content-Security-Policy
that allows no script and no network (images are inline ``data:`` URIs).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from tiandi.redline.reports.report_pdf import html_to_pdf
from tiandi.redline.reports.run_report import report_html
from tiandi.redline.store.run_folder import run_folder
from tiandi.service.auth import TokenInfo
from tiandi.service.deps import ERROR_RESPONSES, READERS, require, store

Reader = Annotated[TokenInfo, Depends(require(*READERS))]
ZoneQuery = Annotated[str | None, Query(description="Zone (or reserve) id: only its patches.")]
router = APIRouter(tags=["reports"], responses=ERROR_RESPONSES)
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _page(request: Request, run_id: str, zone: str | None) -> tuple[str, str]:
    found = store(request)
    return report_html(run_folder(found, run_id), zone=zone, store=found)


@router.get(
    "/runs/{run_id}/report.html",
    summary="The run's bilingual report (HTML, self-contained)",
    response_class=HTMLResponse,
)
def run_report_html(run_id: str, _: Reader, request: Request, zone: ZoneQuery = None) -> Response:
    """Location map, largest patches before/after, tables by class and change type,
    lifecycle counts, provenance with checksums."""
    page = _page(request, run_id, zone)[1]
    return HTMLResponse(page, headers={"Content-Security-Policy": CSP})


@router.get(
    "/runs/{run_id}/report.pdf",
    summary="The run's bilingual report as PDF (Chromium print-to-PDF)",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The PDF."}},
)
def run_report_pdf(run_id: str, _: Reader, request: Request, zone: ZoneQuery = None) -> Response:
    """The same page printed to A4 PDF."""
    stem, page = _page(request, run_id, zone)
    with tempfile.TemporaryDirectory(prefix="tiandi-report-") as folder:
        html_file = Path(folder) / f"{stem}.html"
        html_file.write_text(page, encoding="utf-8")
        data = html_to_pdf(html_file, html_file.with_suffix(".pdf")).read_bytes()
    disposition = f'inline; filename="{stem}.pdf"'
    return Response(
        data, media_type="application/pdf", headers={"Content-Disposition": disposition}
    )
