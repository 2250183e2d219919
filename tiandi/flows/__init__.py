"""Prefect flows: plain JSON parameters in, services opened from :class:`tiandi.settings.Settings`
inside the flow, thin tasks around library functions that retry only on I/O.

Modules: ``detect_changes`` (the monitoring run: search → composite → detect → patches →
tasks → outputs; its tasks in ``detect_tasks``), ``train_change_model`` (train and score a
change network), ``services`` (what a flow runs against: STAC API, registrar, Dask client,
patch store), ``runtime`` (the Prefect API and the Dask cluster, local or configured).

Public API below; names resolve lazily (:mod:`tiandi._exports`). The flows themselves are
imported from their modules (``from tiandi.flows.detect_changes import detect_changes``):
a package attribute named like a submodule would be the module once it is imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tiandi._exports import lazy_exports

if TYPE_CHECKING:
    from tiandi.flows.detect_changes import DetectChangesRequest as DetectChangesRequest
    from tiandi.flows.detect_changes import DetectChangesResult as DetectChangesResult
    from tiandi.flows.runtime import prefect_session as prefect_session
    from tiandi.flows.services import FlowServices as FlowServices
    from tiandi.flows.services import flow_services as flow_services
    from tiandi.flows.train_change_model import TrainChangeModelRequest as TrainChangeModelRequest
    from tiandi.flows.train_change_model import TrainChangeModelResult as TrainChangeModelResult

_EXPORTS = {
    "DetectChangesRequest": "detect_changes",
    "DetectChangesResult": "detect_changes",
    "TrainChangeModelRequest": "train_change_model",
    "TrainChangeModelResult": "train_change_model",
    "flow_services": "services",
    "FlowServices": "services",
    "prefect_session": "runtime",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
