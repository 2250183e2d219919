"""The summary of a full supervision cycle: terminal table, ``cycle.json``, ``cycle.html``.

:class:`CycleSummary` lists each step with its counts, the overall accuracy table (from
:func:`tiandi.redline.accuracy.report.accuracy_report`), the audit verification of the
store and of a tampered copy, and the output files. Written atomically; the bytes depend
only on the summary (no timestamps besides the cycle's own).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tiandi._io import atomic_path


@dataclass(frozen=True)
class CycleStep:
    """One step of the cycle: what it is called, when it happened, what it counted."""

    key: str
    title: str  # "中文 English"
    at: str  # ISO time of the step (the cycle's clock)
    counts: Mapping[str, Any]
    note: str = ""


@dataclass(frozen=True)
class CycleSummary:
    """Everything the cycle reports."""

    steps: tuple[CycleStep, ...]
    accuracy: Mapping[str, Any]  # the "overall" group of AccuracyReport.to_dict()
    audit: Mapping[str, Any]  # ok, records, head_seq, head_hash
    tampered: Mapping[str, Any]  # ok, edited_seq, first_break
    reopened: tuple[str, ...]
    outputs: Mapping[str, str]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def step(self, key: str) -> CycleStep:
        """The step called ``key``; ``KeyError`` naming the steps when there is none."""
        for s in self.steps:
            if s.key == key:
                return s
        raise KeyError(f"no step {key!r}; steps are {[s.key for s in self.steps]}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {
            "steps": [
                {
                    "key": s.key,
                    "title": s.title,
                    "at": s.at,
                    "counts": dict(s.counts),
                    "note": s.note,
                }
                for s in self.steps
            ],
            "accuracy": dict(self.accuracy),
            "audit": dict(self.audit),
            "tampered_copy": dict(self.tampered),
            "reopened": list(self.reopened),
            "outputs": dict(self.outputs),
            "notes": list(self.notes),
        }


def _counts_text(counts: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def _est(e: Mapping[str, float] | None, scale: float = 1.0, digits: int = 3) -> str:
    if not e:
        return "—"
    half = (e["ci_high"] - e["ci_low"]) / 2 * scale
    return f"{e['value'] * scale:.{digits}f} ± {half:.{digits}f}"


def accuracy_rows(accuracy: Mapping[str, Any]) -> list[list[str]]:
    """Rows class | mapped ha | estimated ha ± 95 % CI | user's | producer's."""
    return [
        [
            str(c["class"]),
            f"{c['mapped_area_ha']:.2f}",
            _est(c["area_ha"], digits=2),
            _est(c["users"]),
            _est(c["producers"]),
        ]
        for c in accuracy.get("per_class", [])
    ]


ACCURACY_HEADERS = (
    "类别 class",
    "制图面积 mapped (ha)",
    "估计面积 estimated (ha ± 95% CI)",
    "用户精度 user's",
    "生产者精度 producer's",
)


def _audit_line(summary: CycleSummary) -> tuple[str, str]:
    a, t = summary.audit, summary.tampered
    ok = (
        f"chain intact: {a.get('records')} records, head {a.get('head_seq')}"
        if a.get("ok")
        else (f"BROKEN: {a.get('first_break')}")
    )
    bad = (
        f"tampered copy (record {t.get('edited_seq')} edited) fails: {t.get('first_break')}"
        if not t.get("ok")
        else "tampered copy was NOT detected"
    )
    return ok, bad


def print_cycle(summary: CycleSummary, console: Any) -> None:
    """The summary as rich tables on ``console``."""
    from rich.table import Table

    steps = Table(title="全流程 full supervision cycle")
    for col in ("步骤 step", "time", "counts"):
        steps.add_column(col)
    for s in summary.steps:
        steps.add_row(s.title, s.at, _counts_text(s.counts) + (f"\n{s.note}" if s.note else ""))
    console.print(steps)
    acc = Table(title=f"精度评价 accuracy (overall, n = {summary.accuracy.get('n_samples')})")
    for col in ACCURACY_HEADERS:
        acc.add_column(col)
    for row in accuracy_rows(summary.accuracy):
        acc.add_row(*row)
    console.print(acc)
    console.print(f"overall accuracy {_est(summary.accuracy.get('overall'))}")
    for line in (*_audit_line(summary), *summary.notes):
        console.print(line, highlight=False)


def _table(headers: Any, rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def cycle_html(summary: CycleSummary) -> str:
    """A self-contained HTML page of the summary (no external resources)."""
    steps = _table(
        ("步骤 step", "time", "counts", "note"),
        [[s.title, s.at, _counts_text(s.counts), s.note] for s in summary.steps],
    )
    ok, bad = _audit_line(summary)
    outputs = _table(("output", "path"), [[k, v] for k, v in summary.outputs.items()])
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in summary.notes)
    overall = _est(summary.accuracy.get("overall"))
    return (
        '<!doctype html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        "<title>全流程 Full supervision cycle</title><style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:.5em 0}"
        "td,th{border:1px solid #bbb;padding:.2em .5em;text-align:left}</style></head><body>\n"
        "<h1>生态保护红线监管全流程 Full red-line supervision cycle</h1>\n"
        f"<h2>步骤 Steps</h2>{steps}\n"
        f"<h2>精度评价 Accuracy (overall, n = {summary.accuracy.get('n_samples')})</h2>"
        f"{_table(ACCURACY_HEADERS, accuracy_rows(summary.accuracy))}"
        f"<p>总体精度 overall accuracy {html.escape(overall)}</p>\n"
        f"<h2>回头看 Re-check</h2><p>reopened: {html.escape(', '.join(summary.reopened))}</p>\n"
        f"<h2>审计 Audit</h2><p>{html.escape(ok)}</p><p>{html.escape(bad)}</p>\n"
        f"<h2>说明 Notes</h2><ul>{notes}</ul>\n<h2>输出 Outputs</h2>{outputs}\n"
        "</body></html>\n"
    )


def write_cycle_report(summary: CycleSummary, out_dir: Path) -> tuple[Path, Path]:
    """Write ``cycle.json`` and ``cycle.html`` into ``out_dir`` (atomic)."""
    paths = (Path(out_dir) / "cycle.json", Path(out_dir) / "cycle.html")
    texts = (
        json.dumps(summary.to_dict(), ensure_ascii=False, indent=2, sort_keys=True) + "\n",
        cycle_html(summary),
    )
    for path, text in zip(paths, texts, strict=True):
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return paths
