"""Run `tiandi demo` with a candidate level rule of PROTOCOL.md patched into the integrated
detector (same process: the demo's Dask worker runs on threads of it).

    python scripts/experiments/levels/run_demo.py RULE -- demo --no-disturbances ...
"""

from __future__ import annotations

import sys
from functools import partial
from typing import Any

import tiandi.models.integrated as integrated
from tiandi.cli import app

sys.path.insert(0, "scripts/experiments/levels")
from rules import bits_with_strong, level_rule


def _kernel(prob: Any, *bands: Any, threshold: float, params: Any) -> Any:
    names = integrated._INDEX_BANDS
    n = len(names)
    before = dict(zip(names, bands[:n], strict=True))
    after = dict(zip(names, bands[n:], strict=True))
    return bits_with_strong(prob, before, after, threshold=threshold, params=params)


if __name__ == "__main__":
    rule = sys.argv[1]
    if rule != "product":
        integrated._evidence_kernel = _kernel  # type: ignore[assignment]
        integrated.level_of = partial(level_rule, rule=rule)  # type: ignore[assignment]
    sys.argv = ["tiandi", *sys.argv[3:]]
    app()
