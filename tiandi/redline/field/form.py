"""The crew's form: a QGIS project built with QGIS itself, stored in the package.

QField and Mergin Maps take their forms (value lists, photo fields, read-only fields,
defaults, constraints) from a QGIS project. This module writes the spec of
:func:`tiandi.redline.field.form_fields.form_spec`, runs ``_qgis_project.py`` under
QGIS's Python (Debian's ``/usr/bin/python3`` with ``python3-qgis``, headless), then makes the
project reproducible — QGIS puts random layer ids, the user name and the save time into
it — and stores it twice: inside the GeoPackage (``qgis_projects``, the table QGIS and
QField read a ``geopackage:`` project from) and as ``<station>.qgz`` beside it (a project
file, which Mergin Maps and QField's folder import expect). Layer sources are relative
(``./<station>.gpkg``), so the package folder can be copied anywhere.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

from tiandi._io import atomic_path
from tiandi.errors import InputError, QgisUnavailableError

QGIS_PYTHON = "/usr/bin/python3"
_SCRIPT = Path(__file__).with_name("_qgis_project.py")
_GDAL_NOISE = re.compile(r"^(Warning 1: This version of GeoPackage.*|QStandardPaths:.*)$", re.M)


def qgis_available(python: str = QGIS_PYTHON) -> bool:
    """True when ``python`` exists and can import ``qgis.core``."""
    if not Path(python).exists():
        return False
    probe = subprocess.run(
        [python, "-c", "import qgis.core"],
        capture_output=True,
        env=_env(),
        timeout=60,
        check=False,
    )
    return probe.returncode == 0


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["QT_HASH_SEED"] = "0"  # Qt orders XML attributes by a seeded hash: fix the seed
    env.setdefault("XDG_RUNTIME_DIR", "/tmp")
    return env


def _run(args: list[str], python: str, what: str, timeout_s: float) -> str:
    if not qgis_available(python):
        raise QgisUnavailableError(
            f"{what}: QGIS's Python {python} with qgis.core is not available; install "
            "python3-qgis (scripts/install-system-deps.sh) or build packages without the "
            "form (--no-form)"
        )
    try:
        done = subprocess.run(
            [python, str(_SCRIPT), *args],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise InputError(f"{what}: QGIS did not finish within {timeout_s:.0f} s") from exc
    if done.returncode != 0:
        detail = _GDAL_NOISE.sub("", done.stderr).strip()[-2000:]
        raise InputError(f"{what}: QGIS failed ({detail or 'no message'})")
    return done.stdout


def build_form(
    gpkg: Path,
    spec: dict[str, Any],
    *,
    project_name: str,
    saved_at: datetime,
    python: str = QGIS_PYTHON,
    timeout_s: float = 180.0,
) -> Path:
    """Build the form project for ``gpkg`` and store it in it and as ``<name>.qgz``.

    ``spec`` comes from :func:`~tiandi.redline.field.form_fields.form_spec` (its ``qgs`` entry
    is replaced). ``saved_at`` becomes the project's save time (an input, so the bytes
    are the same on a re-run). Returns the ``.qgz`` path. Raises
    :class:`QgisUnavailableError` without QGIS and :class:`InputError` when QGIS fails.
    """
    folder = gpkg.parent
    raw_qgs = folder / f".{project_name}.build-{os.getpid()}.qgs"
    spec_path = folder / f".{project_name}.spec-{os.getpid()}.json"
    try:
        spec_path.write_text(
            json.dumps({**spec, "gpkg": str(gpkg), "qgs": str(raw_qgs)}, ensure_ascii=False),
            encoding="utf-8",
        )
        out = _run(["build", str(spec_path)], python, f"form of {gpkg}", timeout_s)
        ids = _layer_ids(out, gpkg)
        xml = normalise_project(raw_qgs.read_text(encoding="utf-8"), ids, saved_at)
        xml = xml.replace(str(gpkg), f"./{gpkg.name}")  # absolute copies (layer tree)
    finally:
        raw_qgs.unlink(missing_ok=True)
        spec_path.unlink(missing_ok=True)
        for extra in folder.glob(f".{project_name}.build-*"):  # QGIS side files (~, .qgd)
            if extra.is_dir():
                shutil.rmtree(extra)
            else:
                extra.unlink(missing_ok=True)
    qgz = _qgz(xml, project_name, saved_at)
    _store_in_gpkg(gpkg, project_name, qgz, saved_at)
    target = folder / f"{project_name}.qgz"
    with atomic_path(target) as tmp:
        tmp.write_bytes(qgz)
    return target


def _layer_ids(stdout: str, gpkg: Path) -> dict[str, str]:
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise InputError(f"form of {gpkg}: QGIS did not report its layer ids")
    mapping = json.loads(lines[-1])
    return {str(k): f"tiandi_{v}" for k, v in mapping.items()}


def normalise_project(xml: str, ids: dict[str, str], saved_at: datetime) -> str:
    """The project XML with stable layer ids, no user name, ``saved_at`` as save time.

    ``<maplayer>`` blocks are sorted by their (new) id because QGIS writes them in the
    order of its random ids, and runs of ``<layer-setting>`` lines (snapping, kept in a
    hash by layer address) are sorted too.
    """
    for old, new in ids.items():
        xml = xml.replace(old, new)
    xml = re.sub(
        r"\bAnnotations_[0-9a-f]{8}(_[0-9a-f]{4}){3}_[0-9a-f]{12}", "Annotations_tiandi", xml
    )
    stamp = saved_at.strftime("%Y-%m-%dT%H:%M:%S")
    xml = re.sub(r"<creation>[^<]*</creation>", f"<creation>{stamp}</creation>", xml)
    xml = _sort_runs(xml, "<layer-setting ")
    xml = re.sub(r'saveDateTime="[^"]*"', f'saveDateTime="{stamp}"', xml)
    xml = re.sub(r'saveUser="[^"]*"', 'saveUser="tiandi"', xml)
    xml = re.sub(r'saveUserFull="[^"]*"', 'saveUserFull="tiandi"', xml)
    match = re.search(r"(<projectlayers>)(.*?)(\s*</projectlayers>)", xml, re.S)
    if match:
        blocks = re.findall(r"\s*<maplayer\b.*?</maplayer>", match.group(2), re.S)
        if "".join(blocks) == match.group(2):

            def key(block: str) -> str:
                found = re.search(r"<id>(.*?)</id>", block)
                return found.group(1) if found else block

            ordered = "".join(sorted(blocks, key=key))
            xml = xml[: match.start(2)] + ordered + xml[match.end(2) :]
    return xml


def _sort_runs(xml: str, prefix: str) -> str:
    """Sort each run of consecutive lines starting (after indentation) with ``prefix``."""
    lines = xml.split("\n")
    out: list[str] = []
    run: list[str] = []
    for line in lines:
        if line.lstrip().startswith(prefix):
            run.append(line)
            continue
        out += sorted(run)
        run = []
        out.append(line)
    out += sorted(run)
    return "\n".join(out)


def _qgz(xml: str, name: str, saved_at: datetime) -> bytes:
    """A .qgz (zip of one .qgs) with fixed member name and time."""
    buffer = io.BytesIO()
    stamp = (max(saved_at.year, 1980), saved_at.month, saved_at.day, saved_at.hour, 0, 0)
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo(f"{name}.qgs", date_time=stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        archive.writestr(info, xml.encode("utf-8"))
    return buffer.getvalue()


def _store_in_gpkg(gpkg: Path, name: str, qgz: bytes, saved_at: datetime) -> None:
    """Write the project into ``qgis_projects`` the way QGIS does (hex of the .qgz)."""
    metadata = json.dumps(
        {
            "last_modified_time": saved_at.strftime("%Y-%m-%dT%H:%M:%S"),
            "last_modified_user": "tiandi",
        }
    )
    con = sqlite3.connect(gpkg)
    try:
        with con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS qgis_projects"
                "(name TEXT PRIMARY KEY, metadata BLOB, content BLOB)"
            )
            con.execute(
                "INSERT OR REPLACE INTO qgis_projects (name, metadata, content) VALUES (?, ?, ?)",
                (name, metadata, qgz.hex()),
            )
    finally:
        con.close()


def check_form(uri: str, *, python: str = QGIS_PYTHON, timeout_s: float = 120.0) -> dict[str, Any]:
    """Open a project with QGIS and describe its layers, widgets and relations.

    ``uri``: ``geopackage:/path/x.gpkg?projectName=name`` or a ``.qgz`` path. This is
    what a field app does when it opens the package, so it proves the form is set.
    """
    out = _run(["check", uri], python, f"project {uri}", timeout_s)
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if not lines:
        raise InputError(f"project {uri}: QGIS printed no description")
    result: dict[str, Any] = json.loads(lines[-1])
    return result
