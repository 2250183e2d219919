"""The field round trip (地面核查): verification tasks per station, field packages
(GeoPackage + QGIS form, chips, printed list, KML), the import of returned packages
(validated, quarantined, never lost), the field-result store, and dispatch/import as
lifecycle transitions.

Public API below; import it from here. Names resolve lazily (see
:mod:`tiandi._exports`), so importing one module of this package imports no other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tiandi._exports import lazy_exports

if TYPE_CHECKING:
    from tiandi.redline.field.form import build_form as build_form
    from tiandi.redline.field.form import check_form as check_form
    from tiandi.redline.field.form import qgis_available as qgis_available
    from tiandi.redline.field.importer import ImportReport as ImportReport
    from tiandi.redline.field.importer import import_field_package as import_field_package
    from tiandi.redline.field.lifecycle import import_field_results as import_field_results
    from tiandi.redline.field.lifecycle import record_dispatch as record_dispatch
    from tiandi.redline.field.lifecycle import record_field_import as record_field_import
    from tiandi.redline.field.package import PackageOptions as PackageOptions
    from tiandi.redline.field.package import StationPackage as StationPackage
    from tiandi.redline.field.package import build_field_packages as build_field_packages
    from tiandi.redline.field.package import dispatch_run as dispatch_run
    from tiandi.redline.field.records import FieldResultStore as FieldResultStore
    from tiandi.redline.field.records import ImportOptions as ImportOptions
    from tiandi.redline.field.results_store import SqliteFieldStore as SqliteFieldStore
    from tiandi.redline.field.tasks import assign_tasks as assign_tasks
    from tiandi.redline.field.tasks import write_station_packages as write_station_packages

_EXPORTS = {
    "assign_tasks": "tasks",
    "write_station_packages": "tasks",
    "PackageOptions": "package",
    "StationPackage": "package",
    "dispatch_run": "package",
    "build_field_packages": "package",
    "build_form": "form",
    "check_form": "form",
    "qgis_available": "form",
    "ImportOptions": "records",
    "ImportReport": "importer",
    "import_field_package": "importer",
    "FieldResultStore": "records",
    "SqliteFieldStore": "results_store",
    "record_dispatch": "lifecycle",
    "record_field_import": "lifecycle",
    "import_field_results": "lifecycle",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
