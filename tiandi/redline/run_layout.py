"""The run-folder contract: every path of a ``detect_changes`` output folder, in one place.

A run folder holds ``patches.gpkg`` (layers ``patches`` and ``screened``),
``summary.json``, ``summary.html``, ``map.png``, ``change/change_mask.tif``,
``change/change_prob.tif``, ``composites/{before,after}.tif`` and, when the run had
stations, ``tasks/<station>.gpkg``. A ``monitor_blooms`` run folder holds
``water_bodies.gpkg``, ``bloom_series.{csv,json}``, ``bloom_ledger.csv`` and
``bloom_patches.gpkg``. A ``detect_dieback`` run folder has the same
``patches.gpkg`` (dieback patches; clear-cuts in ``screened``), ``summary.json`` and
composites (``before``: the baseline years' seasonal median, ``after``: the monitoring
period's), and ``dieback/alert_status.tif`` and ``dieback/max_z.tif`` instead of the
change maps. Writers (the flow) and readers (dispatch, accuracy
sampling, ledgers, the demo cycle) ask :class:`RunLayout` instead of spelling the names,
and the run id recorded in the patch store and the output catalog comes from here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from tiandi.errors import InputError

PERIODS = ("before", "after")


@dataclass(frozen=True)
class RunLayout:
    """The files of the run folder ``root``; the class constants are their relative paths."""

    root: Path

    PATCHES: ClassVar[str] = "patches.gpkg"
    SUMMARY_JSON: ClassVar[str] = "summary.json"
    SUMMARY_HTML: ClassVar[str] = "summary.html"
    MAP_PNG: ClassVar[str] = "map.png"
    CHANGE_DIR: ClassVar[str] = "change"
    CHANGE_MASK: ClassVar[str] = "change/change_mask.tif"
    CHANGE_PROB: ClassVar[str] = "change/change_prob.tif"
    COMPOSITES_DIR: ClassVar[str] = "composites"
    TASKS_DIR: ClassVar[str] = "tasks"
    # a monitor_blooms run folder
    WATER_BODIES: ClassVar[str] = "water_bodies.gpkg"
    BLOOM_SERIES_CSV: ClassVar[str] = "bloom_series.csv"
    BLOOM_SERIES_JSON: ClassVar[str] = "bloom_series.json"
    BLOOM_LEDGER: ClassVar[str] = "bloom_ledger.csv"
    BLOOM_PATCHES: ClassVar[str] = "bloom_patches.gpkg"

    DIEBACK_DIR: ClassVar[str] = "dieback"
    DIEBACK_STATUS: ClassVar[str] = "dieback/alert_status.tif"
    DIEBACK_MAX_Z: ClassVar[str] = "dieback/max_z.tif"

    # a detect_changes run with the water detector
    WATER: ClassVar[str] = "water.gpkg"

    @staticmethod
    def composite_name(period: str) -> str:
        """Relative path of the composite of ``period`` (``before`` or ``after``)."""
        return f"{RunLayout.COMPOSITES_DIR}/{period}.tif"

    @property
    def patches(self) -> Path:
        """Kept (``patches``) and screened-out (``screened``) patches of the run."""
        return self.root / self.PATCHES

    @property
    def summary_json(self) -> Path:
        """The run's facts (periods, items, detector, parameters, outputs, scores)."""
        return self.root / self.SUMMARY_JSON

    @property
    def summary_html(self) -> Path:
        """The page a person opens after a run."""
        return self.root / self.SUMMARY_HTML

    @property
    def map_png(self) -> Path:
        """Before/after picture with zones and patches."""
        return self.root / self.MAP_PNG

    @property
    def change_dir(self) -> Path:
        """Folder of the change maps."""
        return self.root / self.CHANGE_DIR

    @property
    def change_mask(self) -> Path:
        """The change mask COG (0 no change, 1 change, 255 no data)."""
        return self.root / self.CHANGE_MASK

    @property
    def change_prob(self) -> Path:
        """The change probability COG."""
        return self.root / self.CHANGE_PROB

    def change_layer(self, name: str) -> Path:
        """A further change layer of a disturbance detector (``change/<name>.tif``:
        ``change_class``, ``severity``, ``dnbr``, ...)."""
        if not name.isidentifier():
            raise InputError(f"change layer name {name!r} is not a plain identifier")
        return self.change_dir / f"{name}.tif"

    @property
    def water(self) -> Path:
        """Water runs: water extent per zone (layer ``zones``), coastlines per period of the
        coastal zones (``coastline``) and their displacement (``coastline_change``)."""
        return self.root / self.WATER

    @property
    def tasks_dir(self) -> Path:
        """Folder of the station task packages (``<station>.gpkg``)."""
        return self.root / self.TASKS_DIR

    @property
    def water_bodies(self) -> Path:
        """The water bodies of a bloom run (layer ``water_bodies``)."""
        return self.root / self.WATER_BODIES

    @property
    def bloom_series_csv(self) -> Path:
        """The bloom time series: one row per water body and date."""
        return self.root / self.BLOOM_SERIES_CSV

    @property
    def bloom_series_json(self) -> Path:
        """The bloom time series with the run's parameters and no-data water bodies."""
        return self.root / self.BLOOM_SERIES_JSON

    @property
    def bloom_ledger(self) -> Path:
        """The bloom ledger (台账): dates and areas, Chinese and English headers."""
        return self.root / self.BLOOM_LEDGER

    @property
    def bloom_patches(self) -> Path:
        """Bloom patches of the alert dates (layer ``patches``)."""
        return self.root / self.BLOOM_PATCHES

    @property
    def dieback_status(self) -> Path:
        """Per-pixel dieback alert status COG (0 none, 1 provisional, 2 confirmed, 255 no
        data)."""
        return self.root / self.DIEBACK_STATUS

    @property
    def dieback_max_z(self) -> Path:
        """Per-pixel largest drop against the baseline, robust SDs (float32, NaN no data)."""
        return self.root / self.DIEBACK_MAX_Z

    def composite(self, period: str) -> Path:
        """The composite COG of ``period`` (``before`` or ``after``)."""
        return self.root / self.composite_name(period)

    def composites(self) -> dict[str, Path]:
        """``{"before": COG, "after": COG}``."""
        return {period: self.composite(period) for period in PERIODS}

    def relative(self, path: Path) -> str:
        """``path`` (inside the run folder) relative to it, with forward slashes."""
        return path.relative_to(self.root).as_posix()

    def run_id(self, after: str) -> str:
        """The run's id: folder name and after period (``run1-2025-07-01_2025-12-31``).

        The folder name is taken from the resolved path, so ``.`` and relative paths give
        the same id as the absolute path.
        """
        return f"{self.root.resolve().name}-{after.replace('/', '_')}"
