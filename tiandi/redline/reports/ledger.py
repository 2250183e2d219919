"""Ledgers (台账): patch counts and areas per zone and per period, as CSV and XLSX.

Two summaries and a register, all with Chinese and English headers:

- by zone (按保护地): period × zone × HJ 1156 class × change type × lifecycle state →
  number of patches, area in m², ha and 亩;
- by period (按时期): the same over all zones;
- patch register (图斑清单): one row per patch; when the patches come from the patch store
  (:func:`~tiandi.redline.reports.ledger_sources.store_periods`) it adds the crew's
  answers on the ground (burn severity, bloom observed, dieback cause; ``重度 high``), one
  column each.

Each summary ends with a 合计 Total row per period. The lifecycle state comes from a
``state`` column when the patches carry one (from the patch store), else every patch is
``detected``. CSV files are UTF-8 with a byte-order mark, so Excel shows the Chinese text
correctly; one header row ``中文 English``. The XLSX workbook has one sheet per table, a
Chinese header row over an English one (both frozen), column widths fitted to the text,
and fixed document timestamps and zip entry times, so the same patches give the same
bytes. Writers are atomic.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from tiandi._io import atomic_path
from tiandi.errors import InputError
from tiandi.redline.field.answers import question_labels, value_label
from tiandi.redline.field.schema import GROUND_QUESTIONS, GroundQuestion
from tiandi.redline.store.lifecycle import PatchState
from tiandi.redline.vocabulary import M2_PER_HA, MU_M2, ChangeType, HJ1156Class

DETECTED = PatchState.DETECTED.value
TOTAL = "合计 Total"
_FIXED_TIME = datetime(2000, 1, 1)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Column:
    """A ledger column: key in the frame, Chinese and English header."""

    key: str
    zh: str
    en: str

    @property
    def header(self) -> str:
        """``中文 English`` (the CSV header)."""
        return f"{self.zh} {self.en}"


_C = {
    c.key: c
    for c in (
        Column("period", "监测时期", "Period"),
        Column("zone_id", "保护地编号", "Zone ID"),
        Column("zone_name", "保护地名称", "Zone name"),
        Column("zone_type", "类型", "Zone type"),
        Column("functional_zone", "功能区", "Functional zone"),
        Column("hj1156_class", "人类活动类型代码", "HJ 1156 class"),
        Column("hj1156_zh", "人类活动类型", "HJ 1156 class (zh)"),
        Column("change_type", "变化类型代码", "Change type"),
        Column("change_type_zh", "变化类型", "Change type (zh)"),
        Column("state", "状态代码", "Lifecycle state"),
        Column("state_zh", "状态", "Lifecycle state (zh)"),
        Column("n_patches", "图斑数", "Patches"),
        Column("patch_id", "图斑编号", "Patch ID"),
        Column("area_m2", "面积（平方米）", "Area (m²)"),
        Column("area_ha", "面积（公顷）", "Area (ha)"),
        Column("area_mu", "面积（亩）", "Area (mu)"),
        Column("confidence", "置信度", "Confidence"),
        Column("date", "监测日期", "Date"),
        Column("water_id", "水体编号", "Water body ID"),
        Column("clear_share", "有效观测比例", "Clear share"),
        Column("bloom_share", "水华面积比例", "Bloom share"),
        Column("grade", "水华规模代码", "Bloom grade"),
        Column("grade_zh", "水华规模", "Bloom grade (zh)"),
        Column("alert", "预警", "Alert"),
    )
}
_LABELS = ["hj1156_class", "hj1156_zh", "change_type", "change_type_zh", "state", "state_zh"]
_ZONE = ["zone_id", "zone_name", "zone_type", "functional_zone"]
_AREAS = ["area_m2", "area_ha", "area_mu"]
BY_ZONE = ["period", *_ZONE, *_LABELS, "n_patches", *_AREAS]
BY_PERIOD = ["period", *_LABELS, "n_patches", *_AREAS]
REGISTER = ["period", "patch_id", *_ZONE, *_LABELS, *_AREAS, "confidence"]
# -- the crew's answers on the ground (patch store schema version 3) -- begin
#: Register columns of the answers, labelled like the field form's questions.
ANSWERS = [q.column for q in GROUND_QUESTIONS]


def _answer_column(q: GroundQuestion) -> Column:
    zh, en = question_labels(q)
    return Column(q.column, f"{zh}（实地核查）", f"{en[:1].upper()}{en[1:]}, on the ground")


_C.update({q.column: _answer_column(q) for q in GROUND_QUESTIONS})


def register_columns(register: pd.DataFrame) -> list[str]:
    """:data:`REGISTER`, and the answer columns when the register carries them."""
    return [*REGISTER, *(c for c in ANSWERS if c in register.columns)]


def _answer_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """The answer columns ``frame`` has, as ``中文 English`` labels (empty when none)."""
    out = frame.copy()
    for column in ANSWERS:
        if column in out.columns:
            out[column] = [
                value_label(column, str(v)) if isinstance(v, str) and v else "" for v in out[column]
            ]
    return out


# -- the crew's answers on the ground -- end
BLOOM_REGISTER = [
    "date",
    "zone_id",
    "zone_name",
    "water_id",
    "clear_share",
    *_AREAS,
    "bloom_share",
    "grade",
    "grade_zh",
    "alert",
]


@dataclass(frozen=True, eq=False)
class Ledger:
    """The three tables of a ledger (plain DataFrames with the keys above as columns)."""

    by_zone: pd.DataFrame
    by_period: pd.DataFrame
    register: pd.DataFrame

    def sheets(self) -> dict[str, tuple[pd.DataFrame, list[str]]]:
        """Sheet name → (table, column keys), in workbook order."""
        return {
            "按保护地 By zone": (self.by_zone, BY_ZONE),
            "按时期 By period": (self.by_period, BY_PERIOD),
            "图斑清单 Patches": (self.register, register_columns(self.register)),
        }


def _label(enum: Any, value: str) -> str:
    try:
        return str(enum(value).zh)
    except ValueError:
        return value


def patch_register(patches: pd.DataFrame, *, period: str) -> pd.DataFrame:
    """One row per patch with the ledger columns (labels, state, areas) for ``period``.

    ``InputError`` when a column the ledger needs is missing.
    """
    need = ["patch_id", "zone_id", "zone_name", "hj1156_class", "change_type", "area_m2"]
    missing = [c for c in need if c not in patches.columns]
    if missing:
        raise InputError(
            f"patches for period {period!r} lack the column(s) {missing}; pass a patches layer "
            "written by the detect_changes flow or the patch store"
        )
    frame = pd.DataFrame(patches.drop(columns="geometry", errors="ignore")).copy()
    frame["period"] = period
    for column in ("zone_type", "functional_zone", "confidence"):
        if column not in frame.columns:
            frame[column] = None
    if "state" not in frame.columns:
        frame["state"] = DETECTED
    frame["state"] = frame["state"].fillna(DETECTED).astype(str)
    for column in ("zone_id", "zone_name", "zone_type", "functional_zone"):
        frame[column] = frame[column].map(lambda v: "" if v is None or v != v else str(v))
    frame["hj1156_class"] = frame["hj1156_class"].astype(str)
    frame["change_type"] = frame["change_type"].astype(str)
    frame["hj1156_zh"] = [_label(HJ1156Class, v) for v in frame["hj1156_class"]]
    frame["change_type_zh"] = [_label(ChangeType, v) for v in frame["change_type"]]
    frame["state_zh"] = [_label(PatchState, v) for v in frame["state"]]
    area = pd.to_numeric(frame["area_m2"], errors="coerce")
    if area.isna().any() or (area < 0).any():
        raise InputError(f"patches for period {period!r} have missing or negative area_m2")
    frame = _answer_cells(_with_areas(frame.assign(area_m2=area.astype(float))))
    columns = register_columns(frame)
    return frame.sort_values(["zone_id", "patch_id"], kind="stable")[columns].reset_index(drop=True)


def _with_areas(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["area_ha"] = (out["area_m2"] / M2_PER_HA).round(4)
    out["area_mu"] = (out["area_m2"] / MU_M2).round(2)
    out["area_m2"] = out["area_m2"].round(1)
    return out


def _summary(
    register: pd.DataFrame, keys: Sequence[str], columns: list[str], total_in: str
) -> pd.DataFrame:
    parts = []
    for period, rows in register.groupby("period", sort=True):
        grouped = (
            rows.groupby(list(keys), sort=True, dropna=False)
            .agg(n_patches=("patch_id", "count"), area_m2=("area_m2", "sum"))
            .reset_index()
        )
        total = dict.fromkeys(keys, "") | {
            "period": period,
            total_in: TOTAL,
            "n_patches": len(rows),
            "area_m2": float(rows["area_m2"].sum()),
        }
        parts += [grouped, pd.DataFrame([total])]
    if not parts:
        return pd.DataFrame(columns=columns)
    frame = _with_areas(pd.concat(parts, ignore_index=True))
    frame["n_patches"] = frame["n_patches"].astype(int)
    return frame[columns]


def build_ledger(periods: Mapping[str, pd.DataFrame]) -> Ledger:
    """Ledger of the patches of each period (``{period: patches}``, periods sorted)."""
    registers = [patch_register(p, period=k) for k, p in sorted(periods.items())]
    register = (
        pd.concat(registers, ignore_index=True) if registers else pd.DataFrame(columns=REGISTER)
    )
    return Ledger(
        _summary(register, ["period", *_ZONE, *_LABELS], BY_ZONE, "zone_name"),
        _summary(register, ["period", *_LABELS], BY_PERIOD, "hj1156_zh"),
        register,
    )


def bloom_register(series: pd.DataFrame) -> pd.DataFrame:
    """The bloom ledger (水华台账): one row per date and water body with the bloom area
    (m², ha, 亩), its share and grade, from a ``monitor_blooms`` series table
    (:data:`tiandi.redline.patches.bloom.SERIES_COLUMNS`). No-data dates keep their row
    with empty areas."""
    frame = series.rename(
        columns={"bloom_area_m2": "area_m2", "bloom_area_ha": "area_ha", "bloom_area_mu": "area_mu"}
    )
    missing = [c for c in BLOOM_REGISTER if c not in frame.columns]
    if missing:
        raise InputError(f"bloom series lacks the column(s) {missing}; pass monitor_blooms' series")
    frame = frame.assign(alert=frame["alert"].map(lambda a: "是 yes" if a else "否 no"))
    return frame.sort_values(["date", "water_id"], kind="stable")[BLOOM_REGISTER].reset_index(
        drop=True
    )


def write_ledger_csv(table: pd.DataFrame, columns: Sequence[str], path: Path) -> Path:
    """Write one table as CSV (UTF-8 with BOM, ``中文 English`` headers); atomic."""
    frame = table[list(columns)].rename(columns={k: _C[k].header for k in columns})
    with atomic_path(Path(path)) as tmp:
        frame.to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\r\n")
    return Path(path)


class _FixedTimeZip(zipfile.ZipFile):
    """A ZipFile whose entries all carry the same time, for reproducible XLSX bytes."""

    def writestr(  # type: ignore[override]
        self,
        zinfo_or_arcname: str | zipfile.ZipInfo,
        data: str | bytes,
        compress_type: int | None = None,
        compresslevel: int | None = None,
    ) -> None:
        name = (
            zinfo_or_arcname.filename
            if isinstance(zinfo_or_arcname, zipfile.ZipInfo)
            else zinfo_or_arcname
        )
        info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        super().writestr(info, data, compress_type, compresslevel)

    def write(  # type: ignore[override]
        self,
        filename: str | Path,
        arcname: str | None = None,
        compress_type: int | None = None,
        compresslevel: int | None = None,
    ) -> None:
        # openpyxl writes worksheets through temporary files: store their bytes instead
        data = Path(filename).read_bytes()
        self.writestr(arcname or Path(filename).name, data, compress_type, compresslevel)


def write_ledger_xlsx(ledger: Ledger, path: Path) -> Path:
    """Write the ledger as one XLSX workbook (a sheet per table); atomic, stable bytes."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.writer.excel import ExcelWriter

    wb = Workbook()
    wb.remove(wb.active)
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    for title, (table, keys) in ledger.sheets().items():
        ws = wb.create_sheet(title)
        ws.append([_C[k].zh for k in keys])
        ws.append([_C[k].en for k in keys])
        for row in table[keys].itertuples(index=False):
            ws.append([_cell(v) for v in row])
        for cell in (*ws[1], *ws[2]):
            cell.font, cell.fill = bold, fill
            cell.alignment = Alignment(horizontal="center")
        ws.freeze_panes = "A3"
        for i, key in enumerate(keys, start=1):
            values = [_C[key].zh, _C[key].en, *(str(_cell(v)) for v in table[key])]
            ws.column_dimensions[get_column_letter(i)].width = min(
                60, max(_width(v) for v in values) + 2
            )
    wb.properties.creator = "tiandi"
    wb.properties.created = wb.properties.modified = _FIXED_TIME
    buffer = io.BytesIO()
    archive = _FixedTimeZip(buffer, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
    ExcelWriter(wb, archive).save()  # not openpyxl's save_workbook: it stamps "modified"
    with atomic_path(Path(path)) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return Path(path)


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    return value


def _width(text: str) -> int:
    """Display width: CJK characters take two columns."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def write_ledgers(ledger: Ledger, out_dir: Path) -> list[Path]:
    """Write ``ledger_by_zone.csv``, ``ledger_by_period.csv``, ``patch_register.csv`` and
    ``ledger.xlsx`` into ``out_dir``; returns the paths."""
    out_dir = Path(out_dir)
    return [
        write_ledger_csv(ledger.by_zone, BY_ZONE, out_dir / "ledger_by_zone.csv"),
        write_ledger_csv(ledger.by_period, BY_PERIOD, out_dir / "ledger_by_period.csv"),
        write_ledger_csv(
            ledger.register, register_columns(ledger.register), out_dir / "patch_register.csv"
        ),
        write_ledger_xlsx(ledger, out_dir / "ledger.xlsx"),
    ]
