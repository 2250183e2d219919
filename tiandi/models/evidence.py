"""Independent evidence of change and the confidence level of their agreement, per pixel.

The integrated detector (:mod:`tiandi.models.integrated`) combines the trained network,
which maps built-up and human-activity change (what OSCD labels), with spectral tests for
what OSCD never labels. Each test is one bit of the ``evidence`` layer (uint8, 255 = no
data); the indices come from :func:`tiandi.eo.indices.index_array` (one place per index):

- ``network`` (bit 1): the network's change probability ≥ its threshold (the model card's);
- ``vegetation_loss`` (bit 2): vegetated before (NDVI ≥ ``veg_ndvi_before``) and both NDVI
  and NDMI fall (ΔNDVI ≤ −``ndvi_drop`` and ΔNDMI ≤ −``ndmi_drop``): clearing, not a
  greener or drier season alone;
- ``water_gain`` (bit 4) / ``water_loss`` (bit 8): MNDWI (Xu 2006) crosses the water
  threshold ``water_threshold`` (0, Xu's; the water detector's default) upwards /
  downwards and moves by at least ``mndwi_change``;
- ``bare_soil`` (bit 16): bare after (BSI > ``bsi_after`` and NDVI < ``bare_ndvi_after``,
  the bare rule of the dieback detector) and BSI rose by at least ``bsi_rise``: new bare
  soil, spoil, earthworks;
- ``network_high`` (bit 32): the network's probability ≥ ``high_score``; not listed as
  evidence of its own (it is the network's) and recorded only (the level rule below does not
  read it since the rule was revised, docs/decisions.md "The confidence-level rule");
- ``vegetation_loss_strong`` (bit 64): the vegetation-loss test at stronger, a-priori
  thresholds: dense vegetation before (NDVI ≥ ``strong_ndvi_before``, meant as a harvest
  guard: crops near harvest are seldom that green on the earlier date) and drops of at least
  ``strong_ndvi_drop`` / ``strong_ndmi_drop``; not evidence of its own, it only raises the
  level (below).

The spectral tests come in two families that are not independent within a family:
*vegetation* (``vegetation_loss``, ``bare_soil``: both follow an NDVI drop, so a harvested
field fires both) and *water* (``water_gain``, ``water_loss``).

Confidence level per pixel (after Global Forest Watch's integrated deforestation alerts,
which grade agreement between independent alert systems as nominal / high / highest;
see docs/decisions.md):

- 3 ``highest``: the network and at least one spectral test fire on the pixel;
- 2 ``high``: the network alone (probability ≥ its threshold); or spectral tests of both
  families agree; or strong vegetation loss (dense vegetation cleared, not a harvest);
- 1 ``nominal``: one piece of evidence otherwise (e.g. vegetation loss and bare soil on a
  field: one family);
- 0: none; 255: no data (either period).

The rule was chosen among six candidates (scripts/experiments/levels/PROTOCOL.md) by the
pooled F1 of ``integrated-high`` on the six OSCD training cities the network never saw
(:data:`RULE_CHOSEN_ON`), subject to floors on the demo scenes; ``tiandi evaluate oscd``
marks those cities "chosen on". The thresholds themselves were not tuned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tiandi.eo.indices import index_array
from tiandi.errors import InputError
from tiandi.models.base import NO_DATA

__all__ = [
    "BANDS",
    "EVIDENCE",
    "EVIDENCE_BITS",
    "LEVELS",
    "NETWORK_HIGH_BIT",
    "RULE_CHOSEN_ON",
    "STRONG_VEGETATION_BIT",
    "EvidenceParams",
    "evidence_bits",
    "evidence_names",
    "level_code",
    "level_of",
    "patch_level",
]

BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")
"""The bands the spectral tests read (those of the product's composite; B12 unused)."""
EVIDENCE = ("network", "vegetation_loss", "water_gain", "water_loss", "bare_soil")
"""Evidence names, in the order of their bits."""
EVIDENCE_BITS: dict[str, int] = {name: 1 << i for i, name in enumerate(EVIDENCE)}
NETWORK_HIGH_BIT = 1 << len(EVIDENCE)
STRONG_VEGETATION_BIT = NETWORK_HIGH_BIT << 1
FAMILIES = (("vegetation_loss", "bare_soil"), ("water_gain", "water_loss"))
"""The spectral tests grouped by what drives them; agreement counts across families only."""
RULE_CHOSEN_ON = ("beihai", "bordeaux", "hongkong", "mumbai", "pisa", "rennes")
"""The OSCD cities the level rule was chosen on (module docstring)."""
LEVELS = ("nominal", "high", "highest")
"""Confidence levels; level code k (1-3) is ``LEVELS[k - 1]``, 0 none, 255 no data."""

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class EvidenceParams:
    """Thresholds of the spectral tests and the network's (recorded) high score (module
    docstring).

    Set a priori from the literature and the project's other detectors, not tuned on
    OSCD: NDVI drops of 0.2 or more and a vegetated before-state (0.4) are the usual
    clearing signal at 10 m; MNDWI 0 is Xu's water threshold; BSI > 0.05 with NDVI < 0.3
    is the dieback detector's bare rule. The strong vegetation loss (dense canopy, NDVI ≥
    0.6, losing 0.4 NDVI and 0.2 NDMI: twice the ordinary drops) was also written down
    before measuring; which level rule uses it was chosen on OSCD cities (module
    docstring, :data:`RULE_CHOSEN_ON`).
    """

    veg_ndvi_before: float = 0.4
    ndvi_drop: float = 0.2
    ndmi_drop: float = 0.1
    water_threshold: float = 0.0
    mndwi_change: float = 0.2
    bsi_after: float = 0.05
    bare_ndvi_after: float = 0.3
    bsi_rise: float = 0.1
    high_score: float = 0.7
    strong_ndvi_before: float = 0.6
    strong_ndvi_drop: float = 0.4
    strong_ndmi_drop: float = 0.2

    def __post_init__(self) -> None:
        names = ("ndvi_drop", "ndmi_drop", "mndwi_change", "bsi_rise")
        for name in (*names, "strong_ndvi_drop", "strong_ndmi_drop"):
            if not getattr(self, name) > 0:
                raise InputError(f"EvidenceParams.{name}={getattr(self, name)!r} must be > 0")
        if not 0.0 < self.high_score < 1.0:
            raise InputError(f"EvidenceParams.high_score={self.high_score} must lie in (0, 1)")


def evidence_bits(
    prob: npt.ArrayLike,
    before: Mapping[str, npt.ArrayLike],
    after: Mapping[str, npt.ArrayLike],
    *,
    threshold: float,
    params: EvidenceParams = EvidenceParams(),
) -> U8:
    """The ``evidence`` bits of each pixel from the network's probability (NaN no data),
    the threshold it is read at and the reflectance of both periods (bands B02 B03 B04
    B08 B11); 255 where the probability or any index is NaN."""
    p = params
    prob_a = np.asarray(prob, dtype=np.float32)
    idx_b = {n: index_array(n, before) for n in ("ndvi", "ndmi", "mndwi", "bsi")}
    idx_a = {n: index_array(n, after) for n in ("ndvi", "ndmi", "mndwi", "bsi")}
    nodata = np.isnan(prob_a)
    for arr in (*idx_b.values(), *idx_a.values()):
        nodata |= np.isnan(arr)
    with np.errstate(invalid="ignore"):
        d = {n: idx_a[n] - idx_b[n] for n in idx_b}
        vegetation_loss = (
            (idx_b["ndvi"] >= p.veg_ndvi_before)
            & (d["ndvi"] <= -p.ndvi_drop)
            & (d["ndmi"] <= -p.ndmi_drop)
        )
        strong = (
            vegetation_loss
            & (idx_b["ndvi"] >= p.strong_ndvi_before)
            & (d["ndvi"] <= -p.strong_ndvi_drop)
            & (d["ndmi"] <= -p.strong_ndmi_drop)
        )
        tests = {
            "network": prob_a >= threshold,
            "vegetation_loss": vegetation_loss,
            "water_gain": (idx_b["mndwi"] <= p.water_threshold)
            & (idx_a["mndwi"] > p.water_threshold)
            & (d["mndwi"] >= p.mndwi_change),
            "water_loss": (idx_b["mndwi"] > p.water_threshold)
            & (idx_a["mndwi"] <= p.water_threshold)
            & (d["mndwi"] <= -p.mndwi_change),
            "bare_soil": (idx_a["bsi"] > p.bsi_after)
            & (idx_a["ndvi"] < p.bare_ndvi_after)
            & (d["bsi"] >= p.bsi_rise),
        }
        high = prob_a >= p.high_score
    out = np.zeros(prob_a.shape, dtype=np.uint8)
    for name, fired in tests.items():
        out |= np.where(fired, EVIDENCE_BITS[name], 0).astype(np.uint8)
    out |= np.where(high, NETWORK_HIGH_BIT, 0).astype(np.uint8)
    out |= np.where(strong, STRONG_VEGETATION_BIT, 0).astype(np.uint8)
    out[nodata] = NO_DATA
    return out


def level_of(bits: npt.ArrayLike) -> U8:
    """The confidence level code (0 none, 1 nominal, 2 high, 3 highest, 255 no data) of
    ``evidence`` bits, by the rule of the module docstring."""
    b = np.asarray(bits, dtype=np.uint8)
    fired = {name: (b & bit) > 0 for name, bit in EVIDENCE_BITS.items()}
    net = fired["network"]
    spectral = np.zeros(b.shape, dtype=bool)
    families = []
    for family in FAMILIES:
        any_of = np.logical_or.reduce([fired[name] for name in family])
        families.append(any_of)
        spectral |= any_of
    cleared = (b & STRONG_VEGETATION_BIT) > 0
    level = np.zeros(b.shape, dtype=np.uint8)
    level[net | spectral] = 1
    level[net | np.logical_and.reduce(families) | cleared] = 2
    level[net & spectral] = 3
    level[b == NO_DATA] = NO_DATA
    return level


def level_code(name: str) -> int:
    """The code (1-3) of a level name; ``InputError`` naming the levels otherwise."""
    if name not in LEVELS:
        raise InputError(f"confidence level {name!r} is not one of {', '.join(LEVELS)}")
    return LEVELS.index(name) + 1


def evidence_names(shares: Mapping[str, float], min_share: float) -> list[str]:
    """The evidence names whose share of a patch's pixels is at least ``min_share``, in
    the order of :data:`EVIDENCE`."""
    return [n for n in EVIDENCE if shares.get(n, 0.0) >= min_share]


def patch_level(level_shares: Sequence[float], min_share: float) -> str | None:
    """A patch's level: the highest level held (at or above) by at least ``min_share`` of
    its pixels; ``level_shares[k - 1]`` is the share of pixels at level k or above."""
    for code in (3, 2, 1):
        if level_shares[code - 1] >= min_share:
            return LEVELS[code - 1]
    return None
