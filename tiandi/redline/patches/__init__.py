"""Patches (图斑) from a change mask: extraction inside zones, the HJ 1156 class guess
(rules or land cover), automatic screening of pseudo-changes (初筛), and patch-level
scores against known events.

Public API below; import it from here. Names resolve lazily (see
:mod:`tiandi._exports`), so importing one module of this package imports no other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tiandi._exports import lazy_exports

if TYPE_CHECKING:
    from tiandi.redline.patches.classify import classify_patch as classify_patch
    from tiandi.redline.patches.classify_landcover import (
        reclassify_with_landcover as reclassify_with_landcover,
    )
    from tiandi.redline.patches.disturbance import (
        extract_disturbances as extract_disturbances,
    )
    from tiandi.redline.patches.disturbance import (
        screen_disturbances as screen_disturbances,
    )
    from tiandi.redline.patches.evaluate import PatchScores as PatchScores
    from tiandi.redline.patches.evaluate import patch_scores as patch_scores
    from tiandi.redline.patches.extract import PatchParams as PatchParams
    from tiandi.redline.patches.extract import extract_patches as extract_patches
    from tiandi.redline.patches.extract import write_patches as write_patches
    from tiandi.redline.patches.screening import ScreeningParams as ScreeningParams
    from tiandi.redline.patches.screening import screen_patches as screen_patches

_EXPORTS = {
    "PatchParams": "extract",
    "extract_patches": "extract",
    "write_patches": "extract",
    "classify_patch": "classify",
    "reclassify_with_landcover": "classify_landcover",
    "ScreeningParams": "screening",
    "screen_patches": "screening",
    "extract_disturbances": "disturbance",
    "screen_disturbances": "disturbance",
    "PatchScores": "evaluate",
    "patch_scores": "evaluate",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
