"""Orthorectification with RPCs and pan-sharpening, both by GDAL (through rasterio).

:func:`orthorectify` warps an L1A image (a TIFF with its ``.rpb`` beside it, which GDAL's
GTiff driver reads as the image's RPC metadata) to a north-up grid in ``crs`` with GDAL's
RPC transformer: heights come from a DEM (transformer option ``RPC_DEM``) or are one
constant (``RPC_HEIGHT``, metres above the WGS84 ellipsoid). The grid is snapped to
multiples of the pixel size, so a PAN grid of 0.8 m and an MSS grid of 3.2 m share pixel
corners. The warp writes a tiled GeoTIFF in bounded memory (GDAL's chunked warper), which
:func:`tiandi.eo.cog.write_cog` turns into the COG.

:func:`pansharpen` fuses an orthorectified PAN and MSS pair with GDAL's pansharpening
(a ``VRTPansharpenedDataset``, the engine of ``gdal_pansharpen``): weighted Brovey with
equal weights on the four MSS bands, whose spectral range (0.45–0.89 µm) is the PAN
band's (0.45–0.90 µm) on GF-1/2/6 PMS; the result is the MSS bands at PAN resolution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import rasterio
import rasterio.errors
import rasterio.warp
from affine import Affine
from rasterio.enums import Resampling

from tiandi.eo.cog import read_cog, write_cog
from tiandi.errors import InputError

__all__ = ["RpcHeight", "orthorectify", "pansharpen", "utm_crs"]

#: CRS of RPC ground coordinates (RPC00B: geodetic WGS84 longitude, latitude, height).
RPC_CRS = "EPSG:4326"
NODATA = 0


@dataclass(frozen=True)
class RpcHeight:
    """The heights the RPC transformer uses: a DEM file, or one constant (metres)."""

    dem: Path | None = None
    height: float | None = None

    def options(self) -> dict[str, str]:
        """GDAL RPC transformer options (``RPC_DEM`` or ``RPC_HEIGHT``)."""
        if self.dem is not None:
            return {"RPC_DEM": str(self.dem)}
        return {"RPC_HEIGHT": repr(float(self.height or 0.0))}


def utm_crs(lon: float, lat: float) -> str:
    """The WGS84 UTM zone of a point, as ``EPSG:326zz`` (north) or ``EPSG:327zz`` (south)."""
    zone = min(60, max(1, math.floor((lon + 180.0) / 6.0) + 1))
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def check_dem(dem: Path, corners: Sequence[tuple[float, float]], what: str) -> None:
    """``InputError`` unless ``dem`` is a readable raster covering every (lon, lat) corner."""
    try:
        with rasterio.open(dem) as src:
            if src.crs is None:
                raise InputError(f"DEM {dem} has no CRS; pass a georeferenced GeoTIFF")
            left, bottom, right, top = rasterio.warp.transform_bounds(src.crs, RPC_CRS, *src.bounds)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"DEM {dem} cannot be read as a raster ({exc})") from exc
    outside = [c for c in corners if not (left <= c[0] <= right and bottom <= c[1] <= top)]
    if outside:
        raise InputError(
            f"DEM {dem} (lon {left:.4f}..{right:.4f}, lat {bottom:.4f}..{top:.4f}) does not "
            f"cover {what} (corner lon/lat {outside[0][0]:.4f}, {outside[0][1]:.4f}); pass a "
            "DEM that covers the scene, or --height"
        )


def rpc_height_offset(tiff: Path) -> float:
    """The RPC's ``HEIGHT_OFF`` (mean scene height of the fit); ``InputError`` without RPCs."""
    with rasterio.open(tiff) as src:
        rpcs = src.rpcs
    if rpcs is None:
        raise _no_rpcs(tiff)
    return float(rpcs.height_off)


def orthorectify(
    tiff: Path,
    out: Path,
    *,
    crs: str,
    resolution: float | None,
    heights: RpcHeight,
    names: Sequence[str],
    work: Path,
) -> Path:
    """Warp ``tiff`` with its RPCs to ``crs`` at ``resolution`` m; write the COG ``out``."""
    warped = work / f"{out.stem}-warped.tif"
    options = heights.options()
    try:
        with rasterio.open(tiff) as src:
            if src.rpcs is None:
                raise _no_rpcs(tiff)
            transform, width, height = _grid(src, crs, resolution, options)
            profile = {
                "driver": "GTiff", "width": width, "height": height, "count": src.count,
                "dtype": src.dtypes[0], "crs": crs, "transform": transform, "nodata": NODATA,
                "tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "zstd",
            }  # fmt: skip
            with rasterio.open(warped, "w", **profile) as dst:
                bands = list(range(1, src.count + 1))
                rasterio.warp.reproject(
                    rasterio.band(src, bands),
                    rasterio.band(dst, bands),
                    rpcs=src.rpcs,
                    src_crs=RPC_CRS,
                    src_nodata=NODATA,
                    dst_nodata=NODATA,
                    resampling=Resampling.bilinear,
                    **options,
                )
                for i, name in enumerate(names, start=1):
                    dst.set_band_description(i, name)
    except rasterio.errors.RasterioError as exc:
        raise InputError(
            f"{tiff} could not be orthorectified with its RPCs ({exc}); check the .rpb "
            "and, with --dem, that the DEM covers the scene"
        ) from exc
    return _to_cog(warped, out)


def _grid(
    src: rasterio.io.DatasetReader, crs: str, resolution: float | None, options: dict[str, str]
) -> tuple[Affine, int, int]:
    """The output grid, snapped to multiples of the pixel size."""
    transform, width, height = rasterio.warp.calculate_default_transform(
        RPC_CRS, crs, src.width, src.height, rpcs=src.rpcs, resolution=resolution, **options
    )
    if transform is None or width is None or height is None:
        raise InputError(f"no output grid for {src.name}: its RPCs map it nowhere")
    res = resolution or abs(transform.a)
    left, top = transform.c, transform.f
    right, bottom = left + width * transform.a, top + height * transform.e
    left, top = math.floor(left / res) * res, math.ceil(top / res) * res
    cols = math.ceil(round((right - left) / res, 6))
    rows = math.ceil(round((top - bottom) / res, 6))
    return Affine(res, 0.0, left, 0.0, -res, top), cols, rows


def _to_cog(source: Path, out: Path) -> Path:
    data = read_cog(source)
    write_cog(data, out, nodata=NODATA, dtype=str(data.dtype), overview_resampling="average")
    return out


def pansharpen(pan: Path, mss: Path, out: Path, *, bands: int, work: Path) -> Path:
    """Fuse ``pan`` and the ``bands`` bands of ``mss`` (weighted Brovey) into the COG ``out``."""
    weights = ",".join(f"{1.0 / bands:.6f}" for _ in range(bands))
    spectral = "".join(
        f'<SpectralBand dstBand="{i}"><SourceFilename relativeToVRT="0">{escape(str(mss))}'
        f"</SourceFilename><SourceBand>{i}</SourceBand></SpectralBand>"
        for i in range(1, bands + 1)
    )
    vrt = (
        '<VRTDataset subClass="VRTPansharpenedDataset"><PansharpeningOptions>'
        "<Algorithm>WeightedBrovey</Algorithm>"
        f"<AlgorithmOptions><Weights>{weights}</Weights></AlgorithmOptions>"
        f"<Resampling>Cubic</Resampling><NoData>{NODATA}</NoData>"
        "<SpatialExtentAdjustment>Intersection</SpatialExtentAdjustment>"
        f'<PanchroBand><SourceFilename relativeToVRT="0">{escape(str(pan))}</SourceFilename>'
        f"<SourceBand>1</SourceBand></PanchroBand>{spectral}"
        "</PansharpeningOptions></VRTDataset>"
    )
    path = work / f"{out.stem}.vrt"
    path.write_text(vrt, encoding="utf-8")
    try:
        with rasterio.open(mss) as src:
            names = list(src.descriptions)
        data = read_cog(path)
        if all(names):
            data = data.assign_coords(band=[str(n) for n in names[:bands]])
        write_cog(data, out, nodata=NODATA, dtype=str(data.dtype), overview_resampling="average")
    except rasterio.errors.RasterioError as exc:
        raise InputError(f"pan-sharpening {pan} with {mss} failed ({exc})") from exc
    return out


def _no_rpcs(tiff: Path) -> InputError:
    return InputError(
        f"GDAL finds no RPCs for {tiff}: its .rpb beside it is missing or unreadable. Use the "
        "L1A product as CRESDA delivers it (each .tiff with its .rpb); nothing was registered"
    )
