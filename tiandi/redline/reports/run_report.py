"""A bilingual report of one run (or one zone of it), as HTML and PDF.

:func:`write_report` builds the facts (:mod:`.report_data`), draws the location map and
the chips of the largest patches (:mod:`.report_images`), renders one self-contained page
(:mod:`.report_html`) and prints it to PDF with Chromium (:mod:`.report_pdf`). Used by
``tiandi report`` and the service's ``/runs/{run_id}/report.html|.pdf``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tiandi._io import atomic_path
from tiandi.redline.reports.report_data import build_report
from tiandi.redline.reports.report_html import render_html
from tiandi.redline.reports.report_images import chips_png, location_map_png
from tiandi.redline.reports.report_pdf import html_to_pdf
from tiandi.redline.run_layout import RunLayout
from tiandi.redline.store.gpkg import PatchStore

#: How many of the largest patches get before/after chips.
LARGEST = 6


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_report` wrote."""

    html: Path
    pdf: Path | None


def report_html(
    layout: RunLayout,
    *,
    zone: str | None = None,
    store: PatchStore | None = None,
    accuracy: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """``(file stem, page)`` of the report of the run in ``layout`` (``zone`` only)."""
    report = build_report(layout, zone=zone, store=store, accuracy=accuracy)
    page = render_html(report, location_map_png(report), chips_png(report, LARGEST))
    stem = f"report-{report.run_id}" + (f"-{zone}" if zone else "")
    return re.sub(r"[^A-Za-z0-9._-]", "_", stem), page


def write_report(
    layout: RunLayout,
    out: Path,
    *,
    zone: str | None = None,
    store: PatchStore | None = None,
    accuracy: dict[str, Any] | None = None,
    pdf: bool = True,
) -> ReportFiles:
    """Write ``<out>/report-<run id>[-<zone>].html`` and, with ``pdf``, its ``.pdf``."""
    stem, page = report_html(layout, zone=zone, store=store, accuracy=accuracy)
    html_file = Path(out) / f"{stem}.html"
    with atomic_path(html_file) as tmp:
        tmp.write_text(page, encoding="utf-8")
    pdf_file = html_to_pdf(html_file, html_file.with_suffix(".pdf")) if pdf else None
    return ReportFiles(html_file, pdf_file)
