"""Per-pixel Sentinel-2 land cover with class probabilities (Dynamic World style).

Classes (:data:`LANDCOVER_CLASSES`, in the order of the probability axis): ``water``,
``trees``, ``grass_shrub``, ``cropland``, ``built``, ``bare``. A pixel without a valid
observation (NaN in any band, or masked by the caller's ``valid`` mask: cloud, shadow,
no data) gets NaN probabilities and the label :data:`NO_DATA` (255); it is never given a
land-cover class.

Input: reflectance (0–1) of the six bands L2A composites carry, :data:`LANDCOVER_BANDS`
= B02 B03 B04 B08 B11 B12, in that order. Features (:func:`band_features`) are the six
reflectances plus NDVI, NDWI (McFeeters), MNDWI (B03/B11), NDBI and BSI. The network
(:class:`LandCoverNet`) is a small per-pixel MLP whose input standardisation is stored
with its weights, so inference needs nothing but the ``.pt`` file. Being per pixel it has
no tiles and no seams: any chunking of a lazy array gives the same result.

Weights are a torch archive of plain data (``weights_only=True``): format tag, network
configuration, state dict and the model card (:class:`tiandi.models.weights.ModelCard`);
beside it lie the card as ``.json`` and ``.md``. Training and the held-out scores are in
:mod:`tiandi.models.landcover_train` (data: :mod:`tiandi.models.landcover_data`) and in
the card.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import xarray as xr
from torch import nn

from tiandi.errors import InputError, ModelError
from tiandi.models.weights import (
    ModelCard,
    WeightsFiles,
    load_checked_state,
    read_payload,
    write_weights_files,
)

LANDCOVER_CLASSES: tuple[str, ...] = ("water", "trees", "grass_shrub", "cropland", "built", "bare")
LANDCOVER_BANDS: tuple[str, ...] = ("B02", "B03", "B04", "B08", "B11", "B12")
FEATURE_NAMES: tuple[str, ...] = (*LANDCOVER_BANDS, "ndvi", "ndwi", "mndwi", "ndbi", "bsi")
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


class LandCoverNet(nn.Module):
    """Per-pixel MLP: standardised features → class logits.

    ``feature_mean``/``feature_std`` are buffers saved with the weights.
    """

    feature_mean: torch.Tensor
    feature_std: torch.Tensor

    def __init__(self, hidden: Sequence[int] = (64, 64), dropout: float = 0.1) -> None:
        super().__init__()
        self.hidden = tuple(int(h) for h in hidden)
        self.dropout = float(dropout)
        layers: list[nn.Module] = []
        width = len(FEATURE_NAMES)
        for h in self.hidden:
            layers += [nn.Linear(width, h), nn.GELU(), nn.Dropout(self.dropout)]
            width = h
        layers.append(nn.Linear(width, len(LANDCOVER_CLASSES)))
        self.mlp = nn.Sequential(*layers)
        self.register_buffer("feature_mean", torch.zeros(len(FEATURE_NAMES)))
        self.register_buffer("feature_std", torch.ones(len(FEATURE_NAMES)))

    def config(self) -> dict[str, Any]:
        """Architecture parameters (what ``LandCoverNet(**config)`` needs)."""
        return {"hidden": list(self.hidden), "dropout": self.dropout}

    def set_normalisation(self, mean: npt.ArrayLike, std: npt.ArrayLike) -> None:
        """Store the feature standardisation (std floored at 1e-6)."""
        m = torch.as_tensor(np.asarray(mean, dtype=np.float32))
        s = torch.as_tensor(np.maximum(np.asarray(std, dtype=np.float32), 1e-6))
        self.feature_mean.copy_(m)
        self.feature_std.copy_(s)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(N, features) → (N, classes) logits."""
        out: torch.Tensor = self.mlp((features - self.feature_mean) / self.feature_std)
        return out


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


@dataclass(frozen=True)
class LandCoverModel:
    """A loaded land-cover network (eval mode) and its card."""

    net: LandCoverNet
    card: ModelCard
    path: Path | None = None

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
        path, fmt=FORMAT, kind="land-cover", writer="tiandi.models.landcover.save_landcover"
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
        config = payload["config"]
        net = LandCoverNet(hidden=config["hidden"], dropout=config["dropout"])
        card = ModelCard.from_dict(payload["card"])
        state: dict[str, torch.Tensor] = payload["state_dict"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(
            f"{path}: weights file lacks or garbles its config/card/state_dict ({exc}); retrain"
        ) from exc
    load_checked_state(
        net,
        state,
        path,
        architecture=str(net.config()),
        shapes_for=f"{len(FEATURE_NAMES)} features",
    )
    net.eval()
    return LandCoverModel(net=net, card=card, path=path)


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
