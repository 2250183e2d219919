"""Synthetic Sentinel-2-like scenes for the scale series (:mod:`bench.bench_scale`).

One scene of ``size`` x ``size`` px (10 m) in EPSG:32648: two periods of four dates (or
``per_period``: a half-year run over a province has about twelve per period),
B02 B03 B04 B08 at 10 m and B11 B12 SCL at 20 m, uint16 (SCL uint8) DEFLATE COGs with
512 px tiles and no overviews; blocky fields of four classes, seasonal cropland, clouds
with shadows, the 04.00 offset on some dates and one planted quarry per 1024² block in the
after period. Generated once per size (cached), in strips of cheap tiled noise so that the
16x scene (8192²) takes minutes, not an hour. Items are registered in the embedded
catalog of ``home``; the zones (four quarters) cover the whole scene.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

X0, Y0, CRS = 500000.0, 4300000.0, "EPSG:32648"
BANDS10 = ("B02", "B03", "B04", "B08")
BANDS20 = ("B11", "B12")
FLOW_FILES = (*BANDS10, *BANDS20, "SCL")
BEFORE, AFTER = "2025-03-01/2025-06-30", "2025-07-01/2025-10-31"
DATES = [("2025-03-12", "04.00"), ("2025-04-16", "03.01"), ("2025-05-21", "04.00"),
         ("2025-06-20", "04.00"), ("2025-07-15", "04.00"), ("2025-08-19", "03.01"),
         ("2025-09-23", "04.00"), ("2025-10-18", "04.00")]  # fmt: skip
#: Dates per period of :data:`DATES` (the scenes the series has always measured).
PER_PERIOD = 4
TABLE = np.array(  # forest, grass, crop, water x B02 B03 B04 B08 B11 B12
    [[0.03, 0.05, 0.03, 0.32, 0.16, 0.08], [0.05, 0.08, 0.07, 0.26, 0.22, 0.13],
     [0.06, 0.09, 0.08, 0.18, 0.22, 0.15], [0.07, 0.08, 0.06, 0.03, 0.02, 0.01]],
    dtype=np.float32,
)  # fmt: skip
QUARRY = np.array([0.18, 0.20, 0.24, 0.28, 0.36, 0.32], dtype=np.float32)
COLLECTION = "sentinel-2-l2a"


def _profile(size: int, res: float, dtype: str) -> dict[str, object]:
    return {"driver": "COG", "width": size, "height": size, "count": 1, "dtype": dtype,
            "crs": CRS, "transform": Affine(res, 0, X0, 0, -res, Y0), "nodata": 0,
            "compress": "DEFLATE", "predictor": 2, "blocksize": 512,
            "overviews": "NONE", "num_threads": "ALL_CPUS"}  # fmt: skip


def _write(path: Path, data: np.ndarray, res: float) -> None:
    with rasterio.open(path, "w", **_profile(data.shape[0], res, data.dtype.name)) as dst:  # type: ignore[arg-type]
        dst.write(data, 1)


#: Largest cloud radius (20 m px): clouds are as large at every size, so with two clouds
#: per 1024² block of 20 m pixels every scene from 4096² up is about as cloudy (≈ 17 % of
#: the pixels cloud or shadow a date). Version 1 of the scenes let the radius grow with
#: the scene (17 % at 4096², ≈ 41 % at 8192², ≈ 85 % at 16384²).
MAX_CLOUD_RADIUS = 204
#: Scenes of another version are generated again.
SCENE_VERSION = 2


def _clouds(half: int, rng: np.random.Generator) -> np.ndarray:
    """SCL at 20 m: vegetation (4) with a few clouds (9) and their shadows (3)."""
    scl = np.full((half, half), 4, np.uint8)
    n = max(2, (half // 1024) ** 2 * 2)
    yy, xx = np.ogrid[:half, :half]
    for _ in range(n):
        cy, cx = int(rng.integers(0, half)), int(rng.integers(0, half))
        r = int(rng.integers(16, max(17, min(half // 10, MAX_CLOUD_RADIUS))))
        y0, y1, x0, x1 = (
            max(cy - 2 * r, 0),
            min(cy + 2 * r, half),
            max(cx - 2 * r, 0),
            min(cx + 2 * r, half),
        )
        sub_y, sub_x = yy[y0:y1], xx[:, x0:x1]
        view = scl[y0:y1, x0:x1]
        view[(sub_y - cy - r // 2) ** 2 + (sub_x - cx - r) ** 2 < r * r] = 3
        view[(sub_y - cy) ** 2 + (sub_x - cx) ** 2 < r * r] = 9
    return scl


def dates(per_period: int = PER_PERIOD) -> list[tuple[str, str]]:
    """(day, processing baseline) of both periods: :data:`DATES` for four a period, else
    ``per_period`` days spread evenly over each period, every fourth on baseline 03.01."""
    if per_period == PER_PERIOD:
        return list(DATES)
    if per_period < 1:
        raise ValueError(f"dates per period must be at least 1, not {per_period}")
    out = []
    for period in (BEFORE, AFTER):
        start, end = (np.datetime64(day) for day in period.split("/"))
        step = (end - start) / per_period
        for k in range(per_period):
            day = start + step * k + step // 2
            out.append((str(day), "03.01" if k % 4 == 1 else "04.00"))
    return out


def _band(
    lc: np.ndarray, b: int, t: int, date: tuple[bool, str], cloud10: np.ndarray, noise: np.ndarray
) -> np.ndarray:
    """DN of band ``b`` on date ``t`` (``date``: after the change?, processing baseline;
    offset added for baseline 04.00)."""
    size = lc.shape[0]
    after, baseline = date
    refl = TABLE[lc, b]
    if b == 3:  # B08: seasonal cropland, green in spring, senescent in autumn
        refl = np.where(lc == 2, np.float32(0.20 if after else 0.38), refl)
    if after:
        refl = refl.copy()
        for y in range(256, size, 1024):
            for x in range(384, size, 1024):
                refl[y : y + 40, x : x + 60] = QUARRY[b]
    reps = -(-size // noise.shape[0])
    shift = (7 * b + 13 * t) % noise.shape[0]
    tiled = np.tile(np.roll(noise, shift, axis=0), (reps, reps))[:size, :size]
    offset = 1000 if baseline == "04.00" else 0
    dn = np.rint(refl * 10000) + tiled + offset
    dn[cloud10] = 6000 + offset
    return np.clip(dn, 1, 65535).astype(np.uint16)


def _write_date(
    folder: Path,
    size: int,
    t: int,
    date: tuple[bool, str],
    lc: np.ndarray,
    rng: np.random.Generator,
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    noise = rng.normal(0, 50, (512, 512)).round().astype(np.float32)
    scl = _clouds(size // 2, rng)
    cloud10 = np.kron(scl == 9, np.ones((2, 2), bool))
    for b, band in enumerate((*BANDS10, *BANDS20)):
        dn = _band(lc, b, t, date, cloud10, noise)
        if band in BANDS20:
            dn = np.ascontiguousarray(dn[::2, ::2])
        _write(folder / f"{band}.tif", dn, 10.0 if band in BANDS10 else 20.0)
    _write(folder / "SCL.tif", scl, 20.0)


def _zones(size: int, path: Path) -> None:
    import geopandas as gpd
    from shapely.geometry import box

    half = size * 10 / 2
    boxes = [box(X0 + i * half, Y0 - (j + 1) * half, X0 + (i + 1) * half, Y0 - j * half)
             for j in range(2) for i in range(2)]  # fmt: skip
    gdf = gpd.GeoDataFrame(
        {"zone_id": [f"Z{k + 1}" for k in range(4)], "name": [f"红线区{k + 1}" for k in range(4)],
         "zone_type": ["redline"] * 4, "level": [None] * 4, "functional_zone": [None] * 4,
         "region": ["bench"] * 4, "category": [None] * 4},
        geometry=boxes, crs=CRS,
    )  # fmt: skip
    gdf.to_file(path, layer="zones", driver="GPKG")


def generate(root: Path, size: int, per_period: int = PER_PERIOD) -> Path:
    """The scene folder of ``size`` and ``per_period`` dates a period under ``root``
    (written once): ``<date>/<band>.tif``, ``zones.gpkg`` and ``scene.json``."""
    name = f"scale-{size}" if per_period == PER_PERIOD else f"scale-{size}-d{per_period}"
    folder = (root / name).resolve()
    if (folder / "scene.json").exists():
        if json.loads((folder / "scene.json").read_text("utf-8")).get("version") == SCENE_VERSION:
            return folder
        shutil.rmtree(folder)  # made by an older generator
    days = dates(per_period)
    rng = np.random.default_rng(size)
    coarse = rng.integers(0, 4, (size // 64 + 1, size // 64 + 1))
    lc = np.kron(coarse, np.ones((64, 64), dtype=np.int8))[:size, :size]
    for t, (day, baseline) in enumerate(days):
        item_dir = folder / f"S2A_MSIL2A_{day.replace('-', '')}_T48SWJ"
        _write_date(item_dir, size, t, (t >= per_period, baseline), lc, rng)
    _zones(size, folder / "zones.gpkg")
    about = {"size": size, "dates": days, "version": SCENE_VERSION}
    (folder / "scene.json").write_text(json.dumps(about), "utf-8")
    return folder


def scene_dates(folder: Path) -> list[tuple[str, str]]:
    """(day, processing baseline) of every date of a generated scene, both periods."""
    data = json.loads((folder / "scene.json").read_text("utf-8"))
    return [(day, baseline) for day, baseline in data["dates"]]


def periods(folder: Path) -> list[tuple[list, list[tuple[str, str]]]]:  # type: ignore[type-arg]
    """(items, dates) of the before and the after period of a generated scene."""
    found, days = items(folder), scene_dates(folder)
    half = len(days) // 2
    return [(found[:half], days[:half]), (found[half:], days[half:])]


def items(folder: Path) -> list:  # type: ignore[type-arg]
    """The scene's STAC items (``item_from_rasters``: absolute file:// hrefs, proj, raster)."""
    from tiandi.catalog.items import item_from_rasters

    out = []
    for day, baseline in scene_dates(folder):
        item_dir = folder / f"S2A_MSIL2A_{day.replace('-', '')}_T48SWJ"
        out.append(item_from_rasters(
            item_dir.name, {band: item_dir / f"{band}.tif" for band in FLOW_FILES},
            datetime=datetime.fromisoformat(day).replace(tzinfo=UTC), collection=COLLECTION,
            properties={"eo:cloud_cover": 10.0, "s2:processing_baseline": baseline,
                        "s2:boa_add_offset": -1000 if baseline == "04.00" else 0},
        ))  # fmt: skip
    return out


def files(folder: Path) -> list[Path]:
    """Every raster the flow reads (all bands and SCL of all dates)."""
    return sorted(folder.glob("S2A_*/*.tif"))
