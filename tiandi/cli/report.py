"""``tiandi report``: the bilingual HTML + PDF report of a run (or one zone of it)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tiandi.cli.common import friendly_errors, load_settings, make_console
from tiandi.redline.store.gpkg import PatchStore


def _store() -> PatchStore | None:
    """The configured patch store, or None when there is none yet (no lifecycle section)."""
    from tiandi.redline.store.open import open_store

    settings = load_settings()
    if settings.patch_dsn is None and not settings.patch_store_path.is_file():
        return None
    return open_store(settings)


@friendly_errors
def report(
    run: Annotated[Path, typer.Option(help="Run folder (a detect-changes output).")],
    out: Annotated[Path, typer.Option(help="Folder for report-<run id>[-<zone>].html/.pdf.")],
    zone: Annotated[
        str | None, typer.Option(help="Zone (or reserve) id: only its patches.")
    ] = None,
    accuracy: Annotated[
        Path | None, typer.Option(help="Accuracy report .json of `tiandi accuracy report`.")
    ] = None,
    pdf: Annotated[bool, typer.Option(help="Also print the PDF (Chromium).")] = True,
) -> None:
    """Write the report of RUN: location map, largest patches before/after, tables by
    HJ 1156 class and change type (ha, 亩), lifecycle counts from the patch store,
    accuracy with confidence intervals (with --accuracy) and provenance with checksums."""
    from tiandi.redline.reports.report_data import read_accuracy
    from tiandi.redline.reports.run_report import write_report
    from tiandi.redline.run_layout import RunLayout

    assessment = read_accuracy(accuracy) if accuracy is not None else None
    files = write_report(
        RunLayout(run), out, zone=zone, store=_store(), accuracy=assessment, pdf=pdf
    )
    console = make_console(highlight=False)
    console.print(f"report: {files.html}")
    if files.pdf is not None:
        console.print(f"PDF:    {files.pdf}")
