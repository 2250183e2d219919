"""Windows decoded from a GeoTIFF's tiles are GDAL's pixels, or the file is left to GDAL."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import rasterio.shutil
import tifffile
from rasterio.transform import from_origin
from rasterio.windows import Window

from tiandi.eo._tiledread import tiled_band

#: Windows (row, col, height, width) across tile edges, at the image's ragged edge, one
#: pixel, and the whole image of 300 x 200 px in tiles of 64.
WINDOWS = [
    (0, 0, 300, 200), (10, 20, 100, 90), (63, 63, 2, 2), (250, 150, 50, 50), (299, 199, 1, 1),
]  # fmt: skip


def _write(path: Path, data: np.ndarray, **options: Any) -> str:
    profile = {
        "driver": "GTiff", "height": data.shape[1], "width": data.shape[2],
        "count": data.shape[0], "dtype": data.dtype.name, "crs": "EPSG:32648",
        "transform": from_origin(500000, 4000000, 10, 10), **options,
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return str(path)


def _data(dtype: str, count: int = 1) -> np.ndarray:
    rng = np.random.default_rng(3)
    smooth = np.cumsum(rng.integers(0, 5, (count, 300, 200)), axis=2) % 250
    return smooth.astype(dtype)


def _same_as_gdal(path: str) -> None:
    band = tiled_band(path)
    assert band is not None
    with rasterio.open(path) as src:
        for row, col, h, w in WINDOWS:
            expected = src.read(1, window=Window(col, row, w, h))
            got = band.read(row, col, h, w)
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected)


TILED = {"tiled": True, "blockxsize": 64, "blockysize": 64}


@pytest.mark.parametrize(
    ("dtype", "options"),
    [
        ("uint16", {"compress": "deflate", "predictor": 2}),
        ("uint16", {"compress": "deflate"}),
        ("uint8", {"compress": "lzw", "predictor": 2}),
        ("uint16", {"compress": "zstd"}),
        ("int16", {}),
        ("float32", {"compress": "deflate", "predictor": 3}),
    ],
)
def test_tiles_decode_to_gdals_pixels(tmp_path: Path, dtype: str, options: dict[str, Any]) -> None:
    _same_as_gdal(_write(tmp_path / "a.tif", _data(dtype), **TILED, **options))


def test_a_cog_as_gdal_writes_it(tmp_path: Path) -> None:
    plain = _write(tmp_path / "plain.tif", _data("uint16"))
    cog = str(tmp_path / "cog.tif")
    with rasterio.open(plain) as src:
        rasterio.shutil.copy(src, cog, driver="COG", compress="deflate", predictor=2, blocksize=64)
    _same_as_gdal(cog)


def test_band_one_of_separate_planes(tmp_path: Path) -> None:
    opts = {**TILED, "interleave": "band", "compress": "deflate"}
    _same_as_gdal(_write(tmp_path / "a.tif", _data("uint16", count=3), **opts))


def test_absent_tiles_read_as_nodata_as_gdal_reads_them(tmp_path: Path) -> None:
    data = _data("uint16")
    data[:, :128, :] = 7  # the nodata value: whole tiles of it are left out of the file
    path = _write(tmp_path / "a.tif", data, **TILED, compress="deflate", nodata=7, sparse_ok=True)
    band = tiled_band(path)
    assert band is not None and 0 in band.counts  # the file has sparse tiles
    _same_as_gdal(path)


@pytest.mark.parametrize(
    ("count", "options"),
    [(1, {}), (3, {**TILED, "interleave": "pixel"})],
    ids=["strips", "pixel-interleaved"],
)
def test_other_layouts_are_left_to_gdal(
    tmp_path: Path, count: int, options: dict[str, Any]
) -> None:
    assert tiled_band(_write(tmp_path / "a.tif", _data("uint16", count), **options)) is None


def test_what_tifffile_cannot_read_is_left_to_gdal(tmp_path: Path) -> None:
    (tmp_path / "a.tif").write_bytes(b"not a tiff")
    assert tiled_band(str(tmp_path / "a.tif")) is None


def test_a_truncated_file_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.tif", _data("uint16"), **TILED, compress="deflate")
    whole = tiled_band(path)
    assert whole is not None
    last = int(np.argmax(whole.offsets))
    Path(path).write_bytes(Path(path).read_bytes()[: whole.offsets[last] + 1])
    band = tiled_band(path)  # parsed after the cut: its directory is whole
    assert band is not None
    with pytest.raises(OSError, match=r"a\.tif: tile \d+ is cut short"):
        band.read(0, 0, 300, 200)


def test_a_codec_that_cannot_decode_leaves_the_file_to_gdal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "a.tif", _data("uint16"), **TILED, compress="deflate")

    def cannot(*_: Any) -> Any:
        raise ValueError("cannot decompress DEFLATE")

    monkeypatch.setattr(tifffile.TiffPage, "decode", property(lambda _: cannot))
    assert tiled_band(path) is None


def test_a_file_replaced_after_it_was_parsed_is_not_read_with_the_old_offsets(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path / "a.tif", _data("uint16"), **TILED, compress="deflate")
    band = tiled_band(path)
    assert band is not None
    other = _write(tmp_path / "b.tif", _data("uint16") // 2, **TILED, compress="lzw")
    os.replace(other, path)
    with pytest.raises(OSError, match=r"a\.tif changed on disk"):
        band.read(0, 0, 10, 10)
