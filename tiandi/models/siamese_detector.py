"""The trained Siamese network as a ``ChangeDetector``.

``SiameseDetector(weights_path)`` loads weights written by
:func:`tiandi.models.weights.save_weights` (no network needed), takes its name, version,
bands and decision threshold from the model card and predicts with the tiler of
:mod:`tiandi.models.tiling` (lazy in, lazy out). Inputs that lack a band the weights
were trained on raise ``ModelError`` naming the weights file, the bands it needs and the
bands given.

Detectors are looked up by name in :mod:`tiandi.models.registry`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import xarray as xr

from tiandi.errors import InputError, ModelError
from tiandi.models.base import CHANGE, NO_CHANGE, NO_DATA
from tiandi.models.baseline import BANDS as BASELINE_BANDS
from tiandi.models.normalisation import normalise_inputs
from tiandi.models.tiling_grid import TileConfig
from tiandi.models.weights import load_weights

_BAND_RE = re.compile(r"^B(\d{2}|8A)$")


def _mask(prob: npt.NDArray[np.float32], threshold: float) -> npt.NDArray[np.uint8]:
    out = np.where(prob >= threshold, CHANGE, NO_CHANGE).astype(np.uint8)
    out[np.isnan(prob)] = NO_DATA
    return out


class SiameseDetector:
    """A trained :class:`~tiandi.models.siamese.SiameseDiffUNet` behind the
    ``ChangeDetector`` protocol.

    ``threshold``: change when the probability is at least this (default: the card's
    validation threshold, else 0.5); ``tiling``: how large inputs are cut into tiles.
    Weights trained with ``per_image`` or ``per_pair`` normalisation get the dates
    standardised per band over the whole input first
    (:func:`tiandi.models.normalisation.normalise_inputs`, the moments training uses), so
    L1C and L2A reflectance give the network the same.
    """

    def __init__(
        self,
        weights_path: Path,
        *,
        threshold: float | None = None,
        tiling: TileConfig | None = None,
    ) -> None:
        self.weights_path = Path(weights_path)
        loaded = load_weights(self.weights_path)
        import torch  # loaded with the weights already

        from tiandi.models.siamese import fold_batch_norm

        # batch normalisation folded into the convolutions (inference only), whose weights
        # go in the channels-last layout the tiler feeds them (:mod:`tiandi.models.tiling`),
        # in place: no reordering per batch; the same function to float32 rounding. torch's
        # stubs omit ``memory_format`` from ``Module.to``, which documents and takes it.
        self.model = fold_batch_norm(loaded.model)
        self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.card = loaded.card
        self.name: str = loaded.card.name
        self.version: str = loaded.card.version
        card_threshold = loaded.card.metrics.get("threshold", 0.5)
        self.threshold = float(card_threshold if threshold is None else threshold)
        if not 0.0 < self.threshold < 1.0:
            raise InputError(
                f"threshold {self.threshold} for {self.weights_path.name} must lie in (0, 1)"
            )
        self.tiling = tiling if tiling is not None else TileConfig()

    @property
    def normalisation(self) -> str:
        """How inputs are normalised before the network (the weights' config):
        ``dataset``, ``per_image`` or ``per_pair`` (:mod:`tiandi.models.normalisation`)."""
        return self.model.config.normalisation

    @property
    def bands(self) -> tuple[str, ...]:
        """The bands the weights need, in order."""
        return self.model.bands

    def require_bands(self, given: Sequence[str], source: str) -> None:
        """``ModelError`` naming the weights file, the bands they need and the bands
        ``source`` has, when ``given`` lacks any of the needed bands."""
        missing = [b for b in self.bands if b not in given]
        if missing:
            shown = [str(v) for v in given if _BAND_RE.match(str(v))]
            raise ModelError(
                f"weights {self.weights_path} ({self.name} {self.version}) need the "
                f"{len(self.bands)} bands {', '.join(self.bands)}, but {source} has "
                f"{', '.join(shown) or 'no bands'} (missing {', '.join(missing)}); "
                f"use the baseline detector (`--detector baseline`, needs "
                f"{', '.join(BASELINE_BANDS)}) or weights trained on the bands you have"
            )

    def _check_inputs(self, before: xr.Dataset, after: xr.Dataset) -> None:
        for period, ds in (("before", before), ("after", after)):
            self.require_bands([str(v) for v in ds.data_vars], f"the {period} input")
        ref_b, ref_a = before[self.bands[0]], after[self.bands[0]]
        same = ref_b.shape == ref_a.shape and all(
            c not in before.coords
            or c not in after.coords
            or np.allclose(before[c].values, after[c].values)
            for c in ("y", "x")
        )
        if not same:
            raise InputError(
                f"the before {ref_b.shape} and after {ref_a.shape} inputs are not on the same "
                "grid; composite both periods on one grid"
            )

    def probability(self, before: xr.Dataset, after: xr.Dataset) -> xr.DataArray:
        """Change probability (float32, NaN no data), lazy when the inputs are."""
        self._check_inputs(before, after)
        after = after.assign_coords({c: before[c] for c in ("y", "x") if c in before.coords})
        before, after = normalise_inputs(before, after, self.bands, self.normalisation)
        from tiandi.models.tiling import predict_dataset  # torch, imported when it runs

        return predict_dataset(self.model, before, after, self.bands, self.tiling)

    def mask(self, prob: xr.DataArray) -> xr.DataArray:
        """``change_mask`` (uint8 0/1/255) of a change probability: 1 where it is at least
        the threshold, 255 where it is NaN. Use it on a probability already computed (or
        written and read back) to avoid running the network twice."""
        mask: xr.DataArray = xr.apply_ufunc(
            _mask,
            prob,
            kwargs={"threshold": self.threshold},
            dask="parallelized",
            output_dtypes=[np.uint8],
        )
        mask.attrs = {
            "long_name": "change mask",
            "flag_values": [NO_CHANGE, CHANGE, NO_DATA],
            "flag_meanings": "no_change change no_data",
        }
        return mask

    def detect(self, before: xr.Dataset, after: xr.Dataset) -> xr.Dataset:
        """``change_prob`` and ``change_mask`` between two inputs of one grid."""
        prob = self.probability(before, after)
        mask = self.mask(prob)
        prob.attrs = {"long_name": "change probability", "units": "1"}
        attrs = {
            "model": self.name,
            "model_version": self.version,
            "threshold": self.threshold,
            "parameters": repr({"weights": self.weights_path.name, **self.tiling.as_dict()}),
        }
        out = xr.Dataset({"change_prob": prob, "change_mask": mask}, attrs=attrs)
        if "spatial_ref" in before.coords:
            out = out.assign_coords(spatial_ref=before.coords["spatial_ref"])
        return out
