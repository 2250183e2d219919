"""The offline install's cheap parts (no download): the wheelhouse check against the lock
files, and the Debian package list of the operator's guide against the install script."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import check_wheelhouse  # noqa: E402

LOCKS = [ROOT / "requirements.lock", ROOT / "infra/local/requirements-stac.txt"]


def _fake_wheelhouse(folder: Path) -> None:
    for lock in LOCKS:
        for name, version in check_wheelhouse.pins(lock):
            (folder / f"{name}-{version}-py3-none-any.whl").touch()


def test_every_pin_of_the_locks_is_checked(tmp_path: Path) -> None:
    lock_lines = [ln for ln in (ROOT / "requirements.lock").read_text().splitlines() if "==" in ln]
    assert len(check_wheelhouse.pins(ROOT / "requirements.lock")) == len(lock_lines)
    assert ("torch", "2.13.0+cpu") in check_wheelhouse.pins(ROOT / "requirements.lock")
    _fake_wheelhouse(tmp_path)
    assert check_wheelhouse.missing(tmp_path, LOCKS) == []
    assert check_wheelhouse.main([str(tmp_path), *map(str, LOCKS)]) == 0


def test_a_missing_wheel_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fake_wheelhouse(tmp_path)
    next(tmp_path.glob("pyproj-*.whl")).unlink()
    assert check_wheelhouse.main([str(tmp_path), *map(str, LOCKS)]) == 1
    err = capsys.readouterr().err
    assert "lacks 1 wheel(s): pyproj==" in err and "make wheelhouse" in err
    assert check_wheelhouse.main([str(tmp_path / "nope"), str(LOCKS[0])]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_bundle_script_and_makefile_use_the_lock_files() -> None:
    script = (ROOT / "scripts/offline-bundle.sh").read_text()
    assert "for req in requirements.lock infra/local/requirements-stac.txt" in script
    makefile = (ROOT / "Makefile").read_text()
    assert "bash scripts/offline-bundle.sh python" in makefile
    assert "--no-index --find-links $(OFFLINE_DIR)/wheelhouse" in makefile
    assert "--offline --cache $(OFFLINE_DIR)/npm-cache" in makefile


def test_the_guides_debian_list_is_the_install_scripts() -> None:
    listed = subprocess.run(
        ["bash", str(ROOT / "scripts/install-system-deps.sh"), "--list"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    guide = (ROOT / "docs/operations.md").read_text()
    block = re.search(r"<!-- debian-packages -->\n```\n(.*?)```", guide, re.S)
    assert block, "docs/operations.md lacks the Debian package list block"
    assert block.group(1).split() == listed
