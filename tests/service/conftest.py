"""Fixtures of the service tests: a filled home and a TestClient over the real app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.service import ServiceHome, make_home
from tiandi.service.app import create_app


@pytest.fixture
def home(tmp_path: Path) -> ServiceHome:
    return make_home(tmp_path)


@pytest.fixture
def client(home: ServiceHome) -> Iterator[TestClient]:
    with TestClient(create_app(home.settings)) as test_client:
        yield test_client
