"""The comparison pipelines of the scale series, each run as its own process.

    python -m bench.scale_pipelines {floor,naive,odcstac} SCENE_DIR

- ``floor``: rasterio decodes every block of every file the flow reads (all bands and SCL
  of all dates) once, on all cores (a thread per core);
- ``naive``: eager, as a first script would do it: ``rioxarray.open_rasterio(...).load()``
  of every band of every date as float32 (20 m bands and SCL upsampled with numpy),
  masked SCL classes and DN 0 set to NaN, the 04.00 offset removed, ``np.nanmedian`` over
  time per period, the flow's baseline detector (same thresholds) on the two composites,
  ``rasterio.features.shapes`` of the change mask;
- ``odcstac``: the plain odc-stac + dask pipeline as its documentation shows it:
  ``odc.stac.load(items, bands=[B04, B08, SCL], chunks=...)`` on the 10 m grid, SCL mask,
  ``.median("time")`` per period, NDVI difference above 0.2, ``rasterio.features.shapes``;
- ``odcstac-all``: the same plain pipeline on the flow's work: every band the flow reads,
  the median of each of the six bands per period (masked SCL and DN 0 excluded, the 04.00
  offset removed), the flow's baseline detector on the two composites, both composites
  (uint16 DN) and the change mask written as tiled DEFLATE GeoTIFFs by rioxarray in the
  same Dask computation as the mask (the medians computed once), shapes of the mask. It
  writes no overviews and no COG layout, which the flow does.

Each prints one JSON line (what it found, so the runs can be compared). A
:class:`MemoryError` is reported as ``{"status": "out_of_memory"}`` rather than a crash;
the driver also stops a run whose process tree exceeds its memory cap.
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from bench import scale_scene

MASKED_SCL = (0, 1, 3, 8, 9, 10)
NDVI_CHANGE = 0.2


def floor(folder: Path) -> dict[str, Any]:
    """Decode every block of every input file once on all cores."""
    import rasterio

    def read(path: Path) -> int:
        with rasterio.open(path) as src:
            return sum(src.read(1, window=win).size for _, win in src.block_windows(1))

    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        pixels = sum(pool.map(read, scale_scene.files(folder)))
    return {"decoded_mpx": pixels / 1e6}


def _naive_period(folder: Path, dates: list[tuple[str, str]]) -> Any:
    import rioxarray
    import xarray as xr

    stack = []
    for day, baseline in dates:
        item_dir = folder / f"S2A_MSIL2A_{day.replace('-', '')}_T48SWJ"
        scl = rioxarray.open_rasterio(item_dir / "SCL.tif").load().values[0]
        bad = np.isin(scl, MASKED_SCL).repeat(2, 0).repeat(2, 1)
        layers = {}
        for band in (*scale_scene.BANDS10, *scale_scene.BANDS20):
            arr = rioxarray.open_rasterio(item_dir / f"{band}.tif").load().values[0]
            if band in scale_scene.BANDS20:
                arr = arr.repeat(2, 0).repeat(2, 1)
            refl = arr.astype("float32") - (1000 if baseline == "04.00" else 0)
            refl = np.maximum(refl, 1) / 10000
            refl[bad | (arr == 0)] = np.nan
            layers[band] = refl
        stack.append(layers)
    median = {b: np.nanmedian(np.stack([s[b] for s in stack]), axis=0) for b in stack[0]}
    return xr.Dataset({b: (("y", "x"), v) for b, v in median.items()})


def _polygons(mask: np.ndarray) -> int:
    import rasterio.features

    shapes = rasterio.features.shapes(mask.astype("uint8"), mask=mask.astype(bool))
    return sum(1 for _ in shapes)


def naive(folder: Path) -> dict[str, Any]:
    """Eager load, nanmedian, the baseline detector, shapes."""
    from tiandi.eo.indices import add_indices
    from tiandi.models.baseline import BaselineDetector

    before, after = (add_indices(_naive_period(folder, dates))
                     for _, dates in scale_scene.periods(folder))  # fmt: skip
    change = BaselineDetector().detect(before, after)
    mask = np.asarray(change["change_mask"].values) == 1
    return {"changed_px": int(mask.sum()), "polygons": _polygons(mask)}


def odcstac(folder: Path, chunk: int = 2048) -> dict[str, Any]:
    """odc.stac.load with chunks, SCL mask, median over time, NDVI difference, shapes."""
    import odc.stac

    ndvi = []
    for part, _ in scale_scene.periods(folder):
        ds = odc.stac.load(part, bands=["B04", "B08", "SCL"], chunks={"x": chunk, "y": chunk},
                           resolution=10)  # fmt: skip
        clear = ~ds["SCL"].isin(list(MASKED_SCL))
        red, nir = ds["B04"].where(clear), ds["B08"].where(clear)
        ndvi.append(((nir - red) / (nir + red)).median("time"))
    diff = (ndvi[1] - ndvi[0]).compute()
    mask = np.abs(np.asarray(diff.values)) > NDVI_CHANGE
    return {"changed_px": int(mask.sum()), "polygons": _polygons(mask)}


def odcstac_all(folder: Path, chunk: int = 2048) -> dict[str, Any]:
    """odc.stac.load of all bands, medians of six bands, the baseline detector, GeoTIFFs
    of both composites and the mask, shapes (see the module's docstring)."""
    import tempfile
    import threading

    import dask
    import odc.stac
    import rioxarray  # noqa: F401  (registers the .rio accessor)
    import xarray as xr

    from tiandi.eo.indices import add_indices
    from tiandi.models.baseline import BaselineDetector

    bands = [*scale_scene.BANDS10, *scale_scene.BANDS20]
    composites = []
    for part, dates in scale_scene.periods(folder):
        ds = odc.stac.load(part, bands=[*bands, "SCL"], chunks={"x": chunk, "y": chunk},
                           resolution=10)  # fmt: skip
        offset = xr.DataArray([1000.0 if b == "04.00" else 0.0 for _, b in dates], dims="time")
        clear = ~ds["SCL"].isin(list(MASKED_SCL))
        medians = {}
        for band in bands:
            refl = np.maximum(ds[band].astype("float32") - offset, 1) / 10000
            medians[band] = refl.where(clear & (ds[band] != 0)).median("time")
        composites.append(xr.Dataset(medians))
    change = BaselineDetector().detect(*(add_indices(c) for c in composites))
    lock = threading.Lock()
    with tempfile.TemporaryDirectory(dir=folder.parent) as out:
        dn = [(c.to_array("band") * 10000).round().fillna(0).astype("uint16") for c in composites]
        mask_da = change["change_mask"]
        writes = [
            _geotiff(dn[0], Path(out, "before.tif"), lock),
            _geotiff(dn[1], Path(out, "after.tif"), lock),
            _geotiff(mask_da, Path(out, "change_mask.tif"), lock),
        ]
        *_, mask_values = dask.compute(*writes, mask_da.data)
    mask = np.asarray(mask_values) == 1
    return {"changed_px": int(mask.sum()), "polygons": _polygons(mask)}


def _geotiff(data: Any, path: Path, lock: Any) -> Any:
    """A tiled DEFLATE GeoTIFF of ``data`` written chunk by chunk by rioxarray (delayed)."""
    return data.rio.to_raster(
        path,
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="DEFLATE",
        predictor=2,
        windowed=True,
        lock=lock,
        compute=False,
    )


def main(argv: list[str] | None = None) -> None:
    """Run one pipeline on a scene folder; print one JSON line."""
    stage, folder = (argv or sys.argv[1:])[:2]
    run = {"floor": floor, "naive": naive, "odcstac": odcstac, "odcstac-all": odcstac_all}[stage]
    t0 = time.perf_counter()
    try:
        result: dict[str, Any] = {"status": "ok", **run(Path(folder))}
    except MemoryError:
        result = {"status": "out_of_memory"}
    result["inner_seconds"] = time.perf_counter() - t0
    print(json.dumps(result))


if __name__ == "__main__":
    main()
