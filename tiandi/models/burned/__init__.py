"""Burned areas (火烧迹地): a two-date burn-scar detector and fire-pair evaluation.

:class:`BurnedLearnedDetector` (:mod:`tiandi.models.burned.learned`) is the
``ChangeDetector`` ``load_detector("burned-area")`` returns, :class:`BurnedAreaDetector`
the training-free one of ``load_detector("burned-rbr")`` and ``"burned-dnbr"``;
:func:`read_fire` reads ``<fire>/{pre,post,mask}.tif`` aligned by georeference;
:func:`evaluate_burned` scores a detector on a folder of such fires.
"""

from tiandi.models.burned.detector import (
    BANDS,
    DEFAULT_PARAMS,
    SEVERITY_BREAKS,
    SEVERITY_CLASSES,
    BurnedAreaDetector,
    BurnedAreaParams,
    severity_class,
)
from tiandi.models.burned.evaluation import BurnedEvaluation, evaluate_burned, write_evaluation
from tiandi.models.burned.pairs import FirePair, list_fires, read_fire

__all__ = [
    "BANDS",
    "DEFAULT_PARAMS",
    "SEVERITY_BREAKS",
    "SEVERITY_CLASSES",
    "BurnedAreaDetector",
    "BurnedAreaParams",
    "BurnedEvaluation",
    "FirePair",
    "evaluate_burned",
    "list_fires",
    "read_fire",
    "severity_class",
    "write_evaluation",
]
