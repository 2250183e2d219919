"""Training and held-out data of the land-cover model (see
:mod:`tiandi.models.landcover_train`): class maps, splits, readers and synthetic pixels.

Data (read-only, from ``../shared/data``):

- eo-learn TestEOPatch (Slovenia, 101 × 100 px): the three clear 13-band L1C frames of
  ``REFERENCE_SCENES.npy`` (2015-07-11, 08-30, 09-09) with the per-pixel LULC raster
  (``mask_timeless/LULC.npy``, from the 2017/18 agricultural land-use register). Mapping
  (:data:`EOLEARN_CLASS_MAP`): 1 cultivated → cropland, 2 forest → trees, 3 grassland and
  4 shrubland → grass_shrub, 8 artificial → built; 0 (unlabelled) is not used. Split:
  the patch cut into 4 × 4 blocks of about 25 × 25 px; blocks :data:`EOLEARN_TEST_BLOCKS`
  (a quarter of the area, holding forest, grass/shrub and built pixels) are held out.
  Its 11 cropland pixels lie in a training block and are too few to learn from; they are
  not used. Its "artificial" pixels are scored but do not train: at 10 m the register's
  artificial polygons (roads with verges, farmyards) are mostly mixed pixels, and
  oversampling those few hundred noisy labels made the model call grassland built
  (held-out grass recall 0.53 → 0.66 without them; built recall 0.83 → 0.43).
- EuroSAT-MS sample (200 L1C patches, 64 × 64 px, 20 per class, patch-level labels).
  Mapping (:data:`EUROSAT_CLASS_MAP`): AnnualCrop, PermanentCrop → cropland; Forest →
  trees; HerbaceousVegetation, Pasture → grass_shrub; Highway, Industrial, Residential →
  built; River, SeaLake → water. Split by file: numbers 4, 8, 12, 16, 20 of each class
  are held out (50 files), the other 150 train. A patch label says what dominates, not
  what every pixel is: "pure" classes train every pixel with the label; Highway, River,
  Industrial and Residential train as bags (multiple-instance learning): only the share
  :data:`EUROSAT_BAG_SHARE` of the patch's pixels most likely to be the class must be it.
- Bare ground / rock: neither data set has it. Training uses *synthetic* pixels mixed
  from seven generic bare-surface spectra (:data:`BARE_ENDMEMBERS`: bright/dark soil,
  sand, limestone, sandstone, basalt, gravel; BOA reflectance at the six bands, typical
  library values rounded, not fitted to any test scene) with brightness scaling, up to
  15 % green-vegetation mixing and noise. The bare class therefore has **no real
  held-out evaluation**.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio

from tiandi.errors import InputError
from tiandi.models.landcover import LANDCOVER_BANDS, LANDCOVER_CLASSES

C = {name: i for i, name in enumerate(LANDCOVER_CLASSES)}

EOLEARN_BANDS = (
    "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12",
)  # fmt: skip
EOLEARN_CLEAR_FRAMES = (2, 3, 4)
"""Frames of REFERENCE_SCENES.npy without cloud (2015-09-09, 08-30, 07-11)."""
EOLEARN_CLASS_MAP = {1: C["cropland"], 2: C["trees"], 3: C["grass_shrub"], 4: C["grass_shrub"]}
EOLEARN_CLASS_MAP[8] = C["built"]
EOLEARN_TRAIN_CLASSES = (C["trees"], C["grass_shrub"])
"""Classes whose eo-learn pixels train the model: "artificial" (built) is scored only."""
EOLEARN_ROW_EDGES = (0, 25, 50, 75, 101)
EOLEARN_COL_EDGES = (0, 25, 50, 75, 100)
EOLEARN_TEST_BLOCKS = ((0, 1), (1, 3), (2, 2), (3, 0))
"""(block row, block column) of the held-out blocks, one per block row and column."""

EUROSAT_BANDS = (
    "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12", "B8A",
)  # fmt: skip
EUROSAT_CLASS_MAP = {
    "AnnualCrop": C["cropland"],
    "PermanentCrop": C["cropland"],
    "Forest": C["trees"],
    "HerbaceousVegetation": C["grass_shrub"],
    "Pasture": C["grass_shrub"],
    "Highway": C["built"],
    "Industrial": C["built"],
    "Residential": C["built"],
    "River": C["water"],
    "SeaLake": C["water"],
}
EUROSAT_BAG_SHARE = {"Highway": 0.05, "River": 0.05, "Industrial": 0.5, "Residential": 0.3}
EUROSAT_TEST_NUMBERS = frozenset({4, 8, 12, 16, 20})

PATH_OFFSET = np.array([0.055, 0.035, 0.02, 0.008, 0.002, 0.001], dtype=np.float32)
"""Approximate TOA − BOA reflectance at B02 B03 B04 B08 B11 B12 over dark land targets."""
BARE_ENDMEMBERS = np.array(
    [
        [0.10, 0.13, 0.17, 0.23, 0.32, 0.28],  # brown soil, dry
        [0.06, 0.08, 0.10, 0.14, 0.22, 0.19],  # dark soil
        [0.22, 0.27, 0.32, 0.38, 0.46, 0.40],  # sand
        [0.28, 0.31, 0.34, 0.38, 0.44, 0.39],  # limestone / pale rock
        [0.10, 0.14, 0.21, 0.29, 0.38, 0.33],  # red sandstone
        [0.05, 0.06, 0.07, 0.09, 0.11, 0.10],  # basalt / dark rock
        [0.15, 0.17, 0.19, 0.22, 0.28, 0.25],  # gravel, dry riverbed
    ],
    dtype=np.float32,
)
GREEN_VEGETATION = np.array([0.03, 0.06, 0.04, 0.35, 0.18, 0.09], dtype=np.float32)

Array = npt.NDArray[Any]


@dataclass
class Samples:
    """Training pixels (features as reflectance; indices are computed after augmentation)."""

    pixels: dict[tuple[str, int], Array] = field(default_factory=dict)
    """(source, class) → (N, 6) reflectance."""
    bags: list[tuple[Array, int, float]] = field(default_factory=list)
    """(64·64, 6) reflectance, class, share."""


def eolearn_arrays(root: Path) -> tuple[Array, Array]:
    """(frames, 6, H, W) reflectance of the clear frames and the (H, W) LULC raster."""
    scenes_path = root / "REFERENCE_SCENES.npy"
    lulc_path = root / "TestEOPatch" / "mask_timeless" / "LULC.npy"
    for p in (scenes_path, lulc_path):
        if not p.is_file():
            raise InputError(f"{p}: missing; pass the eo-learn TestEOPatch folder (--eolearn)")
    scenes = np.load(scenes_path, mmap_mode="r")
    idx = [EOLEARN_BANDS.index(b) for b in LANDCOVER_BANDS]
    frames = np.stack([np.asarray(scenes[f][..., idx]) for f in EOLEARN_CLEAR_FRAMES])
    return np.moveaxis(frames, -1, 1).astype(np.float32), np.load(lulc_path)[..., 0]


def eolearn_labels(lulc: Array) -> Array:
    """LULC codes → class index (int16), -1 where unlabelled or unmapped."""
    out = np.full(lulc.shape, -1, dtype=np.int16)
    for code, cls in EOLEARN_CLASS_MAP.items():
        out[lulc == code] = cls
    return out


def eolearn_test_mask(shape: tuple[int, int]) -> Array:
    """True on the held-out blocks."""
    mask = np.zeros(shape, dtype=bool)
    for br, bc in EOLEARN_TEST_BLOCKS:
        r0, r1 = EOLEARN_ROW_EDGES[br], EOLEARN_ROW_EDGES[br + 1]
        c0, c1 = EOLEARN_COL_EDGES[bc], EOLEARN_COL_EDGES[bc + 1]
        mask[r0:r1, c0:c1] = True
    return mask


@dataclass(frozen=True)
class EurosatFile:
    """One EuroSAT patch: path relative to the root, EuroSAT label, number, held out?"""

    path: str
    label: str
    number: int

    @property
    def held_out(self) -> bool:
        """In the by-file test split."""
        return self.number in EUROSAT_TEST_NUMBERS


def eurosat_files(root: Path) -> list[EurosatFile]:
    """The patches listed in ``MANIFEST.tsv``, sorted by path."""
    manifest = root / "MANIFEST.tsv"
    if not manifest.is_file():
        raise InputError(f"{manifest}: missing; pass the EuroSAT sample folder (--eurosat)")
    with manifest.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    out = []
    for row in rows:
        stem = Path(row["path"]).stem
        out.append(EurosatFile(row["path"], row["label"], int(stem.rsplit("_", 1)[1])))
    return sorted(out, key=lambda f: f.path)


def eurosat_reflectance(root: Path, item: EurosatFile) -> Array:
    """(6, 64, 64) reflectance of one patch (DN / 10000) in :data:`LANDCOVER_BANDS` order."""
    idx = [EUROSAT_BANDS.index(b) + 1 for b in LANDCOVER_BANDS]
    path = root / item.path
    try:
        with rasterio.open(path) as src:
            if src.count != len(EUROSAT_BANDS):
                raise InputError(
                    f"{path}: has {src.count} bands, expected 13 (EuroSAT order "
                    f"{', '.join(EUROSAT_BANDS)})"
                )
            data: Array = src.read(idx).astype(np.float32) / 10000.0
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"{path}: unreadable ({exc}); check the EuroSAT folder") from exc
    return data


def synthetic_bare(n: int, rng: np.random.Generator) -> Array:
    """(n, 6) BOA reflectance of bare surfaces (endmember mixtures, see module docstring)."""
    k = len(BARE_ENDMEMBERS)
    weights = rng.dirichlet(np.full(k, 0.3), size=n).astype(np.float32)
    spectra = weights @ BARE_ENDMEMBERS
    spectra *= rng.uniform(0.7, 1.3, size=(n, 1)).astype(np.float32)
    veg = rng.uniform(0.0, 0.15, size=(n, 1)).astype(np.float32)
    spectra = (1 - veg) * spectra + veg * GREEN_VEGETATION
    spectra += rng.normal(0.0, 0.008, size=spectra.shape).astype(np.float32)
    out: Array = np.clip(spectra, 0.005, 1.0).astype(np.float32)
    return out


def collect_samples(eolearn_root: Path, eurosat_root: Path, *, seed: int, n_bare: int) -> Samples:
    """Training pixels and bags (held-out blocks and files excluded), with ``n_bare``
    synthetic bare pixels drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    samples = Samples()
    frames, lulc = eolearn_arrays(eolearn_root)
    labels = eolearn_labels(lulc)
    train = ~eolearn_test_mask(labels.shape) & (labels >= 0)
    for cls in EOLEARN_TRAIN_CLASSES:
        sel = train & (labels == cls)
        pix = np.concatenate([f[:, sel].T for f in frames])
        samples.pixels[("eolearn", cls)] = pix
    pure: dict[int, list[Array]] = {}
    for item in eurosat_files(eurosat_root):
        if item.held_out:
            continue
        refl = eurosat_reflectance(eurosat_root, item).reshape(len(LANDCOVER_BANDS), -1).T
        cls = EUROSAT_CLASS_MAP[item.label]
        share = EUROSAT_BAG_SHARE.get(item.label)
        if share is None:
            pure.setdefault(cls, []).append(refl)
        else:
            samples.bags.append((refl, cls, share))
    for cls, parts in pure.items():
        samples.pixels[("eurosat", cls)] = np.concatenate(parts)
    samples.pixels[("synthetic", C["bare"])] = synthetic_bare(n_bare, rng)
    return samples
