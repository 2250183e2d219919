"""``tiandi patches`` and ``tiandi audit``: the patch store and its audit log from the shell.

Registered in :mod:`tiandi.cli.app`. The store is ``--store FILE`` (a
GeoPackage), ``--dsn DSN`` (PostGIS), else ``TIANDI_PATCH_DSN`` when set, else
``<TIANDI_HOME>/patches.gpkg``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tiandi.cli.common import friendly_errors, load_settings, make_console
from tiandi.redline.store.gpkg import PatchStore

audit_app: typer.Typer = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
patches_app: typer.Typer = typer.Typer(
    help="Patches (图斑) in the patch store and their lifecycle.", no_args_is_help=True
)

StoreOpt = Annotated[
    Path | None,
    typer.Option("--store", help="Patch store GeoPackage (default <TIANDI_HOME>/patches.gpkg)."),
]
DsnOpt = Annotated[
    str | None, typer.Option("--dsn", help="PostgreSQL/PostGIS DSN (default TIANDI_PATCH_DSN).")
]
SchemaOpt = Annotated[str, typer.Option(help="PostgreSQL schema of the patch store.")]


def _open(store: Path | None, dsn: str | None, schema: str) -> PatchStore:
    """The store of ``--store`` or ``--dsn``, else the configured one (:func:`open_store`)."""
    from pydantic import SecretStr

    from tiandi.redline.store.open import open_store
    from tiandi.settings import Settings

    if store is not None and dsn:
        raise typer.BadParameter("give --store or --dsn, not both")
    if store is not None:
        return open_store(Settings(patch_store=store, patch_dsn=None))
    settings = load_settings().model_copy(update={"patch_schema": schema})
    if dsn:
        settings = settings.model_copy(update={"patch_dsn": SecretStr(dsn)})
    return open_store(settings)


@audit_app.command("verify")
@friendly_errors
def audit_verify(
    store: StoreOpt = None,
    dsn: DsnOpt = None,
    schema: SchemaOpt = "tiandi",
    expected_head: Annotated[
        str | None,
        typer.Option(help="Head hash recorded elsewhere; catches records cut from the end."),
    ] = None,
) -> None:
    """Check the audit log's hash chain: prints OK, or each break with its seq (exit 1).

    ``--store`` may be any SQLite/GeoPackage file holding a tiandi audit log.
    """
    from tiandi.redline.store.audit import AuditLog
    from tiandi.redline.store.gpkg import GpkgPatchStore

    opened = _open(store, dsn, schema)
    if isinstance(opened, GpkgPatchStore):
        report = AuditLog(opened.path).verify(expected_head=expected_head)
    else:
        report = opened.verify_audit(expected_head=expected_head)
    console = make_console(highlight=False, soft_wrap=True, markup=False)
    if report.ok:
        console.print(f"OK {report.summary()}")
        return
    console.print(report.summary())
    raise typer.Exit(1)


@patches_app.command("list")
@friendly_errors
def patches_list(
    zone: Annotated[str | None, typer.Option(help="Only patches of this zone_id.")] = None,
    state: Annotated[str | None, typer.Option(help="Only patches in this state.")] = None,
    store: StoreOpt = None,
    dsn: DsnOpt = None,
    schema: SchemaOpt = "tiandi",
) -> None:
    """List patches with their zone, class, area and lifecycle state."""
    frame = _open(store, dsn, schema).list_patches(zone_id=zone, state=state)
    table = Table("patch_uid", "patch_id", "zone", "class", "change", "ha", "state")
    for row in frame.itertuples():
        table.add_row(
            str(row.patch_uid),
            str(row.patch_id),
            str(row.zone_id),
            str(row.hj1156_class),
            str(row.change_type),
            f"{float(row.area_ha):.2f}",
            f"{row.state} {row.state_zh}",
        )
    console = make_console(highlight=False, soft_wrap=True, markup=False)
    console.print(table)
    console.print(f"{len(frame)} patches")


@patches_app.command("show")
@friendly_errors
def patches_show(
    patch: Annotated[str, typer.Argument(help="patch_uid (PU-...) or a detection id (TB-...).")],
    store: StoreOpt = None,
    dsn: DsnOpt = None,
    schema: SchemaOpt = "tiandi",
) -> None:
    """Show one patch: attributes, state, detections and lifecycle history."""
    opened = _open(store, dsn, schema)
    stored = opened.get(patch)
    console = make_console(highlight=False, soft_wrap=True, markup=False)
    console.print(f"{stored.patch_uid}  state {stored.status.state} ({stored.status.state.zh})")
    for key, value in stored.attributes.items():
        console.print(f"  {key}: {value}")
    _print_ground_answers(console, stored.attributes)
    console.print("detections:")
    for det in opened.detections(stored.patch_uid):
        console.print(
            f"  {det['run_id']}  {det['patch_id']}  {det['area_m2']} m²  {det['change_type']}"
            + (f"  screened out: {det['screen_reason']}" if det["screen_reason"] else ""),
        )
    console.print("history:")
    for rec in opened.history(stored.patch_uid):
        why = f"  ({rec.reason})" if rec.reason else ""
        console.print(
            f"  {rec.at.isoformat()}  {rec.source} -> {rec.target}  {rec.actor} [{rec.role}]{why}"
        )


def _print_ground_answers(console: Console, attributes: Mapping[str, Any]) -> None:
    """The crew's answers on the ground, labelled in Chinese and English (when any)."""
    from tiandi.redline.field.answers import labelled_answers

    answers = labelled_answers(attributes)
    if answers:
        console.print("实地核查答复 answers on the ground:")
        for answer in answers:
            console.print(f"  {answer.text}")


@patches_app.command("transition")
@friendly_errors
def patches_transition(
    patch: Annotated[str, typer.Argument(help="patch_uid (PU-...) or a detection id (TB-...).")],
    to: Annotated[str, typer.Option("--to", help="Target state, e.g. reviewed_accepted.")],
    actor: Annotated[str, typer.Option(help="Who acts (name or id).")],
    role: Annotated[str, typer.Option(help="Role: ecologist, reviewer, dispatcher, ...")],
    reason: Annotated[str | None, typer.Option(help="Why (required for some steps).")] = None,
    hj1156_class: Annotated[
        str | None, typer.Option("--class", help="HJ 1156 class (accepting, class found).")
    ] = None,
    outcome: Annotated[
        str | None, typer.Option(help="Field outcome: confirmed, not_found, different_class.")
    ] = None,
    store: StoreOpt = None,
    dsn: DsnOpt = None,
    schema: SchemaOpt = "tiandi",
) -> None:
    """Move a patch to another lifecycle state (checked, recorded, audited)."""
    record = _open(store, dsn, schema).transition(
        patch,
        to,
        actor=actor,
        role=role,
        reason=reason,
        hj1156_class=hj1156_class,
        outcome=outcome,
    )
    make_console(highlight=False, soft_wrap=True, markup=False).print(
        f"{record.patch_id}: {record.source} -> {record.target} ({record.target.zh}) "
        f"by {record.actor} [{record.role}] at {record.at.isoformat()}",
    )
