"""Synthetic detections and store helpers for the patch store tests (both backends)."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import geopandas as gpd
import pytest
from shapely.geometry import box

from tiandi.redline.lifecycle import PatchState
from tiandi.redline.store import GpkgPatchStore, PatchStore, RunInfo
from tiandi.redline.store_postgis import PostgisPatchStore

X0, Y0 = 400000.0, 4460000.0
T0 = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)
UTM = "EPSG:32650"


def make_store(kind: str, tmp_path: Any, request: pytest.FixtureRequest) -> PatchStore:
    """A fresh, empty store of ``kind`` ("gpkg" or "postgis": own schema per test)."""
    if kind == "gpkg":
        return GpkgPatchStore(tmp_path / "patches.gpkg")
    dsn = request.getfixturevalue("postgres_dsn")
    return PostgisPatchStore(dsn, schema=f"t_{uuid.uuid4().hex[:12]}")


def square(i: int, size: float = 100.0, dx: float = 0.0) -> Any:
    """A square patch in row ``i`` of a test grid (UTM 50N metres)."""
    x = X0 + 1000.0 * (i % 10) + dx
    y = Y0 - 1000.0 * (i // 10)
    return box(x, y - size, x + size, y)


def detections(
    specs: Sequence[tuple[str, Any]], *, zone: str = "ZN-1", reason: str | None = None
) -> gpd.GeoDataFrame:
    """A frame like extract_patches' output: (patch_id, geometry) pairs in UTM 50N."""
    rows = []
    for pid, geom in specs:
        area = float(geom.area)
        rows.append(
            {
                "patch_id": pid,
                "zone_id": zone,
                "zone_name": "测试保护区",
                "zone_type": "reserve",
                "functional_zone": "核心区",
                "area_m2": area,
                "area_ha": area / 1e4,
                "area_mu": area / 666.67,
                "change_type": "new",
                "change_type_zh": "新增",
                "hj1156_class": "mining",
                "hj1156_zh": "矿产资源开发",
                "confidence": 0.8,
                "before_ndvi": float("nan"),
                "after_ndvi": 0.1,
                "geometry": geom,
            }
        )
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=UTM)
    if reason is not None:
        frame["screen_reason"] = reason
        frame["screen_reason_zh"] = "季节性/轮作变化"
    return frame


def run_info(n: int, **kw: Any) -> RunInfo:
    """Run number ``n`` (periods half a year apart)."""
    return RunInfo(
        run_id=f"run-{n}",
        at=T0 + timedelta(days=180 * (n - 1)),
        period_before="2025-01-01/2025-06-30",
        period_after="2025-07-01/2025-12-31",
        zone_set_version="sha256:test",
        source="tests",
        parameters={"min_mapping_unit_m2": 1000.0, "detector": "baseline-cva"},
        **kw,
    )


#: How to bring a screened patch to each state: (target, role, kwargs) steps.
PATH_TO: dict[PatchState, list[tuple[str, str, dict[str, str]]]] = {}
_steps: list[tuple[str, str, dict[str, str]]] = [
    ("reviewed_accepted", "reviewer", {"hj1156_class": "mining"}),
    ("dispatched", "dispatcher", {}),
    ("field_checked", "field_crew", {"outcome": "confirmed"}),
    ("rectification_required", "supervisor", {}),
    ("rectified", "field_crew", {}),
    ("closed", "supervisor", {"reason": "rectified and verified"}),
    ("reopened", "supervisor", {"reason": "complaint received"}),
]
PATH_TO[PatchState.SCREENED] = []
for _i, _step in enumerate(_steps):
    PATH_TO[PatchState(_step[0])] = _steps[: _i + 1]


def drive(store: PatchStore, uid: str, state: PatchState, start: datetime) -> datetime:
    """Apply the steps of :data:`PATH_TO` to ``uid``; returns the time after the last."""
    at = start
    for target, role, kw in PATH_TO[state]:
        at += timedelta(minutes=1)
        store.transition(uid, target, actor="tester", role=role, at=at, **kw)
    return at


def raw_sql(store: PatchStore, sql: str) -> None:
    """Run ``sql`` directly on the store's database, bypassing the store (tampering)."""
    if isinstance(store, GpkgPatchStore):
        con = sqlite3.connect(store.path)
        try:
            con.executescript(sql)
        finally:
            con.close()
        return
    if isinstance(store, PostgisPatchStore):
        import psycopg

        with psycopg.connect(store.dsn, autocommit=True) as pg:
            pg.execute(f"SET search_path TO {store.schema}, public")  # type: ignore[arg-type]
            for statement in sql.split(";"):
                if statement.strip():
                    pg.execute(statement)  # type: ignore[arg-type]
        return
    raise TypeError(store)


def audit_tamper_sql(store: PatchStore, seq: int) -> str:
    """SQL that edits the payload of audit record ``seq``, disabling the guard first."""
    if isinstance(store, GpkgPatchStore):
        return (
            "DROP TRIGGER tiandi_audit_no_update;"
            f"UPDATE tiandi_audit SET actor = 'somebody' WHERE seq = {seq};"
        )
    return (
        "ALTER TABLE tiandi_audit DISABLE TRIGGER tiandi_audit_no_change;"
        f"UPDATE tiandi_audit SET actor = 'somebody' WHERE seq = {seq};"
        "ALTER TABLE tiandi_audit ENABLE TRIGGER tiandi_audit_no_change"
    )
