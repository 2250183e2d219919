"""The land-cover network (torch): a per-pixel MLP, see :mod:`tiandi.models.landcover`.

Apart from :mod:`tiandi.models.landcover` so that loading and checking the weights
needs no torch: a flow imports torch (about 180 MB resident) only when the network first
runs (:attr:`tiandi.models.landcover.LandCoverModel.net`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from tiandi.models.landcover_spec import FEATURE_NAMES, LANDCOVER_CLASSES
from tiandi.models.weights import load_checked_state


class LandCoverNet(nn.Module):
    """Per-pixel MLP: standardised features → class logits.

    ``feature_mean``/``feature_std`` are buffers saved with the weights.
    """

    feature_mean: torch.Tensor
    feature_std: torch.Tensor

    def __init__(self, hidden: Sequence[int] = (64, 64), dropout: float = 0.1) -> None:
        super().__init__()
        self.hidden = tuple(int(h) for h in hidden)
        self.dropout = float(dropout)
        layers: list[nn.Module] = []
        width = len(FEATURE_NAMES)
        for h in self.hidden:
            layers += [nn.Linear(width, h), nn.GELU(), nn.Dropout(self.dropout)]
            width = h
        layers.append(nn.Linear(width, len(LANDCOVER_CLASSES)))
        self.mlp = nn.Sequential(*layers)
        self.register_buffer("feature_mean", torch.zeros(len(FEATURE_NAMES)))
        self.register_buffer("feature_std", torch.ones(len(FEATURE_NAMES)))

    def config(self) -> dict[str, Any]:
        """Architecture parameters (what ``LandCoverNet(**config)`` needs)."""
        return {"hidden": list(self.hidden), "dropout": self.dropout}

    def set_normalisation(self, mean: npt.ArrayLike, std: npt.ArrayLike) -> None:
        """Store the feature standardisation (std floored at 1e-6)."""
        m = torch.as_tensor(np.asarray(mean, dtype=np.float32))
        s = torch.as_tensor(np.maximum(np.asarray(std, dtype=np.float32), 1e-6))
        self.feature_mean.copy_(m)
        self.feature_std.copy_(s)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(N, features) → (N, classes) logits."""
        out: torch.Tensor = self.mlp((features - self.feature_mean) / self.feature_std)
        return out


def build_net(
    config: Mapping[str, Any], state: Mapping[str, npt.NDArray[Any]], path: Path | None
) -> LandCoverNet:
    """The network of ``config`` with the (already checked) arrays of ``state``, eval mode."""
    net = LandCoverNet(hidden=config["hidden"], dropout=config["dropout"])
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}
    where = path if path is not None else Path("<in memory>")
    load_checked_state(
        net,
        tensors,
        where,
        architecture=str(net.config()),
        shapes_for=f"{len(FEATURE_NAMES)} features",
    )
    net.eval()
    return net
