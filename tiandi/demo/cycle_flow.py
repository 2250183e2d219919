"""The ``full_cycle`` Prefect flow: one red-line supervision cycle on the demo scene.

detect (period 1, a finished ``detect_changes`` run) → screening (recorded as lifecycle
steps) → review (scripted ecologist) → dispatch (field packages) → simulated field work
(packages edited as a field app does) → field import (validated; accepted results move
their patches) → accuracy assessment (Olofsson design over the change map, reference
labels simulated from the scene's planted events, 95 % CIs) → rectification → rectified
→ closed (销号) → re-check run on a later period (回头看) that reopens one closed patch →
audit verification of the store, and of a tampered copy (which must fail).

Each task is a thin wrapper around library functions (:mod:`tiandi.demo.cycle_script`
for the scripted people, :mod:`tiandi.demo.cycle_steps` for the cycle's choices,
:mod:`tiandi.redline.field.lifecycle` for the field round trip in the patch store,
:mod:`tiandi.demo.recheck` for the later period). The cycle keeps its own patch store
(``<out>/patches.gpkg``: the flow's settings with that store, opened by ``open_store``) so
its scripted decisions never enter the operator's store, and times come from a scripted
clock (days after the end of the detection period), so the store and the summary are the
same on every run. Like every flow, its parameters are plain values and it opens the
services it needs from the settings; the later period must go into the embedded catalog.

Output folder ``out``: ``patches.gpkg`` (store + audit chain), ``packages/`` (as
dispatched), ``returned/`` (as edited in the field), ``field-results.gpkg`` (+
``-attachments/``), ``accuracy/`` (samples and report), ``recheck/`` (the re-check run),
``tampered/patches.gpkg``, ``cycle.json`` and ``cycle.html``. While the cycle runs the
folder holds ``INCOMPLETE``; ``cycle.json`` is written last.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefect import flow

from tiandi.demo.cycle_report import CycleSummary, write_cycle_report
from tiandi.demo.cycle_stages import (
    Cycle,
    FullCycleRequest,
    accuracy_stage,
    close_stage,
    detect_stage,
    dispatch_stage,
    field_stage,
    import_stage,
    recheck_stage,
    review_stage,
)
from tiandi.demo.cycle_steps import MARKER, audit_summary, cycle_notes, reopened_patches
from tiandi.demo.cycle_tasks import verify
from tiandi.flows.services import FlowServices, flow_services
from tiandi.redline.accuracy.report import AccuracyReport
from tiandi.redline.store.audit import VerifyReport
from tiandi.redline.store.open import open_store
from tiandi.settings import Settings


@dataclass(frozen=True)
class FullCycleResult:
    """What the cycle produced."""

    out: Path
    store: Path
    summary: CycleSummary
    accuracy: AccuracyReport
    audit: VerifyReport
    tampered: VerifyReport


def run_full_cycle(request: FullCycleRequest, services: FlowServices) -> FullCycleResult:
    """The flow's body on opened services: the stages in order, then the audit check."""
    cycle = Cycle.start(request, services.settings)
    detect_stage(cycle)
    accepted = review_stage(cycle)
    packages = dispatch_stage(cycle, accepted)
    import_stage(cycle, field_stage(cycle, packages))
    report = accuracy_stage(cycle, accepted)
    close_stage(cycle)
    recheck = recheck_stage(cycle, services)
    return finish(cycle, report, recheck)


def finish(cycle: Cycle, report: AccuracyReport, recheck: Path) -> FullCycleResult:
    """Verify the store and a tampered copy; write cycle.json and cycle.html."""
    out, store, tampered_path = cycle.out, cycle.store_path, cycle.tampered_path
    audit, tampered, seq = verify(cycle.settings, tampered_path)
    summary = CycleSummary(
        steps=tuple(cycle.steps),
        accuracy=report.to_dict()["groups"][0],
        audit=audit_summary(audit),
        tampered=audit_summary(tampered, seq),
        reopened=reopened_patches(open_store(cycle.settings)),
        outputs={
            "patch store": str(store),
            "field packages": str(out / "packages"),
            "field results": str(out / "field-results.gpkg"),
            "accuracy report": str(out / "accuracy" / "accuracy.html"),
            "re-check run": str(recheck),
            "later period scenes": str(cycle.request.later_scene),
            "tampered copy": str(tampered_path),
        },
        notes=cycle_notes(cycle.request.later, store),
    )
    write_cycle_report(summary, out)
    (out / MARKER).unlink()
    return FullCycleResult(out, store, summary, report, audit, tampered)


@flow(name="full_cycle")
def full_cycle(request: FullCycleRequest, settings: Settings | None = None) -> FullCycleResult:
    """Run one supervision cycle on the demo scene (see the module docstring).

    ``settings``: where the catalog and Dask are (None: read from the environment,
    ``TIANDI_*``, here at the flow's entry); the cycle's own store replaces the patch store.
    """
    settings = settings if settings is not None else Settings()
    with flow_services(settings) as services:
        return run_full_cycle(request, services)


__all__ = ["FullCycleRequest", "FullCycleResult", "full_cycle", "run_full_cycle"]
