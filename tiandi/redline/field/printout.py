"""Printable task list (HTML, Chinese and English) and KML of a station's tasks.

The HTML page is one self-contained file (CSS inline; chips referenced relatively from
``chips/``) with a print stylesheet: A4, one task per block that never splits across
pages, tick boxes for the result and lines for notes, for crews that work on paper or
want a hard copy beside the tablet. KML (Google Earth, Ovi/2bulu and most Chinese outdoor
apps read it) carries the polygons and the points with a bilingual description.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio

from tiandi._io import atomic_path
from tiandi.redline.field.schema import CLASS_LABELS, RESULT_LABELS

_CSS = """
body { font-family: "Noto Sans CJK SC", "Noto Sans SC", "Microsoft YaHei", sans-serif;
       margin: 1.5em; color: #111; }
h1 { font-size: 1.4em; margin-bottom: .2em; }
.meta { color: #444; margin-bottom: 1em; }
table.summary { border-collapse: collapse; width: 100%; margin-bottom: 1.5em; }
table.summary th, table.summary td { border: 1px solid #999; padding: 3px 6px;
       font-size: .85em; text-align: left; }
.task { border: 1px solid #555; padding: .6em .8em; margin-bottom: 1em;
        page-break-inside: avoid; break-inside: avoid; }
.task h2 { font-size: 1.1em; margin: 0 0 .4em 0; }
.task table { border-collapse: collapse; font-size: .85em; }
.task td { padding: 1px 8px 1px 0; vertical-align: top; }
.chips img { width: 45%; max-width: 260px; margin-right: 2%; border: 1px solid #777; }
.box { display: inline-block; width: .9em; height: .9em; border: 1px solid #000;
       margin: 0 .3em 0 1em; vertical-align: middle; }
.line { border-bottom: 1px solid #000; height: 1.6em; }
.warn { color: #a00; }
@media print {
  @page { size: A4; margin: 12mm; }
  body { margin: 0; }
  a { color: inherit; text-decoration: none; }
}
"""


def _e(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return html.escape(str(value))


def write_task_list(
    tasks: gpd.GeoDataFrame,
    path: Path,
    *,
    station_id: str,
    station_name: str,
    package_id: str,
    dispatched_at: str,
) -> Path:
    """Write the printable task list of one station (atomic, deterministic)."""
    rows = []
    blocks = []
    for i, t in enumerate(tasks.itertuples(index=False), start=1):
        rows.append(_summary_row(i, t))
        blocks.append(_task_block(i, t))
    page = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>{_e(station_id)} 核查任务清单 field task list</title>
<style>{_CSS}</style></head><body>
<h1>地面核查任务清单 Field verification task list</h1>
<div class="meta">核查站 Station: {_e(station_name)} ({_e(station_id)}) ·
任务包 Package: {_e(package_id)} · 下发时间 Dispatched: {_e(dispatched_at)} ·
任务数 Tasks: {len(tasks)}</div>
<table class="summary"><tr><th>#</th><th>任务 Task</th><th>图斑 Patch</th><th>区域 Zone</th>
<th>类型 Class</th><th>公顷 ha</th><th>亩 mu</th><th>经纬度 Lon, lat</th></tr>
{"".join(rows)}</table>
{"".join(blocks)}
</body></html>
"""
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


def _summary_row(i: int, t: Any) -> str:
    """The task's row in the summary table at the top of the list."""
    return (
        f"<tr><td>{i}</td><td>{_e(t.task_id)}</td><td>{_e(t.patch_id)}</td>"
        f"<td>{_e(t.zone_name)}</td><td>{_e(t.hj1156_zh)} {_e(t.hj1156_class)}</td>"
        f"<td>{float(t.area_ha):.2f}</td><td>{float(t.area_mu):.1f}</td>"
        f"<td>{float(t.lon):.6f}, {float(t.lat):.6f}</td></tr>"
    )


def _task_block(i: int, t: Any) -> str:
    """The task's block: what was mapped, the chips, tick boxes and lines for the crew."""
    boxes = "".join(f'<span class="box"></span>{_e(v)}' for v in RESULT_LABELS.values())
    classes = " / ".join(_e(v) for v in CLASS_LABELS.values())
    warn = f'<p class="warn">{_e(t.warning)}</p>' if t.warning else ""
    chips = "".join(
        f'<img src="{_e(src)}" alt="{_e(label)}">'
        for src, label in ((t.chip_before, "before 前期"), (t.chip_after, "after 后期"))
        if src
    )
    return f"""<div class="task">
<h2>{i}. 任务 Task {_e(t.task_id)} · 图斑 Patch {_e(t.patch_id)}</h2>
<table>
<tr><td>区域 Zone</td><td>{_e(t.zone_name)} ({_e(t.zone_id)}) {_e(t.functional_zone)}</td></tr>
<tr><td>判读类型 Mapped class</td><td>{_e(t.hj1156_zh)} {_e(t.hj1156_class)}</td></tr>
<tr><td>变化类型 Change</td><td>{_e(t.change_type_zh)} {_e(t.change_type)}</td></tr>
<tr><td>面积 Area</td><td>{float(t.area_ha):.2f} 公顷 ha · {float(t.area_mu):.1f} 亩 mu</td></tr>
<tr><td>位置 Location</td><td>{float(t.lon):.6f}°E, {float(t.lat):.6f}°N (CGCS2000)</td></tr>
<tr><td>置信度 Confidence</td><td>{float(t.confidence):.2f}</td></tr>
</table>{warn}
<div class="chips">{chips}</div>
<p><b>核查结果 Result:</b>{boxes}</p>
<p><b>实地类型 Class found:</b> {classes}</p>
<p><b>核查说明 Notes:</b></p><div class="line"></div><div class="line"></div>
<p><b>照片编号 Photo numbers:</b> ____________ <b>核查人员 Crew:</b> ____________
<b>日期 Date:</b> ____________</p>
</div>"""


def write_kml(tasks: gpd.GeoDataFrame, points: gpd.GeoDataFrame, path: Path) -> Path:
    """Polygons and points of the tasks as KML (EPSG:4326), name = task id."""

    def described(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        text = [
            f"图斑 patch {r.patch_id}; {r.hj1156_zh} {r.hj1156_class}; {float(r.area_ha):.2f} ha"
            for r in frame.itertuples(index=False)
        ]
        return gpd.GeoDataFrame(
            {"Name": frame["task_id"].astype(str).tolist(), "Description": text},
            geometry=frame.geometry.values,
            crs=frame.crs,
        ).to_crs("EPSG:4326")

    with atomic_path(path) as tmp:
        pyogrio.write_dataframe(described(tasks), tmp, layer="tasks", driver="KML")
        pyogrio.write_dataframe(
            described(points), tmp, layer="task_points", driver="KML", append=True
        )
    return path
