"""Map tiles of a run's rasters, served by titiler.core inside the service.

One :class:`~titiler.core.factory.TilerFactory` is mounted under
``/api/v1/runs/{run_id}/layers/{layer}``; its ``path_dependency`` maps the run id (through
the patch store's record of the run folder, :func:`run_folder`) and one of four layer
names to a COG of the run folder — a client never passes a file path or URL. Every route
needs a read role (the same dependency as the other read endpoints).

Layers: ``before`` / ``after`` (true colour B04 B03 B02 with the field chips' fixed
stretch, reflectance 0–0.3 and gamma 1.5, by the ``truecolour`` algorithm), ``probability``
(0–1 through a yellow→red colormap whose alpha rises with the probability) and ``mask``
(change in red, no change transparent); no data is transparent in all four.
``GET /api/v1/runs/{run_id}/layers`` lists them with an XYZ template each.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from rio_tiler.colormap import cmap as default_cmaps
from rio_tiler.errors import RioTilerError, TileOutsideBounds
from rio_tiler.io import Reader as CogReader
from rio_tiler.models import ImageData
from titiler.core.algorithm import algorithms as default_algorithms
from titiler.core.algorithm.base import BaseAlgorithm
from titiler.core.dependencies import create_colormap_dependency
from titiler.core.factory import TilerFactory

from tiandi.errors import InputError, NotFoundError
from tiandi.redline.field.chips import band_indexes, to_rgb8
from tiandi.redline.run_layout import RunLayout
from tiandi.redline.store.run_folder import run_folder
from tiandi.service.auth import TokenInfo
from tiandi.service.deps import (
    API_PREFIX,
    ERROR_RESPONSES,
    READERS,
    error_response,
    error_responses,
    require,
    store,
)

LayerName = Literal["before", "after", "probability", "mask"]
TILES_PREFIX = "/runs/{run_id}/layers/{layer}"
TMS = "WebMercatorQuad"
Reader = Annotated[TokenInfo, Depends(require(*READERS))]
router = APIRouter(tags=["tiles"], responses=ERROR_RESPONSES)
#: titiler answers 400 for a query parameter it cannot parse (a colormap, a rescale).
TILER_ERROR_RESPONSES = error_responses(400, 401, 403, 404, 422)


class TrueColour(BaseAlgorithm):
    """Three bands → uint8 RGB with a fixed reflectance stretch (0–``stretch_max``, gamma).

    Integer data is reflectance × 1/``scale`` (the flow's uint16 storage), float data is
    reflectance already."""

    stretch_max: float = 0.3
    gamma: float = 1.5
    scale: float = 1e-4
    input_nbands: int = 3
    output_nbands: int = 3
    output_dtype: str = "uint8"

    def __call__(self, img: ImageData) -> ImageData:
        """The stretched image; masked pixels stay masked."""
        data = img.array.data.astype("float32")
        if np.dtype(img.array.dtype).kind != "f":
            data *= np.float32(self.scale)
        invalid = np.ma.getmaskarray(img.array)
        data[invalid] = np.nan
        rgb, _ = to_rgb8(data)
        array = np.ma.MaskedArray(np.moveaxis(rgb, -1, 0), mask=invalid)
        return ImageData(array, assets=img.assets, crs=img.crs, bounds=img.bounds)


def _probability_colormap() -> dict[int, tuple[int, int, int, int]]:
    low, high = np.array([255.0, 230.0, 60.0]), np.array([215.0, 25.0, 28.0])
    out = {}
    for i in range(256):
        p = i / 255.0
        rgb = np.round(low + (high - low) * p).astype(int)
        out[i] = (int(rgb[0]), int(rgb[1]), int(rgb[2]), round(255 * min(1.0, p * 1.4)))
    return out


COLORMAPS = default_cmaps.register(
    {
        "tiandi_probability": _probability_colormap(),
        "tiandi_mask": {0: (0, 0, 0, 0), 1: (230, 20, 60, 230)},
    }
)
ALGORITHMS = default_algorithms.register({"truecolour": TrueColour})  # type: ignore[dict-item]


@dataclass(frozen=True)
class LayerSpec:
    """One tiled layer: its titles, its file in the run folder, its rendering query."""

    name: str
    title_zh: str
    title_en: str
    path: Callable[[RunLayout], Path]
    query: Callable[[Path], str]


def _true_colour_query(path: Path) -> str:
    bidx = "&".join(f"bidx={i}" for i in band_indexes(path))
    return f"{bidx}&algorithm=truecolour"


LAYERS: dict[str, LayerSpec] = {
    spec.name: spec
    for spec in (
        LayerSpec("before", "前时相真彩色", "Before, true colour",
                  lambda lay: lay.composite("before"), _true_colour_query),
        LayerSpec("after", "后时相真彩色", "After, true colour",
                  lambda lay: lay.composite("after"), _true_colour_query),
        LayerSpec("probability", "变化概率", "Change probability",
                  lambda lay: lay.change_prob,
                  lambda _: "rescale=0,1&colormap_name=tiandi_probability"),
        LayerSpec("mask", "变化掩膜", "Change mask",
                  lambda lay: lay.change_mask, lambda _: "colormap_name=tiandi_mask"),
    )
}  # fmt: skip


def layer_file(request: Request, run_id: str, layer: str) -> Path:
    """The COG of ``layer`` in the folder of ``run_id``; ``NotFoundError`` when gone."""
    path = LAYERS[layer].path(run_folder(store(request), run_id))
    if not path.is_file():
        raise NotFoundError(
            f"run {run_id!r} has no {layer} layer: {path} is missing; re-run detect-changes"
        )
    return path


def layer_path(
    request: Request,
    run_id: Annotated[str, PathParam(description="A run id from /api/v1/runs.")],
    layer: Annotated[LayerName, PathParam(description="before, after, probability, mask.")],
) -> str:
    """titiler's ``path_dependency``: run id + layer name → the COG (never a client path)."""
    return str(layer_file(request, run_id, layer))


#: Largest sizes a tile route accepts (titiler bounds them only from below): an image of
#: 100,000² pixels asked by one request would take the service down.
SIZE_LIMITS = {"tilesize": 1024, "max_size": 2048, "width": 2048, "height": 2048,
               "buffer": 64, "padding": 64}  # fmt: skip


def bounded_sizes(request: Request) -> None:
    """Reject (422) image sizes above :data:`SIZE_LIMITS` before anything is read."""
    for name, limit in SIZE_LIMITS.items():
        value = request.query_params.get(name)
        try:
            too_big = value is not None and float(value) > limit
        except ValueError:
            continue  # not a number: titiler's own validation answers
        if too_big:
            raise InputError(f"{name}={value} is larger than {limit}; ask for a smaller image")


def _checked_algorithm(dependency: Callable[..., Any]) -> Callable[..., Any]:
    """titiler's algorithm dependency, answering 400 (not 500) for ``algorithm_params``
    that are JSON but not an object of the algorithm's parameters (``null``, a list)."""

    @functools.wraps(dependency)  # FastAPI reads the wrapped function's query parameters
    def checked(*args: Any, **kwargs: Any) -> Any:
        try:
            return dependency(*args, **kwargs)
        except TypeError as exc:
            raise HTTPException(
                status_code=400,
                detail="algorithm_params must be a JSON object of the algorithm's "
                f"parameters ({exc})",
            ) from exc

    return checked


def tiler() -> TilerFactory:
    """The titiler factory of the run layers (no viewer: it loads scripts from a CDN)."""
    return TilerFactory(
        path_dependency=layer_path,
        router_prefix=API_PREFIX + TILES_PREFIX,
        colormap_dependency=create_colormap_dependency(COLORMAPS),
        process_dependency=_checked_algorithm(ALGORITHMS.dependency),
        add_viewer=False,
        add_part=False,
        add_ogc_maps=False,
    )


def tile_template(run_id: str, layer: str, query: str) -> str:
    """The absolute-path XYZ template of ``layer`` of ``run_id`` (PNG, 256 px)."""
    base = f"{API_PREFIX}/runs/{quote(run_id, safe='')}/layers/{layer}"
    return f"{base}/tiles/{TMS}/{{z}}/{{x}}/{{y}}.png?{query}"


def _layer_entry(run_id: str, spec: LayerSpec, path: Path) -> tuple[dict[str, Any], list[float]]:
    with CogReader(str(path)) as src:
        bounds = [float(v) for v in src.get_geographic_bounds("EPSG:4326")]
        zooms = (int(src.minzoom), int(src.maxzoom))
    entry = {
        "name": spec.name,
        "title_zh": spec.title_zh,
        "title_en": spec.title_en,
        "tiles": tile_template(run_id, spec.name, spec.query(path)),
        "minzoom": zooms[0],
        "maxzoom": zooms[1],
    }
    return entry, bounds


@router.get("/runs/{run_id}/layers", summary="The run's map layers with XYZ tile templates")
def run_layers(run_id: str, _: Reader, request: Request) -> dict[str, Any]:
    """Layers whose file is in the run folder, with the union of their bounds
    (west, south, east, north in EPSG:4326); tiles need the same bearer token."""
    layout = run_folder(store(request), run_id)
    layers, boxes = [], []
    for spec in LAYERS.values():
        path = spec.path(layout)
        if path.is_file():
            entry, bounds = _layer_entry(run_id, spec, path)
            layers.append(entry)
            boxes.append(bounds)
    if not layers:
        raise NotFoundError(f"run {run_id!r} has no raster in {layout.root}; re-run it")
    west, south = min(b[0] for b in boxes), min(b[1] for b in boxes)
    east, north = max(b[2] for b in boxes), max(b[3] for b in boxes)
    return {"run_id": run_id, "bounds": [west, south, east, north], "layers": layers}


def install_tiles(app: FastAPI) -> None:
    """Mount the layer list and the titiler routes (read roles) and map rio-tiler's errors."""
    app.include_router(router, prefix=API_PREFIX)
    app.include_router(
        tiler().router,
        prefix=API_PREFIX + TILES_PREFIX,
        dependencies=[Depends(require(*READERS)), Depends(bounded_sizes)],
        tags=["tiles"],
        responses=TILER_ERROR_RESPONSES,
    )

    async def on_outside(_: Request, exc: Exception) -> JSONResponse:
        return error_response(404, "tile_outside_bounds", f"{exc}; see the layer's bounds")

    async def on_tiler(_: Request, exc: Exception) -> JSONResponse:
        return error_response(422, "invalid_tile_request", str(exc))

    app.add_exception_handler(TileOutsideBounds, on_outside)
    app.add_exception_handler(RioTilerError, on_tiler)
