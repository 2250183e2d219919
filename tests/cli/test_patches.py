"""`tiandi audit verify` and `tiandi patches list/show/transition` on real stores."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.fixtures.service import BURNED, fill_with_answers
from tests.fixtures.store import detections, run_info, square
from tiandi.cli.app import app
from tiandi.redline.store.gpkg import GpkgPatchStore
from tiandi.redline.store.postgis import PostgisPatchStore
from tiandi.redline.store.recording import record_detections

TIANDI = Path(sys.executable).parent / "tiandi"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A TIANDI_HOME whose default patch store holds two screened patches."""
    store = GpkgPatchStore(tmp_path / "patches.gpkg")
    frame = detections([("TB-a", square(0)), ("TB-b", square(1))], zone="ZN-7")
    record_detections(store, frame, None, run_info(1))
    return tmp_path


def _verify(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TIANDI), "audit", "verify", "--store", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_audit_verify_passes_the_store_and_names_the_record_edited_in_a_copy(
    home: Path,
) -> None:
    good = _verify(home / "patches.gpkg")
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith("OK") and "chain intact" in good.stdout
    copy = home / "tampered.gpkg"
    shutil.copy(home / "patches.gpkg", copy)
    con = sqlite3.connect(copy)
    con.executescript(
        "DROP TRIGGER tiandi_audit_no_update;"
        "UPDATE tiandi_audit SET actor = 'somebody else' WHERE seq = 4;"
    )
    con.close()
    bad = _verify(copy)
    assert bad.returncode == 1
    assert "BROKEN" in bad.stdout and "seq 4: altered" in bad.stdout
    assert _verify(home / "patches.gpkg").returncode == 0  # the original is untouched


def test_patches_list_show_and_transition_use_the_default_store(home: Path) -> None:
    runner = CliRunner()
    env = {"TIANDI_HOME": str(home), "TIANDI_PATCH_DSN": ""}
    listed = runner.invoke(app, ["patches", "list", "--zone", "ZN-7"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "TB-a" in listed.output and "2 patches" in listed.output
    moved = runner.invoke(
        app,
        [
            *("patches", "transition", "TB-a", "--to", "reviewed_accepted"),
            *("--actor", "li", "--role", "reviewer", "--class", "mining"),
        ],
        env=env,
    )
    assert moved.exit_code == 0, moved.output
    assert "screened -> reviewed_accepted" in moved.output
    shown = runner.invoke(app, ["patches", "show", "TB-a"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "reviewed_accepted" in shown.output and "li [reviewer]" in shown.output
    assert "run-1" in shown.output
    refused = runner.invoke(
        app,
        ["patches", "transition", "TB-a", "--to", "closed", "--actor", "li", "--role", "reviewer"],
        env=env,
    )
    assert refused.exit_code == 2
    assert "cannot go from 'reviewed_accepted'" in refused.output
    screened = runner.invoke(app, ["patches", "list", "--state", "screened"], env=env)
    assert "TB-b" in screened.output and "TB-a" not in screened.output


def test_patches_and_audit_commands_work_on_postgis(postgres_dsn: str) -> None:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    store = PostgisPatchStore(postgres_dsn, schema=schema)
    record_detections(store, detections([("TB-a", square(0))]), None, run_info(1))
    runner = CliRunner()
    pg = ["--dsn", postgres_dsn, "--schema", schema]
    moved = runner.invoke(
        app,
        [
            *("patches", "transition", "TB-a", "--to", "rejected", "--actor", "wang"),
            *("--role", "ecologist", "--reason", "cloud shadow", *pg),
        ],
    )
    assert moved.exit_code == 0, moved.output
    assert store.get("TB-a").status.state.value == "rejected"
    verified = runner.invoke(app, ["audit", "verify", *pg])
    assert verified.exit_code == 0 and verified.output.startswith("OK"), verified.output


def test_patches_show_prints_the_answers_on_the_ground_labelled(tmp_path: Path) -> None:
    store = GpkgPatchStore(tmp_path / "patches.gpkg")
    fill_with_answers(store)
    env = {"TIANDI_HOME": str(tmp_path), "TIANDI_PATCH_DSN": ""}
    shown = CliRunner().invoke(app, ["patches", "show", BURNED], env=env)
    assert shown.exit_code == 0, shown.output
    assert "  field_severity: high" in shown.output
    assert "实地核查答复 answers on the ground:\n  火烧程度 burn severity (CBI): 重度 high\n" in (
        shown.output
    )
    other = CliRunner().invoke(app, ["patches", "show", "TB-01"], env=env)
    assert other.exit_code == 0 and "answers on the ground" not in other.output
