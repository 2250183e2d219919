"""A seed ensemble of change networks: networks of one recipe trained with different
seeds, whose change probabilities are averaged pixel by pixel.

Each member is a :class:`~tiandi.models.siamese.SiameseDiffUNet` with the same
architecture and bands; :class:`MeanOfNetworks` is itself a module with the members'
interface (``config``, ``bands``, ``forward(before, after)`` → logits), so the tiler,
the detector, batch-norm folding, channels-last and bfloat16 take it as they take one
network. Its logits are those of the mean probability, so a threshold reads the mean.

Saved as one weights file (:func:`tiandi.models.ensemble_weights.save_ensemble`): the
weights format of a single network with ``state_dicts`` (one per member) in place of
``state_dict``; :func:`tiandi.models.weights.load_weights` rebuilds either. Why an
ensemble, measured on cities its members never saw: ``scripts/experiments/seed_ensemble/``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tiandi.errors import ModelError
from tiandi.models.siamese import SiameseConfig, SiameseDiffUNet

#: Probabilities are kept this far from 0 and 1 before their logit (float32-safe).
EPS = 1e-6


class MeanOfNetworks(nn.Module):
    """Networks of one architecture whose probabilities are averaged (module docstring)."""

    def __init__(self, members: Sequence[SiameseDiffUNet]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ModelError(f"an ensemble needs at least two networks; got {len(members)}")
        config = members[0].config
        for i, member in enumerate(members[1:], start=1):
            if member.config != config:
                raise ModelError(
                    f"ensemble member {i} has another architecture ({member.config}) than "
                    f"member 0 ({config}); ensemble networks of one recipe only"
                )
        self.members = nn.ModuleList(members)
        self.config: SiameseConfig = config

    @property
    def bands(self) -> tuple[str, ...]:
        """Band names the members expect, in order."""
        return self.config.bands

    def forward(self, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        """Logits (N, 1, H, W) of the members' mean change probability."""
        probs = [torch.sigmoid(m(before, after).float()) for m in self.members]
        return torch.logit(torch.stack(probs).mean(dim=0), eps=EPS)
