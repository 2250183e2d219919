"""The out-of-fold probabilities a cross-validation keeps on request
(``--cv-probabilities``), for ensembles of runs (:mod:`tiandi.models.training_ensemble`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tiandi._io import atomic_path
from tiandi.errors import InputError
from tiandi.models.training_cv_reuse import FinishedFolds


def probability_path(folder: Path, epoch: int, city: str) -> Path:
    """Where :func:`write_probabilities` keeps ``city``'s out-of-fold probability of
    ``epoch``."""
    return Path(folder) / f"epoch-{epoch:02d}" / f"{city}.npy"


def write_probabilities(
    folder: Path, epoch: int, probs: Mapping[str, npt.NDArray[np.float32]]
) -> None:
    """Each city's out-of-fold change probability of ``epoch`` as a float16 array (NaN
    where no data) in ``folder/epoch-NN/<city>.npy``, for ensembles of cross-validations
    (the counts in the run log are per threshold only). Each file is written whole.
    float16 keeps about three decimals: thresholding a kept probability gives the logged
    counts except for pixels within ≈ 2.5e-4 of the threshold (a few hundred of 6.5 M
    over the 14 OSCD cities)."""
    for city, prob in probs.items():
        with atomic_path(probability_path(folder, epoch, city)) as tmp:
            np.save(tmp, prob.astype(np.float16))


def check_probabilities(
    folder: Path | None,
    from_cv: Path | None,
    done: FinishedFolds | None,
) -> None:
    """``InputError`` when ``--cv-probabilities`` would end incomplete: with a stored
    summary (nothing is predicted) or with folds taken from a stopped run's log whose
    probabilities are not in ``folder`` (they are not predicted again)."""
    if folder is None:
        return
    if from_cv is not None:
        raise InputError(
            f"--cv-probabilities {folder} with --from-cv {from_cv}: reusing a summary "
            "predicts nothing; run the cross-validation itself to keep its probabilities"
        )
    taken = [(e["epoch"], city) for events in (done.events if done else {}).values()
             for e in events for city in next(iter(e["cv_counts"].values()))]  # fmt: skip
    missing = [p for p in (probability_path(folder, ep, c) for ep, c in taken) if not p.is_file()]
    if missing:
        raise InputError(
            f"{folder}: the folds resumed from the stopped run have no kept probabilities "
            f"there (e.g. {missing[0]}); resume with the --cv-probabilities folder the "
            "stopped run used, or run without --resume-cv"
        )
