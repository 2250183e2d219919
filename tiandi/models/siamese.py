"""Fully-convolutional change-detection network (FC-Siam-diff or FC-EF style), plain torch.

The architecture follows Caye Daudt, Le Saux, Boulch 2018 ("Fully Convolutional Siamese
Networks for Change Detection", ICIP). ``fusion="siam-diff"`` (FC-Siam-diff, every shipped
network so far): one encoder with shared weights reads both dates; the decoder starts from
the deepest features of the *after* image and, at every scale, receives the absolute
difference of the two dates' encoder features as skip connection. ``fusion="early"``
(FC-EF): the two dates are stacked as one input of twice the bands and a single encoder
reads them; its features are the skip connections (a plain U-Net, which Corley et al.
2024, "A change detection reality check", find hard to beat). Additions: batch
normalisation in every convolution block, squeeze-and-excitation channel attention on the
skips (``attention=True``), the per-band normalisation statistics stored as buffers (so
they travel with the weights), NaN inputs (no data) mapped to the band mean, and inputs
of any size (padded by reflection to a multiple of ``2**depth`` and cropped back).

Input: two float tensors (N, bands, H, W) of reflectance (0–1) in ``config.bands`` order,
or, for ``config.normalisation`` ``"per_image"`` or ``"per_pair"``, already standardised
per band over the whole image (:mod:`tiandi.models.normalisation`; the detector and the training
data do it).
Output: change logits (N, 1, H, W); ``torch.sigmoid`` gives the change probability.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from tiandi.errors import ModelError
from tiandi.models.normalisation import NORMALISATIONS
from tiandi.models.oscd import S2_BANDS

RGBN_BANDS: tuple[str, ...] = ("B02", "B03", "B04", "B08")
"""The four 10 m Sentinel-2 bands (blue, green, red, near infrared)."""

SIAM_DIFF = "siam-diff"
"""FC-Siam-diff: every shipped network, and weights saved before the choice existed."""

FUSIONS: tuple[str, ...] = (SIAM_DIFF, "early")
"""How the network joins the two dates: shared encoder and feature differences, or one
encoder over both dates stacked (module docstring)."""


@dataclass(frozen=True)
class SiameseConfig:
    """Architecture parameters; saved with the weights and needed to rebuild the net."""

    bands: tuple[str, ...] = S2_BANDS
    base_channels: int = 16
    depth: int = 4
    dropout: float = 0.2
    attention: bool = True
    # "dataset" (stored training statistics), "per_image" or "per_pair" (the dates
    # standardised per band first, by the detector: tiandi.models.normalisation); weights
    # saved without the field were trained with "dataset"
    normalisation: str = "dataset"
    # "siam-diff" (shared encoder, |f1 - f2| skips) or "early" (both dates stacked as one
    # input); weights saved without the field are "siam-diff"
    fusion: str = SIAM_DIFF

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ModelError(
                f"SiameseConfig: fusion {self.fusion!r} is not one of {', '.join(FUSIONS)}"
            )
        if self.normalisation not in NORMALISATIONS:
            raise ModelError(
                f"SiameseConfig: normalisation {self.normalisation!r} is not one of "
                f"{', '.join(NORMALISATIONS)}"
            )
        if not self.bands or len(set(self.bands)) != len(self.bands):
            raise ModelError(
                f"SiameseConfig: bands {self.bands!r} must be a non-empty list without "
                "repeats, e.g. the 13 Sentinel-2 bands or ('B02', 'B03', 'B04', 'B08')"
            )
        if not 2 <= self.depth <= 5 or self.base_channels < 4:
            raise ModelError(
                f"SiameseConfig: depth {self.depth} must be 2–5 and base_channels "
                f"{self.base_channels} at least 4"
            )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready parameters (bands as a list)."""
        out = asdict(self)
        out["bands"] = list(self.bands)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SiameseConfig:
        """Inverse of ``as_dict``."""
        return cls(
            bands=tuple(str(b) for b in data["bands"]),
            base_channels=int(data["base_channels"]),
            depth=int(data["depth"]),
            dropout=float(data["dropout"]),
            attention=bool(data["attention"]),
            normalisation=str(data.get("normalisation", "dataset")),
            fusion=str(data.get("fusion", SIAM_DIFF)),
        )


def _conv_block(cin: int, cout: int, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]
    if dropout > 0:
        layers.append(nn.Dropout2d(dropout))
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    """Channel attention (Hu et al. 2018): reweight channels by their global average."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = F.adaptive_avg_pool2d(x, 1)
        w = torch.sigmoid(self.fc2(F.relu(self.fc1(w))))
        return x * w


class SiameseDiffUNet(nn.Module):
    """FC-Siam-diff style U-Net with shared encoder and |f1 − f2| skip connections, or
    with ``config.fusion == "early"`` an FC-EF U-Net over both dates stacked."""

    band_mean: torch.Tensor
    band_std: torch.Tensor

    def __init__(
        self,
        config: SiameseConfig = SiameseConfig(),
        *,
        band_mean: Sequence[float] | None = None,
        band_std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        n = len(config.bands)
        mean = torch.zeros(n) if band_mean is None else torch.tensor(list(band_mean))
        std = torch.ones(n) if band_std is None else torch.tensor(list(band_std))
        if mean.shape != (n,) or std.shape != (n,) or bool((std <= 0).any()):
            raise ModelError(
                f"SiameseDiffUNet: band_mean/band_std need {n} values (one per band of "
                f"{list(config.bands)}) and positive std; got {list(mean.shape)}/"
                f"{list(std.shape)}"
            )
        self.register_buffer("band_mean", mean.float().reshape(1, n, 1, 1))
        self.register_buffer("band_std", std.float().reshape(1, n, 1, 1))
        widths = [config.base_channels * 2**i for i in range(config.depth)]
        drop = config.dropout
        self.encoders = nn.ModuleList()
        cin = 2 * n if config.fusion == "early" else n
        for w in widths:
            self.encoders.append(_conv_block(cin, w, 0.0))
            cin = w
        self.attn = nn.ModuleList(
            [SqueezeExcite(w) if config.attention else nn.Identity() for w in widths]
        )
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        below = widths[-1]
        for w in reversed(widths):
            self.ups.append(nn.ConvTranspose2d(below, w, 2, stride=2))
            self.decoders.append(_conv_block(2 * w, w, drop))
            below = w
        self.head = nn.Conv2d(widths[0], 1, 1)

    @property
    def bands(self) -> tuple[str, ...]:
        """Band names the network expects, in order."""
        return self.config.bands

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """Standardise reflectances with the stored statistics; NaN (no data) → 0."""
        return torch.nan_to_num(
            (x - self.band_mean) / self.band_std, nan=0.0, posinf=0.0, neginf=0.0
        )

    def _encode(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        feats: list[torch.Tensor] = []
        for enc in self.encoders:
            x = enc(x)
            feats.append(x)
            x = F.max_pool2d(x, 2)
        return feats, x

    def forward(self, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        """Change logits (N, 1, H, W) for two (N, bands, H, W) reflectance tensors."""
        n_bands = len(self.config.bands)
        if before.shape != after.shape or before.ndim != 4 or before.shape[1] != n_bands:
            raise ModelError(
                f"SiameseDiffUNet: inputs must both be (N, {n_bands}, H, W) for bands "
                f"{list(self.config.bands)}; got {list(before.shape)} and {list(after.shape)}"
            )
        h, w = before.shape[-2:]
        mult = 2**self.config.depth
        pad_h, pad_w = (-h) % mult, (-w) % mult
        x1, x2 = self.normalise(before), self.normalise(after)
        if pad_h or pad_w:
            mode = "reflect" if pad_h < h and pad_w < w else "replicate"
            x1 = F.pad(x1, (0, pad_w, 0, pad_h), mode=mode)
            x2 = F.pad(x2, (0, pad_w, 0, pad_h), mode=mode)
        if self.config.fusion == "early":
            skips, y = self._encode(torch.cat([x1, x2], dim=1))
        else:
            f1, _ = self._encode(x1)
            f2, y = self._encode(x2)
            skips = [torch.abs(s1 - s2) for s1, s2 in zip(f1, f2, strict=True)]
        for up, dec, a, skip in zip(
            self.ups, self.decoders, reversed(self.attn), reversed(skips), strict=True
        ):
            y = up(y)
            y = dec(torch.cat([y, a(skip)], dim=1))
        logits: torch.Tensor = self.head(y)
        return logits[..., :h, :w]


_Module = TypeVar("_Module", bound=nn.Module)


def fold_batch_norm(model: _Module) -> _Module:
    """``model`` for inference with each convolution's batch normalisation folded into its
    weights and bias (eval-mode statistics; in place, the model left in eval mode): one
    pass over each feature map instead of two, the same function up to float32 rounding.
    Not for training: the folded layers no longer learn batch statistics."""
    model.eval()
    for block in model.modules():
        if not isinstance(block, nn.Sequential):
            continue
        for i in range(len(block) - 1):
            conv, norm = block[i], block[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                block[i] = fuse_conv_bn_eval(conv, norm)
                block[i + 1] = nn.Identity()
    return model


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
