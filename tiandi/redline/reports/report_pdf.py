"""HTML → PDF with Chromium's own print-to-PDF (headless, no network, no GPU).

Chromium lays out CJK text with the system's fonts (Noto CJK, installed by the project's
setup) exactly as the browser shows the page; ``TIANDI_CHROMIUM`` names another binary.
A fresh profile folder per call keeps runs independent of each other and of any user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tiandi._io import atomic_path
from tiandi.errors import ServiceError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def chromium_binary() -> str:
    """The Chromium to run: ``TIANDI_CHROMIUM``, else the first one on the PATH."""
    configured = os.environ.get("TIANDI_CHROMIUM")
    found = configured or next((p for c in CANDIDATES if (p := shutil.which(c))), None)
    if not found:
        raise ServiceError(
            "no Chromium to print the PDF with: install it (scripts/install-system-deps.sh "
            "installs Debian's chromium) or set TIANDI_CHROMIUM to its path"
        )
    return found


def html_to_pdf(html_file: Path, pdf: Path, *, timeout_s: float = 120.0) -> Path:
    """Print ``html_file`` to ``pdf`` (A4, no header/footer); atomic."""
    binary = chromium_binary()
    with tempfile.TemporaryDirectory(prefix="tiandi-chromium-") as profile, atomic_path(pdf) as tmp:
        cmd = [
            binary, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", f"--user-data-dir={profile}", "--no-pdf-header-footer",
            f"--print-to-pdf={tmp}", html_file.resolve().as_uri(),
        ]  # fmt: skip
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise ServiceError(
                f"Chromium did not print {html_file} within {timeout_s:.0f} s; try again"
            ) from None
        if done.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise ServiceError(
                f"Chromium ({binary}) could not print {html_file} to PDF (exit "
                f"{done.returncode}): {' / '.join(tail) or 'no output'}"
            )
    return pdf
