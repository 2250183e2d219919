"""Real Sentinel-2 pixels for the demo scene's planted disturbances, read at generation time.

The disturbances of the demo scene (:mod:`tiandi.demo.scene_disturbances`) take their
after-state spectra pixel by pixel from real imagery in ``../shared/data`` (never copied
into the repository). Each pool is an (n, 6) array of reflectance in the demo's band
order ``B02 B03 B04 B08 B11 B12`` (:data:`tiandi.demo.scene_spectra.BANDS`):

- **burn**: post-fire Sentinel-2 L2A chips of the 7 fire pairs of
  ``s2-burned-areas-california/pairs`` (reflectance x 10,000), pixels inside the CAL FIRE
  perimeter (``mask.tif``, on the post chip's grid) whose post-fire NBR is below
  :data:`BURN_MAX_NBR` (perimeters include unburned islands; those are left out).
- **B11 of the burn pixels**: the chips have no B11 (SWIR1). It is predicted from the
  chip's own B04, B08 and B12 by a least-squares line fitted, at load time, on every land
  pixel of the 160 EuroSAT land patches (all classes but River and SeaLake), which have
  all 13 bands: ``B11 = a + b·B04 + c·B08 + d·B12`` (on the shipped sample: R² 0.92,
  RMSE 0.022 reflectance). EuroSAT is L1C (top of atmosphere); in the SWIR the
  atmosphere changes little, so the fit is used as is. :attr:`RealSpectra.b11_fit` keeps
  the coefficients and the fit's R² and RMSE.
- **dieback**: no stressed or defoliated canopy with all six bands is in
  ``../shared/data``. The stand is painted with the real EuroSAT ``Forest`` pixels whose
  canopy is sparse and dry, NDVI in :data:`DIEBACK_NDVI` and NDMI below
  :data:`DIEBACK_MAX_NDMI`: real forest pixels that look like a thinning, drying canopy
  (still vegetated, so not a clearing), a stand-in for pest or drought dieback, not a
  measurement of it.
- **bloom**: EuroSAT ``SeaLake`` pixels whose floating-algae index (FAI, Hu 2009, the
  index :mod:`tiandi.models.bloom` uses) is above :data:`BLOOM_MIN_FAI` while MNDWI
  stays above 0.3: real green, algae-rich lake water (NIR raised above the red-SWIR
  baseline), still water for an MNDWI water mask.
- **fill** (reclaimed land): EuroSAT ``Industrial`` pixels with NDVI below
  :data:`FILL_MAX_NDVI`: real bare and built ground.

EuroSAT files are L1C digital numbers (TOA reflectance x 10,000, bands B01 … B12 then B8A
last, SOURCE.md); they are used as reflectance without atmospheric correction, so their
blue and green are somewhat brighter than L2A would be. Files are read in sorted order,
so the pools, and a scene drawn from them, are deterministic.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import rasterio

from tiandi.errors import InputError

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

DEFAULT_DATA_ROOT = Path(__file__).resolve().parents[3] / "shared" / "data"
"""``../shared/data`` beside the repository checkout."""
DATA_ENV = "TIANDI_DEMO_DATA"
WITHOUT_DATA = "`tiandi demo --hand-set-spectra --no-disturbances`"
"""The demo that needs no real data: the hand-set scene without the disturbances."""
"""Environment variable naming another folder with the same data sets."""
EUROSAT = "eurosat-ms-sample"
BURNED = "s2-burned-areas-california"

BURN_MAX_NBR = -0.1
DIEBACK_NDVI = (0.4, 0.65)
DIEBACK_MAX_NDMI = 0.15
BLOOM_MIN_FAI = 0.002
BLOOM_MIN_MNDWI = 0.3
FILL_MAX_NDVI = 0.15

#: Positions of B02 B03 B04 B08 B11 B12 in a 13-band EuroSAT file (B01 … B12, B8A last).
_EUROSAT_INDEX = (1, 2, 3, 7, 10, 11)
#: Sentinel-2A central wavelengths (nm) of B04, B08, B11 (as :mod:`tiandi.models.bloom`).
_WL = {"B04": 664.6, "B08": 832.8, "B11": 1613.7}


@dataclass(frozen=True)
class RealSpectra:
    """Pools of real pixels (n, 6) in B02 B03 B04 B08 B11 B12 order, and where from."""

    burn: F32
    dieback: F32
    bloom: F32
    fill: F32
    b11_fit: tuple[float, float, float, float, float, float]  # a, b, c, d, R², RMSE
    sources: dict[str, str]


def data_root() -> Path:
    """The folder of the real data sets: ``$TIANDI_DEMO_DATA`` or ``../shared/data``."""
    env = os.environ.get(DATA_ENV)
    return Path(env) if env else DEFAULT_DATA_ROOT


_NEEDS = {
    "disturbances": "the planted disturbances are painted with its pixels (EuroSAT, "
    f"California burned areas); or run {WITHOUT_DATA}, which needs no real data",
    "covers": "the real-spectra scene, the demo's default, takes every cover's pixels from "
    f"it (EuroSAT, eo-learn); or run {WITHOUT_DATA}, which needs no real data",
}


def real_folder(real_data: Path | None, needs: str) -> Path:
    """``real_data`` or :func:`data_root`; ``InputError`` naming it and what ``needs``
    it (``"disturbances"`` or ``"covers"``) when it is absent."""
    folder = Path(real_data) if real_data is not None else data_root()
    if not folder.is_dir():
        raise InputError(
            f"real data folder {folder} not found: {_NEEDS[needs]}; put ../shared/data "
            "beside the repository or set $TIANDI_DEMO_DATA to it"
        )
    return folder


def eurosat_pixels(root: Path, label: str) -> list[F64]:
    """The pixels (4096, 6) of every EuroSAT ``label`` patch under ``root``, in file order,
    row-major (reshape to (64, 64, 6) for the patch); InputError naming the folder when
    there is none."""
    files = sorted((root / EUROSAT / label).glob(f"{label}_*.tif"))
    if not files:
        raise InputError(
            f"no EuroSAT {label} patches in {root / EUROSAT}; the demo scene's disturbances "
            f"take real pixels from there: put ../shared/data beside the repository or set "
            f"{DATA_ENV} (or run {WITHOUT_DATA}, which needs no real data)"
        )
    out = []
    for path in files:
        with rasterio.open(path) as src:
            cube = src.read().astype(np.float64) / 10000.0
        out.append(cube[list(_EUROSAT_INDEX)].reshape(6, -1).T)
    return out


def _ratio(a: F64, b: F64) -> F64:
    out: F64 = (a - b) / np.maximum(a + b, 1e-6)
    return out


def _fai(px: F64) -> F64:
    red, nir, swir = px[:, 2], px[:, 3], px[:, 4]
    k = (_WL["B08"] - _WL["B04"]) / (_WL["B11"] - _WL["B04"])
    out: F64 = nir - (red + (swir - red) * k)
    return out


def _b11_fit(root: Path) -> tuple[F64, float, float]:
    labels = sorted(p.name for p in (root / EUROSAT).iterdir() if p.is_dir())
    land = np.concatenate(
        [
            px
            for label in labels
            if label not in ("River", "SeaLake")
            for px in eurosat_pixels(root, label)
        ]
    )
    design = np.column_stack([np.ones(len(land)), land[:, 2], land[:, 3], land[:, 5]])
    coef, *_ = np.linalg.lstsq(design, land[:, 4], rcond=None)
    pred = design @ coef
    resid = land[:, 4] - pred
    r2 = 1.0 - float((resid**2).sum() / ((land[:, 4] - land[:, 4].mean()) ** 2).sum())
    return coef, r2, float(np.sqrt((resid**2).mean()))


def _burn(root: Path, coef: F64) -> F32:
    fires = sorted(p for p in (root / BURNED / "pairs").iterdir() if (p / "post.tif").is_file())
    if not fires:
        raise InputError(
            f"no fire pairs in {root / BURNED / 'pairs'}; the demo's burn scar takes real "
            f"post-fire pixels from there: put ../shared/data beside the repository or set "
            f"{DATA_ENV} (or run {WITHOUT_DATA}, which needs no real data)"
        )
    pools = []
    for fire in fires:
        with rasterio.open(fire / "post.tif") as src:
            red, green, blue, nir, swir2 = src.read().astype(np.float64) / 10000.0
        with rasterio.open(fire / "mask.tif") as src:
            inside = src.read(1) == 1
        if inside.shape != red.shape:
            continue  # the mask is on the post chip's grid (SOURCE.md); skip one that is not
        nbr = _ratio(nir, swir2)
        keep = inside & np.isfinite(nbr) & (nbr < BURN_MAX_NBR)
        b11 = coef[0] + coef[1] * red[keep] + coef[2] * nir[keep] + coef[3] * swir2[keep]
        pools.append(
            np.column_stack([blue[keep], green[keep], red[keep], nir[keep], b11, swir2[keep]])
        )
    out: F32 = np.clip(np.concatenate(pools), 0.001, 1.0).astype(np.float32)
    return out


def _select(pixels: list[F64], keep: Callable[[F64], npt.NDArray[np.bool_]]) -> F32:
    px = np.concatenate(pixels)
    mask = keep(px)
    return np.clip(px[mask], 0.001, 1.0).astype(np.float32)


def load_real_spectra(root: Path | None = None) -> RealSpectra:
    """The pools of real pixels (module docstring) from ``root`` (default :func:`data_root`).

    Raises :class:`InputError` naming the folder when a data set is missing or yields no
    pixel."""
    root = Path(root) if root is not None else data_root()
    if not root.is_dir():
        raise InputError(
            f"real data folder {root} does not exist; the demo scene's disturbances take real "
            f"pixels from ../shared/data ({EUROSAT}, {BURNED}): put it beside the repository, "
            f"set {DATA_ENV} or run {WITHOUT_DATA}, which needs no real data"
        )
    coef, r2, rmse = _b11_fit(root)

    def dieback(px: F64) -> npt.NDArray[np.bool_]:
        ndvi, ndmi = _ratio(px[:, 3], px[:, 2]), _ratio(px[:, 3], px[:, 4])
        out: npt.NDArray[np.bool_] = (
            (ndvi >= DIEBACK_NDVI[0]) & (ndvi <= DIEBACK_NDVI[1]) & (ndmi < DIEBACK_MAX_NDMI)
        )
        return out

    def bloom(px: F64) -> npt.NDArray[np.bool_]:
        mndwi = _ratio(px[:, 1], px[:, 4])
        out: npt.NDArray[np.bool_] = (_fai(px) > BLOOM_MIN_FAI) & (mndwi > BLOOM_MIN_MNDWI)
        return out

    def fill(px: F64) -> npt.NDArray[np.bool_]:
        out: npt.NDArray[np.bool_] = _ratio(px[:, 3], px[:, 2]) < FILL_MAX_NDVI
        return out

    pools = {
        "burn": _burn(root, coef),
        "dieback": _select(eurosat_pixels(root, "Forest"), dieback),
        "bloom": _select(eurosat_pixels(root, "SeaLake"), bloom),
        "fill": _select(eurosat_pixels(root, "Industrial"), fill),
    }
    for name, pool in pools.items():
        if len(pool) < 50:
            raise InputError(
                f"only {len(pool)} real {name} pixels found in {root}; the data sets there "
                "are not the ones the demo expects (see tiandi/demo/scene_real.py)"
            )
    return RealSpectra(
        burn=pools["burn"],
        dieback=pools["dieback"],
        bloom=pools["bloom"],
        fill=pools["fill"],
        b11_fit=(float(coef[0]), float(coef[1]), float(coef[2]), float(coef[3]), r2, rmse),
        sources={
            "burn": f"{BURNED}/pairs/*/post.tif inside mask.tif, NBR < {BURN_MAX_NBR} "
            "(B11 predicted from B04, B08, B12: b11_fit)",
            "dieback": f"{EUROSAT}/Forest, NDVI {DIEBACK_NDVI[0]}-{DIEBACK_NDVI[1]} and "
            f"NDMI < {DIEBACK_MAX_NDMI} (sparse, dry canopy; L1C)",
            "bloom": f"{EUROSAT}/SeaLake, FAI > {BLOOM_MIN_FAI} and MNDWI > "
            f"{BLOOM_MIN_MNDWI} (L1C)",
            "fill": f"{EUROSAT}/Industrial, NDVI < {FILL_MAX_NDVI} (L1C)",
        },
    )
