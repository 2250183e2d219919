"""The integrated detector: the trained network plus spectral evidence, with confidence levels.

``IntegratedDetector(network)`` runs a trained change network (by default the shipped
``siamese-s2-6band-v0.2``, which reads the product's composite bands B02 B03 B04 B08 B11
B12) and the spectral tests of :mod:`tiandi.models.evidence` on the same two composites,
and returns, besides ``change_prob`` (the network's probability) and ``change_mask``:

- ``evidence`` (uint8 bits, 255 no data): which evidence fired on each pixel;
- ``confidence_level`` (uint8: 0 none, 1 nominal, 2 high, 3 highest, 255 no data).

``change_mask`` is 1 where the level is at least ``min_level`` (``nominal`` by default:
any evidence; ``high`` and ``highest`` give the stricter variants registered as
``integrated-high`` / ``integrated-highest``), with connected groups smaller than
``min_pixels`` removed per chunk (groups touching a chunk border are kept, as the
baseline does). The level rule was chosen on six OSCD cities (``chosen_on``;
:data:`tiandi.models.evidence.RULE_CHOSEN_ON`), which ``tiandi evaluate oscd`` marks.
The flow turns the two layers into the patch attributes ``confidence_level`` and
``evidence`` (:mod:`tiandi.redline.patches.confidence`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import xarray as xr

from tiandi.errors import InputError
from tiandi.models.base import CHANGE, NO_CHANGE, NO_DATA
from tiandi.models.baseline import change_mask
from tiandi.models.evidence import (
    BANDS,
    EVIDENCE,
    LEVELS,
    RULE_CHOSEN_ON,
    EvidenceParams,
    evidence_bits,
    level_code,
    level_of,
)
from tiandi.models.siamese_detector import SiameseDetector

__all__ = ["CONFIDENCE_LAYERS", "DEFAULT_NETWORK", "IntegratedDetector"]

DEFAULT_NETWORK = "siamese-s2-6band-v0.2"
"""The shipped network that reads the product's composite bands."""
CONFIDENCE_LAYERS = ("confidence_level", "evidence")
"""The layers the integrated detector adds to the change maps (uint8, 255 no data)."""
_INDEX_BANDS = BANDS[:5]


def _evidence_kernel(
    prob: npt.NDArray[Any], *bands: npt.NDArray[Any], threshold: float, params: EvidenceParams
) -> npt.NDArray[np.uint8]:
    n = len(_INDEX_BANDS)
    before = dict(zip(_INDEX_BANDS, bands[:n], strict=True))
    after = dict(zip(_INDEX_BANDS, bands[n:], strict=True))
    return evidence_bits(prob, before, after, threshold=threshold, params=params)


def _mask_kernel(
    level: npt.NDArray[np.uint8], min_code: int, min_pixels: int
) -> npt.NDArray[np.uint8]:
    nodata = level == NO_DATA
    return change_mask((level >= min_code) & ~nodata, nodata, min_pixels)


class IntegratedDetector:
    """Network + spectral evidence with GFW-style confidence levels (module docstring)."""

    version = "0.2.0"  # 0.2: the level rule of issue 16's levels protocol
    confidence_layers = CONFIDENCE_LAYERS

    def __init__(
        self,
        network: SiameseDetector,
        *,
        params: EvidenceParams | None = None,
        min_level: str = "nominal",
        min_pixels: int = 4,
        name: str = "integrated",
    ) -> None:
        missing = [b for b in _INDEX_BANDS if b not in network.bands]
        if missing:
            raise InputError(
                f"the integrated detector needs a network that reads {', '.join(BANDS)}; "
                f"{network.name} reads {', '.join(network.bands)} (missing "
                f"{', '.join(missing)}); use {DEFAULT_NETWORK}"
            )
        if min_pixels < 1:
            raise InputError(f"min_pixels={min_pixels} must be >= 1")
        self.network = network
        self.params = params if params is not None else EvidenceParams()
        self.min_level = min_level
        self.min_code = level_code(min_level)
        self.min_pixels = min_pixels
        self.name = name

    @property
    def bands(self) -> tuple[str, ...]:
        """The bands the network reads (they include the spectral tests' bands)."""
        return self.network.bands

    @property
    def card(self) -> Any:
        """The network's model card (its training and validation cities)."""
        return self.network.card

    @property
    def chosen_on(self) -> tuple[str, ...]:
        """The OSCD cities the confidence-level rule was chosen on (besides the network's
        own training and validation cities, which its card lists)."""
        return RULE_CHOSEN_ON

    @property
    def threshold(self) -> float:
        """The network's decision threshold (its ``network`` evidence)."""
        return self.network.threshold

    def require_bands(self, given: list[str], source: str) -> None:
        """``ModelError`` when ``source`` lacks a band of the network."""
        self.network.require_bands(given, source)

    def probability(self, before: xr.Dataset, after: xr.Dataset) -> xr.DataArray:
        """The network's change probability (NaN no data), lazy when the inputs are."""
        return self.network.probability(before, after)

    def layers(self, prob: xr.DataArray, before: xr.Dataset, after: xr.Dataset) -> xr.Dataset:
        """``change_mask``, ``confidence_level`` and ``evidence`` from the network's
        probability (computed, or written and read back) and the two composites."""
        for period, ds in (("before", before), ("after", after)):
            missing = [b for b in _INDEX_BANDS if b not in ds.data_vars]
            if missing:
                raise InputError(
                    f"the {period} composite lacks band(s) {', '.join(missing)}; the "
                    f"integrated detector's spectral tests need {', '.join(_INDEX_BANDS)}"
                )
        coords = {c: before[c] for c in ("y", "x") if c in before.coords}
        after = after.assign_coords(coords)
        prob = prob.assign_coords({c: v for c, v in coords.items() if c in prob.dims})
        arrays = [before[b] for b in _INDEX_BANDS] + [after[b] for b in _INDEX_BANDS]
        bits: xr.DataArray = xr.apply_ufunc(
            _evidence_kernel,
            prob,
            *arrays,
            kwargs={"threshold": self.threshold, "params": self.params},
            dask="parallelized",
            output_dtypes=[np.uint8],
        )
        level: xr.DataArray = xr.apply_ufunc(
            level_of, bits, dask="parallelized", output_dtypes=[np.uint8]
        )
        mask: xr.DataArray = xr.apply_ufunc(
            _mask_kernel,
            level,
            kwargs={"min_code": self.min_code, "min_pixels": self.min_pixels},
            dask="parallelized",
            output_dtypes=[np.uint8],
        )
        bits.attrs = {
            "long_name": "evidence of change (bits)",
            "flag_masks": [1 << i for i in range(len(EVIDENCE) + 2)],
            "flag_meanings": " ".join([*EVIDENCE, "network_high", "vegetation_loss_strong"]),
        }
        level.attrs = {
            "long_name": "confidence level",
            "flag_values": [0, 1, 2, 3, NO_DATA],
            "flag_meanings": " ".join(["none", *LEVELS, "no_data"]),
        }
        mask.attrs = {
            "long_name": "change mask",
            "flag_values": [NO_CHANGE, CHANGE, NO_DATA],
            "flag_meanings": "no_change change no_data",
        }
        return xr.Dataset({"change_mask": mask, "confidence_level": level, "evidence": bits})

    def detect(self, before: xr.Dataset, after: xr.Dataset) -> xr.Dataset:
        """``change_prob``, ``change_mask``, ``confidence_level`` and ``evidence``."""
        prob = self.probability(before, after)
        prob.attrs = {"long_name": "change probability (network)", "units": "1"}
        out = self.layers(prob, before, after).assign(change_prob=prob)
        out.attrs = {
            "model": self.name,
            "model_version": self.version,
            "threshold": self.threshold,
            "parameters": repr(
                {
                    "network": f"{self.network.name} {self.network.version}",
                    "min_level": self.min_level,
                    "min_pixels": self.min_pixels,
                    **self.params.__dict__,
                }
            ),
        }
        if "spatial_ref" in before.coords:
            out = out.assign_coords(spatial_ref=before.coords["spatial_ref"])
        return out
