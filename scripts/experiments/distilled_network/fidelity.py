"""How closely a distilled network follows its teacher: the agreement of their change masks
at the teacher's threshold and the mean absolute difference of their probabilities, on the
cities both trained on and on the held-out ones (the product's tiler, float32).

    python scripts/experiments/distilled_network/fidelity.py STUDENT.pt [TEACHER]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from tiandi.models.training_data import load_city_arrays
from tiandi.models.training_distil import load_teacher
from tiandi.models.training_scores import predict_proba
from tiandi.models.weights import load_weights

ROOT = Path("../shared/data/oscd-train")
HELD_OUT = ("beihai", "hongkong", "pisa", "rennes", "bordeaux", "mumbai")


def main(student_path: str, teacher_name: str = "siamese-s2-6band-v0.2") -> None:
    _, loaded, teacher = load_teacher(teacher_name)
    student = load_weights(Path(student_path)).model
    threshold = float(loaded.card.metrics["threshold"])
    trained = tuple(loaded.card.training_data["train_cities"])
    for group, cities in (("trained on", trained), ("held out", HELD_OUT)):
        tp = fp = fn = 0
        gaps = []
        for city in cities:
            arrays = load_city_arrays(ROOT, city, teacher.bands, 0, teacher.config.normalisation)
            p_teacher = predict_proba(teacher, arrays.images)
            p_student = predict_proba(student, arrays.images)
            valid = ~np.isnan(p_teacher)
            t, s = p_teacher[valid] >= threshold, p_student[valid] >= threshold
            tp, fp, fn = tp + int((t & s).sum()), fp + int((s & ~t).sum()), fn + int((t & ~s).sum())
            gaps.append(float(np.abs(p_teacher[valid] - p_student[valid]).mean()))
        print(f"{group}: mask agreement F1 {2 * tp / (2 * tp + fp + fn):.3f}, teacher's change "
              f"pixels {tp + fn}, student's {tp + fp}, mean |Δp| {np.mean(gaps):.4f}")  # fmt: skip


if __name__ == "__main__":
    main(*sys.argv[1:])
