"""Training data of the change detector: OSCD cities as arrays, band statistics, and
random augmented patches with change-centred oversampling (:class:`PatchSampler`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from tiandi.models.metrics import IGNORE
from tiandi.models.normalisation import check_normalisation, normalise_images
from tiandi.models.oscd import read_city, stack_bands


@dataclass(frozen=True)
class CityArrays:
    """A city ready for training: reflectances (2, bands, H, W), labels 0/1/255 (H, W)."""

    name: str
    images: npt.NDArray[np.float32]
    label: npt.NDArray[np.uint8]

    @property
    def change_index(self) -> npt.NDArray[np.intp]:
        """Flat indices of the change pixels."""
        return np.flatnonzero(self.label == 1)


def load_city_arrays(
    root: Path,
    city: str,
    bands: Sequence[str],
    min_size: int = 0,
    normalisation: str = "dataset",
) -> CityArrays:
    """Read a city as training arrays; pixels with no data in any band are labelled 255.

    With ``normalisation="per_image"`` each date is standardised per band over the whole
    city, with ``"per_pair"`` both dates with the pair's moments
    (:func:`tiandi.models.normalisation.normalise_images`, what the detector does at
    inference). Cities smaller than ``min_size`` are padded (NaN images, label 255) to
    that size.
    """
    data = read_city(root, city, bands=bands)
    images = np.stack([stack_bands(data.before, bands), stack_bands(data.after, bands)])
    if check_normalisation(normalisation) != "dataset":
        images = normalise_images(images, normalisation)
    label = np.asarray(data.label if data.label is not None else 0, dtype=np.uint8).copy()
    label[np.isnan(images).any(axis=(0, 1))] = IGNORE
    h, w = label.shape
    ph, pw = max(0, min_size - h), max(0, min_size - w)
    if ph or pw:
        images = np.pad(images, ((0, 0), (0, 0), (0, ph), (0, pw)), constant_values=np.nan)
        label = np.pad(label, ((0, ph), (0, pw)), constant_values=IGNORE)
    return CityArrays(name=city, images=images, label=label)


def band_statistics(
    cities: Sequence[CityArrays],
) -> tuple[list[float], list[float]]:
    """Per-band mean and standard deviation over both dates of ``cities`` (NaN ignored)."""
    n = cities[0].images.shape[1]
    total = np.zeros(n)
    total_sq = np.zeros(n)
    count = np.zeros(n)
    for city in cities:
        x = city.images.transpose(1, 0, 2, 3).reshape(n, -1).astype(np.float64)
        valid = ~np.isnan(x)
        total += np.where(valid, x, 0).sum(axis=1)
        total_sq += np.where(valid, x * x, 0).sum(axis=1)
        count += valid.sum(axis=1)
    mean = total / np.maximum(count, 1)
    std = np.sqrt(np.maximum(total_sq / np.maximum(count, 1) - mean**2, 1e-12))
    return mean.tolist(), np.maximum(std, 1e-4).tolist()


class PatchSampler:
    """Random training patches with change-centred oversampling and augmentation."""

    def __init__(
        self,
        cities: Sequence[CityArrays],
        patch_size: int,
        change_fraction: float,
        rng: np.random.Generator,
        jitter: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0),
    ) -> None:
        self.cities = list(cities)
        self.patch = patch_size
        self.change_fraction = change_fraction
        self.rng = rng
        self.jitter = jitter
        self._changes = [c.change_index for c in self.cities]
        sizes = np.array([c.label.size for c in self.cities], dtype=float)
        counts = np.array([len(i) for i in self._changes], dtype=float)
        self._p_any = sizes / sizes.sum()
        self._p_change = counts / counts.sum() if counts.sum() else None

    def _window(self, city: int, centred: bool) -> tuple[int, int]:
        h, w = self.cities[city].label.shape
        p = self.patch
        if centred:
            flat = int(self.rng.choice(self._changes[city]))
            r, c = divmod(flat, w)
            top = r - int(self.rng.integers(0, p))
            left = c - int(self.rng.integers(0, p))
        else:
            top = int(self.rng.integers(0, h - p + 1))
            left = int(self.rng.integers(0, w - p + 1))
        return min(max(top, 0), h - p), min(max(left, 0), w - p)

    def sample(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
        """One augmented patch: images (2, bands, p, p) and label (p, p)."""
        centred = self._p_change is not None and self.rng.random() < self.change_fraction
        probs = self._p_change if centred else self._p_any
        city = int(self.rng.choice(len(self.cities), p=probs))
        top, left = self._window(city, centred)
        sl = (slice(top, top + self.patch), slice(left, left + self.patch))
        images = self.cities[city].images[(..., *sl)]
        label = self.cities[city].label[sl]
        images, label = augment(images, label, self.rng)
        if any(self.jitter):
            images = radiometric_jitter(images, self.rng, *self.jitter)
        return images, label

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A batch: before (N, bands, p, p), after (N, bands, p, p), label (N, 1, p, p)."""
        pairs = [self.sample() for _ in range(size)]
        images = torch.from_numpy(np.stack([p[0] for p in pairs]))
        labels = torch.from_numpy(np.stack([p[1] for p in pairs])[:, None])
        return images[:, 0], images[:, 1], labels


def augment(
    images: npt.NDArray[np.float32], label: npt.NDArray[np.uint8], rng: np.random.Generator
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
    """Random flips, 90° rotation and temporal swap of one (2, bands, h, w) patch."""
    k = int(rng.integers(0, 4))
    images = np.rot90(images, k, axes=(2, 3))
    label = np.rot90(label, k, axes=(0, 1))
    if rng.random() < 0.5:
        images, label = images[..., ::-1], label[:, ::-1]
    if rng.random() < 0.5:
        images, label = images[..., ::-1, :], label[::-1, :]
    if rng.random() < 0.5:
        images = images[::-1]
    return np.ascontiguousarray(images), np.ascontiguousarray(label)


def radiometric_jitter(
    images: npt.NDArray[np.float32],
    rng: np.random.Generator,
    common_gain: float,
    date_gain: float,
    date_offset: float,
    common_offset: float = 0.0,
) -> npt.NDArray[np.float32]:
    """A (2, bands, h, w) reflectance patch times a random per-band gain shared by both
    dates (1 ± ``common_gain``) and a per-date per-band gain (1 ± ``date_gain``), plus a
    per-date per-band offset (± ``date_offset``) and, when ``common_offset`` > 0, a
    per-band offset shared by both dates (± ``common_offset``: L1C vs L2A); NaN stays
    NaN. With ``common_offset`` 0 the random draws are those of the recipes before it."""
    n = images.shape[1]
    common = rng.uniform(1 - common_gain, 1 + common_gain, size=(1, n, 1, 1))
    gain = rng.uniform(1 - date_gain, 1 + date_gain, size=(2, n, 1, 1))
    offset = rng.uniform(-date_offset, date_offset, size=(2, n, 1, 1))
    if common_offset > 0:
        offset = offset + rng.uniform(-common_offset, common_offset, size=(1, n, 1, 1))
    return (images * (common * gain) + offset).astype(np.float32)
