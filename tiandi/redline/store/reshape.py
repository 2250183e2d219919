"""Merging and splitting patches (合并/拆分) in a SQL patch store, one transaction each.

:meth:`SqlPatchReshape.merge` replaces two or more patches of one zone and one run by
their union; :meth:`SqlPatchReshape.split` replaces one patch by the parts a line cuts it
into, or by given parts. Every original is checked against the version the decision was
made on (``ConflictError``, nothing written, when one moved on) and against the lifecycle
(``LifecycleError`` unless it is ``screened``, ``reopened`` or ``reviewed_accepted``).

What is written, all in one transaction with the store's writer lock:

- each new patch, inserted as ``detected`` with the originals' zone and run, its area
  recomputed (:func:`.reshape_geom.area_fields`), and ``patch_id`` = its own uid (it
  has no detection of its own);
- an audit record per new patch, action ``merge`` or ``split``, payload ``from``
  (uid and version of each original) and ``into`` (every new uid): the structured link;
- each original's transition ``supersede`` → ``superseded`` (terminal), its reason
  naming the new patches;
- each new patch's transition ``screen`` → ``screened`` by the same actor, its reason
  naming the originals and their versions (so its history starts at its origin).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from tiandi.errors import ConflictError, InputError
from tiandi.redline.store._backend import Tx
from tiandi.redline.store.audit_chain import AuditEntry
from tiandi.redline.store.lifecycle import PatchState, PatchStatus, Role
from tiandi.redline.store.queries import SqlPatchQueries
from tiandi.redline.store.records import PATCH_NAMES
from tiandi.redline.store.reshape_geom import area_fields, cut_by_line, cut_into_parts, union_of
from tiandi.redline.store.transitions import transition
from tiandi.redline.vocabulary import HJ1156Class

#: Most patches one merge may take.
MAX_MERGE = 100
_COPIED = (
    *("zone_id", "zone_name", "zone_type", "functional_zone", "change_type"),
    *("change_type_zh", "confidence", "first_run", "last_run"),
    *("confidence_level", "evidence"),  # the integrated detector's, like confidence
)


@dataclass(frozen=True)
class ReshapeResult:
    """What a merge or split did: the superseded originals and the new patches' uids."""

    kind: str
    originals: tuple[str, ...]
    created: tuple[str, ...]


@dataclass(frozen=True)
class _Original:
    uid: str
    version: int
    status: PatchStatus
    attrs: dict[str, Any]
    geometry: BaseGeometry

    @property
    def cls(self) -> str | None:
        value = self.attrs.get("reviewed_class") or self.attrs.get("hj1156_class")
        return None if value is None else str(value)


class SqlPatchReshape(SqlPatchQueries):
    """Merge and split, on top of the queries and a backend."""

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
        """Replace ``patches`` ((key, version) pairs, same zone and run) by their union."""
        cls = _checked_class(hj1156_class)
        why = _reason(reason, required=True)
        if not 2 <= len(patches) <= MAX_MERGE:
            raise InputError(f"merge needs 2 to {MAX_MERGE} patches, got {len(patches)}")
        when = at if at is not None else datetime.now(UTC)
        with self._tx(write=True) as tx:
            found = [self._original(tx, key, version) for key, version in patches]
            _same_zone_and_run(found)
            uids = [o.uid for o in found]
            if len(set(uids)) != len(uids):
                raise InputError(f"merge names a patch twice: {', '.join(uids)}")
            largest = max(found, key=lambda o: (o.geometry.area, o.uid))
            geom = union_of([o.geometry for o in found])
            new = self._replace(tx, "merge", found, [geom], largest, cls, (actor, role, why, when))
        return ReshapeResult("merge", tuple(uids), tuple(new))

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
        """Replace the patch ``key`` by the parts ``line`` cuts it into, or by ``parts``."""
        if (line is None) == (parts is None):
            raise InputError("split needs either a line (LineString) or parts (polygons)")
        why = _reason(reason, required=False)
        when = at if at is not None else datetime.now(UTC)
        with self._tx(write=True) as tx:
            original = self._original(tx, key, version)
            if line is not None:
                pieces = cut_by_line(original.geometry, line, original.uid)
            else:
                pieces = cut_into_parts(original.geometry, parts or (), original.uid)
            context = (actor, role, why, when)
            new = self._replace(tx, "split", [original], pieces, original, original.cls, context)
        return ReshapeResult("split", (original.uid,), tuple(new))

    # -- steps -----------------------------------------------------------------------
    def _original(self, tx: Tx, key: str, version: int) -> _Original:
        """A patch to replace, read and checked against ``version`` in ``tx``."""
        uid = self._resolve(tx, key)
        current = self._version(tx, uid)
        if current != version:
            raise ConflictError(
                f"patch {uid} is at version {current}, not {version}: it changed since the "
                "decision was made (nothing was written); reload it and decide again",
                current,
            )
        cols = ", ".join(PATCH_NAMES)
        row = tx.rows(
            f"SELECT {cols}, {self._geom_select('geom')} FROM patches WHERE patch_uid = ?",
            (uid,),
        )[0]
        status = self._status(tx, uid)
        if status is None:  # pragma: no cover - resolved above in the same transaction
            raise InputError(f"patch {key!r} vanished from {self.location}")
        attrs = dict(zip(PATCH_NAMES, row[: len(PATCH_NAMES)], strict=True))
        return _Original(uid, version, status, attrs, self._geom_out(row[-1]))

    def _replace(
        self,
        tx: Tx,
        kind: str,
        originals: Sequence[_Original],
        geoms: Sequence[BaseGeometry],
        model: _Original,
        cls: str | None,
        context: tuple[str, Role | str, str | None, datetime],
    ) -> list[str]:
        """Insert the new patches, supersede the originals, screen the new ones."""
        actor, role, why, when = context
        origin = [{"patch_uid": o.uid, "version": o.version} for o in originals]
        new = [_new_uid(kind, origin, i) for i in range(len(geoms))]
        for uid, geom in zip(new, geoms, strict=True):
            self._insert_new(tx, uid, geom, model, cls, when)
            payload = {"from": origin, "into": new, "reason": why, **area_fields(geom)}
            payload["geometry_wkb_sha256"] = _digest(geom)
            tx.audit(AuditEntry(actor, Role(role).value, kind, uid, payload, when))
        verb = "merged into" if kind == "merge" else "split into"
        for o in originals:
            text = f"{verb} {', '.join(new)}" + (f": {why}" if why else "")
            record = transition(
                o.status, PatchState.SUPERSEDED, actor=actor, role=role, reason=text, at=when
            )
            self._apply(tx, record)
        source = ", ".join(f"{o.uid} (version {o.version})" for o in originals)
        for uid in new:
            text = f"{kind} of {source}" + (f": {why}" if why else "")
            start = PatchStatus(uid, PatchState.DETECTED, updated_at=when)
            record = transition(
                start, PatchState.SCREENED, actor=actor, role=role, reason=text, at=when
            )
            self._apply(tx, record)
        return new

    def _insert_new(
        self,
        tx: Tx,
        uid: str,
        geom: BaseGeometry,
        model: _Original,
        cls: str | None,
        when: datetime,
    ) -> None:
        """One new patch in state ``detected``, attributes from ``model``."""
        values: dict[str, Any] = {k: model.attrs.get(k) for k in _COPIED}
        values.update(area_fields(geom))
        values["patch_id"] = uid
        values["hj1156_class"] = cls
        values["hj1156_zh"] = None if cls is None else HJ1156Class(cls).zh
        values.update(state=PatchState.DETECTED.value, state_zh=PatchState.DETECTED.zh)
        values.update(state_at=self._time_in(when), n_detections=0)
        names = list(values)
        tx.rows(
            f"INSERT INTO patches (patch_uid, {', '.join(names)}, geom) "
            f"VALUES (?, {', '.join('?' * len(names))}, {self._geom_param()})",
            (uid, *values.values(), self._geom_in(geom)),
        )


def _checked_class(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return HJ1156Class(value).value
    except ValueError:
        raise InputError(
            f"hj1156_class {value!r} is unknown; use one of: {', '.join(HJ1156Class)}"
        ) from None


def _reason(value: str | None, *, required: bool) -> str | None:
    text = (value or "").strip() or None
    if required and text is None:
        raise InputError("merge needs a reason (e.g. 'one quarry cut by a road')")
    return text


def _same_zone_and_run(found: Sequence[_Original]) -> None:
    for column, what in (("zone_id", "zone"), ("last_run", "run")):
        values = {str(o.attrs.get(column)) for o in found}
        if len(values) > 1:
            listed = ", ".join(f"{o.uid}: {o.attrs.get(column)}" for o in found)
            raise InputError(f"patches to merge must be of one {what}; they are in {listed}")


def _new_uid(kind: str, origin: list[dict[str, Any]], index: int) -> str:
    seed = f"{kind}|{sorted((o['patch_uid'], o['version']) for o in origin)}|{index}"
    return "PU-" + hashlib.sha256(seed.encode()).hexdigest()[:12]


def _digest(geom: BaseGeometry) -> str:
    wkb = shapely.to_wkb(geom, byte_order=1, output_dimension=2, flavor="iso")
    return hashlib.sha256(bytes(wkb)).hexdigest()
