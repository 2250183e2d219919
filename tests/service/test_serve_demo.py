"""`tiandi serve --demo-tokens` (what `make serve` runs): the page's URL and one working
token per role, printed by the real process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from tests.fixtures.service import make_home
from tiandi._children import free_port
from tiandi.cli.auth import DEMO_STATION, demo_tokens
from tiandi.service.auth import ServiceRole, TokenStore
from tiandi.settings import Settings

TIANDI = Path(sys.executable).parent / "tiandi"


def test_demo_tokens_make_one_token_per_role_held_by_demo(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, patch_dsn=None, patch_store=None)
    made = demo_tokens(settings)
    assert set(made) == {r.value for r in ServiceRole}
    store = TokenStore(settings.tokens_path)
    for role, token in made.items():
        info = store.authenticate(token, now=datetime.now(UTC))
        assert info.role.value == role and info.holder == "demo"
        assert info.station_id == (DEMO_STATION if role == "field" else None)
    assert demo_tokens(settings)["ecologist"] != made["ecologist"]  # fresh each time


def test_serve_with_demo_tokens_prints_the_page_and_tokens_that_work(tmp_path: Path) -> None:
    make_home(tmp_path)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIANDI_")}
    proc = subprocess.Popen(
        [str(TIANDI), "serve", "--demo-tokens", "--port", str(port)],
        env={**env, "TIANDI_HOME": str(tmp_path), "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        while not lines or "Ctrl-C to stop" not in lines[-1]:
            line = proc.stdout.readline()
            assert line, f"tiandi serve ended early: {''.join(lines)}"
            lines.append(line)
        text = "".join(lines)
        assert f"http://127.0.0.1:{port}/review/" in text
        tokens = dict(re.findall(r"^\s+(\w+)\s+(tdi_\S+)$", text, flags=re.MULTILINE))
        assert set(tokens) == {"operator", "ecologist", "field", "platform"}
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/me",
            headers={"Authorization": f"Bearer {tokens['ecologist']}"},
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    me = json.loads(response.read())
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "no answer"
                time.sleep(0.2)
        assert me["role"] == "ecologist" and me["holder"] == "demo"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
