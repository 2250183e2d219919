"""QGIS side of the field packages: build a form project, or check one. Runs under QGIS's Python.

This file is executed as a script by Debian's ``/usr/bin/python3`` with ``python3-qgis``
(QGIS 3.22, headless, ``QT_QPA_PLATFORM=offscreen``), never imported by tiandi itself:
QGIS's Python bindings live outside the project's virtual environment. It imports only
the standard library and ``qgis``. :mod:`tiandi.redline.field.form` writes the spec, runs
this script and post-processes its output.

``build SPEC.json``: create the layers named in the spec from the GeoPackage (relative
sources), set each field's editor widget (ValueMap, ExternalResource, DateTime, ...),
alias, read-only flag, default value and constraints, the relations, and write the
project as a plain ``.qgs`` file to ``spec["qgs"]``.

``check URI``: read a project (``geopackage:/path/x.gpkg?projectName=name`` or a
``.qgz``/``.qgs`` file) and print a JSON description of its layers, widgets and
relations on stdout.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")

from qgis.core import (  # type: ignore[import-not-found]
    QgsApplication,
    QgsDefaultValue,
    QgsEditorWidgetSetup,
    QgsFieldConstraints,
    QgsFillSymbol,
    QgsMarkerSymbol,
    QgsProject,
    QgsRasterLayer,
    QgsRelation,
    QgsSingleSymbolRenderer,
    QgsVectorLayer,
)


def _build(spec: dict[str, Any]) -> None:
    project = QgsProject.instance()
    project.setTitle(spec["title"])
    project.writeEntry("Paths", "/Absolute", False)
    folder = os.path.dirname(spec["qgs"])
    os.chdir(folder)
    layers: dict[str, Any] = {}
    raster = spec.get("basemap")
    if raster:
        rl = QgsRasterLayer(f"GPKG:{spec['gpkg']}:{raster['table']}", raster["label"], "gdal")
        if not rl.isValid():
            raise SystemExit(f"basemap table {raster['table']} of {spec['gpkg']} is not valid")
        project.addMapLayer(rl)
        layers[raster["table"]] = rl
    for layer_spec in spec["layers"]:
        source = f"{spec['gpkg']}|layername={layer_spec['table']}"
        layer = QgsVectorLayer(source, layer_spec["label"], "ogr")
        if not layer.isValid():
            raise SystemExit(f"layer {layer_spec['table']} of {spec['gpkg']} is not valid")
        _configure(layer, layer_spec)
        project.addMapLayer(layer)
        layers[layer_spec["table"]] = layer
    for rel_spec in spec.get("relations", []):
        rel = QgsRelation()
        rel.setId(rel_spec["id"])
        rel.setName(rel_spec["name"])
        rel.setReferencingLayer(layers[rel_spec["child"]].id())
        rel.setReferencedLayer(layers[rel_spec["parent"]].id())
        rel.addFieldPair(rel_spec["child_field"], rel_spec["parent_field"])
        if not rel.isValid():
            raise SystemExit(f"relation {rel_spec['id']} is not valid")
        project.relationManager().addRelation(rel)
    if layers:
        first = next(iter(layers.values()))
        project.setCrs(first.crs())
    if not project.write(spec["qgs"]):
        raise SystemExit(f"cannot write {spec['qgs']}")
    # QGIS gives layers random ids; tell the caller which id is which table so it can
    # replace them with stable ones (outputs must not change between identical runs).
    print(json.dumps({layer.id(): table for table, layer in layers.items()}))


def _configure(layer: Any, spec: dict[str, Any]) -> None:
    style = spec.get("style")
    if style == "outline":
        symbol = QgsFillSymbol.createSimple(
            {"color": "0,0,0,0", "outline_color": "255,40,0,255", "outline_width": "0.8"}
        )
        layer.setRenderer(QgsSingleSymbolRenderer(symbol))
    elif style in ("point", "observation"):
        colour = "255,200,0,255" if style == "point" else "0,160,255,255"
        symbol = QgsMarkerSymbol.createSimple({"name": "circle", "color": colour, "size": "3"})
        layer.setRenderer(QgsSingleSymbolRenderer(symbol))
    if spec.get("read_only"):
        layer.setReadOnly(True)
    form = layer.editFormConfig()
    for name, field in spec["fields"].items():
        idx = layer.fields().indexOf(name)
        if idx < 0:
            raise SystemExit(f"layer {spec['table']} has no field {name}")
        layer.setEditorWidgetSetup(idx, QgsEditorWidgetSetup(field["widget"], field["config"]))
        if field.get("alias"):
            layer.setFieldAlias(idx, field["alias"])
        form.setReadOnly(idx, not field.get("editable", True))
        if field.get("default"):
            layer.setDefaultValueDefinition(
                idx, QgsDefaultValue(field["default"], bool(field.get("apply_on_update")))
            )
        if field.get("not_null"):
            strength = (
                QgsFieldConstraints.ConstraintStrengthHard
                if field["not_null"] == "hard"
                else QgsFieldConstraints.ConstraintStrengthSoft
            )
            layer.setFieldConstraint(idx, QgsFieldConstraints.ConstraintNotNull, strength)
        if field.get("constraint"):
            layer.setConstraintExpression(idx, field["constraint"], field.get("constraint_msg", ""))
    layer.setEditFormConfig(form)


def _check(uri: str) -> dict[str, Any]:
    project = QgsProject.instance()
    if not project.read(uri):
        raise SystemExit(f"QGIS cannot read the project {uri}")
    out: dict[str, Any] = {"title": project.title(), "layers": {}, "relations": {}}
    for layer in project.mapLayers().values():
        info: dict[str, Any] = {
            "valid": layer.isValid(),
            "type": "raster" if isinstance(layer, QgsRasterLayer) else "vector",
            "source": layer.source(),
            "crs": layer.crs().authid(),
        }
        if isinstance(layer, QgsVectorLayer):
            form = layer.editFormConfig()
            info["read_only"] = layer.readOnly()
            info["features"] = layer.featureCount()
            info["fields"] = {
                f.name(): {
                    "widget": layer.editorWidgetSetup(i).type(),
                    "config": _plain(layer.editorWidgetSetup(i).config()),
                    "alias": layer.attributeAlias(i),
                    "read_only": form.readOnly(i),
                    "default": layer.defaultValueDefinition(i).expression(),
                    "constraint": layer.constraintExpression(i),
                }
                for i, f in enumerate(layer.fields())
            }
        else:
            info["width"] = layer.width()
            info["height"] = layer.height()
        out["layers"][layer.name()] = info
    for rel in project.relationManager().relations().values():
        out["relations"][rel.id()] = {
            "valid": rel.isValid(),
            "parent": rel.referencedLayer().name() if rel.referencedLayer() else None,
            "child": rel.referencingLayer().name() if rel.referencingLayer() else None,
        }
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def main(argv: list[str]) -> int:
    """Entry point: ``build SPEC.json`` or ``check URI``."""
    if len(argv) != 3 or argv[1] not in ("build", "check"):
        print("usage: _qgis_project.py build SPEC.json | check URI", file=sys.stderr)
        return 2
    app = QgsApplication([], False)
    app.initQgis()
    try:
        if argv[1] == "build":
            with open(argv[2], encoding="utf-8") as handle:
                _build(json.load(handle))
        else:
            print(json.dumps(_check(argv[2]), ensure_ascii=False, sort_keys=True))
    finally:
        QgsProject.instance().clear()
        app.exitQgis()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
