"""The patch store: patches across runs, their lifecycle state machine and the
hash-chained audit log, behind one interface (:class:`PatchStore`) with a GeoPackage
backend (embedded default) and a PostgreSQL/PostGIS backend (production), stable patch
identity across runs, and the recording of a detection run.

Public API below; import it from here. Names resolve lazily (see
:mod:`tiandi._exports`), so importing one module of this package imports no other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tiandi._exports import lazy_exports

if TYPE_CHECKING:
    from tiandi.redline.store.audit import AuditLog as AuditLog
    from tiandi.redline.store.audit_verify import VerifyReport as VerifyReport
    from tiandi.redline.store.gpkg import GpkgPatchStore as GpkgPatchStore
    from tiandi.redline.store.gpkg import PatchStore as PatchStore
    from tiandi.redline.store.identity import IdentityParams as IdentityParams
    from tiandi.redline.store.identity import match_patches as match_patches
    from tiandi.redline.store.lifecycle import FieldOutcome as FieldOutcome
    from tiandi.redline.store.lifecycle import PatchState as PatchState
    from tiandi.redline.store.lifecycle import Role as Role
    from tiandi.redline.store.lifecycle import allowed_targets as allowed_targets
    from tiandi.redline.store.open import open_store as open_store
    from tiandi.redline.store.postgis import PostgisPatchStore as PostgisPatchStore
    from tiandi.redline.store.queries import PatchPage as PatchPage
    from tiandi.redline.store.queries import PatchQuery as PatchQuery
    from tiandi.redline.store.recording import record_detections as record_detections
    from tiandi.redline.store.records import DetectedPatch as DetectedPatch
    from tiandi.redline.store.records import RunInfo as RunInfo
    from tiandi.redline.store.records import StoredPatch as StoredPatch
    from tiandi.redline.store.reshape import ReshapeResult as ReshapeResult
    from tiandi.redline.store.transitions import transition as transition

_EXPORTS = {
    "PatchStore": "gpkg",
    "GpkgPatchStore": "gpkg",
    "open_store": "open",
    "PostgisPatchStore": "postgis",
    "RunInfo": "records",
    "DetectedPatch": "records",
    "StoredPatch": "records",
    "PatchState": "lifecycle",
    "Role": "lifecycle",
    "FieldOutcome": "lifecycle",
    "transition": "transitions",
    "allowed_targets": "lifecycle",
    "AuditLog": "audit",
    "VerifyReport": "audit_verify",
    "IdentityParams": "identity",
    "match_patches": "identity",
    "record_detections": "recording",
    "ReshapeResult": "reshape",
    "PatchQuery": "queries",
    "PatchPage": "queries",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
