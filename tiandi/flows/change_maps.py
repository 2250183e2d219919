"""The change maps a detector's output becomes: which layers are written (with their
no-data value, type and model tags), chunked as the one-pass writer takes them, and how
the written maps are read back. Used by the tasks of :mod:`tiandi.flows.detect_tasks`.
"""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from tiandi.eo.cog import CogOutput, read_cog
from tiandi.models.base import ChangeDetector, disturbance_layers
from tiandi.redline.run_layout import RunLayout


def chunked_like(change: xr.Dataset, like: xr.Dataset) -> xr.Dataset:
    """``change`` with the row/column chunks of ``like`` where a layer's differ (a
    detector with a moving window, e.g. burned-area's smoothing, returns uneven chunks, and
    one that needs the whole grid, e.g. the water detector, arrays in memory: the one-pass
    writer takes neither); layers already chunked alike are left as they are."""
    ref = next(iter(like.data_vars.values()))
    if ref.chunks is None:
        return change
    chunks = dict(zip(ref.dims, ref.chunks, strict=True))
    out = change.copy()
    for name, layer in change.data_vars.items():
        if not set(layer.dims) <= set(chunks):
            continue
        if layer.chunks != tuple(chunks[d] for d in layer.dims):
            out[name] = layer.chunk({d: chunks[d] for d in layer.dims})
    return out


def change_outputs(
    change: xr.Dataset, detector: ChangeDetector, layout: RunLayout
) -> tuple[dict[str, Path], list[CogOutput]]:
    """The change maps to write (``change_prob``, ``change_mask`` and, for a disturbance
    detector, ``change_class`` and its attribute layers) and their paths by name."""
    paths = {"change_prob": layout.change_prob, "change_mask": layout.change_mask}
    tags = {"tiandi:model": detector.name, "tiandi:model_version": detector.version}
    prob = CogOutput(change["change_prob"], paths["change_prob"], float("nan"), "float32", tags)
    maps = [prob, CogOutput(change["change_mask"], paths["change_mask"], 255, "uint8", tags)]
    for name in getattr(detector, "confidence_layers", ()):
        if name in change:  # the integrated detector's evidence bits and levels
            paths[name] = layout.change_layer(name)
            maps.append(CogOutput(change[name], paths[name], 255, "uint8", tags))
    layers = disturbance_layers(detector)
    if layers is None:
        return paths, maps
    for name in layers.layer_names:
        if name not in change:
            continue  # a one-type detector's change_mask stands for change_class
        paths[name] = layout.change_layer(name)
        if name in layers.mean_layers:
            maps.append(CogOutput(change[name], paths[name], float("nan"), "float32", tags))
        else:
            maps.append(CogOutput(change[name], paths[name], 255, "uint8", tags))
    return paths, maps


def read_change(paths: dict[str, Path], chunk: int) -> xr.Dataset:
    """The change mask and probability COGs as one lazy Dataset."""
    return xr.Dataset(
        {name: read_cog(path, chunk).isel(band=0, drop=True) for name, path in paths.items()}
    )


__all__ = ["change_outputs", "chunked_like", "read_change"]
