"""Read any vector file a GIS office sends, with the checks every reader needs.

:func:`read_vector` reads a GeoPackage, Shapefile, GeoJSON, KML … as it is (no column
contract, no repair) and refuses files that are missing, unreadable, empty or without a
CRS, with a message that says what to do.

Shapefile encoding: a ``.cpg`` file is honoured (GDAL reads it). Without one the ``.dbf``
bytes are decoded strictly as UTF-8, then GBK, then GB18030; the first that succeeds is
used and, when it is not plain ASCII or UTF-8, reported with an
:class:`EncodingGuessWarning`. ``encoding=`` overrides both.
"""

from __future__ import annotations

import codecs
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio

from tiandi.errors import EncodingGuessWarning, InputError

_VECTOR_SUFFIXES = {".gpkg", ".shp", ".geojson", ".json", ".kml", ".kmz", ".fgb", ".gml"}
_FALLBACK_ENCODINGS = ("UTF-8", "GBK", "GB18030")


def read_vector(
    path: Path, *, layer: str | None, encoding: str | None, what: str
) -> tuple[gpd.GeoDataFrame, str]:
    """The features of ``path`` (``layer`` of it) as read, and the text encoding used.

    ``what`` names the file in messages ("zones", "stations"). Raises
    :class:`~tiandi.errors.InputError` when the file is missing, a folder, unreadable,
    has no geometry, no features or no CRS.
    """
    _check_path(path, what)
    used, kwargs = _encoding_of(path, encoding, what)
    gdf = _read_dataframe(path, layer, kwargs, used=used, what=what)
    _check_frame(gdf, path, what)
    return gdf, used


def _check_path(path: Path, what: str) -> None:
    if not path.exists():
        raise InputError(
            f"{what} file {path} does not exist; check the path (and that the shapefile's "
            ".shp/.shx/.dbf/.prj travel together)"
        )
    if path.is_dir() and path.suffix.lower() != ".gdb":
        raise InputError(f"{what} path {path} is a folder; pass the vector file itself")


def _encoding_of(path: Path, encoding: str | None, what: str) -> tuple[str, dict[str, Any]]:
    """The encoding to report and the reader's keyword arguments for it."""
    if encoding is not None:
        return encoding, {"encoding": encoding}
    if path.suffix.lower() != ".shp":
        return "UTF-8", {}
    cpg = _sidecar(path, ".cpg")
    if cpg is not None:
        return cpg.read_text(encoding="ascii", errors="replace").strip() or "UTF-8", {}
    used = _sniff_dbf_encoding(path, what)
    return used, {"encoding": used}


def _read_dataframe(
    path: Path, layer: str | None, kwargs: dict[str, Any], *, used: str, what: str
) -> Any:
    try:
        return pyogrio.read_dataframe(path, layer=layer, **kwargs)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        hint = (
            "is it a vector file (GeoPackage, Shapefile, GeoJSON, KML)?"
            if path.suffix.lower() not in _VECTOR_SUFFIXES
            else "the file may be damaged or incomplete; export it again"
        )
        if layer is not None:
            hint = f"check that layer {layer!r} exists ({hint})"
        message = str(exc).split("It might help")[0].strip().rstrip(".;")
        raise InputError(
            f"{what} file {path} could not be read as vector data ({message}); {hint}"
        ) from exc
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{what} file {path} is not encoded as {used} ({exc}); pass the right encoding, "
            "e.g. encoding='GBK', or fix the .cpg file"
        ) from exc
    except Exception as exc:  # GDAL raises a variety of errors for broken files
        raise InputError(
            f"{what} file {path} could not be read: {exc}; check that it is a valid vector file"
        ) from exc


def _check_frame(gdf: Any, path: Path, what: str) -> None:
    if not isinstance(gdf, gpd.GeoDataFrame) or "geometry" not in gdf:
        raise InputError(
            f"{what} file {path} has no geometry column; pass a layer with polygon features"
        )
    if len(gdf) == 0:
        raise InputError(
            f"{what} file {path} has no features; check the layer (pass layer=...) or "
            "export the zones again"
        )
    if gdf.crs is None:
        raise InputError(
            f"{what} file {path} has no coordinate reference system; define it (add the "
            ".prj file, or assign it in a GIS) e.g. EPSG:4490 for CGCS2000 or "
            "EPSG:4513–4554 for Gauss–Krüger"
        )


def _sidecar(path: Path, suffix: str) -> Path | None:
    for cand in (path.with_suffix(suffix), path.with_suffix(suffix.upper())):
        if cand.exists():
            return cand
    return None


def _sniff_dbf_encoding(shp: Path, what: str) -> str:
    """Decode the ``.dbf`` field names and records strictly; return the first codec that fits."""
    dbf = _sidecar(shp, ".dbf")
    if dbf is None:
        raise InputError(
            f"{what} shapefile {shp} has no .dbf file beside it; copy the .dbf (and .shx, "
            ".prj, .cpg) together with the .shp"
        )
    with dbf.open("rb") as fh:
        head = fh.read(32)
        if len(head) < 32:
            raise InputError(f"{what} shapefile {shp}: {dbf.name} is truncated; export it again")
        header_len = int.from_bytes(head[8:10], "little")
        descriptors = fh.read(max(header_len - 32, 0))
        names = b"".join(
            descriptors[i : i + 11].split(b"\x00")[0] + b" "
            for i in range(0, len(descriptors) - 31, 32)
        )
        decoders = {enc: codecs.getincrementaldecoder(enc)("strict") for enc in _FALLBACK_ENCODINGS}
        ascii_only = names.isascii()
        alive = _feed(decoders, names)
        while alive:
            chunk = fh.read(1 << 20)
            if not chunk:
                break
            ascii_only = ascii_only and chunk.isascii()
            alive = _feed({k: decoders[k] for k in alive}, chunk)
        alive = _feed({k: decoders[k] for k in alive}, b"", final=True)
    if not alive:
        raise InputError(
            f"{what} shapefile {shp} has no .cpg and its text is neither UTF-8 nor GBK/GB18030; "
            "pass encoding=... (e.g. 'cp1252') or add a .cpg file naming the encoding"
        )
    chosen = alive[0]
    if not ascii_only and chosen != "UTF-8":
        warnings.warn(
            f"{shp} has no .cpg file; its text decodes as {chosen} (not UTF-8), so {chosen} "
            "was used. Add a .cpg file or pass encoding= to make this explicit.",
            EncodingGuessWarning,
            stacklevel=5,
        )
    return chosen


def _feed(decoders: Mapping[str, Any], data: bytes, *, final: bool = False) -> list[str]:
    alive = []
    for enc, dec in decoders.items():
        try:
            dec.decode(data, final)
        except UnicodeDecodeError:
            continue
        alive.append(enc)
    return alive
