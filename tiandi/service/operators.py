"""Operators over HTTP: start ``detect_changes`` through Prefect and watch the flow runs.

- ``POST /runs``: a flow run of the deployment ``Settings.prefect_deployment``
  (``detect_changes/on-demand`` unless ``TIANDI_PREFECT_DEPLOYMENT`` says otherwise) with
  the body's parameters (checked here first: periods, detector, absolute paths), created
  through the Prefect client at ``Settings.prefect_api_url`` (``TIANDI_PREFECT_API_URL``,
  else ``PREFECT_API_URL``). A worker of the deployment's work pool runs it.
- ``GET /flow-runs``: the newest flow runs of tiandi's flows with their states.

Each run carries a link to the Prefect UI (``TIANDI_PREFECT_UI_URL``, else the API URL
without ``/api``). When the Prefect API does not answer the answer is 503, naming the
address and what to check.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import PurePath
from typing import TYPE_CHECKING, Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tiandi._time import parse_period
from tiandi.errors import InputError, ServiceError
from tiandi.models.names import DEFAULT_DETECTOR
from tiandi.service.auth import ServiceRole, TokenInfo
from tiandi.service.deps import app_settings, error_responses, require
from tiandi.settings import Settings

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.objects import FlowRun

router = APIRouter(tags=["operators"], responses=error_responses(401, 403, 404, 422, 503))
Operator = Annotated[TokenInfo, Depends(require(ServiceRole.OPERATOR))]
#: The flows tiandi deploys (their runs are listed by GET /flow-runs).
TIANDI_FLOWS = ("detect_changes", "train_change_model", "full_cycle")


class RunRequest(BaseModel):
    """What an operator asks ``detect_changes`` for (paths as the worker sees them)."""

    model_config = ConfigDict(extra="forbid")

    zones: str = Field(description="Zones file (absolute path on the worker).", min_length=1)
    before: str = Field(description="Before period START/END, e.g. 2025-01-01/2025-06-30.")
    after: str = Field(description="After period START/END.")
    out: str = Field(description="Output folder (absolute path on the worker).", min_length=1)
    stations: str | None = Field(default=None, description="Stations file (absolute path).")
    detector: str = Field(
        default=DEFAULT_DETECTOR, description="A detector name (registry; default integrated-high)."
    )
    collection: str = Field(default="sentinel-2-l2a", min_length=1, max_length=200)
    max_cloud_cover: float = Field(default=80.0, ge=0, le=100)
    min_mapping_unit_m2: float = Field(default=1000.0, gt=0)
    record: bool = Field(default=True, description="Record the patches in the patch store.")

    @field_validator("zones", "out", "stations")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not PurePath(value).is_absolute():
            raise ValueError(f"{value!r} is relative; give an absolute path as the worker sees it")
        return value

    @field_validator("before", "after")
    @classmethod
    def _period(cls, value: str) -> str:
        try:
            return parse_period(value, "period")
        except InputError as exc:
            raise ValueError(str(exc)) from None


def _check_detector(name: str) -> None:
    from tiandi.models.registry import is_known_detector, known_detectors

    if not is_known_detector(name):
        known = ", ".join(known_detectors())
        raise InputError(
            f"detector {name!r} is unknown; use one of: {known} (an integrated name may "
            "end in @<a shipped 6-band network>)"
        )


def api_url(settings: Settings) -> str:
    """The Prefect API the service talks to; 503 when none is configured."""
    if not settings.prefect_api_url:
        raise ServiceError(
            "no Prefect API is configured: set TIANDI_PREFECT_API_URL (or PREFECT_API_URL) to "
            "the Prefect server's API, e.g. http://127.0.0.1:4200/api, and restart the service"
        )
    return settings.prefect_api_url.rstrip("/")


def ui_link(settings: Settings, flow_run_id: str) -> str:
    """The flow run's page in the Prefect UI."""
    base = settings.prefect_ui_url or api_url(settings).removesuffix("/api")
    return f"{base.rstrip('/')}/runs/flow-run/{flow_run_id}"


@asynccontextmanager
async def prefect(settings: Settings) -> AsyncIterator[PrefectClient]:
    """A Prefect client on the configured API; connection failures become 503."""
    from prefect.client.orchestration import PrefectClient

    url = api_url(settings)
    try:
        async with PrefectClient(api=url) as client:
            yield client
    except (httpx.TransportError, httpx.HTTPStatusError, OSError) as exc:
        raise ServiceError(
            f"the Prefect API at {url} did not answer ({type(exc).__name__}: {exc}); check "
            "that the Prefect server runs there (`prefect server start`, or the service "
            "in infra/) and that TIANDI_PREFECT_API_URL names it"
        ) from None


def _run_json(settings: Settings, run: FlowRun, flow_name: str | None = None) -> dict[str, Any]:
    state = run.state
    return {
        "flow_run_id": str(run.id),
        "name": run.name,
        "flow": flow_name,
        "deployment_id": None if run.deployment_id is None else str(run.deployment_id),
        "state": None if state is None else state.name,
        "state_type": None if state is None else state.type.value,
        "created": None if run.created is None else run.created.isoformat(),
        "start_time": None if run.start_time is None else run.start_time.isoformat(),
        "parameters": run.parameters,
        "ui_url": ui_link(settings, str(run.id)),
    }


@router.post(
    "/runs",
    status_code=201,
    summary="Start a detect_changes run through Prefect",
    responses={503: {"description": "The Prefect API does not answer or lacks the deployment"}},
)
async def start_run(body: RunRequest, token: Operator, request: Request) -> JSONResponse:
    """A flow run of the deployment with the body's parameters; its id, state and UI link."""
    from prefect.exceptions import ObjectNotFound

    await run_in_threadpool(_check_detector, body.detector)  # the registry imports torch
    settings = app_settings(request)
    name = settings.prefect_deployment
    async with prefect(settings) as client:
        try:
            deployment = await client.read_deployment_by_name(name)
        except ObjectNotFound:
            raise ServiceError(
                f"the Prefect API at {api_url(settings)} has no deployment {name!r}; deploy it "
                "(`prefect deploy` with the project's prefect.yaml) or set "
                "TIANDI_PREFECT_DEPLOYMENT"
            ) from None
        run = await client.create_flow_run_from_deployment(
            deployment.id,
            parameters={"request": body.model_dump(exclude_none=True)},
            tags=["tiandi", "api", f"by:{token.holder}"],
        )
    answer = _run_json(settings, run, "detect_changes")
    return JSONResponse({**answer, "deployment": name, "requested_by": token.holder}, 201)


@router.get("/flow-runs", summary="Recent flow runs of tiandi's flows, with states")
async def flow_runs(
    _: Operator,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """The newest flow runs (newest first) of tiandi's flows, with UI links."""
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    settings = app_settings(request)
    async with prefect(settings) as client:
        flows = await client.read_flows(
            flow_filter=FlowFilter(name=FlowFilterName(any_=list(TIANDI_FLOWS)))
        )
        names = {f.id: f.name for f in flows}
        runs = await client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=list(TIANDI_FLOWS))),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
            limit=limit,
        )
    return {
        "prefect_api": api_url(settings),
        "flow_runs": [_run_json(settings, r, names.get(r.flow_id)) for r in runs],
    }
