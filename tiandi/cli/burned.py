"""``tiandi evaluate burned``: score a detector on fire pairs.

Registered on the ``evaluate`` group by :mod:`tiandi.cli.app` (one line there).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tiandi.cli.common import friendly_errors, make_console
from tiandi.models.metrics import ConfusionMatrix


def _row(table: Table, name: str, cm: ConfusionMatrix, style: str = "") -> None:
    figures = (cm.precision, cm.recall, cm.f1, cm.overall_accuracy)
    counts = (cm.tp, cm.fp, cm.fn, cm.tn)
    table.add_row(name, *(f"{v:.4f}" for v in figures), *(f"{v}" for v in counts), style=style)


@friendly_errors
def evaluate_burned_command(
    root: Annotated[
        Path,
        typer.Option(help="Folder of fires <fire>/{pre,post,mask}.tif (or one holding pairs/)."),
    ],
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the figures to this JSON file.")
    ] = None,
    detector: Annotated[
        str, typer.Option(help="Detector: burned-area, burned-dnbr (dNBR > 0.1) or another name.")
    ] = "burned-area",
    fires: Annotated[
        str | None, typer.Option(help="Comma-separated fires (default: every fire folder).")
    ] = None,
) -> None:
    """Run a change detector on fire pairs and print precision (P), recall (R), F1 and
    overall accuracy (OA) of the burned class per fire and overall (summed confusion
    matrix). Pre and post chips are aligned onto each mask's grid by georeference."""
    from tiandi.models.burned.evaluation import evaluate_burned, write_evaluation
    from tiandi.models.registry import load_detector

    chosen = load_detector(detector)
    console = make_console()
    console.print(f"{chosen.name} {chosen.version} on {root}")
    evaluation = evaluate_burned(
        root,
        chosen,
        [f.strip() for f in fires.split(",") if f.strip()] if fires else None,
        progress=lambda fire, cm: console.print(f"  {fire}: F1 {cm.f1:.4f}"),
    )
    table = Table(title=f"burned class, {chosen.name} {chosen.version}")
    table.add_column("fire", no_wrap=True)
    for column in ("P", "R", "F1", "OA", "TP", "FP", "FN", "TN"):
        table.add_column(column, justify="right")
    for fire, cm in evaluation.per_fire.items():
        _row(table, f"{fire} (fitted on)" if fire in evaluation.fitted_on else fire, cm)
    _row(table, "overall", evaluation.overall, "bold")
    unseen = evaluation.overall_unseen
    if evaluation.fitted_on and unseen is not None:
        _row(table, "overall, unseen fires", unseen, "bold")
    console.print(table)
    if evaluation.fitted_on:
        console.print(
            f"[yellow]note:[/] {', '.join(evaluation.fitted_on)} fitted or chose this detector; "
            "their figures (and the overall) are not scores on unseen fires. Its "
            "leave-one-fire-out figure is in its model card (scripts/experiments/burned).",
            highlight=False,
        )
    for fire, notes in evaluation.notes.items():
        for note in notes:
            console.print(f"[dim]{fire}: {note}[/]", highlight=False)
    if json_out is not None:
        write_evaluation(evaluation, json_out)
        console.print(f"written {json_out}")
