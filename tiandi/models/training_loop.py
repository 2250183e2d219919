"""The training loop of the change detector: the loss, the JSON-lines run log, seeding,
and :func:`fit_model` (AdamW with warm-up and cosine decay per step, an EMA of the
weights, per-epoch validation that keeps the best epoch)."""

from __future__ import annotations

import contextlib
import functools
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from tiandi.models.metrics import IGNORE, ConfusionMatrix, sum_confusion
from tiandi.models.siamese import SiameseDiffUNet
from tiandi.models.training_config import TrainConfig
from tiandi.models.training_data import CityArrays, PatchSampler
from tiandi.models.training_scores import choose_threshold, predict_cities, score_probabilities


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


def distillation_loss(
    logits: torch.Tensor, teacher_logits: torch.Tensor, label: torch.Tensor
) -> torch.Tensor:
    """Binary cross-entropy of a student's change logits against a teacher's change
    probabilities (soft targets, temperature 1: the teacher's probabilities are what the
    student learns to give), over the pixels with data (``label`` 255 ignored)."""
    valid = (label != IGNORE).float()
    target = torch.sigmoid(teacher_logits)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (bce * valid).sum() / valid.sum().clamp(min=1.0)


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


def seed_everything(seed: int, threads: int) -> np.random.Generator:
    """Seed torch, set its threads (one inter-op thread) and return a seeded numpy RNG."""
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    # only settable once per process, before any inter-op parallel work
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)
    return np.random.default_rng(seed)


EpochHook = Callable[[int, SiameseDiffUNet], dict[str, Any]]
"""Called after every epoch with the epoch number and the scored (EMA) model; returns
extra fields of the epoch's log line."""


@dataclass
class Fit:
    """What :func:`fit_model` kept: the state and figures of the best (or last) epoch."""

    best_state: dict[str, torch.Tensor] | None
    best_epoch: int
    threshold: float
    per_city: dict[str, ConfusionMatrix]
    epochs_run: int
    stopped_by_time: bool
    best_f1: float = -1.0  # overall validation F1 of the best epoch so far


def fit_model(
    model: SiameseDiffUNet,
    train: Sequence[CityArrays],
    val: Sequence[CityArrays],
    config: TrainConfig,
    rng: np.random.Generator,
    log: RunLog,
    start: float,
    *,
    stop_epoch: int | None = None,
    stage: str | None = None,
    epoch_hook: EpochHook | None = None,
    teacher: torch.nn.Module | None = None,
) -> Fit:
    """Train ``model``; with validation cities keep the best epoch's EMA state, without
    them (the refit stage) keep the last one. ``stop_epoch`` ends the run early on the
    same learning-rate schedule. ``stage`` names the run in the log (default ``select``
    with validation cities, else ``train``); ``epoch_hook(epoch, scored_model)`` runs after
    every epoch (cross-validation scores its held-out cities there) and its fields go
    into that epoch's log line. With a ``teacher`` network the loss is
    :func:`distillation_loss` against its probabilities, not ``config.loss``."""
    sampler = PatchSampler(
        train, config.patch_size, config.change_sample_fraction, rng, config.jitter
    )
    if teacher is not None:  # its batch norms keep their statistics, its weights no grads
        teacher.eval().requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    ema = _ema(model, config.ema_decay)
    scored: SiameseDiffUNet = model if ema is None else ema.module  # type: ignore[assignment]
    total = config.epochs * config.steps_per_epoch
    lr_at = functools.partial(_warmup_cosine, warmup=max(1, total // 20), total=total)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    fit = Fit(None, 0, config.threshold or 0.5, {}, 0, False)
    last_epoch = stop_epoch or config.epochs
    for epoch in range(1, last_epoch + 1):
        model.train()
        losses = [
            _step(model, sampler, opt, sched, ema, config, teacher)
            for _ in range(config.steps_per_epoch)
        ]
        fit.epochs_run = epoch
        scores, improved = _score_epoch(scored, val, config, fit, epoch)
        if epoch_hook is not None:
            scores.update(epoch_hook(epoch, scored))
        minutes = (time.monotonic() - start) / 60
        log.write(
            "epoch",
            stage=stage or ("select" if val else "train"),
            epoch=epoch,
            train_loss=float(np.mean(losses)),
            lr=float(sched.get_last_lr()[0]),
            **scores,
            best=improved,
            minutes=round(minutes, 3),
        )
        if config.max_minutes is not None and minutes > config.max_minutes:
            fit.stopped_by_time = epoch < last_epoch
            log.write("time_budget", epoch=epoch, minutes=minutes, limit=config.max_minutes)
            break
    return fit


def _ema(model: SiameseDiffUNet, decay: float) -> AveragedModel | None:
    """The EMA of the weights and BN buffers (None for ``decay`` 0)."""
    if decay <= 0:
        return None
    avg_fn = get_ema_multi_avg_fn(decay)  # type: ignore[no-untyped-call]
    return AveragedModel(model, multi_avg_fn=avg_fn, use_buffers=True)


def _warmup_cosine(step: int, *, warmup: int, total: int) -> float:
    """Learning-rate factor: linear warm-up over ``warmup`` steps, then cosine decay."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def _step(
    model: SiameseDiffUNet,
    sampler: PatchSampler,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LambdaLR,
    ema: AveragedModel | None,
    config: TrainConfig,
    teacher: torch.nn.Module | None = None,
) -> float:
    """One optimiser step on a fresh batch (against the labels, or ``teacher``'s
    probabilities); returns its loss."""
    before, after, label = sampler.batch(config.batch_size)
    logits = model(before, after)
    if teacher is None:
        loss = change_loss(logits, label, config.loss, config.pos_weight)
    else:
        with torch.no_grad():
            taught = teacher(before, after)
        loss = distillation_loss(logits, taught, label)
    opt.zero_grad(set_to_none=True)
    loss.backward()  # type: ignore[no-untyped-call]
    opt.step()
    sched.step()
    if ema is not None:
        ema.update_parameters(model)
    return float(loss.detach())


def _score_epoch(
    scored: SiameseDiffUNet,
    val: Sequence[CityArrays],
    config: TrainConfig,
    fit: Fit,
    epoch: int,
) -> tuple[dict[str, Any], bool]:
    """Score the epoch on ``val`` and keep its state in ``fit`` when it is the best so far
    (always, without validation cities); return the log fields and whether it was kept."""
    scores: dict[str, Any] = {}
    improved = not val  # without validation the latest state is the one kept
    if val:
        probs = predict_cities(scored, val)
        threshold = config.threshold or choose_threshold(probs, val)
        per_city = score_probabilities(probs, val, threshold)
        overall = sum_confusion(per_city.values())
        improved = overall.f1 > fit.best_f1
        scores = {
            "threshold": threshold,
            "val": {k: v.as_dict() for k, v in per_city.items()},
            "val_overall": overall.as_dict(),
        }
        if improved:
            fit.best_f1 = overall.f1
            fit.threshold, fit.per_city = threshold, per_city
    if improved:
        fit.best_state = {k: v.detach().clone() for k, v in scored.state_dict().items()}
        fit.best_epoch = epoch
    return scores, improved
