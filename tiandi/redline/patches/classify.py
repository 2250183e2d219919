"""Rule-based first guess of a patch's HJ 1156 class, change type and confidence.

The guess is made from the patch's mean before/after reflectances and indices (10 m
screening imagery) and its shape; an ecologist confirms or corrects it at review. The
rules follow the after-state signatures in ``docs/architecture.md`` (BOA reflectance):

=============  ====  ====  ====  ====  ====  ====  =====  =====  =====
kind           B02   B03   B04   B08   B11   B12   NDVI   NDWI   NDBI
=============  ====  ====  ====  ====  ====  ====  =====  =====  =====
quarry         .18   .20   .24   .28   .36   .32    .08   -.17    .13
construction   .12   .13   .14   .19   .26   .23    .15   -.19    .16
road           .10   .11   .12   .16   .21   .19    .14   -.19    .14
aquaculture    .06   .07   .05   .03   .02   .01   -.25    .40   -.20
solar          .07   .07   .07   .10   .12   .10    .18   -.18    .09
clearing       .09   .11   .14   .22   .28   .22    .22   -.33    .12
forest (base)  .03   .05   .03   .32   .16   .08    .83   -.73   -.33
=============  ====  ====  ====  ====  ====  ====  =====  =====  =====

Indices: NDVI = (B08−B04)/(B08+B04); NDWI (McFeeters) = (B03−B08)/(B03+B08);
NDBI = (B11−B08)/(B11+B08); BSI = ((B11+B04)−(B08+B02))/((B11+B04)+(B08+B02)). An index
missing from the inputs is computed from the mean bands. ``vis`` is the mean of B02, B03,
B04. Suffix ``a`` = after, ``b`` = before.

Rules, tried in this order (the first that fires wins; confidence is the rule's own):

R0  no data: any of NDVI/NDWI after unknown → ``other``, ``new``, 0.20.
R1  restoration: NDVIa − NDVIb ≥ 0.30 and NDVIb ≤ 0.30 (bare before, vegetated after) →
    change type ``reduced``; the class is what R2–R8 find for the *before* state (the
    activity that was removed), else ``other``; 0.50 (0.40 for ``other``): kept low
    because a crop field bare in one period and green in the next looks the same.
R2  aquaculture: NDWIa ≥ 0.20 and NDWIb < 0.10 (water now, not before) → 0.80.
R3  energy (panels), whatever the shape (:func:`panel_surface`): B08a ≤ 0.13, max(B02,
    B03, B04)a ≤ 0.13, B11a ≤ 0.22, NDBIa > 0, NDVIa ≤ 0.30 — dark in the visible *and*
    the near infrared, SWIR above NIR (an impervious surface: water, wet soil and shade
    have NDBI < 0). Before the strip test because a solar farm is often detected only as
    thin pieces along its edges; road surfaces at 10 m are mixed with their verges and
    keep B08 ≥ 0.16 → 0.75, 0.80 when rectangularity ≥ 0.8.
R4  transport: NDVIa < 0.40 and :func:`thin_strip`: width ≤ 40 m and either
    elongation ≥ 6, or elongation ≥ 2 and (aspect ≥ 10, or width ≤ 20 m and aspect ≥ 6),
    where width = 2·area/perimeter (the mean width of a long strip), aspect =
    area/width² (its length/width, also for curved roads) and elongation = long/short
    side of the minimum rotated rectangle. A 25 m road 1 km long has width 25, aspect
    40; a 1 ha square has width 50, aspect 4; 2.5 ha disc width 89, aspect 3.1. The
    narrow branch (one or two pixels wide, six times as long) takes the short pieces
    that a road at 10 m is often found as (0.1–0.5 ha, aspect 6–10); elongation ≥ 2
    leaves out frames and rings, the outline of an area found only at its edges → 0.70.
R5  energy (solar, :func:`dark_surface`): max(B02, B03, B04)a ≤ 0.10, B11a ≤ 0.17,
    B08a ≤ 0.20, NDVIa ≤ 0.40, NDWIa < 0.10 (dark in the visible and SWIR, not water,
    not vegetation; the NIR limit leaves room for a patch that also holds some
    vegetation: base forest/grass have B08 ≥ .26, low-season cropland has B11 .22) →
    0.75, 0.80 when rectangularity ≥ 0.8.
R6  mining (:func:`bright_bare`, :func:`large_bare`): visa ≥ 0.16 and B11a ≥ 0.30
    (very bright bare ground, high SWIR) → 0.75; or a large bare surface: area ≥ 5 ha,
    NDVIa ≤ 0.10 (no vegetation left at all), visa ≥ 0.12 (not dark: burn scars and
    shade are) → 0.65 (a big construction site looks the same).
R7  agriculture (clearing to bare soil): NDVIb ≥ 0.40, 0.10 ≤ NDVIa ≤ 0.35 and
    NDWIa ≤ −0.26 (soil keeps NIR above green; built surfaces sit near −0.19) → 0.60.
R8  industry: NDBIa ≥ −0.02, visa ≥ 0.09 and NDVIa ≤ 0.30 (moderately bright, built-up)
    → 0.60.
R9  fallback: NDVIb − NDVIa ≥ 0.20 (vegetation lost) → ``agriculture`` 0.35; otherwise
    ``other`` 0.30.

Measured on the demo scenes (``tiandi demo --no-disturbances [--real-spectra] --size
1024``, seeds 2–9; docs/decisions.md, "HJ 1156 classes on real spectra"): R3 is what
turns the edge pieces of solar farms from transport into energy; the large-bare branch
of R6 is what calls a quarry of real (EuroSAT ``Industrial``) bare ground mining, whose
B11 (about 0.20) never reaches the bright branch.

Change type when not R1: ``enlarged`` when at least 20 % of a ring of pixels around the
patch (``ShapeMetrics.context_bare_fraction``, measured by ``patches.py``) was already
bare or built before (NDVIb < 0.25 and NDWIb < 0), i.e. the patch grows an existing
activity (one whole side of a square patch is 25 % of its ring); ``new`` otherwise (also
when the fraction is unknown).

``tourism`` and ``settlement`` are never guessed: 10 m imagery cannot tell them from
industry; the reviewer sets them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import shapely
from shapely.geometry.base import BaseGeometry

from tiandi.redline.vocabulary import ChangeType, HJ1156Class

ENLARGED_CONTEXT_FRACTION = 0.20
BARE_BEFORE_NDVI = 0.25

INDEX_NAMES: tuple[str, ...] = ("ndvi", "ndwi", "ndbi", "bsi")
BAND_NAMES: tuple[str, ...] = ("B02", "B03", "B04", "B08", "B11", "B12")
VISIBLE: tuple[str, ...] = ("B02", "B03", "B04")
LARGE_BARE_M2 = 50_000.0
"""Area from which a surface with no vegetation left is called mining (R6): 5 ha."""


@dataclass(frozen=True)
class ShapeMetrics:
    """Shape of a patch in metres, and its surroundings before the change."""

    area_m2: float
    perimeter_m: float
    elongation: float
    """Long side / short side of the minimum rotated rectangle (≥ 1)."""
    rectangularity: float
    """Area / area of the minimum rotated rectangle (0–1]."""
    context_bare_fraction: float | None = None
    """Share of a ring around the patch that was bare or built before (None: unknown)."""

    @property
    def width_m(self) -> float:
        """Mean width of a strip: 2·area/perimeter."""
        return 2.0 * self.area_m2 / self.perimeter_m if self.perimeter_m > 0 else 0.0

    @property
    def aspect(self) -> float:
        """Length / width of a strip, area / width² (π for a disc, robust to curves)."""
        width = self.width_m
        return self.area_m2 / (width * width) if width > 0 else 0.0

    @classmethod
    def from_geometry(
        cls, geom: BaseGeometry, *, context_bare_fraction: float | None = None
    ) -> ShapeMetrics:
        """Metrics of a polygon whose coordinates are in metres."""
        area = float(geom.area)
        mrr = shapely.minimum_rotated_rectangle(geom)
        coords = list(mrr.exterior.coords) if isinstance(mrr, shapely.Polygon) else []
        if len(coords) >= 4:
            sides = [math.dist(coords[0], coords[1]), math.dist(coords[1], coords[2])]
            short, long = min(sides), max(sides)
            elongation = long / short if short > 0 else math.inf
            rect_area = short * long
        else:
            elongation, rect_area = math.inf, 0.0
        rectangularity = area / rect_area if rect_area > 0 else 0.0
        return cls(
            area_m2=area,
            perimeter_m=float(geom.length),
            elongation=elongation,
            rectangularity=min(rectangularity, 1.0),
            context_bare_fraction=context_bare_fraction,
        )


def spectral_indices(values: Mapping[str, float]) -> dict[str, float]:
    """Bands and indices of one state; indices missing from ``values`` come from bands."""
    out = {k: float(v) for k, v in values.items()}
    b = {name: out.get(name, math.nan) for name in BAND_NAMES}
    derived = {
        "ndvi": _nd(b["B08"], b["B04"]),
        "ndwi": _nd(b["B03"], b["B08"]),
        "ndbi": _nd(b["B11"], b["B08"]),
        "bsi": _nd(b["B11"] + b["B04"], b["B08"] + b["B02"]),
    }
    for name, value in derived.items():
        if not math.isfinite(out.get(name, math.nan)):
            out[name] = value
    return out


def classify_patch(
    before: Mapping[str, float], after: Mapping[str, float], shape: ShapeMetrics
) -> tuple[HJ1156Class, ChangeType, float]:
    """Guess (HJ 1156 class, change type, confidence 0–1) by the rules of this module."""
    b = spectral_indices(before)
    a = spectral_indices(after)
    if not (math.isfinite(a["ndvi"]) and math.isfinite(a["ndwi"])):
        return HJ1156Class.OTHER, ChangeType.NEW, 0.20
    if math.isfinite(b["ndvi"]) and a["ndvi"] - b["ndvi"] >= 0.30 and b["ndvi"] <= 0.30:
        removed = _activity(b, shape)
        if removed is None:
            return HJ1156Class.OTHER, ChangeType.REDUCED, 0.40
        return removed[0], ChangeType.REDUCED, 0.50
    found = _activity(a, shape, before=b)
    if found is None:
        if math.isfinite(b["ndvi"]) and b["ndvi"] - a["ndvi"] >= 0.20:
            found = (HJ1156Class.AGRICULTURE, 0.35)
        else:
            found = (HJ1156Class.OTHER, 0.30)
    context = shape.context_bare_fraction
    enlarged = context is not None and context >= ENLARGED_CONTEXT_FRACTION
    return found[0], ChangeType.ENLARGED if enlarged else ChangeType.NEW, found[1]


def thin_strip(shape: ShapeMetrics) -> bool:
    """R4's shape test: a strip at most 40 m wide and long for its width, not a frame
    (see the module docstring)."""
    if shape.width_m > 40.0:
        return False
    if shape.elongation >= 6.0:
        return True
    if shape.elongation < 2.0:
        return False
    return shape.aspect >= 10.0 or (shape.width_m <= 20.0 and shape.aspect >= 6.0)


def panel_surface(s: Mapping[str, float]) -> bool:
    """R3's test on one state's means: dark in the visible and the near infrared, SWIR
    above NIR, no vegetation (solar panels, dark roofs)."""
    return (
        s.get("B08", math.nan) <= 0.13
        and _max_visible(s) <= 0.13
        and s.get("B11", math.nan) <= 0.22
        and s["ndbi"] > 0.0
        and s["ndvi"] <= 0.30
    )


def dark_surface(s: Mapping[str, float]) -> bool:
    """R5's test: dark in the visible and SWIR, not water, not vegetation."""
    return (
        _max_visible(s) <= 0.10
        and s.get("B11", math.nan) <= 0.17
        and s.get("B08", math.nan) <= 0.20
        and s["ndvi"] <= 0.40
        and s["ndwi"] < 0.10
    )


def bright_bare(s: Mapping[str, float]) -> bool:
    """R6's first test: very bright bare ground with high SWIR (mean visible ≥ 0.16,
    B11 ≥ 0.30)."""
    return visible_mean(s) >= 0.16 and s.get("B11", math.nan) >= 0.30


def large_bare(s: Mapping[str, float], shape: ShapeMetrics) -> bool:
    """R6's second test: at least 5 ha with no vegetation left (NDVI ≤ 0.10), not dark
    (mean visible ≥ 0.12)."""
    return shape.area_m2 >= LARGE_BARE_M2 and s["ndvi"] <= 0.10 and visible_mean(s) >= 0.12


def visible_mean(s: Mapping[str, float]) -> float:
    """Mean of B02, B03, B04 (NaN when one is missing)."""
    return sum(s.get(k, math.nan) for k in VISIBLE) / 3.0


def _max_visible(s: Mapping[str, float]) -> float:
    values = [s.get(k, math.nan) for k in VISIBLE]
    return max(values) if all(math.isfinite(v) for v in values) else math.nan


def _activity(
    s: Mapping[str, float], shape: ShapeMetrics, *, before: Mapping[str, float] | None = None
) -> tuple[HJ1156Class, float] | None:
    """Rules R2–R8 on one state ``s`` (``before`` given: s is the after-state)."""
    ndvi, ndwi, ndbi = s["ndvi"], s["ndwi"], s["ndbi"]
    vis = visible_mean(s)
    ndvi_b = before["ndvi"] if before is not None else math.nan
    ndwi_b = before["ndwi"] if before is not None else math.nan
    solar = 0.80 if shape.rectangularity >= 0.8 else 0.75
    if ndwi >= 0.20 and not ndwi_b >= 0.10:  # R2 (NaN before counts as "not water")
        return HJ1156Class.AQUACULTURE, 0.80
    if panel_surface(s):  # R3
        return HJ1156Class.ENERGY, solar
    if ndvi < 0.40 and thin_strip(shape):  # R4
        return HJ1156Class.TRANSPORT, 0.70
    if dark_surface(s):  # R5
        return HJ1156Class.ENERGY, solar
    if bright_bare(s):  # R6
        return HJ1156Class.MINING, 0.75
    if large_bare(s, shape):  # R6, second test
        return HJ1156Class.MINING, 0.65
    if (before is None or ndvi_b >= 0.40) and 0.10 <= ndvi <= 0.35 and ndwi <= -0.26:  # R7
        return HJ1156Class.AGRICULTURE, 0.60
    if ndbi >= -0.02 and vis >= 0.09 and ndvi <= 0.30:  # R8
        return HJ1156Class.INDUSTRY, 0.60
    return None


def _nd(a: float, b: float) -> float:
    total = a + b
    return (a - b) / total if math.isfinite(total) and total != 0 else math.nan
