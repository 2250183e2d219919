"""Markdown of a model card's values and metrics: scalars as list items, city figures
as tables (the card's own, its validation cities', a distilled network's teacher's)."""

from __future__ import annotations

from typing import Any


def md_value(value: Any) -> str:
    """A card value on one Markdown line (lists joined with commas, or semicolons when
    their items hold commas)."""
    if isinstance(value, list | tuple):
        items = [str(v) for v in value]
        return ("; " if any(", " in v for v in items) else ", ").join(items)
    return str(value)


def _city_table(per_city: dict[str, Any], overall: dict[str, Any] | None) -> list[str]:
    rows: dict[str, Any] = dict(per_city)
    if overall:
        rows["**overall**"] = overall
    if not rows:
        return []
    lines = [
        "",
        "| city | precision | recall | F1 | overall accuracy | TP | FP | FN | TN |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for city, m in rows.items():
        lines.append(
            f"| {city} | {m['precision']:.4f} | {m['recall']:.4f} | {m['f1']:.4f} | "
            f"{m['overall_accuracy']:.4f} | {m['tp']} | {m['fp']} | {m['fn']} | {m['tn']} |"
        )
    return lines


def metrics_markdown(metrics: dict[str, Any]) -> list[str]:
    """Scalars as a list, then the city table and one titled table per nested block of
    city figures (``validation``, a distilled network's ``teacher``)."""
    nested = {k: v for k, v in metrics.items() if isinstance(v, dict) and v.get("per_city")}
    skipped = ("per_city", "overall", "validation", *nested)
    lines = [f"- {k}: {md_value(v)}" for k, v in metrics.items() if k not in skipped]
    lines += _city_table(metrics.get("per_city", {}), metrics.get("overall"))
    for key, block in nested.items():
        lines += ["", f"{_block_title(key, block)}:"]
        lines += _city_table(block["per_city"], block.get("overall"))
    return lines


def _block_title(key: str, block: dict[str, Any]) -> str:
    if key == "validation":
        of = block.get("of")
        return "Validation cities — " + (
            f"figures of {of}" if of else "they chose the epoch and threshold"
        )
    if key == "teacher":
        return f"Teacher {block.get('name', '')} v{block.get('version', '')}, same cities"
    return key.replace("_", " ").capitalize()
