"""HJ 1156 classes of patches as the default detector finds them on real spectra: solar farms
as one-pixel strips along their edges, roads as short pieces, quarries of bare industrial
ground, clearings to bare soil whose land cover reads as built (means rounded from the
real-spectra demo scene, ``tiandi demo --real-spectra --size 1024``, seeds 2–9)."""

from __future__ import annotations

import pytest
from shapely.geometry import LineString, Polygon, box

from tiandi.models.landcover import LANDCOVER_CLASSES
from tiandi.redline.patches.classify import ShapeMetrics, classify_patch, thin_strip
from tiandi.redline.patches.classify_landcover import LC_METHOD, classify_patch_landcover
from tiandi.redline.vocabulary import HJ1156Class

BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")
GRASS = dict(zip(BANDS, (0.04, 0.07, 0.05, 0.30, 0.20, 0.11), strict=True))
AFTER = {  # after-state means (B02, B03, B04, B08, B11, B12)
    "solar_edge": (0.11, 0.10, 0.09, 0.10, 0.17, 0.14),  # dark EuroSAT Industrial
    "road": (0.13, 0.14, 0.15, 0.25, 0.30, 0.25),  # EuroSAT Highway with its verges
    "wet_road": (0.11, 0.12, 0.11, 0.12, 0.09, 0.06),  # NIR-dark but SWIR darker: wet
    "quarry": (0.17, 0.16, 0.16, 0.19, 0.20, 0.17),  # EuroSAT Industrial, NDVI < 0.15
    "construction": (0.15, 0.15, 0.16, 0.20, 0.22, 0.19),
    "clearing": (0.10, 0.11, 0.13, 0.16, 0.27, 0.22),  # bare AnnualCrop soil
}
EDGE_STRIP = ShapeMetrics.from_geometry(box(0, 0, 300, 10))  # one pixel along a farm's side
ROAD_PIECE = ShapeMetrics.from_geometry(  # 0.14 ha of a bending road, 1.5 px wide
    LineString([(0, 0), (40, 30), (80, 35)]).buffer(8, cap_style="flat")
)
BLOB_2HA = ShapeMetrics.from_geometry(box(0, 0, 160, 125))
BLOB_6HA = ShapeMetrics.from_geometry(box(0, 0, 300, 200))


def _bands(kind: str) -> dict[str, float]:
    return dict(zip(BANDS, AFTER[kind], strict=True))


def _lc(**probs: float) -> dict[str, float]:
    return {c: probs.get(c, 0.0) for c in LANDCOVER_CLASSES}


GRASS_LC = _lc(grass_shrub=0.8, trees=0.1, cropland=0.1)


def _both(kind: str, shape: ShapeMetrics, after_lc: dict[str, float]) -> list[HJ1156Class]:
    """The class by the spectral rules and by the land-cover rules."""
    rules = classify_patch(GRASS, _bands(kind), shape)[0]
    cls, _, _, method = classify_patch_landcover(GRASS_LC, after_lc, GRASS, _bands(kind), shape)
    assert method == LC_METHOD
    return [rules, cls]


def test_a_solar_farm_edge_strip_is_energy_not_transport() -> None:
    assert thin_strip(EDGE_STRIP)
    # its land cover is the neighbours' (mostly grass): the panel test does not ask it
    mixed = _lc(grass_shrub=0.6, cropland=0.3, built=0.1)
    assert _both("solar_edge", EDGE_STRIP, mixed) == [HJ1156Class.ENERGY] * 2


def test_a_nir_dark_strip_that_is_wet_not_built_is_not_energy() -> None:
    got = _both("wet_road", EDGE_STRIP, _lc(cropland=0.8, water=0.1, bare=0.1))
    assert got == [HJ1156Class.TRANSPORT] * 2


def test_a_short_road_piece_is_transport_whatever_its_land_cover() -> None:
    assert ROAD_PIECE.aspect < 10 and ROAD_PIECE.elongation < 6  # the old test missed it
    assert (
        _both("road", ROAD_PIECE, _lc(cropland=0.8, bare=0.1, built=0.1))
        == [HJ1156Class.TRANSPORT] * 2
    )


@pytest.mark.parametrize(
    ("geom", "thin"),
    [
        (box(0, 0, 80, 20), True),  # 2 px by 8: aspect 6.2, elongation 4
        (box(0, 0, 60, 20), False),  # 2 px by 6: aspect 5.3
        (box(0, 0, 40, 40), False),  # a compact 16 px blob
        (box(0, 0, 100, 100).difference(box(15, 15, 85, 85)), False),  # a frame: square extent
        (LineString([(0, 0), (400, 300), (900, 0), (1300, 200)]).buffer(12), True),
        (Polygon([(0, 0), (200, 0), (200, 60), (0, 60)]), False),  # 1.2 ha, 60 m wide
    ],
)
def test_thin_strip(geom: Polygon, thin: bool) -> None:
    assert thin_strip(ShapeMetrics.from_geometry(geom)) is thin


def test_a_large_bare_surface_is_mining_a_small_one_industry() -> None:
    built = _lc(built=0.93, bare=0.03, cropland=0.02, grass_shrub=0.02)
    assert _both("quarry", BLOB_6HA, built) == [HJ1156Class.MINING] * 2
    assert _both("quarry", BLOB_2HA, built) == [HJ1156Class.INDUSTRY] * 2
    assert _both("construction", BLOB_6HA, built) == [HJ1156Class.INDUSTRY] * 2  # NDVI 0.11


def test_bare_soil_read_as_built_is_agriculture_by_its_swir() -> None:
    lc = _lc(built=0.5, cropland=0.35, bare=0.05, grass_shrub=0.1)
    cls, _, _, _ = classify_patch_landcover(GRASS_LC, lc, GRASS, _bands("clearing"), BLOB_6HA)
    assert cls is HJ1156Class.AGRICULTURE  # B11 2.3x the visible: soil
    flat = _bands("construction")
    cls, _, _, _ = classify_patch_landcover(GRASS_LC, lc, GRASS, flat, BLOB_2HA)
    assert cls is HJ1156Class.INDUSTRY  # B11 1.5x the visible: built ground
