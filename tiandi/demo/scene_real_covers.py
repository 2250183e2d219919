"""Real-spectra covers of the demo scene: every cover painted with real Sentinel-2 pixels.

With ``generate_scene(..., spectra="real")`` the hand-set reflectance table of
:mod:`tiandi.demo.scene_spectra` is not used for the surface. Every pixel takes the
spectrum of a real pixel of a EuroSAT patch of the matching class
(``../shared/data/eurosat-ms-sample``, read at generation time by
:func:`tiandi.demo.scene_real.eurosat_pixels`):

- each cover has its own mosaic of 64 x 64 px EuroSAT patches (random patch, one of the
  8 rotations and flips, and a random grid offset per cover, drawn from the seed), so the
  texture within a patch is real: fields, crowns, roofs, streets;
- pixels of a patch that fail the cover's filter (:data:`COVERS`: e.g. the shore pixels of a
  River patch for water, the verge of a Highway patch for a road) are replaced by a kept
  pixel of the same pool drawn at random;
- the seasonal covers (forest, grass, crops) have a *green* and a *dormant* mosaic from the
  greener and the less green half of their patches (by median NDVI) on the same slots;
  a day's surface is ``dormant + (green - dormant) · g`` with the greenness ``g`` of
  :class:`tiandi.demo.scene_phenology.Phenology` (measured on the eo-learn series for
  forest and grass, modelled crop calendars for the crops). The blend is modelled; both
  ends are real pixels;
- the ordinary water of the reservoir and the rivers is water free of floating algae:
  after the mosaic, every water pixel whose FAI (:func:`tiandi.models.bloom.fai`) is not
  two standard deviations of the scene's own pixel noise below the bloom threshold
  (:data:`CLEAR_MARGIN_SD`, :data:`BLOOM_FAI`) is replaced by a random water pixel that
  is (drawn from a stream of its own, so the other covers' pixels do not move).
  EuroSAT's ``River`` and ``SeaLake`` patches include turbid and algae-laden water
  bodies (4 of the 20 lakes have a median FAI above the threshold), which would enter
  the scene as 64 px blocks of bloom-like water in a reservoir whose truth says "no
  bloom"; the planted bloom (:mod:`tiandi.demo.scene_real`) takes the other end,
  FAI > 0.002;
- planted events' after-state: the real pixels of their cover's pool (quarry: bare
  industrial ground; construction and dikes: industrial; road: highway surface; pond:
  river and lake water; clearing: bare cropland soil; solar: the darkest industrial
  ground, a stand-in, EuroSAT has no solar farm).

Clouds, shadows, cirrus, the noise, the SCL band and the processing-baseline offset stay
those of :mod:`tiandi.demo.scene_render` (modelled). EuroSAT is L1C (top of atmosphere):
its blue and green are brighter than L2A would be; the whole scene shares that bias.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tiandi.demo.scene_fields import F32
from tiandi.demo.scene_landcover import U8
from tiandi.demo.scene_phenology import Phenology, load_phenology
from tiandi.demo.scene_real import EUROSAT, WITHOUT_DATA, eurosat_pixels
from tiandi.demo.scene_render import noise_sd
from tiandi.demo.scene_spectra import Cover
from tiandi.errors import InputError
from tiandi.models.bloom import S2_WAVELENGTH_NM, BloomParams, fai

PATCH = 64
Keep = Callable[[F32], npt.NDArray[np.bool_]]


def _ndvi(px: F32) -> F32:
    out: F32 = (px[..., 3] - px[..., 2]) / np.maximum(px[..., 3] + px[..., 2], 1e-6)
    return out


def _mndwi(px: F32) -> F32:
    out: F32 = (px[..., 1] - px[..., 4]) / np.maximum(px[..., 1] + px[..., 4], 1e-6)
    return out


def _everything(px: F32) -> npt.NDArray[np.bool_]:
    return np.ones(px.shape[:-1], dtype=bool)


def _water(px: F32) -> npt.NDArray[np.bool_]:
    out: npt.NDArray[np.bool_] = (_mndwi(px) > 0.2) & (_ndvi(px) < 0.1)
    return out


BLOOM_FAI = BloomParams().fai_threshold
"""The floating-algae threshold of Hu et al. 2010 that :mod:`tiandi.models.bloom` uses."""
CLEAR_MARGIN_SD = 2.0
"""Ordinary water stays this many standard deviations of the scene's pixel noise
(:func:`tiandi.demo.scene_render.noise_sd`, carried through the FAI) below
:data:`BLOOM_FAI`."""


def _fai_noise_sd(px: F32) -> F32:
    """Standard deviation of the FAI of ``px`` (..., 6) under the scene's pixel noise."""
    slope = (S2_WAVELENGTH_NM["B08"] - S2_WAVELENGTH_NM["B04"]) / (
        S2_WAVELENGTH_NM["B11"] - S2_WAVELENGTH_NM["B04"]
    )
    red, nir, swir = (noise_sd(px[..., b]) for b in (2, 3, 4))
    out: F32 = np.sqrt(nir**2 + ((1 - slope) * red) ** 2 + (slope * swir) ** 2)
    return out


def _clear_water(px: F32) -> npt.NDArray[np.bool_]:
    """:func:`_water` free of floating algae, with a margin: FAI at most :data:`BLOOM_FAI`
    less :data:`CLEAR_MARGIN_SD` noise standard deviations, so that the scene's own noise
    does not paint ordinary water as bloom (a patch mostly above, a turbid or algae-laden
    lake, is left out of the mosaic by the pool's usable share)."""
    index = fai(px[..., 2], px[..., 3], px[..., 4])
    out: npt.NDArray[np.bool_] = _water(px) & (
        index + CLEAR_MARGIN_SD * _fai_noise_sd(px) <= BLOOM_FAI
    )
    return out


def _bare(px: F32) -> npt.NDArray[np.bool_]:
    out: npt.NDArray[np.bool_] = _ndvi(px) < 0.15
    return out


def _built(px: F32) -> npt.NDArray[np.bool_]:
    out: npt.NDArray[np.bool_] = _ndvi(px) < 0.3
    return out


DARK_VISIBLE = 0.12
"""Mean B02-B04 below which built ground counts as dark (about the darkest quarter of the
sample's Industrial pixels with NDVI < 0.3)."""


def _dark_built(px: F32) -> npt.NDArray[np.bool_]:
    out: npt.NDArray[np.bool_] = _built(px) & (px[..., :3].mean(axis=-1) < DARK_VISIBLE)
    return out


@dataclass(frozen=True)
class CoverSource:
    """Where a cover's pixels come from: EuroSAT classes, the pixel filter, its name."""

    classes: tuple[str, ...]
    keep: Keep
    rule: str
    seasonal: bool = False


_CROPS = CoverSource(("AnnualCrop", "PermanentCrop"), _everything, "all pixels", True)
COVERS: dict[Cover, CoverSource] = {
    Cover.FOREST: CoverSource(("Forest",), _everything, "all pixels", True),
    Cover.GRASS: CoverSource(("HerbaceousVegetation", "Pasture"), _everything, "all pixels", True),
    Cover.DOUBLE_CROP: _CROPS,
    Cover.SPRING_MAIZE: _CROPS,
    Cover.VEGETABLES: _CROPS,
    Cover.WATER: CoverSource(("River", "SeaLake"), _water, "MNDWI > 0.2 and NDVI < 0.1"),
    Cover.SETTLEMENT: CoverSource(("Residential",), _everything, "all pixels"),
    Cover.QUARRY: CoverSource(("Industrial",), _bare, "NDVI < 0.15 (bare ground)"),
    Cover.CONSTRUCTION: CoverSource(("Industrial",), _built, "NDVI < 0.3"),
    Cover.ROAD: CoverSource(("Highway",), _built, "NDVI < 0.3 (road surface)"),
    Cover.POND: CoverSource(("River", "SeaLake"), _water, "MNDWI > 0.2 and NDVI < 0.1"),
    Cover.DIKE: CoverSource(("Industrial",), _built, "NDVI < 0.3"),
    Cover.SOLAR: CoverSource(
        ("Industrial",),
        _dark_built,
        f"NDVI < 0.3, mean B02-B04 < {DARK_VISIBLE} (dark roofs: a stand-in for panels)",
    ),
    Cover.CLEARING: CoverSource(("AnnualCrop",), _bare, "NDVI < 0.15 (bare soil)"),
}
_MIN_KEPT_SHARE = 0.5  # a patch enters a filtered pool when half its pixels pass


@dataclass(frozen=True)
class _Pool:
    """Patches (k, 64, 64, 6), which pixels pass the filter, and the passing pixels."""

    green: F32
    dormant: F32
    keep_green: npt.NDArray[np.bool_]
    keep_dormant: npt.NDArray[np.bool_]
    kept: F32  # (m, 6), every passing pixel of the pool


def _pool(root: Path, source: CoverSource, cache: dict[str, list[F32]]) -> _Pool:
    patches = []
    for label in source.classes:
        if label not in cache:
            pixels = eurosat_pixels(root, label)
            cache[label] = [p.reshape(PATCH, PATCH, 6).astype(np.float32) for p in pixels]
        patches += cache[label]
    cube = np.clip(np.stack(patches), 0.001, 1.0).astype(np.float32)
    keep = source.keep(cube)
    kept = cube[keep]
    if len(kept) < 50:
        raise InputError(
            f"only {len(kept)} real pixels of {'/'.join(source.classes)} pass "
            f"{source.rule} in {root / EUROSAT}; the data there is not the EuroSAT sample "
            "the real-spectra demo expects"
        )
    share = keep.reshape(len(cube), -1).mean(axis=1)
    usable = np.flatnonzero(share >= _MIN_KEPT_SHARE)
    if not len(usable):
        usable = np.arange(len(cube))
    if not source.seasonal:
        cube, keep = cube[usable], keep[usable]
        return _Pool(cube, cube, keep, keep, kept)
    order = usable[np.argsort(np.median(_ndvi(cube[usable]).reshape(len(usable), -1), axis=1))]
    low, high = order[: len(order) // 2], order[len(order) // 2 :]
    return _Pool(cube[high], cube[low], keep[high], keep[low], kept)


@dataclass(frozen=True)
class RealCovers:
    """The per-cover pools and the greenness curves of a real-spectra scene."""

    pools: dict[Cover, _Pool]
    phenology: Phenology
    sources: dict[str, str]
    clear_water: F32  # (m, 6): the water pool's pixels that pass :func:`_clear_water`


def load_real_covers(root: Path) -> RealCovers:
    """Pools of every cover (module docstring) from ``root``; InputError naming the folder
    when a data set is missing."""
    if not (root / EUROSAT).is_dir():
        raise InputError(
            f"{root / EUROSAT} not found: the real-spectra demo scene takes every cover's "
            "pixels from the EuroSAT sample there; put ../shared/data beside the repository "
            f"or set $TIANDI_DEMO_DATA, or run {WITHOUT_DATA}"
        )
    phenology = load_phenology(root)
    cache: dict[str, list[F32]] = {}
    pools = {cover: _pool(root, source, cache) for cover, source in COVERS.items()}
    sources = {
        cover.name.lower(): f"{EUROSAT}/{'+'.join(s.classes)}, {s.rule}"
        + (" (green/dormant halves by NDVI)" if s.seasonal else "")
        for cover, s in COVERS.items()
    }
    for cover, (n_dates, r2) in phenology.fit.items():
        sources[f"greenness_{cover.name.lower()}"] = (
            f"eolearn-testeopatch NDVI median, {n_dates} dates, 2-harmonic fit R² {r2}"
        )
    kept = pools[Cover.WATER].kept
    clear_water = kept[_clear_water(kept)]
    if len(clear_water) < 50:
        raise InputError(
            f"only {len(clear_water)} real water pixels free of floating algae in "
            f"{root / EUROSAT}; the data there is not the EuroSAT sample the real-spectra "
            "demo expects"
        )
    sources["water"] += (
        f"; then every pixel not free of floating algae (FAI + {CLEAR_MARGIN_SD:g} noise sd "
        f"> {BLOOM_FAI:g}) replaced by a random one that is"
    )
    sources["greenness_crops"] = "modelled crop calendars (tiandi/demo/scene_spectra.py)"
    sources["clouds_noise_scl"] = "modelled (tiandi/demo/scene_render.py)"
    return RealCovers(pools=pools, phenology=phenology, sources=sources, clear_water=clear_water)


def _mosaic(
    pool: _Pool, index: npt.NDArray[np.intp], n: int, rng: np.random.Generator
) -> tuple[F32, F32]:
    """Green and dormant (len(index), 6) spectra of the scene pixels ``index`` (flat)."""
    tiles = n // PATCH + 2
    off = rng.integers(0, PATCH, size=2)
    pick_g = rng.integers(0, len(pool.green), size=(tiles, tiles))
    pick_d = rng.integers(0, len(pool.dormant), size=(tiles, tiles))
    orient = rng.integers(0, 8, size=(tiles, tiles))
    r, c = index // n + off[0], index % n + off[1]
    tr, tc, ir, ic = r // PATCH, c // PATCH, r % PATCH, c % PATCH
    o = orient[tr, tc]
    ir, ic = np.where(o & 4, ic, ir), np.where(o & 4, ir, ic)
    ir = np.where(o & 1, PATCH - 1 - ir, ir)
    ic = np.where(o & 2, PATCH - 1 - ic, ic)
    out = []
    for cube, keep, pick in (
        (pool.green, pool.keep_green, pick_g),
        (pool.dormant, pool.keep_dormant, pick_d),
    ):
        p = pick[tr, tc]
        px = cube[p, ir, ic]
        bad = ~keep[p, ir, ic]
        px[bad] = pool.kept[rng.integers(0, len(pool.kept), size=int(bad.sum()))]
        out.append(px)
    return out[0], out[1]


@dataclass(frozen=True)
class RealSurface:
    """Green and dormant reflectance (6, n, n) of every pixel of the before-period cover
    and the real after-state pixels of the planted events."""

    green: F32
    dormant: F32
    phenology: Phenology
    events: tuple[npt.NDArray[np.intp], F32]  # flat indices, (k, 6) reflectance

    def band(self, b: int, cover: U8, doy: int) -> F32:
        """A fresh (n, n) surface reflectance of band ``b`` on day of year ``doy``."""
        g = np.take(self.phenology.greenness(doy), cover)
        out: F32 = self.dormant[b] + (self.green[b] - self.dormant[b]) * g
        return out


def _clear_the_water(
    clear: F32, index: npt.NDArray[np.intp], green: F32, dormant: F32, rng: np.random.Generator
) -> None:
    """Replace, in place, the water pixels ``index`` of ``green`` and ``dormant`` (6, n·n)
    that are not :func:`_clear_water` by random pixels of ``clear``, drawn from a stream
    spawned from ``rng`` (its own draws, and so every other cover's pixels, stay those of
    the scene without this step)."""
    own = rng.spawn(1)[0]
    for state in (green, dormant):
        bad = index[~_clear_water(np.ascontiguousarray(state[:, index].T))]
        state[:, bad] = clear[own.integers(0, len(clear), size=len(bad))].T


def real_surface(
    covers: RealCovers, cover: U8, cover_after: U8, rng: np.random.Generator
) -> RealSurface:
    """Draw the real surface of a scene (``cover`` before, ``cover_after`` with the
    events) from ``rng``; covers in :class:`Cover` order, then the events' covers."""
    n = cover.shape[0]
    green = np.empty((6, n * n), dtype=np.float32)
    dormant = np.empty((6, n * n), dtype=np.float32)
    flat = cover.reshape(-1)
    for code in Cover:
        index = np.flatnonzero(flat == code)
        if len(index):
            g, d = _mosaic(covers.pools[code], index, n, rng)
            green[:, index], dormant[:, index] = g.T, d.T
    changed = np.flatnonzero(cover_after.reshape(-1) != flat)
    after = np.empty((len(changed), 6), dtype=np.float32)
    codes = cover_after.reshape(-1)[changed]
    for code in Cover:
        sel = np.flatnonzero(codes == code)
        if len(sel):
            after[sel] = _mosaic(covers.pools[code], changed[sel], n, rng)[0]
    _clear_the_water(covers.clear_water, np.flatnonzero(flat == Cover.WATER), green, dormant, rng)
    return RealSurface(
        green=green.reshape(6, n, n),
        dormant=dormant.reshape(6, n, n),
        phenology=covers.phenology,
        events=(changed, after),
    )
