"""Scoring during and after training: tiled prediction of whole cities, confusion
matrices at a threshold, and the choice of the threshold on the validation cities."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import torch

from tiandi.models.metrics import IGNORE, ConfusionMatrix, confusion_matrix, sum_confusion
from tiandi.models.siamese import SiameseDiffUNet
from tiandi.models.tiling import predict_array
from tiandi.models.tiling_grid import TileConfig
from tiandi.models.training_config import THRESHOLDS
from tiandi.models.training_data import CityArrays


def predict_proba(
    model: SiameseDiffUNet,
    images: npt.NDArray[np.float32],
    *,
    tile: int = 512,
    margin: int = 32,
) -> npt.NDArray[np.float32]:
    """Change probability (H, W) of one (2, bands, H, W) array, predicted tile by tile.

    Tiles of ``tile`` pixels get ``margin`` pixels of context on each side, which are
    cropped (no seams). Pixels with NaN in any band are NaN. A thin wrapper around
    :func:`tiandi.models.tiling.predict_array`, the one tiler of the package, keeping the
    current number of torch threads.
    """
    config = TileConfig(
        tile=tile + 2 * margin,
        overlap=2 * margin,
        margin=margin,
        batch_size=1,
        num_threads=torch.get_num_threads(),
        precision="float32",  # training's scores in the format it trains in
    )
    return predict_array(model, images[0], images[1], config)


def predict_cities(
    model: SiameseDiffUNet, cities: Sequence[CityArrays]
) -> dict[str, npt.NDArray[np.float32]]:
    """Change probability of each city (NaN where no data)."""
    return {city.name: predict_proba(model, city.images) for city in cities}


def score_probabilities(
    probs: dict[str, npt.NDArray[np.float32]], cities: Sequence[CityArrays], threshold: float
) -> dict[str, ConfusionMatrix]:
    """Confusion matrix of each city at ``threshold`` (no-data pixels not counted)."""
    result: dict[str, ConfusionMatrix] = {}
    for city in cities:
        prob = probs[city.name]
        pred = np.where(np.isnan(prob), IGNORE, prob >= threshold).astype(np.uint8)
        result[city.name] = confusion_matrix(pred, city.label, name=f"city {city.name}")
    return result


def choose_threshold(
    probs: dict[str, npt.NDArray[np.float32]],
    cities: Sequence[CityArrays],
    candidates: Sequence[float] = THRESHOLDS,
) -> float:
    """The candidate threshold with the best overall F1 over ``cities`` (the lowest on ties)."""
    f1 = {t: sum_confusion(score_probabilities(probs, cities, t).values()).f1 for t in candidates}
    return max(candidates, key=lambda t: (f1[t], -t))
