"""The pictures of a run report: a location map and before/after chips of the largest
patches, as PNG bytes.

The map is the after composite in true colour (the field chips' fixed stretch,
reflectance 0–0.3 and gamma 1.5), read at reduced resolution over the zone (or the whole
scene), with the zone outline in green and the patch outlines in red, the largest ones
numbered as in the report's chips. Chips come from
:func:`tiandi.redline.field.chips.patch_chip` (outline in yellow).
"""

from __future__ import annotations

import io
import math
from typing import Any

import geopandas as gpd
import matplotlib
import numpy as np
import rasterio
import rasterio.windows
from matplotlib import font_manager
from matplotlib.figure import Figure

from tiandi.redline.field.chips import band_indexes, patch_chip, read_reflectance, to_rgb8
from tiandi.redline.reports.report_data import RunReport

_CJK_FONTS = ("Noto Sans CJK SC", "Noto Serif CJK SC", "WenQuanYi Zen Hei")
MARGIN = 0.08  # of the zone's extent, around it


def _font_style() -> dict[str, Any]:
    available = {f.name for f in font_manager.fontManager.ttflist}
    font = next((name for name in _CJK_FONTS if name in available), None)
    return {"font.sans-serif": [font, "DejaVu Sans"]} if font else {}


def largest(report: RunReport, n: int) -> gpd.GeoDataFrame:
    """The ``n`` largest patches of the report, largest first."""
    return report.patches.sort_values(["area_m2", "patch_id"], ascending=[False, True]).head(n)


def _window(src: Any, bounds: tuple[float, float, float, float]) -> rasterio.windows.Window:
    x0, y0, x1, y1 = bounds
    pad = MARGIN * max(x1 - x0, y1 - y0, 10 * src.res[0])
    window = rasterio.windows.from_bounds(x0 - pad, y0 - pad, x1 + pad, y1 + pad, src.transform)
    full = rasterio.windows.Window(0, 0, src.width, src.height)
    try:
        return window.intersection(full).round_offsets().round_lengths()
    except rasterio.errors.WindowError:
        return full


def _extent_of(report: RunReport, crs: Any) -> tuple[float, float, float, float] | None:
    if report.zone_id is None:
        return None
    shapes = [report.patches.to_crs(crs)] if not report.patches.empty else []
    if report.zones is not None and not report.zones.empty:
        shapes.append(report.zones.to_crs(crs))
    if not shapes:
        return None
    boxes = np.array([s.total_bounds for s in shapes])
    return (boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max())


def location_map_png(report: RunReport, *, max_side: int = 1200, numbered: int = 6) -> bytes:
    """The location map (PNG bytes): after composite, zone and patch outlines."""
    after = report.layout.composite("after")
    idx = band_indexes(after)
    with rasterio.open(after) as src:
        crs = src.crs
        bounds = _extent_of(report, crs)
        window = rasterio.windows.Window(0, 0, src.width, src.height)
        if bounds is not None:
            window = _window(src, bounds)
        factor = max(1.0, max(window.width, window.height) / max_side)
        shape = (3, max(1, int(window.height / factor)), max(1, int(window.width / factor)))
        rgb, valid = to_rgb8(read_reflectance(src, idx, window, out_shape=shape))
        left, top = src.window_transform(window) * (0, 0)
        right, bottom = src.window_transform(window) * (window.width, window.height)
    image = np.dstack([rgb, np.where(valid, 255, 0).astype("uint8")])
    with matplotlib.rc_context(_font_style()):  # type: ignore[arg-type]
        width = 10.0
        height = max(3.0, min(10.0, width * shape[1] / shape[2])) + 0.6
        fig = Figure(figsize=(width, height), dpi=110)
        ax = fig.add_subplot()
        ax.imshow(image, extent=(left, right, bottom, top), interpolation="bilinear")
        _outlines(ax, report, crs, numbered)
        ax.set_xlim(left, right)
        ax.set_ylim(bottom, top)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.set_title(
            "区位图 Location map: 后时相 after · 保护区/红线 zone (绿 green) · "
            "图斑 patches (红 red)"
        )
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _outlines(ax: Any, report: RunReport, crs: Any, numbered: int) -> None:
    if report.zones is not None and not report.zones.empty:
        report.zones.to_crs(crs).boundary.plot(ax=ax, color="#2ca02c", linewidth=1.4)
    if report.patches.empty:
        return
    report.patches.to_crs(crs).boundary.plot(ax=ax, color="#ff2d2d", linewidth=1.0)
    for i, geom in enumerate(largest(report, numbered).to_crs(crs).geometry, start=1):
        x0, _, _, y1 = geom.bounds
        ax.annotate(str(i), (x0, y1), color="white", fontsize=8, fontweight="bold",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "#d62728", "ec": "none"})  # fmt: skip


def chips_png(report: RunReport, n: int) -> list[tuple[dict[str, Any], dict[str, bytes]]]:
    """``(patch attributes, {"before": PNG, "after": PNG})`` of the ``n`` largest patches;
    a period whose composite is missing is left out."""
    out = []
    frame = largest(report, n)
    for _, row in frame.iterrows():
        images = {}
        for period, path in report.layout.composites().items():
            if path.is_file():
                buffer = io.BytesIO()
                patch_chip(path, row.geometry, frame.crs).save(buffer, format="PNG")
                images[period] = buffer.getvalue()
        attrs = {k: v for k, v in row.items() if k != "geometry"}
        out.append((attrs, images))
    return out


def hectares(value: float) -> str:
    """Hectares with two decimals (NaN as —)."""
    return "—" if value is None or not math.isfinite(value) else f"{value:,.2f}"
