"""Recent flow runs from the Prefect API: what ``tiandi runs list`` shows.

Reads the Prefect server at ``PREFECT_API_URL`` (the production server, or the one of
``make up``); it never starts a server of its own: without a server there are no runs to
show. A server that does not answer is one :class:`~tiandi.errors.ServiceError` naming
its address and what to check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import httpx

from tiandi.errors import ServiceError


@dataclass(frozen=True)
class RunRow:
    """One flow run: its name, flow, deployment, state and times."""

    name: str
    flow: str
    deployment: str | None
    state: str
    start: datetime | None
    end: datetime | None
    id: str


def recent_runs(api_url: str, *, limit: int = 20, flow: str | None = None) -> list[RunRow]:
    """The ``limit`` most recent flow runs at ``api_url`` (newest first), optionally only
    those of the flow named ``flow``."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.settings import PREFECT_API_URL, temporary_settings

    flow_filter = FlowFilter(name=FlowFilterName(any_=[flow])) if flow else None
    try:
        with (
            temporary_settings(updates={PREFECT_API_URL: api_url}),
            get_client(sync_client=True) as client,
        ):
            runs = client.read_flow_runs(
                flow_filter=flow_filter, sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=limit
            )
            flows = {f.id: f.name for f in client.read_flows()}
            deployments: dict[UUID, str] = {
                d.id: d.name for d in client.read_deployments() if d.id is not None
            }
    except (httpx.HTTPError, OSError) as exc:
        raise ServiceError(
            f"the Prefect API at {api_url} did not answer ({exc}); check that the Prefect "
            "server runs (`prefect server start`, or `make up`) and that PREFECT_API_URL "
            "points at it (http://HOST:4200/api)"
        ) from exc
    return [
        RunRow(
            name=r.name,
            flow=flows.get(r.flow_id, str(r.flow_id)),
            deployment=deployments.get(r.deployment_id) if r.deployment_id else None,
            state=r.state_name or "-",
            start=r.start_time or r.expected_start_time,
            end=r.end_time,
            id=str(r.id),
        )
        for r in runs
    ]


__all__ = ["RunRow", "recent_runs"]
