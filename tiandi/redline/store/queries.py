"""Filtered, paged reads of the patch store, shared by both backends (the service's queries).

:class:`SqlPatchQueries` sits between the import of runs (:mod:`._import`) and the full
store (:mod:`.sql`): every query is SQL with ``?`` placeholders that both backends run;
the only backend-specific piece is the bounding-box condition
(:meth:`~tiandi.redline.store._backend.SqlBackend._bbox_where`: GeoPackage R-tree,
PostGIS ``&&``). Values from callers are always bound as parameters, never spliced.

A patch's **version** is the number of events recorded about it (its detections plus its
lifecycle transitions): every import that touches the patch and every transition raise
it, so a decision made on version *n* can be refused when the patch has moved on
(:meth:`tiandi.redline.store.sql.SqlPatchStore.transition` with ``expected_version``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shapely.geometry.base import BaseGeometry

from tiandi._time import iso_utc, parse_period, parse_time
from tiandi.errors import InputError, NotFoundError
from tiandi.redline.store._backend import Tx
from tiandi.redline.store._import import SqlRunImport
from tiandi.redline.store.audit_chain import GENESIS, HEAD_TABLE
from tiandi.redline.store.lifecycle import PatchState
from tiandi.redline.store.records import PATCH_NAMES

#: Largest page a query returns.
MAX_LIMIT = 1000
#: Decimals of summed areas (as :func:`tiandi.redline.patches.extract_patches` rounds a patch's).
HA_DECIMALS = 4
MU_DECIMALS = 2
#: The class a patch counts under: the reviewed one when set, else the detected one.
CLASS_SQL = "COALESCE(reviewed_class, hj1156_class)"
VERSION_SQL = (
    "(n_detections + (SELECT COUNT(*) FROM patch_transitions t "
    "WHERE t.patch_uid = patches.patch_uid))"
)


#: Sort keys of :class:`PatchQuery`: by identity, or most confident level first.
PATCH_SORTS = ("patch_uid", "confidence_level")
#: Rank of a patch's confidence level: highest 0, high 1, nominal 2, none (other
#: detectors, or stored before schema 3) 3 — sorted last.
LEVEL_RANK_SQL = (
    "(CASE {t}confidence_level WHEN 'highest' THEN 0 WHEN 'high' THEN 1 "
    "WHEN 'nominal' THEN 2 ELSE 3 END)"
)


@dataclass(frozen=True)
class PatchQuery:
    """Which patches to read: every filter optional, pages ordered by ``patch_uid``, or
    with ``sort="confidence_level"`` by confidence level (highest, high, nominal, then
    patches without a level) and ``patch_uid`` within a level.

    ``bbox`` (minx, miny, maxx, maxy in degrees, EPSG:4490) keeps patches whose envelope
    meets the box; ``period`` (``START/END``, ISO dates, both ends inclusive) keeps patches
    whose latest detection (``last_run``) came from a run whose *after* period overlaps
    it; ``after`` is the last ``patch_uid`` of the previous page (in either order: the
    page goes on after that patch's place; an unknown one gives an empty page when
    sorting by level).
    """

    zone_id: str | None = None
    run_id: str | None = None
    hj1156_class: str | None = None
    change_type: str | None = None
    state: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    period: str | None = None
    after: str | None = None
    limit: int = 100
    sort: str = "patch_uid"

    def checked(self) -> PatchQuery:
        """This query, or ``InputError`` naming the bad filter."""
        if not 1 <= self.limit <= MAX_LIMIT:
            raise InputError(f"limit {self.limit} is out of range; use 1 to {MAX_LIMIT}")
        if self.sort not in PATCH_SORTS:
            raise InputError(f"sort {self.sort!r} is unknown; use one of: {', '.join(PATCH_SORTS)}")
        if self.state is not None and self.state not in set(PatchState):
            raise InputError(
                f"state {self.state!r} is unknown; use one of: {', '.join(PatchState)}"
            )
        if self.bbox is not None:
            check_bbox(self.bbox)
        if self.period is not None:
            period_bounds(self.period, "period")
        return self


def period_bounds(value: str, option: str) -> tuple[datetime, datetime]:
    """The start and end of the ``START/END`` period ``value`` (``InputError`` naming
    ``option`` when it is not one)."""
    start, end = parse_period(value, option).split("/")
    return parse_time(start, option), parse_time(end, option)


def _overlaps(period: str | None, start: datetime, end: datetime) -> bool:
    """Whether the recorded ``period`` overlaps [start, end]; False when unreadable."""
    if not period:
        return False
    try:
        first, last = period_bounds(period, "recorded period")
    except InputError:
        return False
    return first <= end and last >= start


def check_bbox(bbox: Sequence[float]) -> tuple[float, float, float, float]:
    """``bbox`` as (minx, miny, maxx, maxy), or ``InputError`` saying what is wrong."""
    if len(bbox) != 4:
        raise InputError(
            f"bbox has {len(bbox)} numbers; it must be four numbers minx,miny,maxx,maxy"
        )
    minx, miny, maxx, maxy = (float(v) for v in bbox)
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise InputError(f"bbox {list(bbox)} holds a non-finite number; give four finite numbers")
    if minx > maxx or miny > maxy:
        raise InputError(
            f"bbox {list(bbox)} has min > max; give minx,miny,maxx,maxy with minx <= maxx "
            "and miny <= maxy (degrees, EPSG:4490)"
        )
    return minx, miny, maxx, maxy


@dataclass(frozen=True)
class PatchRow:
    """One patch as a query returns it: attributes, geometry (EPSG:4490) and version."""

    patch_uid: str
    attributes: dict[str, Any]
    geometry: BaseGeometry
    version: int


@dataclass(frozen=True)
class PatchPage:
    """One page of patches; ``next_after`` is the cursor of the next page (None: last)."""

    patches: tuple[PatchRow, ...]
    next_after: str | None


@dataclass(frozen=True)
class ZoneInfo:
    """A zone as the store knows it: from the patches recorded in it."""

    zone_id: str
    zone_name: str | None
    zone_type: str | None
    patches: int
    area_ha: float


@dataclass(frozen=True)
class StatsRow:
    """Patches of one zone in one class and lifecycle state."""

    hj1156_class: str | None
    state: str
    count: int
    area_ha: float
    area_mu: float


class SqlPatchQueries(SqlRunImport):
    """Filtered, paged queries and the patch version, on top of a backend."""

    def _period_runs(self, tx: Tx, period: str) -> list[str]:
        """The runs whose *after* period overlaps ``period`` (compared in Python: the
        periods are ISO text, and both backends then take the ids as bound values)."""
        start, end = period_bounds(period, "period")
        rows = tx.rows("SELECT run_id, period_after FROM patch_runs ORDER BY run_id", ())
        return [str(r[0]) for r in rows if _overlaps(r[1], start, end)]

    def _where(self, query: PatchQuery, tx: Tx) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        simple = (
            ("zone_id = ?", query.zone_id),
            (f"{CLASS_SQL} = ?", query.hj1156_class),
            ("change_type = ?", query.change_type),
            ("state = ?", query.state),
            ("patch_uid > ?", query.after if query.sort == "patch_uid" else None),
            (
                "patch_uid IN (SELECT patch_uid FROM patch_detections WHERE run_id = ?)",
                query.run_id,
            ),
        )
        for sql, value in simple:
            if value is not None:
                where.append(sql)
                params.append(value)
        if query.after is not None and query.sort == "confidence_level":
            rank, mark = LEVEL_RANK_SQL.format(t=""), LEVEL_RANK_SQL.format(t="c.")
            last = f"(SELECT {mark} FROM patches c WHERE c.patch_uid = ?)"
            where.append(f"({rank} > {last} OR ({rank} = {last} AND patch_uid > ?))")
            params.extend([query.after, query.after, query.after])
        if query.bbox is not None:
            where.append(self._bbox_where())
            params.extend(query.bbox)
        if query.period is not None:
            runs = self._period_runs(tx, query.period)
            where.append(f"last_run IN ({', '.join('?' * len(runs))})" if runs else "1 = 0")
            params.extend(runs)
        return where, params

    def query_patches(self, query: PatchQuery) -> PatchPage:
        """One page of the patches matching ``query``, in ``patch_uid`` order."""
        query = query.checked()
        cols = ", ".join(PATCH_NAMES)
        sql = f"SELECT {cols}, {VERSION_SQL}, {self._geom_select('geom')} FROM patches"
        with self._tx(write=False) as tx:
            where, params = self._where(query, tx)
            if where:
                sql += " WHERE " + " AND ".join(where)
            order = "patch_uid"
            if query.sort == "confidence_level":
                order = f"{LEVEL_RANK_SQL.format(t='')}, patch_uid"
            sql += f" ORDER BY {order} LIMIT ?"
            rows = tx.rows(sql, [*params, query.limit + 1])
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        geoms = self._geoms_out([r[-1] for r in rows])
        found = tuple(
            PatchRow(str(r[0]), self._row_attrs(r), g, int(r[-2]))
            for r, g in zip(rows, geoms, strict=True)
        )
        return PatchPage(found, found[-1].patch_uid if more and found else None)

    def changes_since(self, run_id: str, *, after: str | None, limit: int) -> PatchPage:
        """Patches changed after the run ``run_id`` was recorded, in ``patch_uid`` order,
        each with ``change``: ``created`` (first detected by a later run), ``closed``
        (closed since) or ``updated`` (a later detection, state or class change).

        "After" is by the audit chain's order (the run's ``run`` record), not by clocks.
        Raises :class:`~tiandi.errors.NotFoundError` for an unknown run.
        """
        limit = PatchQuery(limit=limit).checked().limit
        later = "SELECT subject FROM tiandi_audit WHERE action = 'run' AND seq > ?"
        cols = ", ".join(PATCH_NAMES)
        sql = (
            f"SELECT {cols}, CASE WHEN first_run IN ({later}) THEN 'created' "
            "WHEN state = 'closed' AND patch_uid IN (SELECT patch_uid FROM patch_transitions "
            "WHERE target = 'closed' AND audit_seq > ?) THEN 'closed' ELSE 'updated' END, "
            f"{VERSION_SQL}, {self._geom_select('geom')} FROM patches WHERE patch_uid > ? AND ("
            "patch_uid IN (SELECT patch_uid FROM patch_transitions WHERE audit_seq > ?) OR "
            f"patch_uid IN (SELECT patch_uid FROM patch_detections WHERE run_id IN ({later}))) "
            "ORDER BY patch_uid LIMIT ?"
        )
        with self._tx(write=False) as tx:
            found = tx.rows(
                "SELECT seq FROM tiandi_audit WHERE action = 'run' AND subject = ? "
                "ORDER BY seq DESC LIMIT 1",
                (run_id,),
            )
            if not found:
                raise NotFoundError(
                    f"run {run_id!r} is not recorded in the patch store {self.location}; "
                    "list the runs with GET /api/v1/runs"
                )
            seq = int(found[0][0])
            rows = tx.rows(sql, (seq, seq, after or "", seq, seq, limit + 1))
        page = tuple(
            PatchRow(
                str(r[0]),
                {**self._row_attrs(r), "change": str(r[-3])},
                self._geom_out(r[-1]),
                int(r[-2]),
            )
            for r in rows[:limit]
        )
        return PatchPage(page, page[-1].patch_uid if len(rows) > limit and page else None)

    def _row_attrs(self, row: Sequence[Any]) -> dict[str, Any]:
        """The ``patches`` columns of a selected row (times as ISO text)."""
        attrs = dict(zip(PATCH_NAMES, row[: len(PATCH_NAMES)], strict=True))
        at = self._time_out(attrs["state_at"])
        attrs["state_at"] = None if at is None else iso_utc(at, timespec="microseconds")
        return attrs

    def _version(self, tx: Tx, uid: str) -> int:
        rows = tx.rows(f"SELECT {VERSION_SQL} FROM patches WHERE patch_uid = ?", (uid,))
        return int(rows[0][0]) if rows else 0

    def version(self, key: str) -> int:
        """The version of the patch ``key`` (detections + transitions recorded)."""
        with self._tx(write=False) as tx:
            return self._version(tx, self._resolve(tx, key))

    def zones(self) -> list[ZoneInfo]:
        """The zones holding patches, by zone id, with their patch count and area."""
        with self._tx(write=False) as tx:
            rows = tx.rows(
                "SELECT zone_id, MIN(zone_name), MIN(zone_type), COUNT(*), "
                "COALESCE(SUM(area_ha), 0) FROM patches WHERE zone_id IS NOT NULL "
                "GROUP BY zone_id ORDER BY zone_id"
            )
        return [
            ZoneInfo(str(r[0]), _text(r[1]), _text(r[2]), int(r[3]), round_ha(float(r[4])))
            for r in rows
        ]

    def zone_stats(self, zone_id: str) -> list[StatsRow]:
        """Count, ha and 亩 of the patches of ``zone_id`` by class and state (empty: none)."""
        with self._tx(write=False) as tx:
            rows = tx.rows(
                f"SELECT {CLASS_SQL} AS cls, state, COUNT(*), COALESCE(SUM(area_ha), 0), "
                "COALESCE(SUM(area_mu), 0) FROM patches WHERE zone_id = ? "
                f"GROUP BY {CLASS_SQL}, state ORDER BY {CLASS_SQL}, state",
                (zone_id,),
            )
        return [
            StatsRow(
                _text(r[0]), str(r[1]), int(r[2]), round_ha(float(r[3])), round_mu(float(r[4]))
            )
            for r in rows
        ]

    def latest_reasons(self, transition_name: str) -> dict[str, str]:
        """patch_uid → the reason of its latest transition named ``transition_name``
        (e.g. ``dispatch``: which package and station it went to)."""
        with self._tx(write=False) as tx:
            rows = tx.rows(
                "SELECT patch_uid, reason FROM patch_transitions WHERE name = ? ORDER BY seq",
                (transition_name,),
            )
        return {str(uid): str(reason or "") for uid, reason in rows}

    def audit_head(self) -> tuple[int, str]:
        """(seq, hash) of the newest audit record; (0, GENESIS) for an empty log."""
        with self._tx(write=False) as tx:
            rows = tx.rows(f"SELECT seq, hash FROM {HEAD_TABLE} WHERE id = 1")
        return (0, GENESIS) if not rows else (int(rows[0][0]), str(rows[0][1]))


def round_ha(value: float) -> float:
    """Hectares as every endpoint reports them: 4 decimals (1 m²), like a patch's ``area_ha``."""
    return round(value, HA_DECIMALS)


def round_mu(value: float) -> float:
    """亩 as every endpoint reports them: 2 decimals, like a patch's ``area_mu``."""
    return round(value, MU_DECIMALS)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
