"""Pool the demo runs of demo_all.sh per rule and scene (events and patches summed over seeds).

python scripts/experiments/levels/demo_table.py /tmp/levels/demo
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

root = Path(sys.argv[1])
pool: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
seeds: dict[tuple[str, str], list[str]] = defaultdict(list)
for path in sorted(root.glob("*/summary.json")):
    rule, scene, seed = path.parent.name.split("-")
    s = json.loads(path.read_text())["scores"]
    row = pool[(rule, scene)]
    row[0] += s["n_found"]
    row[1] += s["n_truth"]
    row[2] += s["n_correct"]
    row[3] += s["n_patches"]
    found = f"{s['n_found']}/{s['n_truth']},{s['n_correct']}/{s['n_patches']}"
    seeds[(rule, scene)].append(f"{seed}:{found}")
for (rule, scene), (found, truth, correct, patches, _) in sorted(pool.items()):
    print(
        f"{rule} {scene:4s} R {found}/{truth} = {found / truth:.3f}  "
        f"P {correct}/{patches} = {correct / max(patches, 1):.3f}  {' '.join(seeds[(rule, scene)])}"
    )
