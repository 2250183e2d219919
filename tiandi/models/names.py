"""Detector names and the default detector, importable without torch (the service's
request models and the CLI's option defaults use them; :mod:`tiandi.models.registry`
maps each name to a detector)."""

from __future__ import annotations

DEFAULT_DETECTOR = "integrated-high"
"""The detector of ``detect_changes``, the demo, scheduled regions, the service and
``tiandi evaluate oscd`` when none is named: the 6-band network confirmed or completed by
spectral evidence, patches of level ``high`` and above (README, "Change models";
docs/decisions.md, "The default detector"). ``baseline`` stays available by name."""

INTEGRATED_NAMES = {
    "integrated": "nominal",
    "integrated-high": "high",
    "integrated-highest": "highest",
}
"""The integrated detector's names and the lowest level each maps as change."""
WATER_NAMES = ("water", "water-mndwi")
