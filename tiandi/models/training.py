"""Train the Siamese change detector on an OSCD-layout folder.

``train_siamese(root, out, config)`` splits the cities of ``root`` by city into training,
validation and test cities (never trained on), computes the band normalisation
statistics on the training cities, and trains on random patches:

- class imbalance: a share ``change_sample_fraction`` of the patches is centred (with a
  random offset) on a change pixel, and the loss is binary cross-entropy (optionally
  weighted or focal) plus soft Dice of the change class;
- augmentation: horizontal/vertical flips, 90° rotations, temporal swap of the dates,
  and radiometric jitter (a per-band gain shared by both dates, as cities and sensors
  differ, plus small per-date per-band gains and offsets, as dates differ);
- an exponential moving average (EMA) of the weights and batch-norm buffers, which is
  what is scored and saved (it damps the epoch-to-epoch swings of a small dataset);
- fixed seeds (numpy, torch) and an explicit number of torch threads;
- after every epoch the whole validation cities are predicted; the decision threshold
  (unless fixed) and the epoch with the best overall validation F1 (confusion matrix
  summed over all validation pixels) are chosen on them. The test cities are scored
  once, at the end, with that epoch and threshold: their figures are the ones the model
  card reports, as they took no part in any choice;
- with ``refit``, a second stage trains a fresh model with the same seed and schedule on
  the training **and** validation cities, stops at the epoch the first stage chose and
  keeps its threshold (the usual "choose on validation, then fit on all labelled
  non-test data"); those weights are saved and scored on the test cities, the first
  stage's validation figures stay in the card as what chose the epoch;
- a JSON-lines run log records the configuration, every epoch and the outcome.

The command line is ``tiandi run train-change-model`` (the Prefect flow
:mod:`tiandi.flows.train_change_model`).
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from tiandi._io import sha256_file
from tiandi.errors import InputError
from tiandi.models.metrics import IGNORE, ConfusionMatrix, confusion_matrix, sum_confusion
from tiandi.models.oscd import S2_BANDS, dataset_checksum, list_cities, read_city, stack_bands
from tiandi.models.siamese import RGBN_BANDS, SiameseConfig, SiameseDiffUNet
from tiandi.models.tiling import TileConfig, predict_array
from tiandi.models.weights import WeightsFiles, build_card, save_weights

LOSSES = ("bce", "focal", "dice", "bce+dice", "focal+dice")
DEFAULT_VAL_CITIES = ("nantes", "aguasclaras")
"""Validation cities of the shipped models (epoch and threshold are chosen on them)."""
DEFAULT_TEST_CITIES = ("bordeaux", "mumbai")
"""Test cities of the shipped models: one European, one Asian city, fixed before any
training, never trained on and never used for a choice; scored once per run."""
THRESHOLDS: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(2, 20))
"""Decision thresholds tried on the validation cities (0.10 … 0.95)."""


@dataclass(frozen=True)
class TrainConfig:
    """Training parameters.

    ``train_cities`` empty means every city of the root that is not in ``val_cities``.
    """

    bands: tuple[str, ...] = S2_BANDS
    val_cities: tuple[str, ...] = DEFAULT_VAL_CITIES
    test_cities: tuple[str, ...] = DEFAULT_TEST_CITIES
    train_cities: tuple[str, ...] = ()
    patch_size: int = 96
    batch_size: int = 8
    epochs: int = 24
    steps_per_epoch: int = 200
    lr: float = 5e-4
    weight_decay: float = 1e-2
    loss: str = "bce+dice"
    pos_weight: float = 1.0
    change_sample_fraction: float = 0.5
    threshold: float | None = None  # None: chosen on the validation cities (THRESHOLDS)
    ema_decay: float = 0.995  # 0: score and save the raw weights
    jitter_common_gain: float = 0.15
    jitter_date_gain: float = 0.05
    jitter_date_offset: float = 0.01
    seed: int = 0
    num_threads: int = 2
    max_minutes: float | None = None
    base_channels: int = 16
    depth: int = 4
    dropout: float = 0.3
    attention: bool = True
    refit: bool = False  # second stage on train + validation cities (module docstring)

    def __post_init__(self) -> None:
        problems = []
        if self.loss not in LOSSES:
            problems.append(f"loss {self.loss!r} is not one of {', '.join(LOSSES)}")
        if self.patch_size < 2**self.depth or self.patch_size % 2**self.depth:
            problems.append(f"patch_size {self.patch_size} must be a multiple of 2**depth")
        if min(self.batch_size, self.epochs, self.steps_per_epoch, self.num_threads) < 1:
            problems.append("batch_size, epochs, steps_per_epoch, num_threads must be >= 1")
        if not 0.0 <= self.change_sample_fraction <= 1.0:
            problems.append("change_sample_fraction must be in [0, 1]")
        if self.threshold is not None and not 0 < self.threshold < 1:
            problems.append("threshold must be in (0, 1), or None to choose it on validation")
        if not 0.0 <= self.ema_decay < 1.0:
            problems.append("ema_decay must be in [0, 1)")
        if min(self.jitter_common_gain, self.jitter_date_gain, self.jitter_date_offset) < 0:
            problems.append("jitter amplitudes must be >= 0")
        if not self.val_cities:
            problems.append("val_cities is empty; name at least one validation city")
        if self.refit and not self.test_cities:
            problems.append(
                "refit trains on the validation cities, so only test cities can score the "
                "saved weights; name test_cities or drop refit"
            )
        roles = {"train": self.train_cities, "val": self.val_cities, "test": self.test_cities}
        for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
            both = sorted(set(roles[a]) & set(roles[b]))
            if both:
                problems.append(f"cities {both} are in both {a}_cities and {b}_cities")
        if problems:
            raise InputError("TrainConfig: " + "; ".join(problems))

    def model_config(self) -> SiameseConfig:
        """The architecture this configuration trains."""
        return SiameseConfig(
            bands=self.bands,
            base_channels=self.base_channels,
            depth=self.depth,
            dropout=self.dropout,
            attention=self.attention,
        )


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


@dataclass(frozen=True)
class TrainResult:
    """Outcome of a training run: files written, the chosen epoch and threshold, and the
    scores that the model card reports (``per_city``/``overall``: the test cities when
    there are any, else the validation cities, which then flatter the model)."""

    files: WeightsFiles | None
    best_epoch: int
    threshold: float
    best_f1: float  # overall validation F1 of the chosen epoch
    validation: dict[str, ConfusionMatrix]
    per_city: dict[str, ConfusionMatrix]
    overall: ConfusionMatrix
    scored_on: str  # "test" or "validation"
    epochs_run: int  # epochs of the first stage (the one that chose)
    minutes: float
    stopped_by_time: bool
    refit_epochs: int = 0  # epochs of the refit stage (0: no refit)


def load_city_arrays(root: Path, city: str, bands: Sequence[str], min_size: int = 0) -> CityArrays:
    """Read a city as training arrays; pixels with no data in any band are labelled 255.

    Cities smaller than ``min_size`` are padded (NaN images, label 255) to that size.
    """
    data = read_city(root, city, bands=bands)
    images = np.stack([stack_bands(data.before, bands), stack_bands(data.after, bands)])
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
        jitter: tuple[float, float, float] = (0.0, 0.0, 0.0),
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
) -> npt.NDArray[np.float32]:
    """A (2, bands, h, w) reflectance patch times a random per-band gain shared by both
    dates (1 ± ``common_gain``) and a per-date per-band gain (1 ± ``date_gain``), plus a
    per-date per-band offset (± ``date_offset``); NaN stays NaN."""
    n = images.shape[1]
    common = rng.uniform(1 - common_gain, 1 + common_gain, size=(1, n, 1, 1))
    gain = rng.uniform(1 - date_gain, 1 + date_gain, size=(2, n, 1, 1))
    offset = rng.uniform(-date_offset, date_offset, size=(2, n, 1, 1))
    return (images * (common * gain) + offset).astype(np.float32)


def change_loss(
    logits: torch.Tensor, label: torch.Tensor, kind: str = "bce+dice", pos_weight: float = 1.0
) -> torch.Tensor:
    """Loss of change logits against labels 0/1 (255 ignored).

    ``bce`` (weighted by ``pos_weight`` for change), ``focal`` (gamma 2, same weight),
    ``dice`` (soft Dice of the change class over the batch) or sums ``bce+dice`` and
    ``focal+dice``.
    """
    valid = (label != IGNORE).float()
    target = (label == 1).float()
    n_valid = valid.sum().clamp(min=1.0)
    loss = logits.new_zeros(())
    if kind.startswith(("bce", "focal")):
        weight = valid * (1.0 + (pos_weight - 1.0) * target)
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        if kind.startswith("focal"):
            p_true = torch.exp(-bce)
            bce = (1.0 - p_true) ** 2 * bce
        loss = loss + (bce * weight).sum() / n_valid
    if kind.endswith("dice"):
        prob = torch.sigmoid(logits) * valid
        inter = (prob * target).sum()
        loss = loss + 1.0 - (2.0 * inter + 1.0) / (prob.sum() + (target * valid).sum() + 1.0)
    return loss


def predict_proba(
    model: SiameseDiffUNet,
    images: npt.NDArray[np.float32],
    *,
    tile: int = 512,
    margin: int = 32,
) -> npt.NDArray[np.float32]:
    """Change probability (H, W) of one (2, bands, H, W) array, predicted tile by tile.

    Tiles of ``tile`` pixels get ``margin`` pixels of context on each side, which are
    cropped (no seams). Pixels with NaN in any band are NaN. A thin wrapper around
    :func:`tiandi.models.tiling.predict_array`, the one tiler of the package, keeping the
    current number of torch threads.
    """
    config = TileConfig(
        tile=tile + 2 * margin,
        overlap=2 * margin,
        margin=margin,
        batch_size=1,
        num_threads=torch.get_num_threads(),
    )
    return predict_array(model, images[0], images[1], config)


def predict_cities(
    model: SiameseDiffUNet, cities: Sequence[CityArrays]
) -> dict[str, npt.NDArray[np.float32]]:
    """Change probability of each city (NaN where no data)."""
    return {city.name: predict_proba(model, city.images) for city in cities}


def score_probabilities(
    probs: dict[str, npt.NDArray[np.float32]], cities: Sequence[CityArrays], threshold: float
) -> dict[str, ConfusionMatrix]:
    """Confusion matrix of each city at ``threshold`` (no-data pixels not counted)."""
    result: dict[str, ConfusionMatrix] = {}
    for city in cities:
        prob = probs[city.name]
        pred = np.where(np.isnan(prob), IGNORE, prob >= threshold).astype(np.uint8)
        result[city.name] = confusion_matrix(pred, city.label, name=f"city {city.name}")
    return result


def choose_threshold(
    probs: dict[str, npt.NDArray[np.float32]],
    cities: Sequence[CityArrays],
    candidates: Sequence[float] = THRESHOLDS,
) -> float:
    """The candidate threshold with the best overall F1 over ``cities`` (the lowest on ties)."""
    f1 = {t: sum_confusion(score_probabilities(probs, cities, t).values()).f1 for t in candidates}
    return max(candidates, key=lambda t: (f1[t], -t))


@dataclass(frozen=True)
class CitySplit:
    """Cities by role: trained on, used for choices, scored once at the end."""

    train: list[str]
    val: list[str]
    test: list[str]


def split_cities(root: Path, config: TrainConfig) -> CitySplit:
    """The cities of ``root`` by role; ``InputError`` naming unknown cities."""
    present = list_cities(root)
    wanted = [*config.val_cities, *config.test_cities, *config.train_cities]
    unknown = [c for c in wanted if c not in present]
    if unknown:
        raise InputError(
            f"{root}: cities {unknown} are not in the OSCD folder; present: "
            f"{', '.join(present)}; name cities that are there (--val-cities, --test-cities)"
        )
    held_out = {*config.val_cities, *config.test_cities}
    train = list(config.train_cities) or [c for c in present if c not in held_out]
    if not train:
        raise InputError(f"{root}: no training city left after taking out {sorted(held_out)}")
    return CitySplit(train, list(config.val_cities), list(config.test_cities))


class RunLog:
    """A JSON-lines run log: one object per line, flushed as it is written."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._handle: TextIO | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = path.open("w", encoding="utf-8")

    def write(self, event: str, **fields: Any) -> None:
        """Append ``{"event": event, **fields}``."""
        if self._handle is not None:
            self._handle.write(json.dumps({"event": event, **fields}, sort_keys=True) + "\n")
            self._handle.flush()

    def close(self) -> None:
        """Close the file."""
        if self._handle is not None:
            self._handle.close()


def _seed_everything(seed: int, threads: int) -> np.random.Generator:
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    # only settable once per process, before any inter-op parallel work
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)
    return np.random.default_rng(seed)


def train_siamese(
    root: Path,
    out: Path,
    config: TrainConfig = TrainConfig(),
    *,
    name: str = "siamese-s2",
    version: str = "0.1",
    command: str = "",
    log_path: Path | None = None,
) -> TrainResult:
    """Train on the OSCD-layout ``root``; save the chosen epoch to ``out``.

    Returns the files written, the validation scores of the chosen epoch and the scores
    the card reports (test cities when named). Raises ``InputError`` for a bad layout or
    unknown cities.
    """
    start = time.monotonic()
    root, out = Path(root), Path(out)
    rng = _seed_everything(config.seed, config.num_threads)
    split = split_cities(root, config)
    log = RunLog(log_path)
    log.write("start", config=_jsonable(asdict(config)), **asdict(split))
    try:
        train = [load_city_arrays(root, c, config.bands, config.patch_size) for c in split.train]
        val = [load_city_arrays(root, c, config.bands) for c in split.val]
        mean, std = band_statistics(train)
        model = SiameseDiffUNet(config.model_config(), band_mean=mean, band_std=std)
        fit = _fit(model, train, val, config, rng, log, start)
        reported, scored_on = fit.per_city, "validation"
        refit: _Fit | None = None
        if fit.best_state is not None:
            model.load_state_dict(fit.best_state)
            if config.refit:
                model, refit = _refit(root, split, config, fit.best_epoch, train, log, start)
            if split.test:
                test = [load_city_arrays(root, c, config.bands) for c in split.test]
                reported = score_probabilities(predict_cities(model, test), test, fit.threshold)
                scored_on = "test"
        overall = sum_confusion(reported.values())
        if scored_on == "test":
            log.write("test", threshold=fit.threshold, overall=overall.as_dict(),
                      per_city={k: v.as_dict() for k, v in reported.items()})  # fmt: skip
        files = None
        if fit.best_state is not None:
            cities = split.train + split.val + split.test
            checksum = dataset_checksum(root, cities, config.bands)
            card = build_card(
                model,
                name=name,
                version=version,
                training_data=_training_data(root, split, checksum, refit=refit is not None),
                training=_training_summary(config, fit, start, refit),
                seed=config.seed,
                command=command,
                metrics=_metrics(fit, reported, scored_on, refit=refit is not None),
            )
            files = save_weights(out, model, card)
        minutes = (time.monotonic() - start) / 60
        log.write("end", best_epoch=fit.best_epoch, threshold=fit.threshold,
                  scored_on=scored_on, overall=overall.as_dict(), minutes=minutes)  # fmt: skip
    finally:
        log.close()
    return TrainResult(
        files=files,
        best_epoch=fit.best_epoch,
        threshold=fit.threshold,
        best_f1=sum_confusion(fit.per_city.values()).f1 if fit.per_city else 0.0,
        validation=fit.per_city,
        per_city=reported,
        overall=overall,
        scored_on=scored_on,
        epochs_run=fit.epochs_run,
        minutes=minutes,
        stopped_by_time=fit.stopped_by_time or (refit is not None and refit.stopped_by_time),
        refit_epochs=refit.epochs_run if refit is not None else 0,
    )


def _refit(
    root: Path,
    split: CitySplit,
    config: TrainConfig,
    epochs: int,
    train: Sequence[CityArrays],
    log: RunLog,
    start: float,
) -> tuple[SiameseDiffUNet, _Fit]:
    """Second stage: a fresh model, same seed and schedule, trained on the training and
    validation cities for the ``epochs`` the first stage chose (its last state is kept)."""
    rng = _seed_everything(config.seed, config.num_threads)
    cities = [
        *train,
        *(load_city_arrays(root, c, config.bands, config.patch_size) for c in split.val),
    ]
    mean, std = band_statistics(cities)
    model = SiameseDiffUNet(config.model_config(), band_mean=mean, band_std=std)
    log.write("refit", cities=[c.name for c in cities], epochs=epochs)
    fit = _fit(model, cities, [], config, rng, log, start, stop_epoch=epochs)
    if fit.best_state is None:  # pragma: no cover - _fit always runs one epoch
        raise RuntimeError("refit ran no epoch")
    model.load_state_dict(fit.best_state)
    return model, fit


@dataclass
class _Fit:
    best_state: dict[str, torch.Tensor] | None
    best_epoch: int
    threshold: float
    per_city: dict[str, ConfusionMatrix]
    epochs_run: int
    stopped_by_time: bool


def _fit(
    model: SiameseDiffUNet,
    train: Sequence[CityArrays],
    val: Sequence[CityArrays],
    config: TrainConfig,
    rng: np.random.Generator,
    log: RunLog,
    start: float,
    *,
    stop_epoch: int | None = None,
) -> _Fit:
    """Train ``model``; with validation cities keep the best epoch's EMA state, without
    them (the refit stage) keep the last one. ``stop_epoch`` ends the run early on the
    same learning-rate schedule."""
    jitter = (config.jitter_common_gain, config.jitter_date_gain, config.jitter_date_offset)
    sampler = PatchSampler(train, config.patch_size, config.change_sample_fraction, rng, jitter)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    ema: AveragedModel | None = None
    if config.ema_decay > 0:
        avg_fn = get_ema_multi_avg_fn(config.ema_decay)  # type: ignore[no-untyped-call]
        ema = AveragedModel(model, multi_avg_fn=avg_fn, use_buffers=True)
    scored: SiameseDiffUNet = model if ema is None else ema.module  # type: ignore[assignment]
    total = config.epochs * config.steps_per_epoch
    warmup = max(1, total // 20)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    fit = _Fit(None, 0, config.threshold or 0.5, {}, 0, False)
    best_f1 = -1.0
    for epoch in range(1, (stop_epoch or config.epochs) + 1):
        model.train()
        losses = []
        for _ in range(config.steps_per_epoch):
            before, after, label = sampler.batch(config.batch_size)
            loss = change_loss(model(before, after), label, config.loss, config.pos_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            sched.step()
            if ema is not None:
                ema.update_parameters(model)
            losses.append(float(loss.detach()))
        fit.epochs_run = epoch
        scores: dict[str, Any] = {}
        improved = not val  # without validation the latest state is the one kept
        if val:
            probs = predict_cities(scored, val)
            threshold = config.threshold or choose_threshold(probs, val)
            per_city = score_probabilities(probs, val, threshold)
            overall = sum_confusion(per_city.values())
            improved = overall.f1 > best_f1
            scores = {
                "threshold": threshold,
                "val": {k: v.as_dict() for k, v in per_city.items()},
                "val_overall": overall.as_dict(),
            }
            if improved:
                best_f1 = overall.f1
                fit.threshold, fit.per_city = threshold, per_city
        if improved:
            fit.best_state = {k: v.detach().clone() for k, v in scored.state_dict().items()}
            fit.best_epoch = epoch
        minutes = (time.monotonic() - start) / 60
        log.write(
            "epoch",
            stage="select" if val else "refit",
            epoch=epoch,
            train_loss=float(np.mean(losses)),
            lr=float(sched.get_last_lr()[0]),
            **scores,
            best=improved,
            minutes=round(minutes, 3),
        )
        if config.max_minutes is not None and minutes > config.max_minutes:
            fit.stopped_by_time = epoch < (stop_epoch or config.epochs)
            log.write("time_budget", epoch=epoch, minutes=minutes, limit=config.max_minutes)
            break
    return fit


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def _training_data(
    root: Path, split: CitySplit, checksum: str, *, refit: bool = False
) -> dict[str, Any]:
    manifest = root / "MANIFEST.tsv"
    info: dict[str, Any] = {
        "dataset": "OSCD, Onera Satellite Change Detection (Daudt et al. 2018), OSCD layout",
        "folder": root.name,
        # the saved weights saw these cities (the validation cities too after a refit)
        "train_cities": [*split.train, *split.val] if refit else split.train,
        "val_cities": split.val,
        "test_cities": split.test,
        "checksum_sha256": checksum,
        "checksum_method": (
            "sha256 over sorted lines '<relative path>\\t<sha256 of file>' of every image "
            "band file (both dates) and change map of the train, validation and test cities"
        ),
        "labels_licence": "CC BY-NC-SA (OSCD change maps); imagery: modified Copernicus data",
    }
    if refit:
        info["selection_train_cities"] = split.train
        info["refit"] = (
            "epoch and threshold chosen by a first model trained on selection_train_cities "
            "and scored on val_cities; the saved weights were then trained from the same "
            "seed on train_cities (selection + validation cities) up to that epoch"
        )
    if manifest.is_file():
        info["manifest_sha256"] = sha256_file(manifest)
    return info


def _training_summary(
    config: TrainConfig, fit: _Fit, start: float, refit: _Fit | None = None
) -> dict[str, Any]:
    summary = _jsonable(asdict(config))
    jitter = (
        f", radiometric jitter (per-band gain ±{config.jitter_common_gain} shared by both "
        f"dates, per-date per-band gain ±{config.jitter_date_gain} and offset "
        f"±{config.jitter_date_offset})"
        if config.jitter_common_gain or config.jitter_date_gain or config.jitter_date_offset
        else ""
    )
    ema = (
        f"; saved weights are the EMA (decay {config.ema_decay}) of the weights and BN buffers"
        if config.ema_decay
        else ""
    )
    summary.update(
        {
            "epochs_run": fit.epochs_run,
            "best_epoch": fit.best_epoch,
            "stopped_by_time_budget": fit.stopped_by_time
            or (refit is not None and refit.stopped_by_time),
            "refit_epochs": refit.epochs_run if refit is not None else 0,
            "minutes": round((time.monotonic() - start) / 60, 1),
            "device": "cpu",
            "augmentation": "random 90° rotations, horizontal/vertical flips, temporal swap"
            + jitter,
            "optimiser": "AdamW, 5 % linear warm-up then cosine decay per step" + ema,
        }
    )
    return summary


def _metrics(
    fit: _Fit, reported: dict[str, ConfusionMatrix], scored_on: str, *, refit: bool = False
) -> dict[str, Any]:
    split = (
        "test cities: never trained on, never used to choose the epoch or threshold; scored once"
        if scored_on == "test"
        else "validation cities (never trained on); epoch and threshold chosen on them, so "
        "these figures flatter the model"
    )
    validation_of = (
        "the first-stage model (not trained on the validation cities), which chose the "
        "epoch and threshold; the saved weights were refit on them"
        if refit
        else "the saved weights (epoch and threshold chosen on these cities)"
    )
    return {
        "split": split,
        "scored_on": scored_on,
        "threshold": fit.threshold,
        "best_epoch": fit.best_epoch,
        "validation": {
            "of": validation_of,
            "per_city": {k: v.as_dict() for k, v in fit.per_city.items()},
            "overall": sum_confusion(fit.per_city.values()).as_dict() if fit.per_city else {},
        },
        "per_city": {k: v.as_dict() for k, v in reported.items()},
        "overall": sum_confusion(reported.values()).as_dict() if reported else {},
    }


def parse_bands(text: str) -> tuple[str, ...]:
    """Band list from ``s2-13`` (the 13 OSCD bands), ``rgbn`` or ``B02,B03,...``."""
    presets = {"s2-13": S2_BANDS, "rgbn": RGBN_BANDS}
    if text in presets:
        return presets[text]
    return tuple(b.strip().upper() for b in text.split(",") if b.strip())
