"""Every flow's parameters are plain values: they go to JSON and back unchanged, the way
a Prefect deployment stores and passes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tiandi.demo.cycle_flow import FullCycleRequest, full_cycle
from tiandi.flows.detect_changes import DetectChangesRequest, detect_changes
from tiandi.flows.train_change_model import TrainChangeModelRequest, train_change_model
from tiandi.models.training_config import TrainConfig
from tiandi.settings import Settings

SETTINGS = Settings(
    home=Path("/srv/tiandi"),
    stac_api_url="http://127.0.0.1:8080",
    dask_scheduler="tcp://127.0.0.1:8786",
    patch_store=Path("/srv/tiandi/store.gpkg"),
)
CASES: list[tuple[Any, dict[str, Any]]] = [
    (
        detect_changes,
        {
            "request": DetectChangesRequest(
                zones=Path("zones.gpkg"),
                before="2025-01-01/2025-06-30",
                after="2025-07-01/2025-12-31",
                out=Path("out"),
                stations=Path("stations.gpkg"),
                record=True,
                detector="siamese-s2-6band-v0.2",
            ),
            "settings": SETTINGS,
        },
    ),
    (
        full_cycle,
        {
            "request": FullCycleRequest(
                run=Path("run"), scene=Path("scene"), out=Path("run/cycle"), later_scene=Path("l")
            ),
            "settings": SETTINGS,
        },
    ),
    (
        train_change_model,
        {
            "request": TrainChangeModelRequest(
                root=Path("oscd"),
                out=Path("m.pt"),
                config=TrainConfig(bands=("B02", "B03"), threshold=0.4, max_minutes=3.0),
                log=Path("m.log"),
            )
        },
    ),
]


@pytest.mark.parametrize(("flow", "parameters"), CASES, ids=lambda c: getattr(c, "name", ""))
def test_flow_parameters_survive_json(flow: Any, parameters: dict[str, Any]) -> None:
    validated = flow.validate_parameters(parameters)
    text = json.dumps(flow.serialize_parameters(validated))
    assert flow.validate_parameters(json.loads(text)) == validated == parameters


@pytest.mark.parametrize(("flow", "parameters"), CASES, ids=lambda c: getattr(c, "name", ""))
def test_settings_may_be_left_to_the_environment(flow: Any, parameters: dict[str, Any]) -> None:
    request = {"request": parameters["request"]}
    assert flow.validate_parameters(request)["request"] == parameters["request"]


def test_a_patch_store_password_is_never_stored_with_the_parameters() -> None:
    secret = Settings(patch_dsn="postgresql://tiandi:s3cret-pw@db.example:5432/tiandi")
    request = CASES[0][1]["request"]
    validated = detect_changes.validate_parameters({"request": request, "settings": secret})
    text = json.dumps(detect_changes.serialize_parameters(validated))
    assert "s3cret-pw" not in text
    assert "s3cret-pw" not in repr(secret) and "s3cret-pw" not in str(secret.model_dump())
    assert secret.patch_dsn is not None
    assert "s3cret-pw" in secret.patch_dsn.get_secret_value()
