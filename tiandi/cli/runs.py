"""``tiandi runs list``: recent flow runs and their states from the Prefect API.

Registered in :mod:`tiandi.cli.app`. Needs ``PREFECT_API_URL`` (the Prefect server the
deployments and workers use).
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.table import Table

from tiandi.cli.common import friendly_errors, make_console
from tiandi.errors import ServiceError

runs_app: typer.Typer = typer.Typer(
    help="Flow runs on the Prefect server (PREFECT_API_URL).", no_args_is_help=True
)


def _when(value: object) -> str:
    return "-" if value is None else str(value)[:19].replace("T", " ")


@runs_app.command("list")
@friendly_errors
def runs_list(
    limit: Annotated[int, typer.Option(min=1, help="How many runs, newest first.")] = 20,
    flow: Annotated[str | None, typer.Option(help="Only runs of this flow.")] = None,
) -> None:
    """Recent flow runs: flow, deployment, state, start and end (UTC)."""
    from tiandi.flows.runs import recent_runs

    api_url = os.environ.get("PREFECT_API_URL")
    if not api_url:
        raise ServiceError(
            "PREFECT_API_URL is not set; set it to the Prefect server that runs the "
            "deployments, e.g. export PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    rows = recent_runs(api_url, limit=limit, flow=flow)
    table = Table("flow run", "flow", "deployment", "state", "start", "end", "id")
    for r in rows:
        table.add_row(
            r.name, r.flow, r.deployment or "-", r.state, _when(r.start), _when(r.end), r.id
        )
    console = make_console(highlight=False, width=200)
    console.print(table if rows else f"no flow runs at {api_url}")
