"""Rendering of an accuracy report: plain values for JSON, Markdown and HTML tables
(Chinese and English headings)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from tiandi.redline.accuracy.estimates import Estimate, GroupAccuracy
from tiandi.redline.accuracy.strata import CHANGE, NO_CHANGE
from tiandi.redline.vocabulary import M2_PER_HA, HJ1156Class


def html_page(sections: list[str]) -> str:
    """A self-contained HTML page around the groups' sections."""
    body = "\n".join(sections)
    return (
        '<!doctype html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        "<title>精度评价 Accuracy assessment</title><style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:.5em 0}"
        "td,th{border:1px solid #bbb;padding:.2em .5em;text-align:right}"
        "th:first-child,td:first-child{text-align:left}</style></head><body>\n"
        f"<h1>精度评价与面积估计 Accuracy and area estimates</h1>\n{body}\n</body></html>\n"
    )


def _est(e: Estimate | None, scale: float = 1.0) -> dict[str, float] | None:
    if e is None:
        return None
    return {
        "value": e.value * scale,
        "se": e.se * scale,
        "ci_low": e.ci_low * scale,
        "ci_high": e.ci_high * scale,
    }


def group_dict(g: GroupAccuracy) -> dict[str, Any]:
    """One group as plain JSON-ready values (areas in ha)."""
    per_class = [
        {
            "class": c,
            "mapped_area_ha": g.mapped_area_m2[i] / M2_PER_HA,
            "users": _est(g.users[i]),
            "producers": _est(g.producers[i]),
            "area_ha": _est(g.area_m2[i], 1 / M2_PER_HA),
        }
        for i, c in enumerate(g.classes)
    ]
    return {
        "group": g.group,
        "n_samples": g.n_samples,
        "total_area_ha": g.total_area_m2 / M2_PER_HA,
        "classes": list(g.classes),
        "counts": [list(r) for r in g.counts],
        "proportions": None if g.proportions is None else [list(r) for r in g.proportions],
        "overall": _est(g.overall),
        "per_class": per_class,
        "note": g.note,
    }


def _fmt(e: Estimate | None, scale: float = 1.0, digits: int = 3) -> str:
    if e is None:
        return "—"
    return f"{e.value * scale:.{digits}f} ± {e.half_width * scale:.{digits}f}"


def _label(name: str) -> str:
    if name in {c.value for c in HJ1156Class}:
        return f"{HJ1156Class(name).zh} {name}"
    return {NO_CHANGE: "无变化 no_change", CHANGE: "变化 change"}.get(name, name)


_CLASS_HEADERS = [
    "类别 class",
    "制图面积 mapped (ha)",
    "估计面积 estimated (ha, ±95% CI)",
    "用户精度 user's",
    "生产者精度 producer's",
]


def _rows(g: GroupAccuracy) -> list[list[str]]:
    return [
        [
            _label(c),
            f"{g.mapped_area_m2[i] / M2_PER_HA:.2f}",
            _fmt(g.area_m2[i], 1 / M2_PER_HA, 2),
            _fmt(g.users[i]),
            _fmt(g.producers[i]),
        ]
        for i, c in enumerate(g.classes)
    ]


def _matrix_rows(g: GroupAccuracy) -> list[list[str]]:
    if g.proportions is None:
        return []
    return [
        [_label(c), *(f"{v:.4f}" for v in g.proportions[i]), f"{sum(g.proportions[i]):.4f}"]
        for i, c in enumerate(g.classes)
    ]


def _title(g: GroupAccuracy, z: float) -> str:
    head = "总体 overall" if g.group == "overall" else g.group
    overall = f"总体精度 overall accuracy {_fmt(g.overall)}" if g.overall else g.note
    return (
        f"{head}: n = {g.n_samples}, area {g.total_area_m2 / M2_PER_HA:.2f} ha; {overall} "
        f"(± = {z:g}·SE)"
    )


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def group_markdown(g: GroupAccuracy, z: float) -> str:
    """One group as Markdown tables."""
    out = [f"## {_title(g, z)}", "", _md_table(_CLASS_HEADERS, _rows(g)), ""]
    if g.proportions is not None:
        headers = ["面积比例误差矩阵 map \\ reference", *g.classes, "Σ"]
        out += [_md_table(headers, _matrix_rows(g)), ""]
    return "\n".join(out)


def _html_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def group_html(g: GroupAccuracy, z: float) -> str:
    """One group as HTML tables."""
    parts = [f"<h2>{html.escape(_title(g, z))}</h2>", _html_table(_CLASS_HEADERS, _rows(g))]
    if g.proportions is not None:
        headers = ["面积比例误差矩阵 map \\ reference", *g.classes, "Σ"]
        parts.append(_html_table(headers, _matrix_rows(g)))
    return "\n".join(parts)
