"""Input files kept open per thread for a pass (tiandi.eo._readers)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from tiandi.eo import _readers


def _write(path: Path, value: int) -> str:
    profile = {
        "driver": "GTiff",
        "width": 8,
        "height": 8,
        "count": 1,
        "dtype": "uint16",
        "crs": "EPSG:32648",
        "transform": from_origin(500000, 4000000, 10, 10),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.full((1, 8, 8), value, dtype=np.uint16))
    return str(path)


def _read(path: str) -> tuple[object, int]:
    with _readers.opened(path) as src:
        return src, int(src.read(1, window=Window(0, 0, 2, 2))[0, 0])


@pytest.fixture(autouse=True)
def _nothing_kept() -> Iterator[None]:
    _readers.close_all()
    yield
    _readers.close_all()


def test_a_file_read_twice_by_a_thread_is_opened_once(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.tif", 7)
    first, value = _read(path)
    second, again = _read(path)
    assert (value, again) == (7, 7)
    assert first is second
    assert not first.closed  # type: ignore[attr-defined]


def test_a_file_rewritten_on_disk_is_opened_again(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.tif", 7)
    first, _ = _read(path)
    replacement = _write(tmp_path / "b.tif", 9)
    os.replace(replacement, path)  # same path, new content (a new inode)
    second, value = _read(path)
    assert value == 9
    assert second is not first
    assert first.closed  # type: ignore[attr-defined]


def test_a_missing_file_raises_rasterio_s_error_naming_it(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.tif", 7)
    _read(path)
    os.remove(path)
    with pytest.raises(rasterio.errors.RasterioIOError, match=r"a\.tif"):
        _read(path)


def test_each_thread_has_its_own_handle_and_close_all_closes_every_one(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.tif", 7)
    mine, _ = _read(path)
    theirs: list[object] = []
    worker = threading.Thread(target=lambda: theirs.append(_read(path)[0]))
    worker.start()
    worker.join()
    assert theirs[0] is not mine
    _readers.close_all()
    assert mine.closed and theirs[0].closed  # type: ignore[attr-defined]
    reopened, value = _read(path)
    assert value == 7 and reopened is not mine


def test_beyond_the_capacity_the_least_recently_used_file_is_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_readers, "capacity", lambda: 2)
    a, b, c = (_write(tmp_path / f"{n}.tif", i) for i, n in enumerate("abc"))
    src_a, _ = _read(a)
    src_b, _ = _read(b)
    _read(a)  # a is now the most recently used
    src_c, value = _read(c)
    assert value == 2
    assert src_b.closed  # type: ignore[attr-defined]
    assert not src_a.closed and not src_c.closed  # type: ignore[attr-defined]


def test_when_other_threads_hold_every_slot_a_file_is_read_and_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_readers, "capacity", lambda: 1)
    a, b = _write(tmp_path / "a.tif", 1), _write(tmp_path / "b.tif", 2)
    worker = threading.Thread(target=lambda: _read(a))
    worker.start()
    worker.join()  # the worker thread keeps a open: the only slot
    src_b, value = _read(b)
    assert value == 2
    assert src_b.closed  # type: ignore[attr-defined]


def test_the_capacity_is_a_quarter_of_the_file_descriptor_limit() -> None:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    expected = 1024 if soft == resource.RLIM_INFINITY else min(1024, soft // 4)
    assert _readers.capacity() == expected


def test_a_local_tiled_file_is_read_from_its_tiles_and_a_stripped_one_through_gdal(
    tmp_path: Path,
) -> None:
    stripped = _write(tmp_path / "a.tif", 1)
    tiled = str(tmp_path / "b.tif")
    with rasterio.open(stripped) as src:
        profile = {**src.profile, "tiled": True, "blockxsize": 16, "blockysize": 16}
        with rasterio.open(tiled, "w", **profile) as dst:
            dst.write(src.read())
    with _readers.opened_tiled(tiled) as kept:
        assert kept.tiles is not None
        assert int(kept.tiles.read(0, 0, 2, 2)[0, 0]) == 1
    with _readers.opened_tiled(stripped) as kept:
        assert kept.tiles is None
