"""The known changes a run is scored against (``--truth``): a GeoPackage or GeoJSON of
events, or the demo's ``truth.gpkg`` with its ``events`` and ``disturbances`` layers."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyogrio

from tiandi.errors import InputError

__all__ = ["read_other_changes", "read_truth"]


def _read_truth_layer(path: Path, layer: str | None) -> gpd.GeoDataFrame:
    try:
        return gpd.read_file(path, layer=layer)
    except (OSError, ValueError, RuntimeError) as exc:  # pyogrio's errors derive from these
        raise InputError(
            f"truth file {path} cannot be read as vector data ({exc}); pass a GeoPackage or "
            "GeoJSON of known events, or leave --truth out"
        ) from exc


def _truth_layers(path: Path) -> list[str]:
    try:
        return [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except (OSError, ValueError, RuntimeError):
        return []  # the read itself names the problem


def read_truth(path: Path) -> gpd.GeoDataFrame:
    """Known events to score a run against; ``InputError`` naming the file if unreadable."""
    # the demo's truth.gpkg: its human-activity events beside its planted disturbances
    return _read_truth_layer(path, "events" if "events" in _truth_layers(path) else None)


def read_other_changes(path: Path) -> gpd.GeoDataFrame | None:
    """The known changes of a truth file that are no human-activity events (the
    "disturbances" layer of the demo's truth.gpkg), or None when it has none."""
    if "disturbances" not in _truth_layers(path):
        return None
    return _read_truth_layer(path, "disturbances")
