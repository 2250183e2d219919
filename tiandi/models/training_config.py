"""Configuration of a change-detector training run: :class:`TrainConfig`, the split of
an OSCD folder's cities by role (:func:`split_cities`) and band presets
(:func:`parse_bands`). See :mod:`tiandi.models.training` for the run itself."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tiandi.errors import InputError
from tiandi.models.normalisation import NORMALISATIONS
from tiandi.models.oscd import S2_BANDS, list_cities
from tiandi.models.siamese import FUSIONS, RGBN_BANDS, SIAM_DIFF, SiameseConfig

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
    # per-band offset shared by both dates (± reflectance): what atmospheric correction
    # (L1C top of atmosphere vs L2A surface reflectance) does to a clear scene
    jitter_common_offset: float = 0.0
    seed: int = 0
    num_threads: int = 2
    max_minutes: float | None = None
    base_channels: int = 16
    depth: int = 4
    dropout: float = 0.3
    attention: bool = True
    fusion: str = SIAM_DIFF  # or "early" (FC-EF): tiandi.models.siamese
    refit: bool = False  # second stage on train + validation cities (module docstring)
    # input normalisation: "dataset" (training statistics in the weights), "per_image"
    # (each date standardised per band first) or "per_pair" (both dates with the pair's
    # moments; tiandi.models.normalisation). With either of the last two the jitter acts
    # on the standardised values (gain ×, offset in std units)
    normalisation: str = "dataset"
    # city-wise cross-validation (tiandi.models.training_cv): > 0 folds replace the
    # validation and test cities (both must then be empty)
    cv_folds: int = 0
    # score the folds for the first cv_last_epoch epochs of the schedule only (0: every
    # epoch); the learning-rate schedule stays that of `epochs`, so these epochs are the
    # same as the full run's
    cv_last_epoch: int = 0

    @property
    def cv_epochs(self) -> int:
        """The epochs a cross-validation trains and scores each fold for."""
        return self.cv_last_epoch or self.epochs

    @property
    def jitter(self) -> tuple[float, float, float, float]:
        """The radiometric jitter amplitudes in the order
        :func:`tiandi.models.training_data.radiometric_jitter` takes them: common gain,
        date gain, date offset, common offset."""
        return (
            self.jitter_common_gain,
            self.jitter_date_gain,
            self.jitter_date_offset,
            self.jitter_common_offset,
        )

    def __post_init__(self) -> None:
        problems = [*self._parameter_problems(), *self._city_problems()]
        if problems:
            raise InputError("TrainConfig: " + "; ".join(problems))

    def _parameter_problems(self) -> list[str]:
        problems = [
            f"{name} {value!r} is not one of {', '.join(choices)}"
            for name, value, choices in (
                ("loss", self.loss, LOSSES),
                ("normalisation", self.normalisation, NORMALISATIONS),
                ("fusion", self.fusion, FUSIONS),
            )
            if value not in choices
        ]
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
        if min(self.jitter) < 0:
            problems.append("jitter amplitudes must be >= 0")
        if self.cv_folds < 0 or self.cv_folds == 1:
            problems.append("cv_folds must be 0 (no cross-validation) or at least 2")
        if not 0 <= self.cv_last_epoch <= self.epochs:
            problems.append(
                f"cv_last_epoch {self.cv_last_epoch} must be 0 (every epoch) or between 1 "
                f"and epochs ({self.epochs})"
            )
        return problems

    def _city_problems(self) -> list[str]:
        problems = []
        if self.cv_folds:
            if self.val_cities or self.test_cities or self.refit:
                problems.append(
                    "cross-validation (cv_folds) chooses on every city in turn: leave "
                    "val_cities and test_cities empty and refit off"
                )
            return problems
        if not self.val_cities and (self.threshold is None or not self.test_cities):
            # without validation cities the last epoch is kept at a fixed threshold (as a
            # distilled network keeps its teacher's), and only test cities score it
            problems.append(
                "val_cities is empty; name at least one validation city (or give a fixed "
                "threshold and test cities)"
            )
        if self.refit and not self.val_cities:
            problems.append("refit trains again on the validation cities; name them or drop refit")
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
        return problems

    def model_config(self) -> SiameseConfig:
        """The architecture this configuration trains."""
        return SiameseConfig(
            bands=self.bands,
            base_channels=self.base_channels,
            depth=self.depth,
            dropout=self.dropout,
            attention=self.attention,
            normalisation=self.normalisation,
            fusion=self.fusion,
        )


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


def parse_bands(text: str) -> tuple[str, ...]:
    """Band list from ``s2-13`` (the 13 OSCD bands), ``rgbn`` or ``B02,B03,...``."""
    presets = {"s2-13": S2_BANDS, "rgbn": RGBN_BANDS}
    if text in presets:
        return presets[text]
    return tuple(b.strip().upper() for b in text.split(",") if b.strip())
