"""A recorded run's folder is found from its run id, in both backends."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from tests.fixtures.store import detections, make_store, run_info, square
from tiandi.errors import NotFoundError
from tiandi.redline.store.gpkg import PatchStore
from tiandi.redline.store.recording import record_detections
from tiandi.redline.store.run_folder import run_folder


@pytest.fixture(params=["gpkg", "postgis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> PatchStore:
    return make_store(str(request.param), tmp_path, request)


def test_the_folder_recorded_with_a_run_is_found_from_its_id(
    store: PatchStore, tmp_path: Path
) -> None:
    folder = tmp_path / "runs" / "run-a"
    folder.mkdir(parents=True)
    found = detections([("TB-01", square(1))])
    record_detections(store, found, None, replace(run_info(1), source=str(folder)))
    record_detections(store, found, None, run_info(2))  # source "tests": not a folder

    assert run_folder(store, "run-1").root == folder
    with pytest.raises(NotFoundError, match="'run-2' was recorded without its output folder"):
        run_folder(store, "run-2")
    with pytest.raises(NotFoundError, match="'run-9' is not recorded"):
        run_folder(store, "run-9")
    shutil.rmtree(folder)
    with pytest.raises(NotFoundError, match=f"run 'run-1' \\({folder}\\) is gone"):
        run_folder(store, "run-1")
