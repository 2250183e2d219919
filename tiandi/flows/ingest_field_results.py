"""The ``ingest_field_results`` Prefect flow: import every returned field package in an inbox.

Field stations drop the packages their crews brought back (the ``.gpkg`` written by
``tiandi dispatch``, with its folder of photos) anywhere under one inbox folder. The flow
finds every ``*.gpkg`` there (sorted, so the order is the same each run) and imports each
through the validated importer (:func:`tiandi.redline.field.lifecycle.import_field_results`:
the checks, quarantine and audit of ``tiandi field import``), into the field results store
``<TIANDI_HOME>/field/field-results.gpkg`` and, with ``update_patches``, the patch store of
the settings (accepted results move their patches to ``field_checked``).

Run daily by the ``ingest_field_results/daily`` deployment (``prefect.yaml``). A package
imported before is skipped (the importer recognises its content), so packages may stay in
the inbox. A package with rejected submissions is recorded (rejections are quarantined)
and reported; a package that cannot be imported at all is reported and, once every other
package has been imported, fails the run with one message listing them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from prefect import flow, get_run_logger

from tiandi.errors import DuplicateImportError, InputError, SubmissionsRejectedError
from tiandi.redline.field.lifecycle import import_field_results
from tiandi.redline.field.results_store import SqliteFieldStore
from tiandi.redline.store.open import open_store
from tiandi.settings import Settings


@dataclass(frozen=True)
class IngestReport:
    """What one ingestion run did, package paths per outcome (failed: path and message)."""

    inbox: str
    imported: tuple[str, ...] = ()
    with_rejections: tuple[tuple[str, str], ...] = ()
    already_imported: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()
    moved_patches: int = 0

    def summary(self) -> str:
        """One line for the log."""
        return (
            f"inbox {self.inbox}: {len(self.imported)} imported, {len(self.with_rejections)} "
            f"with rejected submissions (quarantined), {len(self.already_imported)} already "
            f"imported, {len(self.failed)} failed; {self.moved_patches} patches field_checked"
        )


@dataclass
class _Tally:
    imported: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    duplicate: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    moved: int = 0


def returned_packages(inbox: Path) -> list[Path]:
    """Every field package (``*.gpkg``) under ``inbox``, sorted; ``InputError`` if no folder."""
    if not inbox.is_dir():
        raise InputError(
            f"field inbox {inbox} is not a folder; create it (stations drop returned packages "
            "there) or fix the deployment's `inbox` parameter"
        )
    return sorted(p for p in inbox.rglob("*.gpkg") if p.is_file() and not p.name.startswith("."))


def _import_one(path: Path, settings: Settings, update_patches: bool, tally: _Tally) -> None:
    store = SqliteFieldStore(settings.field_results_path)
    patches = open_store(settings) if update_patches else None
    try:
        if patches is None:
            from tiandi.redline.field.importer import import_field_package

            import_field_package(path, store, actor="scheduler")
        else:
            _, sync = import_field_results(path, store, patches, actor="scheduler")
            tally.moved += len(sync.transitions)
        tally.imported.append(str(path))
    except DuplicateImportError:
        tally.duplicate.append(str(path))
    except SubmissionsRejectedError as exc:
        tally.rejected.append((str(path), str(exc)))
    except InputError as exc:
        tally.failed.append((str(path), str(exc)))


def ingest_inbox(inbox: Path, settings: Settings, *, update_patches: bool) -> IngestReport:
    """Import every package under ``inbox`` (see the module docstring)."""
    packages = returned_packages(inbox)
    tally = _Tally()
    if packages:
        settings.field_results_path.parent.mkdir(parents=True, exist_ok=True)
    for path in packages:
        _import_one(path, settings, update_patches, tally)
    return IngestReport(
        str(inbox),
        tuple(tally.imported),
        tuple(tally.rejected),
        tuple(tally.duplicate),
        tuple(tally.failed),
        tally.moved,
    )


@flow(name="ingest_field_results")
def ingest_field_results(
    inbox: Path, update_patches: bool = True, settings: Settings | None = None
) -> IngestReport:
    """Import every returned field package found under ``inbox``.

    ``settings``: where the stores are (None: read from the environment, ``TIANDI_*``)."""
    settings = settings if settings is not None else Settings()
    report = ingest_inbox(inbox, settings, update_patches=update_patches)
    logger = get_run_logger()
    for path, message in report.with_rejections:
        logger.warning("%s: %s", path, message)
    logger.info("%s", report.summary())
    if report.failed:
        listed = "; ".join(f"{path}: {message}" for path, message in report.failed)
        raise InputError(
            f"{len(report.failed)} field packages in {inbox} could not be imported ({listed}); "
            "the others were imported. Fix or remove those files and the next run takes them"
        )
    return report


__all__ = ["IngestReport", "ingest_field_results", "ingest_inbox", "returned_packages"]
