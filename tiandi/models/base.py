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
    "NO_CHANGE",
    "NO_DATA",
    "ChangeDetector",
    "DisturbanceLayers",
    "disturbance_layers",
]

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
