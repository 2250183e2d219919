"""What every change detector offers the pipeline.

Disturbance detectors (an extension of :class:`ChangeDetector`): a detector that maps
ecological disturbances rather than human activity declares, as class attributes,

- ``change_types``: the change types it maps, in order (values of
  :class:`tiandi.redline.vocabulary.ChangeType`, e.g. ``("burned",)`` or
  ``("water_gain", "water_loss", "reclamation")``);
- ``class_layers`` (optional): per-pixel categorical attribute layers of its output and
  the names of their classes 0..n-1 (e.g. ``{"severity": ("unburned", "low", ...)}``;
  255 is no data);
- ``mean_layers`` (optional): per-pixel float layers whose mean per patch is an
  attribute (e.g. ``("dnbr",)``).

A detector that compares single dates (a burn scar between the same days of two years)
may also declare ``cloud_margin_px``: the flow then dilates the cloud mask of its
composites by that many grid pixels instead of the composites' default
(:func:`cloud_margin_px`, :data:`CLOUD_MARGIN_PX`).

Its output then may hold ``change_class`` (uint8: 0 none, k = the k-th of its change
types, 255 no data); a detector with a single change type may leave it out, and
``change_mask`` (1 = that type) stands for it. The flow writes these layers beside the
change maps and builds patches of each type that keep the detector's change type
(:mod:`tiandi.redline.patches.disturbance`) instead of the human-activity rules.
:func:`disturbance_layers` reads the declaration; None for a human-activity detector.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import xarray as xr

from tiandi.errors import ModelError

__all__ = [
    "CHANGE",
    "CLOUD_MARGIN_PX",
    "NO_CHANGE",
    "NO_DATA",
    "ChangeDetector",
    "DisturbanceLayers",
    "cloud_margin_px",
    "disturbance_layers",
]

CLOUD_MARGIN_PX = 9
"""Cloud margin (grid pixels: 90 m at 10 m) of a change read from one date per side,
where no median of other dates outvotes the thin edge of a cloud that SCL leaves
unflagged (the composites' own dilation is 2 px): 90 m is Fmask's default cloud buffer
(3 Landsat pixels), and ocean-colour processors mask a cloud margin for the same reason.
Used by the bloom screening, the dieback series and the burned-area detectors
(docs/decisions.md, "The real-spectra scene by default")."""

#: ``change_mask`` values.
NO_CHANGE = 0
CHANGE = 1
NO_DATA = 255


@runtime_checkable
class ChangeDetector(Protocol):
    """A change detector: two composites of the same grid in, change layers out.

    ``detect`` returns a Dataset on the same grid with ``change_prob`` (float32 0-1, NaN
    where either period has no clear observation) and ``change_mask`` (uint8: 0 no change,
    1 change, 255 no data). It stays lazy when its inputs are lazy. A disturbance
    detector adds the layers of its declaration (see the module docstring).
    """

    name: str
    version: str

    def detect(self, before: xr.Dataset, after: xr.Dataset) -> xr.Dataset:
        """Change between ``before`` and ``after``."""
        ...


@dataclass(frozen=True)
class DisturbanceLayers:
    """What a disturbance detector declares (see the module docstring)."""

    change_types: tuple[str, ...]
    class_layers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    mean_layers: tuple[str, ...] = ()

    @property
    def layer_names(self) -> tuple[str, ...]:
        """The output layers written beside the change maps (``change_class`` first)."""
        return ("change_class", *self.class_layers, *self.mean_layers)


def disturbance_layers(detector: object) -> DisturbanceLayers | None:
    """The disturbance declaration of ``detector``; None when it declares no
    ``change_types`` (a human-activity detector). ``ModelError`` when malformed."""
    types = getattr(detector, "change_types", None)
    if types is None:
        return None
    name = getattr(detector, "name", type(detector).__name__)
    if not types or not all(isinstance(t, str) for t in types) or len(types) > 254:
        raise ModelError(
            f"detector {name}: change_types {types!r} must be 1-254 change-type names "
            "(values of tiandi.redline.vocabulary.ChangeType)"
        )
    classes = dict(getattr(detector, "class_layers", {}) or {})
    means = tuple(getattr(detector, "mean_layers", ()) or ())
    reserved = {"change_prob", "change_mask", "change_class"}
    clash = sorted(reserved & (set(classes) | set(means)))
    if clash:
        raise ModelError(f"detector {name}: attribute layers may not be named {clash}")
    return DisturbanceLayers(tuple(types), {k: tuple(v) for k, v in classes.items()}, means)


def cloud_margin_px(detector: object) -> int | None:
    """The cloud-mask dilation (grid pixels) ``detector`` asks of its composites (its
    ``cloud_margin_px``); None, the composites' default, when it asks none."""
    margin = getattr(detector, "cloud_margin_px", None)
    return None if margin is None else int(margin)
