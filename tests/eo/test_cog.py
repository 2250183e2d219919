"""write_cog / read_cog: round trip, determinism, atomicity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pytest
import rasterio
import xarray as xr
from rio_cogeo.cogeo import cog_validate

from tests.fixtures.eo import Scene, full_grid, make_items
from tiandi.eo._overviews import pick
from tiandi.eo.cog import CogOutput, read_cog, read_cog_dataset, write_cog, write_cogs
from tiandi.eo.composite import composite_period
from tiandi.errors import InputError


def _composite(tmp_path: Path) -> xr.Dataset:
    scl = np.full((32, 32), 4, np.uint8)
    scl[:4, :4] = 9
    items = make_items(tmp_path / "in", [Scene("2025-03-01", scl=scl)])
    return composite_period(items, full_grid(), chunk=32, dilate_px=0)


def test_round_trip_keeps_values_nan_names_grid_and_tags(tmp_path: Path) -> None:
    ds = _composite(tmp_path)
    out = write_cog(ds, tmp_path / "c.tif", nodata=np.nan, dtype="float32", tags={"a": "b"})
    back = read_cog_dataset(out, chunk=32)
    assert list(back.data_vars) == [*ds.data_vars]
    assert isinstance(back["B04"].data, da.Array)
    np.testing.assert_array_equal(back["B04"].values, ds["B04"].values)
    assert np.isnan(back["B04"].values[:8, :8]).all()
    arr = read_cog(out, chunk=32)
    assert arr.rio.crs.to_epsg() == 32650
    np.testing.assert_allclose(arr.x.values, ds.x.values)
    with rasterio.open(out) as src:
        assert src.tags()["a"] == "b"
        assert src.profile["compress"] == "deflate" and src.profile["blockxsize"] == 512


def test_integer_output_writes_nan_as_nodata(tmp_path: Path) -> None:
    ds = _composite(tmp_path)
    out = write_cog(ds["B04"] * 10000, tmp_path / "b04.tif", nodata=0, dtype="uint16")
    with rasterio.open(out) as src:
        data = src.read(1)
        assert src.nodata == 0
    assert (data[:8, :8] == 0).all() and (data[8:, 8:] == 300).all()


def test_same_input_gives_the_same_bytes(tmp_path: Path) -> None:
    ds = _composite(tmp_path)
    a = write_cog(ds, tmp_path / "a.tif", nodata=np.nan, dtype="float32", tags={"k": "v"})
    b = write_cog(ds, tmp_path / "b.tif", nodata=np.nan, dtype="float32", tags={"k": "v"})
    assert a.read_bytes() == b.read_bytes()


def test_failure_leaves_no_output_and_no_temporary_file(tmp_path: Path) -> None:
    def boom(block: np.ndarray) -> np.ndarray:
        raise RuntimeError("simulated failure while computing")

    ds = _composite(tmp_path)
    bad = ds["B04"].copy(data=ds["B04"].data.map_blocks(boom, dtype=np.float32))
    target = tmp_path / "out" / "bad.tif"
    target.parent.mkdir()
    target.write_bytes(b"previous")
    with pytest.raises(RuntimeError, match="simulated"):
        write_cog(bad, target, nodata=np.nan, dtype="float32")
    assert sorted(p.name for p in target.parent.iterdir()) == ["bad.tif"]
    assert target.read_bytes() == b"previous"


def test_write_cogs_writes_each_output_as_write_cog_does_in_one_pass(tmp_path: Path) -> None:
    ds = _composite(tmp_path)
    prob = CogOutput(ds["B04"], tmp_path / "two" / "b04.tif", float("nan"), "float32", {"k": "v"})
    count = CogOutput(ds["clear_count"], tmp_path / "two" / "count.tif", 255, "uint8")
    paths = write_cogs([prob, count])
    assert paths == [prob.path, count.path]
    one = write_cog(ds["B04"], tmp_path / "one" / "b04.tif", nodata=np.nan, dtype="float32",
                    tags={"k": "v"})  # fmt: skip
    assert one.read_bytes() == prob.path.read_bytes()
    with rasterio.open(count.path) as src:
        data = src.read(1)
        assert src.dtypes == ("uint8",)
    assert (data[:8, :8] == 0).all() and (data[8:, 8:] == 1).all()  # a cloud in the corner


def test_write_cogs_refuses_outputs_of_different_strips_and_writes_nothing(
    tmp_path: Path,
) -> None:
    ds = _composite(tmp_path)
    a = CogOutput(ds["B04"], tmp_path / "a.tif", float("nan"), "float32")
    b = CogOutput(ds["B04"].chunk({"y": 16}), tmp_path / "b.tif", float("nan"), "float32")
    with pytest.raises(InputError, match="different rows or row chunks"):
        write_cogs([a, b])
    assert not list(tmp_path.glob("*.tif"))


def test_float_to_integer_without_nodata_is_refused_before_computing(tmp_path: Path) -> None:
    ds = _composite(tmp_path)
    with pytest.raises(InputError, match=r"'B04'.*without a nodata"):
        write_cog(ds["B04"], tmp_path / "x.tif", nodata=None, dtype="uint16")
    assert not (tmp_path / "x.tif").exists()


def _grid_array(rows: int, cols: int, bands: int, dtype: str, chunk: int) -> xr.DataArray:
    from odc.geo.geobox import GeoBox
    from odc.geo.xr import xr_coords

    box = (500000, 4300000 - rows * 10, 500000 + cols * 10, 4300000)
    gbox = GeoBox.from_bbox(box, "EPSG:32648", resolution=10)
    data = np.random.default_rng(7).integers(1, 250, (bands, rows, cols)).astype(dtype)
    if dtype == "float32":
        data[:, :40, :70] = np.nan
    return xr.DataArray(
        da.from_array(data, chunks=(bands, chunk, chunk)),
        dims=("band", "y", "x"),
        coords={"band": [f"b{i}" for i in range(bands)], **xr_coords(gbox)},
    )


def _gdal_cog(monkeypatch: pytest.MonkeyPatch, *args: Any, **kw: Any) -> Path:
    """The same COG written by GDAL's COG driver from a strips file (it builds the
    overviews itself)."""
    import tiandi.eo.cog as cog

    with monkeypatch.context() as patch:
        patch.setattr(cog, "_writes_tiles", lambda out: False)
        return write_cog(*args, **kw)


def _same_file_but_bytes(mine: Path, gdal: Path) -> None:
    with rasterio.open(mine) as a, rasterio.open(gdal) as b:
        pa, pb = dict(a.profile), dict(b.profile)
        np.testing.assert_array_equal(pa.pop("nodata"), pb.pop("nodata"))  # NaN == NaN
        assert pa == pb and a.tags() == b.tags() and a.descriptions == b.descriptions
        assert a.tags(ns="IMAGE_STRUCTURE") == b.tags(ns="IMAGE_STRUCTURE")
        assert a.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert a.overviews(1) == b.overviews(1) == [2, 4]
        np.testing.assert_array_equal(a.read(), b.read())


@pytest.mark.parametrize(("dtype", "nodata"), [("uint8", 255), ("float32", float("nan"))])
def test_tiles_encoded_in_the_pass_give_gdals_cog_of_a_single_band_map(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dtype: str, nodata: float
) -> None:
    # odd sides and two levels (551 x 515, 275 x 257): GDAL's rounding at every level;
    # chunks of 256 px: every tile is shared by chunks and completed where it is written
    layer = _grid_array(1102, 1031, 1, dtype, 256).isel(band=0, drop=True)
    mine = write_cog(layer, tmp_path / "s" / "m.tif", nodata=nodata, dtype=dtype)
    assert sorted(p.name for p in mine.parent.iterdir()) == ["m.tif"]  # no temporaries
    gdal = _gdal_cog(monkeypatch, layer, tmp_path / "g" / "m.tif", nodata=nodata, dtype=dtype)
    _same_file_but_bytes(mine, gdal)
    for level in (0, 1):
        with (
            rasterio.open(mine, overview_level=level) as a,
            rasterio.open(gdal, overview_level=level) as b,
        ):
            np.testing.assert_array_equal(a.read(), b.read())


def test_tiles_of_a_multi_band_file_keep_pixels_and_first_level(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # chunks of 512 px: the full resolution's and the first level's tiles are encoded
    # where each chunk is computed, the deeper levels completed where they are written
    data = _grid_array(1102, 1031, 3, "uint16", 512)
    mine = write_cog(data, tmp_path / "s.tif", nodata=0, dtype="uint16", tags={"k": "v"})
    gdal = _gdal_cog(
        monkeypatch, data, tmp_path / "g.tif", nodata=0, dtype="uint16", tags={"k": "v"}
    )
    _same_file_but_bytes(mine, gdal)
    prev = data.values
    for level in (0, 1):
        with rasterio.open(mine, overview_level=level) as a:
            got = a.read()
        rows, cols = got.shape[1:]
        expect = prev[:, pick(prev.shape[1], rows)][:, :, pick(prev.shape[2], cols)]
        np.testing.assert_array_equal(got, expect)  # nearest, from the level before
        prev = got
    with rasterio.open(mine, overview_level=0) as a, rasterio.open(gdal, overview_level=0) as b:
        np.testing.assert_array_equal(a.read(), b.read())


@pytest.mark.parametrize("big", [False, True])
def test_the_file_is_laid_out_as_gdals_cog_driver_lays_it_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, big: bool
) -> None:
    import tifffile

    import tiandi.eo._cogfile as cogfile

    if big:
        monkeypatch.setattr(cogfile, "CLASSIC_LIMIT", 0)  # BigTIFF, as past 4 GiB
    data = _grid_array(1102, 1031, 2, "uint16", 384)
    path = write_cog(data, tmp_path / "c.tif", nodata=0, dtype="uint16")
    raw = path.read_bytes()
    with tifffile.TiffFile(path) as tif:
        assert tif.is_bigtiff == big
        pages = list(tif.pages)
        ghost = raw.index(b"KNOWN_INCOMPATIBLE_EDITION=NO\n") + 31
        assert pages[0].offset == ghost + ghost % 2  # the first IFD right after the ghost
        assert [p.offset for p in pages] == sorted(p.offset for p in pages)
        assert [p.shape[:2] for p in pages] == [(1102, 1031), (551, 515), (275, 257)]
        assert pages[1].tags["NewSubfileType"].value == 1
        ends = []
        for page in reversed(pages):  # the smallest level's tiles first
            offsets, counts = page.dataoffsets, page.databytecounts
            assert list(offsets) == sorted(offsets)  # row-major
            assert not ends or offsets[0] > ends[-1]
            for offset, count in zip(offsets, counts, strict=True):
                assert int.from_bytes(raw[offset - 4 : offset], "little") == count  # leader
                assert (
                    raw[offset + count - 4 : offset + count + 4][:4]
                    == raw[offset + count : offset + count + 4]
                )  # trailer: the last 4 bytes repeated
            ends.append(offsets[-1] + counts[-1] + 4)
        assert ends[-1] == len(raw)
    with rasterio.open(path) as src:
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        np.testing.assert_array_equal(src.read(), data.values)
    valid, errors, warnings = cog_validate(str(path))
    assert valid and not errors and not warnings, (errors, warnings)


def test_rows_of_chunks_written_in_pieces_of_one_chunk_give_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tiandi.eo.cog as cog

    # odd sides, chunks that are not multiples of the 512 px tiles, two overview levels
    data = _grid_array(1102, 1031, 3, "uint16", 384)
    mask = data.isel(band=0, drop=True).astype("uint8")

    def write(folder: str) -> list[bytes]:
        outs = [
            CogOutput(data, tmp_path / folder / "c.tif", 0, "uint16", {"k": "v"}),
            CogOutput(mask, tmp_path / folder / "m.tif", 255, "uint8"),
        ]
        return [path.read_bytes() for path in write_cogs(outs)]

    whole_rows = write("rows")
    seen: list[int] = []
    pieces = cog._pieces
    monkeypatch.setattr(cog, "PIECE_BYTES", 1)
    monkeypatch.setattr(cog, "min_chunks", lambda _: 1)
    monkeypatch.setattr(cog, "_pieces", lambda *a: [seen.append(1) or p for p in pieces(*a)])
    assert write("chunks") == whole_rows
    assert len(seen) == 3 * 3  # 3 rows of 3 chunks, one piece each


def test_pieces_of_one_chunk_on_a_distributed_client_give_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    distributed = pytest.importorskip("distributed")
    import tiandi.eo.cog as cog

    ds = composite_period(
        make_items(tmp_path / "in", [Scene("2025-03-01"), Scene("2025-04-01")]),
        full_grid(),
        chunk=16,
    )
    local = write_cog(ds, tmp_path / "local.tif", nodata=np.nan, dtype="float32")
    monkeypatch.setattr(cog, "PIECE_BYTES", 1)
    with distributed.Client(processes=False, n_workers=2, threads_per_worker=1) as client:
        plan = cog._plan(CogOutput(ds, tmp_path / "x.tif", 0, "float32"))
        # a chunk per thread: each piece is a round trip to the scheduler
        assert len(cog._pieces([plan], [cog._stacked(plan)], 1)) == 8
        remote = write_cog(ds, tmp_path / "remote.tif", nodata=np.nan, dtype="float32")
        assert client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.task_prefixes))
    assert remote.read_bytes() == local.read_bytes()


def test_on_threads_a_piece_has_two_chunks_a_thread_and_independent_task_and_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dask

    import tiandi.eo.cog as cog

    def period(day: str) -> xr.Dataset:
        items = make_items(tmp_path / day, [Scene(day)])
        return composite_period(items, full_grid(), chunk=16)  # 4 x 4 chunks

    before, after = period("2025-03-01"), period("2025-04-01")
    monkeypatch.setattr(cog, "PIECE_BYTES", 1)
    one = [cog._plan(CogOutput(before, tmp_path / "b.tif", 0, "float32"))]
    two = [*one, cog._plan(CogOutput(after, tmp_path / "a.tif", 0, "float32"))]
    distributed = pytest.importorskip("distributed")
    # the setting wins over a default client (the test session's, a notebook's)
    with (
        distributed.Client(processes=False, n_workers=1, threads_per_worker=3),
        dask.config.set(scheduler="threads", num_workers=2),
    ):
        # one composite: a task per chunk, so four chunks (two a thread) a piece
        assert len(cog._pieces(one, [cog._stacked(p) for p in one], 1)) == 4
        # both periods: two independent tasks per chunk, so two chunks a piece
        assert len(cog._pieces(two, [cog._stacked(p) for p in two], 1)) == 8
        outs = [CogOutput(ds, tmp_path / f"{n}.tif", 0, "float32") for n, ds in
                (("b", before), ("a", after))]  # fmt: skip
        threaded = [path.read_bytes() for path in write_cogs(outs)]
    with dask.config.set(scheduler="sync"):
        assert [path.read_bytes() for path in write_cogs(outs)] == threaded


def test_a_piece_hands_the_scheduler_its_own_tasks_only_however_large_the_scene(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tiandi.eo.cog as cog

    monkeypatch.setattr(cog, "PIECE_BYTES", 1)
    monkeypatch.setattr(cog, "min_chunks", lambda _: 1)
    compute = cog.da.compute
    sizes: list[int] = []

    def counting(*arrays: da.Array, **kw: object) -> object:
        sizes.extend(len(a.__dask_graph__()) for a in arrays)
        return compute(*arrays, **kw)

    monkeypatch.setattr(cog.da, "compute", counting)
    largest = {}
    for side in (2, 6):  # chunks per side: a scene of 4 chunks, then 36
        sizes.clear()
        data = _grid_array(side * 64, side * 64, 2, "uint16", 64) + 1  # a task per chunk
        write_cogs([CogOutput(data, tmp_path / f"{side}.tif", 0, "uint16")])
        assert len(sizes) == side * side  # one piece per chunk
        largest[side] = max(sizes)
    # the chunk, its +1, the cast, the stack, the slice: as many tasks at both sizes
    assert largest[6] == largest[2] < 6 * 6, largest
    with rasterio.open(tmp_path / "6.tif") as src:
        np.testing.assert_array_equal(src.read(), data.values)


def test_float_outputs_are_written_at_the_fast_level_unless_one_is_named(tmp_path: Path) -> None:
    from tiandi.eo.cog import DEFAULT_LEVEL, FLOAT_LEVEL

    data = xr.DataArray(np.zeros((4, 4)))
    assert CogOutput(data, tmp_path / "p.tif", None, "float32").level() == FLOAT_LEVEL == 1
    assert CogOutput(data, tmp_path / "m.tif", 255, "uint8").level() == DEFAULT_LEVEL == 6
    assert CogOutput(data, tmp_path / "x.tif", None, "float32", deflate_level=9).level() == 9


def test_a_float_map_s_tiles_are_those_of_its_level(tmp_path: Path) -> None:
    import imagecodecs
    import tifffile

    layer = _grid_array(600, 600, 1, "float32", 512).isel(band=0, drop=True)
    out = write_cog(layer, tmp_path / "p.tif", nodata=float("nan"), dtype="float32")
    with tifffile.TiffFile(out) as tif:
        page = tif.pages.first
        tif.filehandle.seek(page.dataoffsets[0])
        stored = tif.filehandle.read(page.databytecounts[0])
    with rasterio.open(out) as src:
        tile = src.read(1, window=rasterio.windows.Window(0, 0, 512, 512))
    predicted = imagecodecs.floatpred_encode(np.ascontiguousarray(tile), axis=-1)
    assert stored == bytes(imagecodecs.deflate_encode(predicted, level=1))
    assert stored != bytes(imagecodecs.deflate_encode(predicted, level=6))
