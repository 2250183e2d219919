"""Per-pixel Sentinel-2 land cover with class probabilities (Dynamic World style).

Classes (:data:`LANDCOVER_CLASSES`, in the order of the probability axis): ``water``,
``trees``, ``grass_shrub``, ``cropland``, ``built``, ``bare``. A pixel without a valid
observation (NaN in any band, or masked by the caller's ``valid`` mask: cloud, shadow,
no data) gets NaN probabilities and the label :data:`NO_DATA` (255); it is never given a
land-cover class.

Input: reflectance (0–1) of the six bands L2A composites carry, :data:`LANDCOVER_BANDS`
= B02 B03 B04 B08 B11 B12, in that order. Features (:func:`band_features`) are the six
reflectances plus NDVI, NDWI (McFeeters), MNDWI (B03/B11), NDBI and BSI. The network
(:class:`tiandi.models.landcover_net.LandCoverNet`) is a small per-pixel MLP whose input
standardisation is stored with its weights, so inference needs nothing but the ``.pt``
file. Loading reads and checks the weights without torch; the torch network is built
when it first runs, so a flow imports torch (about 180 MB resident) only then. Being per
pixel it has no tiles and no seams: any chunking of a lazy array gives the same result.

Weights are a torch archive of plain data (``weights_only=True``): format tag, network
configuration, state dict and the model card (:class:`tiandi.models.weights.ModelCard`);
beside it lie the card as ``.json`` and ``.md``. Training and the held-out scores are in
:mod:`tiandi.models.landcover_train` (data: :mod:`tiandi.models.landcover_data`) and in
the card.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import xarray as xr

from tiandi.errors import InputError, ModelError
from tiandi.models.landcover_spec import FEATURE_NAMES as FEATURE_NAMES
from tiandi.models.landcover_spec import LANDCOVER_BANDS as LANDCOVER_BANDS
from tiandi.models.landcover_spec import LANDCOVER_CLASSES as LANDCOVER_CLASSES
from tiandi.models.landcover_spec import state_shapes
from tiandi.models.weights import (
    ModelCard,
    WeightsFiles,
    check_state_shapes,
    read_payload,
    write_weights_files,
)

if TYPE_CHECKING:
    from tiandi.models.landcover_net import LandCoverNet

NO_DATA = 255
FORMAT = "tiandi.landcover-weights/1"
MAX_WEIGHTS_BYTES = 5 * 1024 * 1024
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "landcover-s2-v0.1.pt"
"""The shipped model."""

F32 = npt.NDArray[np.float32]


def prob_name(cls: str) -> str:
    """Variable name of a class probability: ``prob_<class>``."""
    return f"prob_{cls}"


PROB_NAMES: tuple[str, ...] = tuple(prob_name(c) for c in LANDCOVER_CLASSES)


def band_features(reflectance: npt.ArrayLike) -> F32:
    """Features of pixels: (6, ...) reflectance in :data:`LANDCOVER_BANDS` order → (11, ...).

    Indices whose denominator is 0 are 0 (not NaN), so only missing bands make NaN.
    """
    r = np.asarray(reflectance, dtype=np.float32)
    if r.ndim < 1 or r.shape[0] != len(LANDCOVER_BANDS):
        raise ModelError(
            f"land-cover input has shape {r.shape}; expected ({len(LANDCOVER_BANDS)}, ...) "
            f"with bands {list(LANDCOVER_BANDS)} on the first axis"
        )
    b02, b03, b04, b08, b11, b12 = r
    feats = [b02, b03, b04, b08, b11, b12]
    feats.append(_nd(b08, b04))
    feats.append(_nd(b03, b08))
    feats.append(_nd(b03, b11))
    feats.append(_nd(b11, b08))
    feats.append(_nd(b11 + b04, b08 + b02))
    return np.stack(feats).astype(np.float32)


def _nd(a: F32, b: F32) -> F32:
    total = a + b
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(total != 0, (a - b) / np.where(total != 0, total, 1), 0)
    return np.asarray(out, dtype=np.float32)


@dataclass(frozen=True, eq=False)
class LandCoverModel:
    """A land-cover network and its card.

    From :func:`load_landcover`: the checked weights as arrays (``config``, ``state``);
    :attr:`net` builds the torch network (eval mode) on first use. :meth:`from_net`
    wraps a network already built (training).
    """

    card: ModelCard
    path: Path | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    state: Mapping[str, npt.NDArray[Any]] = field(default_factory=dict, repr=False)
    _built: list[LandCoverNet] = field(default_factory=list, repr=False)

    @classmethod
    def from_net(
        cls, net: LandCoverNet, card: ModelCard, path: Path | None = None
    ) -> LandCoverModel:
        """A model around the network ``net`` (used as it is)."""
        model = cls(card=card, path=path, config=net.config())
        model._built.append(net)
        return model

    @property
    def net(self) -> LandCoverNet:
        """The torch network, built from :attr:`state` (and torch imported) on first use.

        Two threads may both build it the first time; the nets are the same, the first
        is kept (no lock, so the model stays picklable for Dask workers).
        """
        if not self._built:
            from tiandi.models.landcover_net import build_net

            self._built.append(build_net(self.config, self.state, self.path))
        return self._built[0]

    @property
    def name(self) -> str:
        """Model name from the card."""
        return self.card.name

    @property
    def version(self) -> str:
        """Model version from the card."""
        return self.card.version

    def predict_proba(
        self,
        reflectance: npt.ArrayLike,
        bands: Sequence[str] = LANDCOVER_BANDS,
        *,
        valid: npt.ArrayLike | None = None,
        batch: int = 262144,
    ) -> F32:
        """Class probabilities (classes, ...) of (bands, ...) reflectance, NaN where invalid.

        ``bands`` names the first axis and must be :data:`LANDCOVER_BANDS` in that order
        (``ModelError`` otherwise). ``valid`` (bool, shape ``...``) marks usable pixels,
        e.g. not cloud; pixels with a non-finite band are invalid too.
        """
        _check_bands(bands, self.path)
        r = np.asarray(reflectance, dtype=np.float32)
        if r.ndim < 1 or r.shape[0] != len(LANDCOVER_BANDS):
            raise ModelError(
                f"land-cover input has shape {r.shape} for bands {list(bands)}; expected "
                f"({len(LANDCOVER_BANDS)}, ...) — one layer per band of {list(LANDCOVER_BANDS)}"
            )
        spatial = r.shape[1:]
        flat = r.reshape(len(LANDCOVER_BANDS), -1)
        ok = np.isfinite(flat).all(axis=0)
        if valid is not None:
            v = np.asarray(valid, dtype=bool)
            if v.shape != spatial:
                raise InputError(
                    f"valid mask has shape {v.shape}, the reflectance {spatial}; pass a mask "
                    "on the same grid"
                )
            ok &= v.reshape(-1)
        out = np.full((len(LANDCOVER_CLASSES), flat.shape[1]), np.nan, dtype=np.float32)
        idx = np.flatnonzero(ok)
        if idx.size:
            import torch

            feats = band_features(flat[:, idx]).T
            probs = []
            with torch.inference_mode():
                for start in range(0, feats.shape[0], batch):
                    x = torch.from_numpy(np.ascontiguousarray(feats[start : start + batch]))
                    probs.append(torch.softmax(self.net(x), dim=1).numpy())
            out[:, idx] = np.concatenate(probs).T
        return out.reshape((len(LANDCOVER_CLASSES), *spatial))


def labels_from_proba(proba: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """Most probable class index per pixel (uint8), :data:`NO_DATA` where probabilities are NaN."""
    p = np.asarray(proba, dtype=np.float32)
    bad = ~np.isfinite(p).all(axis=0)
    label: npt.NDArray[np.uint8] = np.argmax(np.where(np.isfinite(p), p, -1.0), axis=0).astype(
        np.uint8
    )
    label[bad] = NO_DATA
    return label


def _check_bands(bands: Sequence[str], path: Path | None) -> None:
    if tuple(bands) != LANDCOVER_BANDS:
        where = f"{path}: " if path is not None else ""
        raise ModelError(
            f"{where}the land-cover model expects bands {list(LANDCOVER_BANDS)} in this order "
            f"(input shape ({len(LANDCOVER_BANDS)}, H, W)) but got {list(bands)}; select and "
            "order the bands as expected (L2A composites carry them all)"
        )


def landcover_probabilities(
    ds: xr.Dataset, model: LandCoverModel | None = None, *, valid: xr.DataArray | None = None
) -> xr.Dataset:
    """Land cover of a composite: ``prob_<class>`` float32 (NaN no data) and ``landcover``.

    ``ds`` holds reflectance variables named as :data:`LANDCOVER_BANDS` on (y, x) dims
    (lazy or not; lazy stays lazy, computed per chunk). ``valid`` optionally masks pixels
    (True = usable). ``landcover`` is uint8 class index, :data:`NO_DATA` where masked.
    Attributes: ``model``, ``model_version``, ``classes``. ``InputError`` when a band is
    missing; the default model is the shipped :data:`DEFAULT_WEIGHTS`.
    """
    missing = [b for b in LANDCOVER_BANDS if b not in ds.data_vars]
    if missing:
        raise InputError(
            f"composite lacks band(s) {missing} for land cover (it has "
            f"{sorted(map(str, ds.data_vars))}); composite bands {list(LANDCOVER_BANDS)}"
        )
    m = model if model is not None else load_landcover()
    stack = xr.concat([ds[b].astype(np.float32) for b in LANDCOVER_BANDS], dim="band")
    stack = stack.assign_coords(band=list(LANDCOVER_BANDS))
    if valid is not None:
        stack = stack.where(valid.astype(bool))
    spatial = [d for d in stack.dims if d != "band"]
    if stack.chunks is not None:
        stack = stack.chunk({"band": -1})

    def _run(block: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        # apply_ufunc moves the core dim "band" last; the model wants it first
        arr = np.moveaxis(block, -1, 0)
        return np.moveaxis(m.predict_proba(arr), 0, -1)

    probs = xr.apply_ufunc(
        _run,
        stack,
        input_core_dims=[["band"]],
        output_core_dims=[["cls"]],
        dask="parallelized",
        output_dtypes=[np.float32],
        dask_gufunc_kwargs={"output_sizes": {"cls": len(LANDCOVER_CLASSES)}},
    ).transpose("cls", *spatial)
    out = xr.Dataset(
        {prob_name(c): probs.isel(cls=i, drop=True) for i, c in enumerate(LANDCOVER_CLASSES)},
        coords={k: v for k, v in ds.coords.items() if set(v.dims) <= set(spatial)},
    )
    best = probs.fillna(-1.0).argmax("cls").astype(np.uint8)
    nodata = probs.isnull().any("cls")
    out["landcover"] = best.where(~nodata, NO_DATA).astype(np.uint8)
    out.attrs = {
        "model": m.name,
        "model_version": m.version,
        "classes": json.dumps({str(i): c for i, c in enumerate(LANDCOVER_CLASSES)}),
        "nodata_class": NO_DATA,
    }
    return out


# --- weights --------------------------------------------------------------------------------


def save_landcover(path: Path, net: LandCoverNet, card: ModelCard) -> WeightsFiles:
    """Write ``path`` (.pt) and the card as ``.json``/``.md`` beside it, atomically.

    ``ModelError`` when the card's bands are not :data:`LANDCOVER_BANDS` or the file
    would exceed :data:`MAX_WEIGHTS_BYTES`.
    """
    path = Path(path)
    if tuple(card.bands) != LANDCOVER_BANDS:
        raise ModelError(
            f"{path}: card bands {card.bands} differ from the model's {list(LANDCOVER_BANDS)}"
        )
    payload = {
        "format": FORMAT,
        "config": net.config(),
        "classes": list(LANDCOVER_CLASSES),
        "bands": list(LANDCOVER_BANDS),
        "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
        "card": card.as_dict(),
    }
    return write_weights_files(
        path, payload, card, landcover_card_markdown(card), too_big="use smaller hidden layers"
    )


def load_landcover(path: Path | None = None) -> LandCoverModel:
    """Load land-cover weights (default: the shipped model) for inference, offline.

    ``ModelError`` naming the file when it is missing, truncated, of another format, for
    other bands/classes, or its tensors do not fit the architecture.
    """
    path = Path(path) if path is not None else DEFAULT_WEIGHTS
    payload = read_payload(
        path,
        fmt=FORMAT,
        kind="land-cover",
        writer="tiandi.models.landcover.save_landcover",
        arrays=True,
    )
    if (
        tuple(payload.get("bands", ())) != LANDCOVER_BANDS
        or tuple(payload.get("classes", ())) != LANDCOVER_CLASSES
    ):
        raise ModelError(
            f"{path}: weights are for bands {payload.get('bands')} and classes "
            f"{payload.get('classes')}; this code expects bands {list(LANDCOVER_BANDS)} "
            f"(input ({len(LANDCOVER_BANDS)}, H, W)) and classes {list(LANDCOVER_CLASSES)}"
        )
    try:
        hidden = [int(h) for h in payload["config"]["hidden"]]
        config = {"hidden": hidden, "dropout": float(payload["config"]["dropout"])}
        card = ModelCard.from_dict(payload["card"])
        state: dict[str, npt.NDArray[Any]] = dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(
            f"{path}: weights file lacks or garbles its config/card/state_dict ({exc}); retrain"
        ) from exc
    check_state_shapes(
        state,
        state_shapes(hidden),
        path,
        architecture=str(config),
        shapes_for=f"{len(FEATURE_NAMES)} features",
    )
    return LandCoverModel(card=card, path=path, config=config, state=state)


def landcover_card_markdown(card: ModelCard) -> str:
    """The land-cover card as Markdown (held-out confusion matrices as tables)."""
    lines = [
        f"# {card.name} {card.version}",
        "",
        card.architecture,
        "",
        f"- Bands ({len(card.bands)}): {', '.join(card.bands)}",
        f"- Classes: {', '.join(LANDCOVER_CLASSES)}; masked pixels → NaN probabilities, "
        f"label {NO_DATA}",
        f"- Parameters: {card.parameters:,}",
        f"- Seed: {card.seed}",
        "",
        "## Training data",
        "",
    ]
    lines += [f"- {k}: {_md(v)}" for k, v in card.training_data.items()]
    lines += ["", "## Training", ""]
    lines += [f"- {k}: {_md(v)}" for k, v in card.training.items()]
    lines += ["", "## Held-out evaluation (never training figures)", ""]
    for name, block in card.metrics.items():
        if not isinstance(block, dict):
            lines.append(f"- {name}: {block}")
            continue
        lines += [f"### {name}", ""]
        for k, v in block.items():
            if k == "confusion" and isinstance(v, dict):
                lines += _confusion_table(v)
            elif not isinstance(v, dict | list):
                lines.append(f"- {k}: {v}")
            else:
                lines.append(f"- {k}: `{json.dumps(v, sort_keys=True)}`")
        lines.append("")
    lines += ["## Reproduce", "", "```", card.command, "```", ""]
    if card.software:
        lines += ["## Software", ""] + [f"- {k} {v}" for k, v in sorted(card.software.items())]
        lines.append("")
    if card.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in card.notes] + [""]
    return "\n".join(lines)


def _md(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return f"`{json.dumps(value, sort_keys=True, ensure_ascii=False)}`"
    return str(value)


def _confusion_table(conf: dict[str, Any]) -> list[str]:
    rows: list[str] = list(conf.get("rows", []))
    cols: list[str] = list(conf.get("cols", []))
    counts: list[list[int]] = conf.get("counts", [])
    lines = ["", "| truth \\ predicted | " + " | ".join(cols) + " |"]
    lines.append("|---" * (len(cols) + 1) + "|")
    for name, row in zip(rows, counts, strict=False):
        lines.append(f"| {name} | " + " | ".join(str(c) for c in row) + " |")
    lines.append("")
    return lines
