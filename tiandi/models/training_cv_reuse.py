"""What a cross-validation may take from an earlier run of the same settings: its summary
(``from_cv``, for the final model) or the folds its run log finished (``resume``).

Each fold's model starts from the same seed (:func:`~tiandi.models.training_loop.
seed_everything`) and sees only its own training cities, so a fold trained again gives
the same confusion counts, epoch by epoch, as the run that was stopped: a stopped
cross-validation (a session's end, a reboot) resumes from the folds its run log holds
whole and trains only the others. The run log of the resumed run repeats those folds'
epoch events (marked ``"resumed": true``) so that it is complete by itself.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tiandi.errors import InputError
from tiandi.models.siamese import SIAM_DIFF
from tiandi.models.training_card import jsonable
from tiandi.models.training_config import TrainConfig

#: Configuration fields that do not change what is trained (ignored when a run reuses
#: an earlier one).
RUN_ONLY = ("num_threads", "max_minutes", "cv_folds", "cv_last_epoch")
#: Settings added after some summaries and logs were written, with the value those runs had.
ADDED_SETTINGS = {"jitter_common_offset": 0.0, "fusion": SIAM_DIFF}


def settings_differ(earlier: dict[str, Any], config: TrainConfig) -> list[str]:
    """The settings (sorted) in which ``config`` differs from an earlier run's ``earlier``
    configuration, leaving out those that do not change what is trained."""
    mine = {k: v for k, v in jsonable(asdict(config)).items() if k not in RUN_ONLY}
    theirs = {k: v for k, v in {**ADDED_SETTINGS, **earlier}.items() if k not in RUN_ONLY}
    return sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))


@dataclass(frozen=True)
class FinishedFolds:
    """The folds an earlier run finished: each one's epoch events, in order, and the
    minutes that run had spent when the last of them ended."""

    events: dict[int, list[dict[str, Any]]]
    minutes: float


def read_run_log(path: Path) -> list[dict[str, Any]]:
    """The events of a run log, to resume from (``InputError`` naming the file when it is
    missing or not a run log). Read before the resumed run writes its own log there."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        events = [json.loads(line) for line in lines if line.strip()]
    except FileNotFoundError:
        raise InputError(
            f"{path}: no run log to resume from; run the cross-validation without --resume-cv "
            "(the log is written beside --out as <name>.train-log.jsonl)"
        ) from None
    except (OSError, ValueError) as exc:
        raise InputError(
            f"{path}: cannot read the run log to resume from ({exc}); run without --resume-cv"
        ) from exc
    if not events or not isinstance(events[0], dict) or events[0].get("event") != "start":
        raise InputError(
            f"{path}: not a training run log (no start event); run without --resume-cv"
        )
    return events


def finished_folds(
    events: list[dict[str, Any]], path: Path, config: TrainConfig, folds: list[list[str]]
) -> FinishedFolds:
    """The folds of ``folds`` that the earlier run's ``events`` (from the log ``path``)
    trained for every epoch ``config`` cross-validates; ``InputError`` when that run had other
    settings or other folds."""
    differ = settings_differ(events[0].get("config", {}), config)
    if differ:
        raise InputError(
            f"{path}: the stopped run had other settings ({', '.join(differ)}); resume it "
            "with the options of that run, or run without --resume-cv"
        )
    earlier_folds = next((e["folds"] for e in events if e.get("event") == "cv_folds"), None)
    if earlier_folds is not None and earlier_folds != folds:
        raise InputError(
            f"{path}: the stopped run had other folds ({earlier_folds}, now {folds}): the "
            "cities or their labels changed; run without --resume-cv"
        )
    by_fold: dict[int, list[dict[str, Any]]] = {}
    for event in events:
        if event.get("event") == "epoch" and event.get("stage") == "cv" and "cv_counts" in event:
            by_fold.setdefault(int(event["fold"]), []).append(event)
    wanted = list(range(1, config.cv_epochs + 1))
    done = {f: e[: len(wanted)] for f, e in by_fold.items()
            if [x["epoch"] for x in e[: len(wanted)]] == wanted}  # fmt: skip
    minutes = max((float(e[-1].get("minutes", 0.0)) for e in done.values()), default=0.0)
    return FinishedFolds(events=dict(sorted(done.items())), minutes=minutes)
