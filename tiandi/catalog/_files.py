"""Reading what a STAC item needs from files: raster headers, vector extents, checksums.

rasterio and pyogrio are used here only, so the item builder deals in plain values.
Every failure to read a file becomes an ``InputError`` naming the file. A raster may also
be a member of a zip archive (:class:`ZipMember`, e.g. a band of a zipped Sentinel-2
product), read in place through GDAL's ``/vsizip/``.
"""

from __future__ import annotations

import hashlib
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyogrio
import rasterio
import rasterio.errors
import rasterio.warp
from rasterio.crs import CRS

from tiandi._io import sha256_file
from tiandi.errors import InputError

RASTER_SUFFIXES = frozenset({".tif", ".tiff", ".jp2", ".vrt", ".img"})
VECTOR_SUFFIXES = frozenset({".gpkg", ".geojson", ".fgb", ".shp"})
_MEDIA_TYPES = {
    ".gpkg": "application/geopackage+sqlite3",
    ".geojson": "application/geo+json",
    ".fgb": "application/vnd.flatgeobuf",
    ".shp": "application/x-shapefile",
    ".json": "application/json",
    ".html": "text/html",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".csv": "text/csv",
    ".md": "text/markdown",
    ".pdf": "application/pdf",
    ".zip": "application/zip",
    ".jp2": "image/jp2",
}
_COG = "image/tiff; application=geotiff; profile=cloud-optimized"
_GEOTIFF = "image/tiff; application=geotiff"
_DTYPES = {"complex64": "cfloat32", "complex128": "cfloat64", "complex_int16": "cint16"}
_KNOWN_DTYPES = frozenset(
    f"{kind}{bits}" for kind in ("int", "uint") for bits in (8, 16, 32, 64)
) | {"float16", "float32", "float64"}
_BLOCK = 1 << 20
_DENSIFY = 21  # points per footprint edge before reprojection
_DIGITS = 9  # decimal places of lon/lat kept (about 0.1 mm)


@dataclass(frozen=True)
class ZipMember:
    """A file inside a zip archive, read in place by GDAL (``/vsizip/``)."""

    archive: Path
    member: str

    @property
    def gdal_path(self) -> str:
        """The name GDAL opens: ``/vsizip/`` followed by the archive path and the member."""
        return f"/vsizip/{self.archive}/{self.member}"

    def __str__(self) -> str:
        return self.gdal_path


Source = Path | ZipMember
"""Where a raster lies: a file, or a member of a zip archive."""


@dataclass(frozen=True)
class BandHeader:
    """What STAC's raster/eo extensions say about one band."""

    data_type: str
    nodata: float | str | None
    scale: float | None
    offset: float | None
    colorinterp: str


@dataclass(frozen=True)
class RasterHeader:
    """The header of one raster file, as plain values."""

    path: Source
    crs: CRS
    width: int
    height: int
    transform: tuple[float, float, float, float, float, float]
    bounds: tuple[float, float, float, float]
    bands: tuple[BandHeader, ...]
    media_type: str | None

    @property
    def resolution(self) -> float:
        """Pixel size in CRS units (mean of x and y when they differ)."""
        rx, ry = abs(self.transform[0]), abs(self.transform[4])
        return rx if rx == ry else (rx + ry) / 2.0


@dataclass(frozen=True)
class Extent:
    """Bounds of a file in its own CRS."""

    crs: CRS
    bounds: tuple[float, float, float, float]


def require_file(path: Path, what: str) -> None:
    """Raise ``InputError`` unless ``path`` is an existing regular file."""
    if not path.exists():
        raise InputError(f"{what} {path} does not exist; check the path or create it first")
    if not path.is_file():
        raise InputError(f"{what} {path} is not a file; pass the path of a file")


def require_source(source: Source, what: str) -> None:
    """Raise ``InputError`` unless ``source`` is a file, or a member of a readable zip."""
    if isinstance(source, Path):
        require_file(source, what)
        return
    require_file(source.archive, f"archive of {what}")
    try:
        with zipfile.ZipFile(source.archive) as archive:
            archive.getinfo(source.member)
    except KeyError:
        raise InputError(
            f"{what} {source.member} is not in the archive {source.archive}; check the "
            "name or download the archive again"
        ) from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(
            f"archive {source.archive} cannot be read as a zip file ({exc}); download it again"
        ) from exc


def href_of(source: Source) -> str:
    """The asset href of a source: a ``file://`` URI, or the ``/vsizip/`` name in an archive."""
    return source.as_uri() if isinstance(source, Path) else source.gdal_path


def file_size_and_checksum(source: Source) -> tuple[int, str]:
    """``file:size`` and ``file:checksum`` (sha2-256 multihash) of a file or zip member."""
    if isinstance(source, Path):
        return source.stat().st_size, sha256_multihash(source)
    digest = hashlib.sha256()
    with zipfile.ZipFile(source.archive) as archive, archive.open(source.member) as handle:
        size = archive.getinfo(source.member).file_size
        while chunk := handle.read(_BLOCK):
            digest.update(chunk)
    return size, "1220" + digest.hexdigest()


def read_raster_header(path: Source) -> RasterHeader:
    """Open ``path`` once with rasterio and return its header; ``InputError`` if unreadable."""
    require_source(path, "raster")
    try:
        with rasterio.open(str(path)) as src:
            if src.crs is None:
                raise InputError(
                    f"raster {path} has no CRS; assign one (e.g. `gdal_edit.py -a_srs EPSG:...`)"
                )
            t = src.transform
            bands = tuple(
                BandHeader(
                    data_type=_stac_dtype(src.dtypes[i]),
                    nodata=_nodata(src.nodatavals[i], src.dtypes[i]),
                    scale=None if src.scales[i] == 1.0 else float(src.scales[i]),
                    offset=None if src.offsets[i] == 0.0 else float(src.offsets[i]),
                    colorinterp=src.colorinterp[i].name,
                )
                for i in range(src.count)
            )
            return RasterHeader(
                path=path,
                crs=src.crs,
                width=int(src.width),
                height=int(src.height),
                transform=(float(t.a), float(t.b), float(t.c), float(t.d), float(t.e), float(t.f)),
                bounds=tuple(float(v) for v in src.bounds),  # type: ignore[arg-type]
                bands=bands,
                media_type=_raster_media_type(src),
            )
    except rasterio.errors.RasterioError as exc:
        raise InputError(
            f"raster {path} cannot be read ({exc}); check that it is a GeoTIFF/COG or another "
            "GDAL raster and that the file is complete"
        ) from exc


def read_vector_extents(path: Path) -> list[Extent]:
    """Bounds of the geometry layers of a vector file, one per CRS (empty: no geometry)."""
    require_file(path, "vector file")
    try:
        layers = pyogrio.list_layers(path)
        extents: list[Extent] = []
        for name, geometry_type in layers:
            if geometry_type is None:
                continue
            info = pyogrio.read_info(path, layer=str(name))
            bounds = info.get("total_bounds")
            if info.get("crs") is None or bounds is None or not all(map(math.isfinite, bounds)):
                continue
            extents.append(Extent(CRS.from_user_input(info["crs"]), tuple(bounds)))
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise InputError(
            f"vector file {path} cannot be read ({exc}); check that it is a GeoPackage, "
            "GeoJSON or shapefile and that the file is complete"
        ) from exc
    return union_extents(extents)


def media_type(path: Path) -> str | None:
    """IANA media type of a non-raster asset from its suffix (None when unknown)."""
    return _MEDIA_TYPES.get(path.suffix.lower())


def sha256_multihash(path: Path) -> str:
    """``file:checksum`` value: sha2-256 multihash in hex ("1220" + digest), streamed."""
    return "1220" + sha256_file(path)


def crs_code(crs: CRS) -> str | None:
    """``proj:code`` of a CRS, e.g. "EPSG:32650"; None when it has no authority code."""
    authority = crs.to_authority()
    return None if authority is None else f"{authority[0]}:{authority[1]}"


def footprint_lonlat(extent: Extent) -> list[tuple[float, float]]:
    """The extent's outline in EPSG:4326 (lon, lat), densified along each edge; closed."""
    x0, y0, x1, y1 = extent.bounds
    steps = [i / (_DENSIFY - 1) for i in range(_DENSIFY)]
    edges = (
        [(x0 + (x1 - x0) * s, y0) for s in steps[:-1]]
        + [(x1, y0 + (y1 - y0) * s) for s in steps[:-1]]
        + [(x1 - (x1 - x0) * s, y1) for s in steps[:-1]]
        + [(x0, y1 - (y1 - y0) * s) for s in steps[:-1]]
    )
    xs = [x for x, _ in edges]
    ys = [y for _, y in edges]
    lons, lats = rasterio.warp.transform(extent.crs, "EPSG:4326", xs, ys)
    ring = [
        (round(float(lon), _DIGITS), round(float(lat), _DIGITS))
        for lon, lat in zip(lons, lats, strict=True)
    ]
    if not all(math.isfinite(v) for point in ring for v in point):
        raise InputError(
            f"extent {extent.bounds} in {extent.crs} cannot be expressed in longitude/latitude; "
            "check the file's CRS"
        )
    ring.append(ring[0])
    return ring


def union_extents(extents: list[Extent]) -> list[Extent]:
    """Merge extents per CRS (bounds union), keeping the order in which CRSs first appear."""
    merged: dict[str, tuple[CRS, list[tuple[float, float, float, float]]]] = {}
    for e in extents:
        key = e.crs.to_wkt()
        merged.setdefault(key, (e.crs, []))[1].append(e.bounds)
    return [Extent(crs, _union_bounds(bounds)) for crs, bounds in merged.values()]


def _union_bounds(
    bounds: list[tuple[float, float, float, float]],
) -> tuple[float, float, float, float]:
    return (
        min(b[0] for b in bounds),
        min(b[1] for b in bounds),
        max(b[2] for b in bounds),
        max(b[3] for b in bounds),
    )


def _stac_dtype(dtype: str) -> str:
    if dtype in _KNOWN_DTYPES:
        return dtype
    return _DTYPES.get(dtype, "other")


def _nodata(value: Any, dtype: str) -> float | str | None:
    if value is None:
        return None
    v = float(value)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if dtype.startswith(("int", "uint")):
        return int(v)
    return v


def _raster_media_type(src: Any) -> str | None:
    if src.driver == "GTiff":
        tiled = bool(src.profile.get("tiled", False))
        small = max(src.width, src.height) <= 512
        if tiled and (small or src.overviews(1)):
            return _COG
        return _GEOTIFF
    if src.driver == "JP2OpenJPEG":
        return "image/jp2"
    return None
