"""The run report as one self-contained, bilingual (中文 + English) HTML page.

Every text that comes from data (zone names, reviewers' reasons, file names, parameters)
goes through :func:`html.escape`; pictures are inlined as ``data:`` URIs, so the file
opens without a server, prints to PDF as it is, and has no script.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from html import escape
from typing import Any

from tiandi.redline.reports.report_data import RunReport, table_by
from tiandi.redline.reports.report_images import hectares
from tiandi.redline.store.lifecycle import PatchState
from tiandi.redline.vocabulary import ChangeType, HJ1156Class

CSS = (
    "@page{size:A4;margin:14mm}body{font-family:'Noto Sans CJK SC','WenQuanYi Zen Hei',"
    "sans-serif;margin:0 auto;max-width:60em;font-size:10.5pt;color:#222}"
    "h1{font-size:17pt}h2{font-size:13pt;border-bottom:1px solid #bbb;margin-top:1.4em}"
    "table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #bbb;"
    "padding:.15em .45em;text-align:left;vertical-align:top}td.n{text-align:right}"
    "img{max-width:100%}.chips{display:flex;gap:.6em;break-inside:avoid;margin:.5em 0}"
    ".chips figure{margin:0}.chips img{width:15em}code{font-size:8.5pt;word-break:break-all}"
    ".muted{color:#666}"
)


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: set[int]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{_e(v)}</td>' if i in numeric else f"<td>{_e(v)}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _label(enum: Any, value: str) -> str:
    try:
        member = enum(value)
    except ValueError:
        return value or "—"
    return f"{member.zh} · {member.en}"


def _by(report: RunReport, column: str, enum: Any, title: str) -> str:
    rows = [
        [_label(enum, r[column]), int(r["n"]), hectares(r["area_ha"]), hectares(r["area_mu"])]
        for _, r in table_by(report.patches, column).iterrows()
    ]
    headers = [title, "数量 count", "面积 area (ha)", "面积 area (亩 mu)"]
    return _table(headers, rows or [["—", 0, "0.00", "0.00"]], {1, 2, 3})


def _png(data: bytes, alt: str) -> str:
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return f'<img src="{uri}" alt="{_e(alt)}">'


def _lifecycle(report: RunReport) -> str:
    if report.lifecycle is None:
        return '<p class="muted">本次运行未记入图斑库 The run is not in the patch store.</p>'
    rows = [[_label(_StateLabel, s), n] for s, n in report.lifecycle.by_state.items()]
    out = _table(["状态 state", "数量 count"], rows or [["—", 0]], {1})
    if report.lifecycle.rejected:
        out += "<h3>排除理由 Reasons of rejection</h3>" + _table(
            ["图斑 patch", "理由 reason"], report.lifecycle.rejected, set()
        )
    if report.lifecycle.answers:
        out += "<h3>实地核查答复 Answers on the ground</h3>" + _table(
            ["图斑 patch", "核查问题 question", "答复 answer"], report.lifecycle.answers, set()
        )
    return out


class _StateLabel:
    """PatchState with an English label (its value, spaced)."""

    def __init__(self, value: str) -> None:
        state = PatchState(value)
        self.zh, self.en = state.zh, state.value.replace("_", " ")


def _estimate(e: dict[str, float] | None, scale: float = 1.0, digits: int = 3) -> str:
    if not e:
        return "—"
    lo, hi = e["ci_low"] * scale, e["ci_high"] * scale
    return f"{e['value'] * scale:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _accuracy(report: RunReport) -> str:
    if report.accuracy is None:
        return '<p class="muted">尚无精度评价 No accuracy assessment yet.</p>'
    wanted = {"overall", report.zone_name, report.zone_id}
    out = [f"<p>置信水平 z = {_e(report.accuracy.get('z'))} (95 % CI in brackets)</p>"]
    for g in report.accuracy["groups"]:
        if g.get("group") not in wanted:
            continue
        out.append(
            f"<h3>{_e(g['group'])}: 总体精度 overall accuracy {_estimate(g.get('overall'))}, "
            f"n = {_e(g.get('n_samples'))}</h3>"
        )
        rows = [
            [c["class"], _estimate(c.get("users")), _estimate(c.get("producers")),
             _estimate(c.get("area_ha"), digits=2)]
            for c in g.get("per_class", [])
        ]  # fmt: skip
        headers = ["类别 class", "用户精度 user's", "生产者精度 producer's", "估计面积 area (ha)"]
        out.append(_table(headers, rows, {1, 2, 3}))
    return "".join(out)


def _chips(chips: list[tuple[dict[str, Any], dict[str, bytes]]]) -> str:
    out = []
    for i, (attrs, images) in enumerate(chips, start=1):
        caption = (
            f"{i}. {_e(attrs.get('patch_id'))} · {_e(attrs.get('hj1156_zh'))} · "
            f"{hectares(float(attrs.get('area_ha') or 0))} ha · {_e(attrs.get('zone_name'))}"
        )
        figures = "".join(
            f"<figure>{_png(png, period + ' ' + str(attrs.get('patch_id')))}"
            f"<figcaption>{'前时相 before' if period == 'before' else '后时相 after'}</figcaption>"
            "</figure>"
            for period, png in images.items()
        )
        out.append(f"<p><b>{caption}</b></p><div class=chips>{figures}</div>")
    return "".join(out) or "<p>—</p>"


def _provenance(report: RunReport) -> str:
    s = report.summary
    rows: list[list[Any]] = [
        ["运行 run id", report.run_id],
        ["前时相 before", s.get("before")],
        ["后时相 after", s.get("after")],
        ["检测器 detector", f"{s.get('detector', '')} {s.get('detector_version', '')}"],
        ["前时相影像 items before", ", ".join(s.get("items_before", []))],
        ["后时相影像 items after", ", ".join(s.get("items_after", []))],
        ["范围文件 zones file", s.get("zones_file")],
        [
            "参数 parameters",
            json.dumps(s.get("parameters", {}), ensure_ascii=False, sort_keys=True),
        ],
        ["运行目录 run folder", report.layout.root],
        ["软件 software", report.software],
    ]
    sums: list[list[Any]] = [[name, size, sha] for name, sha, size in report.checksums]
    return _table(["项 item", "值 value"], rows, set()) + _table(
        ["文件 file", "字节 bytes", "SHA-256"], sums, {1}
    )


def render_html(
    report: RunReport, map_png: bytes, chips: list[tuple[dict[str, Any], dict[str, bytes]]]
) -> str:
    """The whole page."""
    where = report.zone_name or "全部范围 all zones"
    n, ha = (
        len(report.patches),
        float(report.patches["area_ha"].sum()) if len(report.patches) else 0.0,
    )
    mu = float(report.patches["area_mu"].sum()) if len(report.patches) else 0.0
    sections = [
        f"<h1>生态保护红线与自然保护区人类活动变化图斑报告<br>Change patches in red-line "
        f"zones and reserves — {_e(where)}</h1>",
        f"<p>运行 run <code>{_e(report.run_id)}</code> · {_e(report.summary.get('before'))} → "
        f"{_e(report.summary.get('after'))}</p>",
        f"<p>图斑 patches: <b>{n}</b> · 面积 area <b>{hectares(ha)}</b> ha "
        f"(<b>{hectares(mu)}</b> 亩 mu)</p>",
        "<h2>区位图 Location map</h2>" + _png(map_png, "location map"),
        "<h2>按 HJ 1156 类别统计 By HJ 1156 class</h2>"
        + _by(report, "hj1156_class", HJ1156Class, "类别 class"),
        "<h2>按变化类型统计 By change type</h2>"
        + _by(report, "change_type", ChangeType, "变化类型 change type"),
        "<h2>图斑状态 Lifecycle</h2>" + _lifecycle(report),
        "<h2>最大图斑前后影像 Largest patches, before and after</h2>" + _chips(chips),
        "<h2>精度评价 Accuracy</h2>" + _accuracy(report),
        "<h2>数据来源 Provenance</h2>" + _provenance(report),
    ]
    title = f"图斑报告 Patch report {_e(report.run_id)} {_e(report.zone_id or '')}"
    body = "\n".join(sections)
    return (
        f'<!doctype html>\n<html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n"
    )
