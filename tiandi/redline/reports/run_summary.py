"""What a person opens after a run: a terminal summary, ``summary.html`` and ``map.png``.

The page is self-contained (no CDN, no script): it shows the map picture, patches per
zone and HJ 1156 class with areas in ha and 亩, the patches per confidence level and the
evidence that fired (integrated detector only), the scores against known events when
they were given, and links to every output file. The map picture is drawn from the
composites' overviews, so its memory does not grow with the scene.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio

from tiandi._io import atomic_path
from tiandi.redline.run_layout import RunLayout
from tiandi.redline.vocabulary import CONFIDENCE_LEVEL_LABELS, M2_PER_HA, MU_M2

if TYPE_CHECKING:  # matplotlib (26 MB resident) is imported when the map is drawn
    from matplotlib.figure import Figure

_CJK_FONTS = ("Noto Sans CJK SC", "Noto Serif CJK SC", "WenQuanYi Zen Hei")
TRUE_COLOUR = ("B04", "B03", "B02")


@dataclass(frozen=True)
class RunSummary:
    """Facts about one detect_changes run, for the terminal, the page and summary.json."""

    zones_file: str
    before: str
    after: str
    items_before: list[str]
    items_after: list[str]
    detector: str
    detector_version: str
    n_patches: int
    total_area_ha: float
    outputs: dict[str, str]
    scores: dict[str, Any] | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    confidence_levels: dict[str, int] | None = None  # patches per level (integrated detector)


def confidence_table(patches: gpd.GeoDataFrame) -> pd.DataFrame | None:
    """Patches counted and summed per confidence level (most confident first) with the
    evidence that fired in them; None when the patches carry no levels."""
    if "confidence_level" not in patches:
        return None
    columns = ["level", "n", "area_ha", "area_mu", "evidence"]
    rows = []
    for level, label in [*CONFIDENCE_LEVEL_LABELS.items(), (None, "— none")]:
        part = (
            patches[patches["confidence_level"].isna()]
            if level is None
            else patches[patches["confidence_level"] == level]
        )
        if part.empty:
            continue
        seen = sorted({e for v in part["evidence"].dropna() for e in str(v).split(",") if e})
        rows.append(
            [
                label,
                len(part),
                float(part["area_ha"].sum()),
                float(part["area_mu"].sum()),
                ", ".join(seen) or "—",
            ]
        )
    return pd.DataFrame(rows, columns=columns)


def level_counts(patches: gpd.GeoDataFrame) -> dict[str, int] | None:
    """Patches per confidence level (for summary.json); None without levels."""
    if "confidence_level" not in patches:
        return None
    values = patches["confidence_level"].fillna("none")
    return {str(k): int(v) for k, v in sorted(values.value_counts().items())}


def patch_table(patches: gpd.GeoDataFrame) -> pd.DataFrame:
    """Patches counted and summed per zone, functional zone and HJ 1156 class."""
    columns = ["zone_name", "functional_zone", "hj1156_zh", "n", "area_ha", "area_mu"]
    if patches.empty:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(patches.drop(columns="geometry"))
    frame["functional_zone"] = frame["functional_zone"].fillna("—")
    table = (
        frame.groupby(["zone_name", "functional_zone", "hj1156_zh"], dropna=False)
        .agg(n=("patch_id", "count"), area_ha=("area_ha", "sum"), area_mu=("area_mu", "sum"))
        .reset_index()
        .sort_values(["zone_name", "functional_zone", "area_ha"], ascending=[True, True, False])
    )
    return table[columns]


def print_summary(summary: RunSummary, patches: gpd.GeoDataFrame, out: Path, console: Any) -> None:
    """Print the run summary with rich (a ``rich.console.Console``); paths under ``out``."""
    from rich.table import Table

    table = Table(title=f"图斑 patches: {summary.before} → {summary.after}")
    for name in ("zone", "functional zone", "HJ 1156 class", "n", "ha", "亩"):
        table.add_column(name, justify="right" if name in ("n", "ha", "亩") else "left")
    for row in patch_table(patches).itertuples(index=False):
        table.add_row(
            str(row.zone_name),
            str(row.functional_zone),
            str(row.hj1156_zh),
            str(row.n),
            f"{row.area_ha:.2f}",
            f"{row.area_mu:.1f}",
        )
    console.print(table)
    levels = confidence_table(patches)
    if levels is not None:
        by_level = Table(title="置信等级 confidence levels")
        for name in ("level", "n", "ha", "亩", "evidence"):
            by_level.add_column(name, justify="right" if name in ("n", "ha", "亩") else "left")
        for row in levels.itertuples(index=False):
            by_level.add_row(
                str(row.level),
                str(row.n),
                f"{row.area_ha:.2f}",
                f"{row.area_mu:.1f}",
                str(row.evidence),
            )
        console.print(by_level)
    console.print(
        f"{summary.n_patches} patches, {summary.total_area_ha:.2f} ha; detector "
        f"{summary.detector} {summary.detector_version}; "
        f"{len(summary.items_before)} + {len(summary.items_after)} scenes"
    )
    if summary.scores:
        s = summary.scores
        console.print(
            f"against known events: precision {s['precision']:.2f}, recall {s['recall']:.2f}, "
            f"F1 {s['f1']:.2f} ({s['n_patches']} patches, {s['n_truth']} events in zones)"
            + _on_other_note(s)
        )
    console.print(f"outputs in {out}:")
    for name, path in summary.outputs.items():
        console.print(f"  {name:<16} {out / path}")


def _read_rgb(path: Path, max_side: int) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """True-colour picture of a composite COG, read at reduced resolution (overviews)."""
    with rasterio.open(path) as src:
        names = list(src.descriptions)
        try:
            indexes = [names.index(b) + 1 for b in TRUE_COLOUR]
        except ValueError:
            indexes = [1, 2, 3][: src.count]
        scale = max(src.width, src.height) / max_side
        shape = (max(1, int(src.height / max(scale, 1))), max(1, int(src.width / max(scale, 1))))
        data = src.read(indexes, out_shape=(len(indexes), *shape), masked=True).astype("float32")
        bounds = src.bounds
    rgb = np.ma.filled(data, np.nan).transpose(1, 2, 0)
    valid = np.isfinite(rgb).all(axis=2)
    if valid.any():
        lo, hi = np.nanpercentile(rgb[valid], [2, 98])
        rgb = np.clip((rgb - lo) / max(hi - lo, 1e-6), 0, 1)
    rgb[~valid] = 1.0
    return rgb, (bounds.left, bounds.right, bounds.bottom, bounds.top)


def _cjk_font() -> str | None:
    from matplotlib import font_manager

    available = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in _CJK_FONTS if name in available), None)


def render_map_png(
    before_cog: Path,
    after_cog: Path,
    patches: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    path: Path,
    *,
    max_side: int = 1024,
) -> Path:
    """Before/after true-colour composites side by side with zones and patches drawn."""
    import matplotlib
    from matplotlib.figure import Figure

    before, extent = _read_rgb(before_cog, max_side)
    after, _ = _read_rgb(after_cog, max_side)
    with rasterio.open(before_cog) as src:
        crs = src.crs
    zones_g = zones.to_crs(crs) if not zones.empty else zones
    patches_g = patches.to_crs(crs) if not patches.empty else patches
    font = _cjk_font()
    style: dict[str, Any] = {"font.sans-serif": [font, "DejaVu Sans"]} if font else {}
    with matplotlib.rc_context(style):  # type: ignore[arg-type]
        fig = Figure(figsize=(16, 8.4), dpi=100)
        _draw(fig, before, after, extent, zones_g, patches_g)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", metadata={"Software": None})
    return path


def _draw(
    fig: Figure,
    before: np.ndarray,
    after: np.ndarray,
    extent: tuple[float, float, float, float],
    zones_g: gpd.GeoDataFrame,
    patches_g: gpd.GeoDataFrame,
) -> None:
    axes = fig.subplots(1, 2)
    for ax, image, title in (
        (axes[0], before, "前时相 before"),
        (axes[1], after, "后时相 after"),
    ):
        ax.imshow(image, extent=extent, interpolation="bilinear")
        if not zones_g.empty:
            zones_g.boundary.plot(ax=ax, color="#2ca02c", linewidth=0.8)
        if not patches_g.empty:
            patches_g.boundary.plot(ax=ax, color="#ff2d2d", linewidth=1.2)
        ax.set_title(title)
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        f"变化图斑 change patches: {len(patches_g)} (红 red) · 保护区/红线 zones (绿 green)"
    )
    fig.tight_layout()


def _html_table(frame: pd.DataFrame, headers: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    rows = []
    for values in frame.itertuples(index=False):
        cells = "".join(
            f"<td>{v:.2f}</td>" if isinstance(v, float) else f"<td>{html.escape(str(v))}</td>"
            for v in values
        )
        rows.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


_CSS = """
body{font-family:'Noto Sans CJK SC','Noto Sans',sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px}
th{background:#f0f3f0}td{text-align:right}td:first-child,td:nth-child(2),td:nth-child(3){text-align:left}
img{max-width:100%;border:1px solid #ccc}.muted{color:#666}
"""


def write_summary_html(
    summary: RunSummary, patches: gpd.GeoDataFrame, out_dir: Path, map_png: str = RunLayout.MAP_PNG
) -> Path:
    """Write ``summary.html`` (self-contained) and ``summary.json`` into ``out_dir``."""
    table = patch_table(patches)
    levels = confidence_table(patches)
    by_level = ""
    if levels is not None:
        by_level = "<h2>按置信等级 By confidence level</h2>" + _html_table(
            levels, ["置信等级 level", "数量 n", "ha", "亩", "证据 evidence"]
        )
    scores = ""
    if summary.scores:
        s = summary.scores
        scores = (
            "<h2>与已知事件比较 Scores against known events</h2>"
            f"<p>precision {s['precision']:.2f} · recall {s['recall']:.2f} · F1 {s['f1']:.2f} "
            f"({s['n_patches']} patches, {s['n_truth']} events inside zones)"
            f"{html.escape(_on_other_note(s))}</p>"
        )
    links = "".join(
        f'<li><a href="{html.escape(rel)}">{html.escape(name)}</a> '
        f'<span class="muted">{html.escape(rel)}</span></li>'
        for name, rel in summary.outputs.items()
    )
    page = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>tiandi 变化检测 change detection {html.escape(summary.after)}</title>
<style>{_CSS}</style></head><body>
<h1>变化检测结果 Change detection</h1>
<p>区域 zones: {html.escape(summary.zones_file)}<br>
前时相 before: {html.escape(summary.before)} ({len(summary.items_before)} scenes) ·
后时相 after: {html.escape(summary.after)} ({len(summary.items_after)} scenes)<br>
检测器 detector: {html.escape(summary.detector)} {html.escape(summary.detector_version)}</p>
<p><b>{summary.n_patches}</b> 图斑 patches, <b>{summary.total_area_ha:.2f}</b> ha
({summary.total_area_ha * M2_PER_HA / MU_M2:.1f} 亩)</p>
<img src="{html.escape(map_png)}" alt="before/after composites with patches">
<h2>按保护地与类型 By zone and HJ 1156 class</h2>
{_html_table(table, ["区域 zone", "功能区 functional zone", "类型 class", "数量 n", "ha", "亩"])}
{by_level}{scores}
<h2>输出 Outputs</h2><ul>{links}</ul>
</body></html>
"""
    html_path = RunLayout(out_dir).summary_html
    with atomic_path(html_path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    json_path = RunLayout(out_dir).summary_json
    with atomic_path(json_path) as tmp:
        tmp.write_text(
            json.dumps(asdict(summary), ensure_ascii=False, indent=2, sort_keys=True),
            encoding="utf-8",
        )
    return html_path


def _on_other_note(scores: Mapping[str, Any]) -> str:
    """The patches on known changes that are no events (the demo's planted disturbances),
    counted correct in the precision, and the precision counting them false."""
    n, strict = scores.get("n_on_other", 0), scores.get("precision_events_only")
    if not n or strict is None:
        return ""
    return (
        f"; {n} of the patches lie on planted ecological disturbances (real changes, no "
        f"human activity: the disturbance runs type them), precision {strict:.2f} counting "
        "them false"
    )


def scores_dict(scores: Any) -> dict[str, Any] | None:
    """A scores dataclass (or mapping) as a plain dict for JSON, or None."""
    if scores is None:
        return None
    if isinstance(scores, Mapping):
        return dict(scores)
    return asdict(scores)
