"""How much the tiles' size changes a change network's output (issue 17: fewer forward
passes per pixel) on the OSCD training cities: the probability maps of the product's
tiling (tiles 256 px, overlap 32, blocks 896) against larger tiles with the same overlap
and margin, and the pooled confusion at the card's threshold. A comparison of tilings of
one network, not a test score (v0.2 was trained on eight of these cities). Runs in the
product's number format (float32; the recorded run of the README ran in bfloat16).

    python scripts/experiments/tile_size/tile_size.py NETWORK TILE:BLOCK [TILE:BLOCK ...]
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from tiandi.models.registry import load_detector

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tile_overlap"))
from overlap import compare  # the overlap experiment's comparison


def main(network: str, sizes: list[tuple[int, int]]) -> None:
    base = load_detector(network).tiling  # type: ignore[attr-defined]
    tilings = {f"tile {base.tile}": base}
    tilings.update({f"tile {t}": replace(base, tile=t, block=b) for t, b in sizes})
    compare(network, tilings)


if __name__ == "__main__":
    pairs = [tuple(int(v) for v in a.split(":")) for a in sys.argv[2:]]
    main(sys.argv[1], [(t, b) for t, b in pairs])
