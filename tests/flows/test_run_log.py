"""flow_log: tracebacks to <home>/logs/flows.log, not to the terminal; a note names the file."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from tiandi.errors import InputError
from tiandi.flows.run_log import flow_log
from tiandi.settings import Settings


def test_trace_goes_to_the_file_and_the_error_gets_a_note(tmp_path: Path) -> None:
    terminal = io.StringIO()
    console = logging.StreamHandler(terminal)
    root = logging.getLogger()
    root.addHandler(console)
    log = logging.getLogger("prefect.tiandi_test")
    log.setLevel(logging.INFO)
    try:
        with pytest.raises(InputError) as info, flow_log(Settings(home=tmp_path)) as path:
            log.info("Beginning flow run")
            try:
                raise InputError("zones z.gpkg: no items")
            except InputError as exc:
                log.error("Task run failed with exception: %r", exc, exc_info=True)
                log.info("Finished in state %s", "Failed('zones z.gpkg: no items')")
                raise
        log.error("after the block: shown again")
    finally:
        root.removeHandler(console)
    shown = terminal.getvalue()
    assert "Beginning flow run" in shown and "after the block" in shown
    assert "Traceback" not in shown and "Task run failed" not in shown
    assert "Finished in state" not in shown
    assert path == (tmp_path / "logs" / "flows.log").resolve()
    text = path.read_text()
    assert text.count("Traceback") >= 2 and "flow failed: zones z.gpkg: no items" in text
    assert info.value.__notes__ == [f"full trace: {path}"]
