"""`tiandi auth token create|list|revoke` and `tiandi serve` as a real process over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.fixtures.service import make_home
from tiandi._children import free_port
from tiandi.cli.app import app
from tiandi.service.auth import TokenStore, token_hash

TIANDI = Path(sys.executable).parent / "tiandi"


def _env(home: Path) -> dict[str, str]:
    """The environment with only TIANDI_HOME of tiandi's settings (default patch store)."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith("TIANDI_")}
    return {**keep, "TIANDI_HOME": str(home)}


def test_token_create_prints_the_token_once_and_keeps_only_its_hash(tmp_path: Path) -> None:
    runner = CliRunner()
    env = _env(tmp_path)
    made = runner.invoke(
        app,
        ["auth", "token", "create", "--role", "field", "--station", "ST-7", "--holder", "李工"],
        env=env,
    )
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("tdi_")
    raw = (tmp_path / "service" / "tokens.sqlite").read_bytes()
    assert token.encode() not in raw and token_hash(token).encode() in raw
    info = TokenStore(tmp_path / "service" / "tokens.sqlite").authenticate(token)
    assert (info.role.value, info.station_id, info.holder) == ("field", "ST-7", "李工")
    listed = runner.invoke(app, ["auth", "token", "list"], env=env)
    assert listed.exit_code == 0 and info.token_id in listed.stdout
    assert token not in listed.stdout and "active" in listed.stdout
    revoked = runner.invoke(app, ["auth", "token", "revoke", info.token_id], env=env)
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    assert "revoked" in runner.invoke(app, ["auth", "token", "list"], env=env).stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--role", "admin"], "role 'admin' is unknown"),
        (["--role", "field"], "--station"),
        (["--role", "platform", "--station", "ST-1"], "only for field tokens"),
        (["--role", "platform", "--days", "0"], "--days"),
    ],
)
def test_token_create_refuses_bad_options(tmp_path: Path, args: list[str], words: str) -> None:
    result = CliRunner().invoke(app, ["auth", "token", "create", *args], env=_env(tmp_path))
    assert result.exit_code == 2 and words in result.output


def test_revoking_an_unknown_token_says_how_to_list_them(tmp_path: Path) -> None:
    TokenStore(tmp_path / "service" / "tokens.sqlite").create("platform")
    result = CliRunner().invoke(app, ["auth", "token", "revoke", "nope"], env=_env(tmp_path))
    assert result.exit_code == 2 and "tiandi auth token list" in result.output


def test_a_token_expires(tmp_path: Path) -> None:
    tokens = TokenStore(tmp_path / "tokens.sqlite")
    info, token = tokens.create("platform", days=1, now=datetime(2026, 1, 1, tzinfo=UTC))
    assert tokens.authenticate(token, now=datetime(2026, 1, 1, 23, tzinfo=UTC)) == info
    from tiandi.errors import AuthError

    with pytest.raises(AuthError, match="expired at 2026-01-02T00:00:00Z"):
        tokens.authenticate(token, now=datetime(2026, 1, 2, tzinfo=UTC))


def _get(url: str, token: str | None = None) -> tuple[int, Any]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.slow
def test_tiandi_serve_answers_over_http(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    port = free_port()
    env = _env(tmp_path)
    proc = subprocess.Popen(
        [str(TIANDI), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, spec = _get(f"{base}/openapi.json")
                break
            except (urllib.error.URLError, ConnectionError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    output = proc.communicate()[0]
                    raise AssertionError(f"tiandi serve did not start: {output}") from None
                time.sleep(0.2)
        assert status == 200 and "/api/v1/patches" in spec["paths"]
        status, body = _get(f"{base}/api/v1/patches?limit=2", home.tokens["platform"])
        assert status == 200 and body["numberReturned"] == 2 and "after=" in body["next"]
        status, body = _get(f"{base}/api/v1/patches")
        assert status == 401 and body["error"] == "missing_token"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
