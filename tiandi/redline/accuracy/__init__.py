"""Accuracy and area estimates of a change map after Olofsson et al. (2014): the
stratified sample design, the error matrix in area proportions, areas and accuracies
with 95 % confidence intervals, overall and per group.

Public API below; import it from here. Names resolve lazily (see
:mod:`tiandi._exports`), so importing one module of this package imports no other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tiandi._exports import lazy_exports

if TYPE_CHECKING:
    from tiandi.redline.accuracy.estimates import AccuracyAssessment as AccuracyAssessment
    from tiandi.redline.accuracy.estimates import assess as assess
    from tiandi.redline.accuracy.estimates import error_matrix as error_matrix
    from tiandi.redline.accuracy.estimates import estimate_areas as estimate_areas
    from tiandi.redline.accuracy.report import AccuracyReport as AccuracyReport
    from tiandi.redline.accuracy.report import accuracy_report as accuracy_report
    from tiandi.redline.accuracy.report import write_accuracy_report as write_accuracy_report
    from tiandi.redline.accuracy.sampling import SampleDesign as SampleDesign
    from tiandi.redline.accuracy.sampling import SamplingParams as SamplingParams
    from tiandi.redline.accuracy.sampling import design_sample as design_sample
    from tiandi.redline.accuracy.sampling import read_samples as read_samples
    from tiandi.redline.accuracy.sampling import write_samples as write_samples

_EXPORTS = {
    "SamplingParams": "sampling",
    "SampleDesign": "sampling",
    "design_sample": "sampling",
    "write_samples": "sampling",
    "read_samples": "sampling",
    "AccuracyAssessment": "estimates",
    "assess": "estimates",
    "error_matrix": "estimates",
    "estimate_areas": "estimates",
    "AccuracyReport": "report",
    "accuracy_report": "report",
    "write_accuracy_report": "report",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
