"""The patch store's interface, :class:`PatchStore`, which both backends implement
(:class:`tiandi.redline.store.gpkg.GpkgPatchStore`,
:class:`tiandi.redline.store.postgis.PostgisPatchStore`; the behaviour is
:class:`tiandi.redline.store.sql.SqlPatchStore`). Import it from
:mod:`tiandi.redline.store` (or :mod:`tiandi.redline.store.gpkg`, where it was first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import geopandas as gpd
from shapely.geometry.base import BaseGeometry

from tiandi.redline.store.audit_chain import AuditRecord
from tiandi.redline.store.audit_verify import VerifyReport
from tiandi.redline.store.lifecycle import FieldOutcome, PatchState, Role, TransitionRecord
from tiandi.redline.store.queries import PatchPage, PatchQuery, StatsRow, ZoneInfo
from tiandi.redline.store.records import DetectedPatch, ImportSummary, RunInfo, StoredPatch
from tiandi.redline.store.reshape import ReshapeResult
from tiandi.redline.store.schema import SchemaReport


@runtime_checkable
class PatchStore(Protocol):
    """Patches, their lifecycle and the audit log; see :class:`SqlPatchStore` for details."""

    location: str

    def ensure(self) -> None:
        """Create the store if it does not exist yet."""
        ...

    def upgrade_schema(self) -> SchemaReport:
        """Check the schema version; upgrade an older store, refuse a newer one."""
        ...

    def import_run(self, run: RunInfo, detections: Sequence[DetectedPatch]) -> ImportSummary:
        """Record a run and its (identity-matched) detections in one transaction."""
        ...

    def get(self, key: str) -> StoredPatch:
        """One patch by patch_uid or detection patch_id."""
        ...

    def list_patches(
        self, *, zone_id: str | None = None, state: PatchState | str | None = None
    ) -> gpd.GeoDataFrame:
        """Patches in EPSG:4490, optionally filtered by zone and state."""
        ...

    def transition(
        self,
        key: str,
        to: PatchState | str,
        *,
        actor: str,
        role: Role | str,
        reason: str | None = None,
        at: datetime | None = None,
        hj1156_class: str | None = None,
        outcome: FieldOutcome | str | None = None,
        expected_version: int | None = None,
        ground_answers: Mapping[str, str] | None = None,
    ) -> TransitionRecord:
        """Apply and record one lifecycle transition (state + history + audit, atomically);
        ``ConflictError`` when ``expected_version`` is given and is not the current one;
        ``ground_answers``: a field check's answers on the ground, kept in the patch."""
        ...

    def query_patches(self, query: PatchQuery) -> PatchPage:
        """One page of patches matching ``query``, in patch_uid order."""
        ...

    def merge(
        self,
        patches: Sequence[tuple[str, int]],
        *,
        actor: str,
        role: Role | str,
        reason: str,
        hj1156_class: str | None = None,
        at: datetime | None = None,
    ) -> ReshapeResult:
        """Replace patches ((key, version) pairs, one zone and run) by their union."""
        ...

    def split(
        self,
        key: str,
        version: int,
        *,
        actor: str,
        role: Role | str,
        line: BaseGeometry | None = None,
        parts: Sequence[BaseGeometry] | None = None,
        reason: str | None = None,
        at: datetime | None = None,
    ) -> ReshapeResult:
        """Replace a patch by the parts a line cuts it into, or by given parts."""
        ...

    def changes_since(self, run_id: str, *, after: str | None, limit: int) -> PatchPage:
        """Patches created, updated or closed after run ``run_id``, with ``change``."""
        ...

    def version(self, key: str) -> int:
        """The version of a patch (detections + transitions recorded about it)."""
        ...

    def zones(self) -> list[ZoneInfo]:
        """The zones holding patches."""
        ...

    def zone_stats(self, zone_id: str) -> list[StatsRow]:
        """Patches of a zone by class and state."""
        ...

    def latest_reasons(self, transition_name: str) -> dict[str, str]:
        """patch_uid → reason of its latest transition of that name."""
        ...

    def audit_head(self) -> tuple[int, str]:
        """(seq, hash) of the newest audit record."""
        ...

    def history(self, key: str) -> list[TransitionRecord]:
        """The transitions of a patch, oldest first."""
        ...

    def detections(self, key: str) -> list[dict[str, Any]]:
        """The detections of a patch, oldest first."""
        ...

    def runs(self) -> list[tuple[RunInfo, dict[str, Any]]]:
        """Recorded runs with their summaries."""
        ...

    def record_event(
        self,
        *,
        actor: str,
        role: str,
        action: str,
        subject: str,
        payload: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> AuditRecord:
        """Append one audit record."""
        ...

    def audit_records(self, *, subject: str | None = None) -> list[AuditRecord]:
        """Audit records in seq order."""
        ...

    def verify_audit(self, *, expected_head: str | None = None) -> VerifyReport:
        """Verify the audit chain."""
        ...
