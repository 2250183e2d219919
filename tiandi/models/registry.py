"""The registry of change detectors: one name → one detector, for every caller.

``load_detector(name)`` is how flows, the CLI and evaluations get a detector:

- ``"baseline"`` (or ``"baseline-cva"``): the change-vector-analysis baseline, no weights;
- ``"burned-area"`` (alias ``"burned-learned"``): post-fire trees plus a burn-index
  combiner trained on the real California fires (:mod:`tiandi.models.burned.learned`,
  weights ``burned-learned-v0.2.json``; nested leave-one-fire-out F1 0.766);
- ``"burned-rbr"`` / ``"burned-dnbr"``: the training-free burned-area detector with its
  chosen RBR parameters (LOFO F1 0.680) / the plain dNBR > 0.1 reference (0.662)
  (:mod:`tiandi.models.burned`);
- ``"water"`` (or ``"water-mndwi"``): water gain/loss and reclamation from MNDWI
  (:mod:`tiandi.models.water`);
- ``"integrated"``: the shipped 6-band network (``siamese-s2-6band-v0.2``) plus spectral
  evidence (vegetation loss, water gain/loss, bare soil) with GFW-style confidence levels
  (:mod:`tiandi.models.integrated`); its change mask is every level from ``nominal``;
  ``"integrated-high"`` / ``"integrated-highest"`` keep only those levels and above;
  ``"<integrated name>@<network>"`` (e.g. ``"integrated-high@siamese-s2-6band-v0.5"``)
  runs another shipped network that reads the six bands in its place;
- any other name: shipped Siamese weights ``tiandi/models/weights/<name>.pt`` (model card
  ``<name>.json`` beside it, e.g. ``"siamese-s2-13band-v0.3"``), or the path of a ``.pt``.

To add a detector without weights, add its factory to :data:`BUILTIN`; trained weights
only need their ``.pt`` and card in the weights folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tiandi.errors import ModelError
from tiandi.models.base import ChangeDetector
from tiandi.models.baseline import BANDS as BASELINE_BANDS
from tiandi.models.baseline import BaselineDetector
from tiandi.models.names import (
    DEFAULT_DETECTOR,
    INTEGRATED_NAMES,
    WATER_NAMES,
)
from tiandi.models.precision import DEFAULT_PRECISION, Precision, resolved
from tiandi.models.siamese_detector import SiameseDetector
from tiandi.models.tiling_grid import TileConfig

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
"""Where shipped weights and their model cards lie."""

SIAMESE_ARCHITECTURE = "SiameseDiffUNet"
"""How the model card's ``architecture`` of change weights begins (``build_card``)."""


def _burned(name: str) -> ChangeDetector:
    from tiandi.models.burned.detector import DNBR_PARAMS, BurnedAreaDetector

    if name in ("burned-area", "burned-learned"):
        from tiandi.models.burned.learned import BurnedLearnedDetector

        return BurnedLearnedDetector(name=name)
    return BurnedAreaDetector(DNBR_PARAMS if name == "burned-dnbr" else None, name=name)


def _water(**options: Any) -> ChangeDetector:
    from tiandi.models.water import WaterChangeDetector, WaterParams

    return WaterChangeDetector(WaterParams(**options) if options else None)


BUILTIN: dict[str, Callable[[], ChangeDetector]] = {
    "baseline": BaselineDetector,
    BaselineDetector.name: BaselineDetector,
    "burned-area": lambda: _burned("burned-area"),
    "burned-rbr": lambda: _burned("burned-rbr"),
    "burned-dnbr": lambda: _burned("burned-dnbr"),
    "burned-learned": lambda: _burned("burned-learned"),
    "water": _water,
    "water-mndwi": _water,
}
"""Detectors that need no weights file, by name."""


def _is_change_card(card: Path) -> bool:
    """Whether ``card`` is the model card of Siamese change weights (not, e.g., land cover)."""
    try:
        data = json.loads(card.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and str(data.get("architecture", "")).startswith(
        SIAMESE_ARCHITECTURE
    )


def available_detectors(weights_dir: Path = WEIGHTS_DIR) -> list[str]:
    """Names ``load_detector`` accepts: ``baseline`` and every ``<name>.pt`` whose card
    describes Siamese change weights (other models' weights in the folder are left out)."""
    names = sorted(
        p.stem
        for p in Path(weights_dir).glob("*.json")
        if p.with_suffix(".pt").is_file() and _is_change_card(p)
    )
    return ["baseline", *names]


def integrated_parts(name: str) -> tuple[str, str | None] | None:
    """``(integrated name, network or None)`` when ``name`` names the integrated detector
    (``"integrated-high"``, ``"integrated-high@siamese-s2-6band-v0.5"``), else None."""
    base, sep, network = name.partition("@")
    if base not in INTEGRATED_NAMES:
        return None
    return base, (network if sep else None)


def is_known_detector(name: str, weights_dir: Path = WEIGHTS_DIR) -> bool:
    """Whether :func:`load_detector` knows ``name`` (a name of :func:`known_detectors`,
    or an integrated name with a shipped network after ``@``)."""
    parts = integrated_parts(name)
    if parts is not None and parts[1] is not None:
        return parts[1] in _networks(weights_dir)
    return name in known_detectors(weights_dir)


def _networks(weights_dir: Path) -> list[str]:
    """The shipped trained change networks (every available detector but the baseline)."""
    return [n for n in available_detectors(weights_dir) if n != "baseline"]


def known_detectors(weights_dir: Path = WEIGHTS_DIR) -> list[str]:
    """Every name :func:`load_detector` accepts (besides the path of a ``.pt``), the
    default first."""
    names = [*available_detectors(weights_dir), *INTEGRATED_NAMES, *BUILTIN]
    return [DEFAULT_DETECTOR, *sorted(set(names) - {DEFAULT_DETECTOR})]


def load_detector(
    name: str,
    *,
    weights_dir: Path = WEIGHTS_DIR,
    num_threads: int = 1,
    precision: Precision = DEFAULT_PRECISION,
    **options: Any,
) -> ChangeDetector:
    """The detector called ``name`` (see the module docstring); ``ModelError`` listing the
    known names when there is none. ``options`` go to ``SiameseDetector`` (threshold,
    tiling) or, for ``water``, to ``WaterParams`` (e.g. ``sea_min_px``); ``num_threads``
    and ``precision`` (:mod:`tiandi.models.precision`) set the torch threads and number
    format of a trained model's tiler."""
    if name in WATER_NAMES:
        return _water(**options)  # options: WaterParams fields (sea_min_px, ...)
    if name in BUILTIN:
        return BUILTIN[name]()
    parts = integrated_parts(name)
    if parts is not None:
        return _integrated(
            name, parts, weights_dir, TileConfig(num_threads=num_threads, precision=precision)
        )
    path = Path(weights_dir) / f"{name}.pt"
    if not path.is_file() and name.endswith(".pt"):
        path = Path(name)
    if not path.is_file():
        raise ModelError(
            f"unknown detector {name!r}: no weights {path}; known detectors: "
            f"{', '.join(known_detectors(weights_dir))} (or "
            "give the path of a .pt file)"
        )
    card = path.with_suffix(".json")
    if card.is_file() and not _is_change_card(card):
        raise ModelError(
            f"{path} is not a change detector (its card {card.name} describes another "
            f"architecture); known detectors: {', '.join(available_detectors(weights_dir))}"
        )
    if "tiling" not in options:
        options["tiling"] = TileConfig(num_threads=num_threads, precision=precision)
    return SiameseDetector(path, **options)


def _integrated(
    name: str, parts: tuple[str, str | None], weights_dir: Path, tiling: TileConfig
) -> ChangeDetector:
    from tiandi.models.integrated import DEFAULT_NETWORK, IntegratedDetector

    base, network_name = parts
    network_name = network_name or DEFAULT_NETWORK
    networks = _networks(weights_dir)
    if network_name not in networks:
        raise ModelError(
            f"detector {name!r}: {network_name!r} is not a shipped change network; after "
            f"'@' name one of {', '.join(networks)} (default {DEFAULT_NETWORK})"
        )
    network = load_detector(network_name, weights_dir=weights_dir, tiling=tiling)
    if not isinstance(network, SiameseDetector):  # pragma: no cover - the name is weights
        raise ModelError(f"{network_name} is not a trained network")
    return IntegratedDetector(network, min_level=INTEGRATED_NAMES[base], name=name)


def require_bands(detector: ChangeDetector, given: Sequence[str], source: str) -> None:
    """Fail early (``ModelError``) when ``detector`` needs bands that ``source`` lacks."""
    missing = [b for b in detector_bands(detector) if b not in given]
    if not missing:
        return
    if isinstance(detector, SiameseDetector):
        detector.require_bands(given, source)
    raise ModelError(
        f"detector {detector.name} needs bands {', '.join(detector_bands(detector))}, but "
        f"{source} has {', '.join(given)} (missing {', '.join(missing)})"
    )


def network_precision(detector: ChangeDetector) -> str | None:
    """The number format ``detector``'s network computes in on this machine (``float32``
    or ``bfloat16``), None for a detector without a network."""
    network = getattr(detector, "network", detector)
    tiling = getattr(network, "tiling", None)
    return None if tiling is None else resolved(tiling.precision)


def detector_bands(detector: ChangeDetector) -> tuple[str, ...]:
    """The input bands ``detector`` reads (the baseline's six, or the weights' bands)."""
    bands: Sequence[str] | None = getattr(detector, "bands", None)
    if bands is None:
        return BASELINE_BANDS
    return tuple(bands)
