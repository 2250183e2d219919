"""The demo scene with the planted disturbances (``generate_scene(..., disturbances=True)``),
generated once for the tests of tests/demo that need it; the session's ``services`` scene
has none."""

from __future__ import annotations

import pytest

from tests.conftest import shared_data
from tiandi.demo.scene import SceneManifest, generate_scene

DISTURBED_SIZE = 512  # the bloom and the reclaimed strip need the reservoir of 512 px


@pytest.fixture(scope="session")
def disturbed_scene(tmp_path_factory: pytest.TempPathFactory) -> SceneManifest:
    """512 px, seed 1 (the session scene's landscape) with the planted disturbances."""
    shared_data("eurosat-ms-sample")
    shared_data("s2-burned-areas-california")
    root = tmp_path_factory.mktemp("disturbed") / "scene"
    return generate_scene(root, size=DISTURBED_SIZE, seed=1, disturbances=True)
