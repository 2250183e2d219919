"""prefetched: the next item's computation runs while the caller handles this one."""

from __future__ import annotations

import contextvars
import threading
from pathlib import Path
from typing import Any

import pytest

from tiandi.eo._pipeline import prefetched

_WHO: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")


def test_results_come_in_order_and_the_next_one_is_computed_meanwhile() -> None:
    started = {i: threading.Event() for i in range(3)}

    def fn(i: int) -> int:
        started[i].set()
        return i * 10

    seen = []
    for item, result in prefetched(fn, [0, 1, 2]):
        if item < 2:  # while the caller holds item i, fn(i + 1) has started
            assert started[item + 1].wait(5), f"fn({item + 1}) did not start meanwhile"
        else:
            assert not started.get(3)
        seen.append((item, result))
    assert seen == [(0, 0), (1, 10), (2, 20)]
    assert list(prefetched(fn, [])) == []


def test_an_error_is_raised_at_its_item_and_the_callers_context_is_kept() -> None:
    def fn(i: int) -> str:
        if i == 1:
            raise ValueError("item 1 failed")
        return _WHO.get()

    token = _WHO.set("the flow")
    try:
        results = prefetched(fn, [0, 1, 2])
        assert next(results) == (0, "the flow")  # the worker thread sees the caller's context
        with pytest.raises(ValueError, match="item 1 failed"):
            next(results)
    finally:
        _WHO.reset(token)


def test_the_memory_a_pass_freed_is_handed_back_on_glibc() -> None:
    import platform

    from tiandi.eo._pipeline import _malloc_trim, release_pass

    if platform.libc_ver()[0] == "glibc":
        assert _malloc_trim() is not None
    release_pass()  # a no-op elsewhere, never an error


def test_the_end_of_a_pass_closes_input_files_and_drops_shared_tiles_here_and_on_the_cluster(
    services: Any, tmp_path: Path
) -> None:
    import numpy as np
    import rasterio
    from distributed import Client
    from rasterio.transform import from_origin

    from tiandi.eo import _readers
    from tiandi.eo._pipeline import release_pass

    path = str(tmp_path / "input.tif")
    profile = {"driver": "GTiff", "width": 4, "height": 4, "count": 1, "dtype": "uint8"}
    with rasterio.open(path, "w", **profile, transform=from_origin(0, 4, 1, 1)) as dst:
        dst.write(np.ones((1, 4, 4), dtype=np.uint8))

    def read_and_count(path: str) -> int:  # on a worker: defined here, sent by value
        from tiandi.eo import _readers

        with _readers.opened(path) as src:
            src.read(1)
        return _readers._total()

    def kept() -> int:
        from tiandi.eo import _readers

        return _readers._total()

    def share_a_tile() -> int:  # a border tile whose other block ran elsewhere
        from tiandi.models.tiling_shared import SHARED_TILES

        future, _ = SHARED_TILES.claim(("prediction", 0, 0), uses=2)
        SHARED_TILES.put(("prediction", 0, 0), future, np.zeros((4, 4), np.float32))
        return len(SHARED_TILES)

    def shared() -> int:
        from tiandi.models.tiling_shared import SHARED_TILES

        return len(SHARED_TILES)

    _readers.close_all()
    read_and_count(path)
    with Client(services.settings.dask_scheduler) as client:  # the default client here
        client.run(_readers.close_all)  # what earlier tests' direct computes left open
        assert set(client.run(read_and_count, path).values()) == {1}
        assert set(client.run(share_a_tile).values()) == {1}
        release_pass()
        assert set(client.run(kept).values()) == {0}
        assert set(client.run(shared).values()) == {0}
    assert _readers._total() == 0
