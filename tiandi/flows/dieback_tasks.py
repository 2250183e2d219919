"""The steps of the ``detect_dieback`` flow, as plain functions (testable without Prefect).

Baseline windows per year, the per-date series, the per-zone check that the baseline
has clear observations in the season, forest before / bare after from the land-cover
model, confirmation carried across runs through the patch store, and the run folder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pystac
import rasterio.features
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

from tiandi._time import parse_period
from tiandi.eo.cog import CogOutput, write_cogs
from tiandi.eo.composite import composite_period
from tiandi.eo.series import date_layers
from tiandi.eo.storage import composite_output
from tiandi.errors import NoDataError
from tiandi.models.base import CLOUD_MARGIN_PX
from tiandi.models.dieback import (
    STATUS_CONFIRMED,
    STATUS_PROVISIONAL,
    AlertMaps,
    DiebackParams,
    Observation,
    bare_after,
    baseline_dates,
    confidence,
    indices_of,
    woody_mask,
)
from tiandi.models.landcover import LANDCOVER_CLASSES, LandCoverModel, landcover_probabilities
from tiandi.redline.patches.extract import write_patches
from tiandi.redline.run_layout import RunLayout
from tiandi.redline.store.gpkg import PatchStore
from tiandi.redline.store.identity import match_patches
from tiandi.redline.store.lifecycle import PatchState
from tiandi.redline.vocabulary import ChangeType

F32 = npt.NDArray[np.float32]


def _shift_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def baseline_periods(period: str, years: int, window_days: int) -> list[str]:
    """The search periods of the baseline: ``period`` moved back 1..``years`` years and
    widened by ``window_days`` on both sides (most recent year first)."""
    start, end = (
        datetime.fromisoformat(p[:10]).date() for p in parse_period(period, "period").split("/")
    )
    pad = timedelta(days=window_days)
    out = []
    for k in range(1, years + 1):
        a, b = _shift_years(start, k) - pad, _shift_years(end, k) + pad
        out.append(f"{a.isoformat()}/{b.isoformat()}")
    return out


def series(items: Sequence[pystac.Item], grid: GeoBox, chunk: int) -> list[Observation]:
    """The clear dates of ``items`` as NDVI/NDMI observations on ``grid``, clouds masked
    with the margin of single-date changes (:data:`tiandi.models.base.CLOUD_MARGIN_PX`:
    an alert rests on one date's drop)."""
    layers = date_layers(items, grid, indices_of, chunk=chunk, dilate_px=CLOUD_MARGIN_PX)
    return [Observation(d, day) for d, day in layers]


def zone_masks(zones: gpd.GeoDataFrame, grid: GeoBox) -> dict[str, npt.NDArray[np.bool_]]:
    """``zone_id`` → pixels of ``grid`` inside the zone."""
    shape = (int(grid.shape[0]), int(grid.shape[1]))
    zones_g = zones.to_crs(str(grid.crs))
    out = {}
    for zone_id, geom in zip(zones_g["zone_id"], zones_g.geometry, strict=True):
        out[str(zone_id)] = rasterio.features.geometry_mask(
            [geom], shape, grid.transform, invert=True, all_touched=True
        )
    return out


def baseline_gaps(
    masks: dict[str, npt.NDArray[np.bool_]],
    period: Sequence[Observation],
    baseline: Sequence[Observation],
    params: DiebackParams,
) -> list[str]:
    """Zones without one clear baseline observation in the seasonal window of any clear
    date of the period (their dieback cannot be judged: no data, never "no change")."""
    windows = {i for obs in period for i in baseline_dates(obs.day, baseline, params.window_days)}
    clear = np.zeros(next(iter(masks.values())).shape, bool) if masks else np.zeros((0, 0), bool)
    for i in windows:
        clear |= np.isfinite(baseline[i].layers["ndvi"])
    return [zone_id for zone_id, m in masks.items() if not (clear & m).any()]


def no_baseline_message(zones: Sequence[str], years: Sequence[str], window_days: int) -> str:
    """The no-data message naming the zones and the baseline years searched."""
    return (
        f"no clear baseline observation within {window_days} days of the season of the "
        f"monitoring dates in zone(s) {', '.join(zones)} in the baseline years "
        f"{', '.join(years)}; add imagery of those years to the catalog, raise the maximum "
        "cloud cover, widen --window-days or give more --baseline-years"
    )


@dataclass(frozen=True)
class Cover:
    """Forest in the baseline, land cover of the period, and the two composites."""

    forest: npt.NDArray[np.bool_]
    landcover_after: npt.NDArray[np.uint8]
    before: xr.Dataset
    after: xr.Dataset


def _landcover(ds: xr.Dataset, model: LandCoverModel) -> npt.NDArray[np.uint8]:
    return np.asarray(landcover_probabilities(ds, model)["landcover"].values, dtype=np.uint8)


def cover(
    baseline: Sequence[Observation],
    items: tuple[Sequence[pystac.Item], Sequence[pystac.Item]],
    grid: GeoBox,
    model: LandCoverModel,
    chunk: int,
) -> Cover:
    """Forest (:func:`tiandi.models.dieback.woody_mask` of the baseline series), the
    baseline's and the period's median composites (``items``: their items) and the
    period's land cover."""
    before = composite_period(items[0], grid, chunk=chunk).compute()
    after = composite_period(items[1], grid, chunk=chunk).compute()
    return Cover(woody_mask(baseline), _landcover(after, model), before, after)


def bare_at_last_alert(
    alerts: AlertMaps, period: Sequence[Observation], landcover_after: npt.NDArray[np.uint8]
) -> npt.NDArray[np.bool_]:
    """Pixels bare after (:func:`tiandi.models.dieback.bare_after`): NDVI and BSI of each
    pixel's last anomalous date (so a cut in the middle of the period is seen bare, not
    averaged with the forest before it), or the period's land cover ``bare``/``built``."""
    last = np.clip(alerts.last, 0, None)[None].astype(np.intp)
    values = {}
    for name in ("ndvi", "bsi"):
        stack = np.stack([np.asarray(o.layers[name], np.float32) for o in period])
        at = np.take_along_axis(stack, last, axis=0)[0]
        values[name] = np.where(alerts.last >= 0, at, np.nan).astype(np.float32)
    return bare_after(landcover_after, values["ndvi"], values["bsi"], LANDCOVER_CLASSES)


def carry_confirmation(
    store: PatchStore, patches: gpd.GeoDataFrame, run_id: str, params: DiebackParams
) -> gpd.GeoDataFrame:
    """Confirm the provisional patches that continue a dieback alert already in the store.

    A provisional patch of this run that takes the identity of an open dieback patch of an
    earlier run (:func:`tiandi.redline.store.identity.match_patches`) was anomalous on that
    run's date(s) and again on this run's: two dates, so it is ``confirmed`` (as
    DIST-ALERT confirms an alert from a later acquisition)."""
    if patches.empty:
        return patches
    store.ensure()
    known = store.list_patches()
    closed = {PatchState.SUPERSEDED.value, PatchState.REJECTED.value}
    known = known[(known["change_type"] == ChangeType.DIEBACK.value) & ~known["state"].isin(closed)]
    if known.empty:
        return patches
    out = patches.copy()
    for m in match_patches(known, out, run_id=run_id):
        if m.linked and out.at[m.index, "alert_status"] == "provisional":
            out.at[m.index, "alert_status"] = "confirmed"
            out.at[m.index, "n_anomalous_dates"] = int(out.at[m.index, "n_anomalous_dates"]) + 1
            out.at[m.index, "confidence"] = confidence(
                "confirmed",
                float(out.at[m.index, "max_z"]),
                int(out.at[m.index, "n_anomalous_dates"]),
                params,
            )
    return out


def _raster(values: Any, grid: GeoBox, name: str) -> xr.DataArray:
    coords = {str(k): v for k, v in xr_coords(grid, crs_coord_name="spatial_ref").items()}
    return xr.DataArray(values, dims=("y", "x"), coords=coords, name=name)


def write_outputs(
    layout: RunLayout,
    grid: GeoBox,
    alerts: AlertMaps,
    covers: Cover,
    frames: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame],
    summary: dict[str, Any],
) -> None:
    """Patches (clear-cuts as ``screened``), alert rasters, composites, summary.json."""
    write_patches(frames[0], layout.patches, screened=frames[1])
    layout.dieback_status.parent.mkdir(parents=True, exist_ok=True)
    layout.composite("before").parent.mkdir(parents=True, exist_ok=True)
    tags = {"tiandi:product": "dieback"}
    write_cogs(
        [
            CogOutput(
                _raster(alerts.status, grid, "alert_status"),
                layout.dieback_status,
                255,
                "uint8",
                tags,
            ),
            CogOutput(
                _raster(alerts.max_z, grid, "max_z"),
                layout.dieback_max_z,
                float("nan"),
                "float32",
                tags,
            ),
        ]
    )
    write_cogs(
        [
            composite_output(
                covers.before, layout.composite("before"), tags={"tiandi:period": "baseline"}
            ),
            composite_output(
                covers.after, layout.composite("after"), tags={"tiandi:period": "monitoring"}
            ),
        ]
    )
    text = json.dumps(summary, ensure_ascii=False, indent=2, sort_keys=True)
    layout.summary_json.write_text(text + "\n", encoding="utf-8")


def alert_counts(alerts: AlertMaps) -> dict[str, int]:
    """Pixels per alert status."""
    return {
        "provisional_px": int((alerts.status == STATUS_PROVISIONAL).sum()),
        "confirmed_px": int((alerts.status == STATUS_CONFIRMED).sum()),
    }


def no_clear_dates(zones_file: str, period: str) -> NoDataError:
    """The error of a monitoring period without one clear date on the zones."""
    return NoDataError(
        f"zones {zones_file}: no clear observation in the monitoring period {period} "
        "(every date is cloud, shadow or no data over the zones); widen the period or raise "
        "the maximum cloud cover"
    )
