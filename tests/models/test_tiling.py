"""Tiled inference: no seams (within and between blocks), no data, skipped tiles, memory."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dask
import dask.array as da
import numpy as np
import pytest
import torch
import xarray as xr
from dask.callbacks import Callback
from torch import nn

from tiandi.eo import release_pass
from tiandi.errors import InputError
from tiandi.models.registry import WEIGHTS_DIR
from tiandi.models.siamese import RGBN_BANDS, SiameseConfig, SiameseDiffUNet
from tiandi.models.siamese_detector import SiameseDetector
from tiandi.models.tiling import LazyWindow, predict_array, predict_dataset, predict_lazy
from tiandi.models.tiling_grid import TileConfig, tile_count
from tiandi.models.tiling_shared import SHARED_TILES, SharedTiles

SMALL = TileConfig(tile=64, overlap=16, margin=4, block=96)


def _net(attention: bool = True) -> SiameseDiffUNet:
    torch.manual_seed(0)
    net = SiameseDiffUNet(
        SiameseConfig(bands=RGBN_BANDS, base_channels=4, depth=2, attention=attention)
    )
    return net.eval()


def _pair(shape: tuple[int, int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (
        rng.random((4, *shape), dtype=np.float32),
        rng.random((4, *shape), dtype=np.float32),
    )


def _lazy(array: np.ndarray, chunks: tuple[int, ...] | None = None) -> da.Array:
    lazy: da.Array = da.from_array(array, chunks=chunks or -1)  # type: ignore[no-untyped-call]
    return lazy


def _compute(lazy: da.Array) -> np.ndarray:
    return np.asarray(lazy.compute(scheduler="sync"))  # type: ignore[no-untyped-call]


class PixelNet(nn.Module):
    """A per-pixel model (1x1 convolution): its untiled prediction is the exact truth."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(8, 1, 1)
        self.calls: list[tuple[int, ...]] = []

    def forward(self, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(before.shape))
        x = torch.nan_to_num(torch.cat([before, after], dim=1))
        out: torch.Tensor = self.conv(x)
        return out


class ConstantNet(PixelNet):
    def forward(self, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(before.shape))
        return torch.full_like(before[:, :1], 0.7)


def test_lazy_blocks_give_the_same_prediction_as_one_block() -> None:
    net = _net()
    before, after = _pair((150, 170))
    whole = predict_array(net, before, after, SMALL)
    lazy = predict_lazy(net, _lazy(before, (4, 50, 50)), _lazy(after, (4, 70, 30)), SMALL)
    assert lazy.chunks == ((96, 54), (96, 74))  # blocks of whole strides, not input chunks
    np.testing.assert_allclose(_compute(lazy), whole, atol=1e-6)
    with torch.no_grad():
        direct = torch.sigmoid(net(torch.from_numpy(before[None]), torch.from_numpy(after[None])))
    np.testing.assert_allclose(whole, direct[0, 0].numpy(), atol=1e-3)


@pytest.mark.parametrize("ramp", ["cosine", "linear"])
def test_blending_a_local_model_reproduces_the_untiled_prediction(ramp: Any) -> None:
    net = PixelNet()
    before, after = _pair((130, 97), seed=2)
    config = TileConfig(tile=32, overlap=12, margin=2, ramp=ramp, block=40, precision="float32")
    tiled = _compute(predict_lazy(net, _lazy(before), _lazy(after), config))
    with torch.no_grad():
        x = torch.from_numpy(np.concatenate([before, after])[None])
        direct = torch.sigmoid(net.conv(x))[0, 0].numpy()
    np.testing.assert_allclose(tiled, direct, atol=1e-6)


def test_constant_model_gives_a_constant_map_without_seams() -> None:
    before, after = _pair((200, 200))
    prob = predict_array(ConstantNet(), before, after, TileConfig(tile=48, overlap=16, margin=4))
    np.testing.assert_allclose(prob, 1 / (1 + np.exp(-0.7)), atol=1e-6)
    assert np.abs(np.diff(prob, axis=0)).max() < 1e-6
    assert np.abs(np.diff(prob, axis=1)).max() < 1e-6


def test_nan_in_any_band_of_either_date_is_no_data() -> None:
    before, after = _pair((80, 90))
    before[2, 10:14, 20:30] = np.nan
    after[0, 50, 60] = np.nan
    prob = predict_array(_net(), before, after, SMALL)
    expected = np.zeros((80, 90), dtype=bool)
    expected[10:14, 20:30] = True
    expected[50, 60] = True
    np.testing.assert_array_equal(np.isnan(prob), expected)
    assert ((prob[~expected] >= 0) & (prob[~expected] <= 1)).all()


def test_all_nodata_tiles_are_not_predicted() -> None:
    config = TileConfig(tile=32, overlap=8, margin=0, batch_size=1)
    before, after = _pair((96, 96))
    net = PixelNet()
    predict_array(net, before, after, config)
    all_tiles = len(net.calls)
    assert all_tiles == tile_count((96, 96), config)["grid_tiles"] == 16
    before[:, :32, :32] = np.nan  # the whole first tile (0..32 x 0..32)
    net.calls.clear()
    prob = predict_array(net, before, after, config)
    assert len(net.calls) == all_tiles - 1
    assert np.isnan(prob[:32, :32]).all() and np.isfinite(prob[32:, 32:]).all()
    net.calls.clear()
    nothing = predict_array(net, np.full_like(before, np.nan), after, config)
    assert np.isnan(nothing).all() and net.calls == []


def test_tiles_go_through_the_network_in_batches_of_one_size() -> None:
    net = PixelNet()
    before, after = _pair((64, 64))
    config = TileConfig(tile=32, overlap=0, margin=0, batch_size=3)
    batched = predict_array(net, before, after, config)
    assert [c[0] for c in net.calls] == [3, 3]  # 4 tiles: the last batch filled up
    one_by_one = predict_array(PixelNet(), before, after, TileConfig(tile=32, overlap=0, margin=0))
    np.testing.assert_allclose(batched, one_by_one, atol=1e-6)


def test_lazy_prediction_is_bitwise_the_same_wherever_a_tile_ran() -> None:
    # the shipped network: oneDNN's sums for its convolutions depend on the batch's size
    # (a tiny test network's do not), which a short last batch would expose
    net = SiameseDetector(WEIGHTS_DIR / "siamese-s2-6band-v0.2.pt").model
    rng = np.random.default_rng(5)
    before, after = (rng.random((6, 300, 260), dtype=np.float32) * 0.4 for _ in range(2))
    config = TileConfig(tile=64, overlap=16, margin=4, block=96, batch_size=2)
    whole = predict_array(net, before, after, config)
    for workers in (1, 2, 2):
        lazy = predict_lazy(net, _lazy(before, (6, 64, 64)), _lazy(after, (6, 64, 64)), config)
        with dask.config.set(scheduler="threads", num_workers=workers):
            np.testing.assert_array_equal(np.asarray(lazy.compute()), whole)


class PeakCache(Callback):  # type: ignore[misc]
    """Largest total size of the intermediate results dask holds at any time."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.peak = 0

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        held = sum(getattr(v, "nbytes", 0) for v in state["cache"].values())
        self.peak = max(self.peak, held)


def test_lazy_inference_is_lazy_and_holds_a_few_blocks_not_the_scene(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    windows: list[tuple[int, ...]] = []
    read = LazyWindow.read

    def spy(self: LazyWindow) -> np.ndarray:
        out = read(self)
        windows.append(out.shape)
        return out

    monkeypatch.setattr(LazyWindow, "read", spy)
    net = PixelNet()
    rng = da.random.default_rng(0)  # type: ignore[no-untyped-call]
    shape, chunks = (4, 768, 768), (4, 128, 128)
    before = rng.random(shape, chunks=chunks, dtype=np.float32)
    after = rng.random(shape, chunks=chunks, dtype=np.float32)
    prob = predict_lazy(net, before, after, SMALL)
    assert net.calls == []  # building the graph runs nothing
    with dask.config.set(scheduler="sync"), PeakCache() as peak:
        total = float(da.nansum(prob).compute())
    assert total > 0
    scene_bytes = 2 * before.nbytes
    assert peak.peak < 0.15 * scene_bytes, (peak.peak, scene_bytes)
    assert max(c[-1] for c in net.calls) <= SMALL.tile
    # 8 x 8 blocks of 96 px, each read once, as a window of its core plus tiles around it
    assert len(windows) == 64
    assert max(w[1] for w in windows) <= 96 + SMALL.tile and {w[0] for w in windows} == {8}


def test_predict_dataset_keeps_coordinates_and_stays_lazy() -> None:
    before, after = _pair((40, 50))
    coords = {"y": np.arange(40) * -10.0, "x": np.arange(50) * 10.0}
    ds = [
        xr.Dataset({b: (("y", "x"), arr[i]) for i, b in enumerate(RGBN_BANDS)}, coords=coords)
        for arr in (before, after)
    ]
    eager = predict_dataset(_net(), ds[0], ds[1], RGBN_BANDS, SMALL)
    lazy = predict_dataset(_net(), ds[0].chunk(16), ds[1].chunk(16), RGBN_BANDS, SMALL)
    assert isinstance(lazy.data, da.Array) and not isinstance(eager.data, da.Array)
    assert eager.dims == ("y", "x") and np.array_equal(eager.x, coords["x"])
    np.testing.assert_allclose(lazy.values, eager.values, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tile": 64, "overlap": 64},
        {"tile": 64, "overlap": 16, "margin": 9},
        {"tile": 64, "overlap": 40, "margin": 0},
        {"batch_size": 0},
        {"ramp": "gauss"},
    ],
)
def test_bad_tile_configuration_is_an_input_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InputError, match="TileConfig"):
        TileConfig(**kwargs)


def test_stride_off_the_pooling_grid_and_wrong_band_count_are_refused() -> None:
    before, after = _pair((32, 32))
    with pytest.raises(InputError, match="multiple of 4"):
        predict_array(_net(), before, after, TileConfig(tile=30, overlap=8, margin=0))
    with pytest.raises(InputError, match="4 bands"):
        predict_array(_net(), before[:3], after[:3], SMALL)


class TileMeanNet(PixelNet):
    """Predicts one value per tile (its mean): the worst case for seams."""

    def forward(self, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        mean = before[:, :1].mean(dim=(2, 3), keepdim=True)
        return torch.logit(mean.expand_as(before[:, :1]).clone())


def test_blending_leaves_no_seams_where_tiles_disagree() -> None:
    ramp = np.linspace(0.2, 0.8, 240, dtype=np.float32)
    before = np.broadcast_to(ramp, (4, 64, 240)).copy()
    blended = TileConfig(tile=64, overlap=32, margin=0)
    cropped = TileConfig(tile=64, overlap=32, margin=16)  # no ramp: hard cut mid-overlap
    step = (ramp[1] - ramp[0]) * blended.stride  # difference of neighbouring tiles' values
    jump = {
        name: float(np.abs(np.diff(predict_array(TileMeanNet(), before, before, c))).max())
        for name, c in (("blended", blended), ("cropped", cropped))
    }
    assert jump["cropped"] == pytest.approx(step, rel=0.05)  # a seam the test can see
    assert jump["blended"] < 0.1 * step, jump


@pytest.mark.parametrize("workers", [1, 2])
def test_lazy_blocks_predict_each_border_tile_once_in_a_process(workers: int) -> None:
    net = PixelNet()
    before, after = _pair((300, 260), seed=3)
    config = TileConfig(tile=64, overlap=16, margin=4, block=96, batch_size=1)
    counts = tile_count((300, 260), config)
    assert counts["block_tiles"] > counts["grid_tiles"]  # blocks share border tiles
    lazy = predict_lazy(net, _lazy(before, (4, 64, 64)), _lazy(after, (4, 64, 64)), config)
    with dask.config.set(scheduler="threads", num_workers=workers):
        shared = np.asarray(lazy.compute())
    assert len(net.calls) == counts["grid_tiles"]
    assert len(SHARED_TILES) == 0  # every entry taken by all its blocks, then dropped
    np.testing.assert_allclose(shared, predict_array(PixelNet(), before, after, config), atol=1e-6)


class FailingNet(PixelNet):
    """Fails on its ``fail_at``-th tile."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.fail_at = fail_at

    def forward(self, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        if len(self.calls) + 1 == self.fail_at:
            self.calls.append(tuple(before.shape))
            raise RuntimeError("network failed")
        return super().forward(before, after)


def test_a_failed_block_fails_the_blocks_waiting_for_its_tiles_and_leaves_nothing_behind() -> None:
    before, after = _pair((200, 200), seed=4)
    config = TileConfig(tile=64, overlap=16, margin=4, block=96, batch_size=1)
    lazy = predict_lazy(FailingNet(fail_at=3), _lazy(before), _lazy(after), config)
    with ThreadPoolExecutor(2) as pool, pytest.raises(RuntimeError, match="network failed"):
        lazy.compute(scheduler="threads", pool=pool)  # raises, never hangs on a claim
    # the pool is shut down: every block in flight has finished (none waits forever)
    release_pass()  # what write_cogs does when its pass ends, failed or not
    assert len(SHARED_TILES) == 0
    again = predict_lazy(PixelNet(), _lazy(before), _lazy(after), config)
    np.testing.assert_allclose(
        _compute(again), predict_array(PixelNet(), before, after, config), atol=1e-6
    )


def test_shared_tiles_wait_for_a_claim_and_drop_the_oldest_results_beyond_their_budget() -> None:
    tiles = SharedTiles(max_bytes=2 * 4 * 16)  # two 4x4 float32 tiles
    future, mine = tiles.claim("a", uses=2)
    other, theirs = tiles.claim("a", uses=2)
    assert mine and not theirs and other is future and not other.done()
    tiles.put("a", future, np.ones((4, 4), np.float32))
    assert other.result()[0, 0] == 1.0
    for key in ("b", "c"):
        f, _ = tiles.claim(key, uses=2)
        tiles.put(key, f, np.zeros((4, 4), np.float32))
    assert len(tiles) == 2 and tiles.claim("a", uses=2)[1]  # "a" was dropped: claim anew
    tiles.taken("b")
    assert len(tiles) == 3
    tiles.taken("b")
    assert len(tiles) == 2  # both of b's blocks took it


def test_a_failed_claim_fails_its_waiters_and_a_later_block_claims_the_tile_anew() -> None:
    tiles = SharedTiles()
    future, mine = tiles.claim("t", uses=3)
    waiting, _ = tiles.claim("t", uses=3)
    tiles.fail("t", future, RuntimeError("block failed"))
    with pytest.raises(RuntimeError, match="block failed"):
        waiting.result()
    again, mine_again = tiles.claim("t", uses=3)
    assert mine and mine_again and again is not future
    tiles.fail("t", future, RuntimeError("late"))  # the old claim: the new one stays
    assert len(tiles) == 1
    tiles.put("t", again, np.ones((2, 2), np.float32))
    for _ in range(3):
        tiles.taken("t")
    assert len(tiles) == 0 and tiles._bytes == 0
