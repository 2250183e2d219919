"""Tiny Siamese weights written in tests (untrained, 4 bands), for detector and CLI tests."""

from __future__ import annotations

from pathlib import Path

import torch

from tiandi.models.siamese import RGBN_BANDS, SiameseConfig, SiameseDiffUNet
from tiandi.models.weights import build_card, save_weights


def tiny_weights(
    folder: Path,
    name: str = "tiny-rgbn",
    version: str = "0.0",
    train_cities: list[str] | None = None,
    val_cities: list[str] | None = None,
) -> Path:
    """Write ``<folder>/<name>-v<version>.pt`` with its card; return the .pt path."""
    torch.manual_seed(0)
    model = SiameseDiffUNet(SiameseConfig(bands=RGBN_BANDS, base_channels=4, depth=2))
    card = build_card(
        model,
        name=name,
        version=version,
        training_data={"train_cities": train_cities or [], "val_cities": val_cities or []},
        training={},
        seed=0,
        command="test",
        metrics={"threshold": 0.5},
    )
    return save_weights(folder / f"{name}-v{version}.pt", model, card).weights
