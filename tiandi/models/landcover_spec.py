"""Bands, classes and features of the land-cover model (:mod:`tiandi.models.landcover`),
shared with its torch network (:mod:`tiandi.models.landcover_net`) without importing it."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["FEATURE_NAMES", "LANDCOVER_BANDS", "LANDCOVER_CLASSES", "state_shapes"]

LANDCOVER_CLASSES: tuple[str, ...] = ("water", "trees", "grass_shrub", "cropland", "built", "bare")
LANDCOVER_BANDS: tuple[str, ...] = ("B02", "B03", "B04", "B08", "B11", "B12")
FEATURE_NAMES: tuple[str, ...] = (*LANDCOVER_BANDS, "ndvi", "ndwi", "mndwi", "ndbi", "bsi")


def state_shapes(hidden: Sequence[int]) -> dict[str, tuple[int, ...]]:
    """The tensor shapes of :class:`tiandi.models.landcover_net.LandCoverNet` with
    ``hidden`` layers, by state-dict key (checked against the network by a test)."""
    n_features, width = len(FEATURE_NAMES), len(FEATURE_NAMES)
    shapes: dict[str, tuple[int, ...]] = {}
    for i, h in enumerate([*hidden, len(LANDCOVER_CLASSES)]):
        shapes[f"mlp.{3 * i}.weight"] = (int(h), width)
        shapes[f"mlp.{3 * i}.bias"] = (int(h),)
        width = int(h)
    return shapes | {"feature_mean": (n_features,), "feature_std": (n_features,)}
