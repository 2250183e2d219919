"""The number format the change networks compute in at inference: float32 or bfloat16.

``float32`` (the default) gives the numbers of the training runs. ``bfloat16`` runs the
convolutions in bfloat16 (``torch.autocast``; inputs, blending and outputs stay float32):
on a CPU with bfloat16 instructions (AVX-512 BF16 or AMX) the shipped 6-band network's
forward pass runs ≈ 2.4x faster and the default flow at 8192² ≈ 7 % faster; elsewhere it is
emulated and slower. ``auto`` takes bfloat16 where the CPU has it and float32 elsewhere
(a cluster of mixed machines). Not the default: its probabilities move by up to ≈ 0.03 on
real imagery; the F1 on OSCD stays the same to the fourth decimal, but on three of four
demo scenes one more false patch crosses the threshold (bench/README.md, "The change
networks in bfloat16"). Training and its validation scores are always float32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal, get_args

from tiandi.errors import InputError

__all__ = [
    "DEFAULT_PRECISION",
    "PRECISIONS",
    "Precision",
    "bfloat16_native",
    "check_precision",
    "compute_in",
    "resolved",
]

Precision = Literal["auto", "float32", "bfloat16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
DEFAULT_PRECISION: Precision = "float32"


def check_precision(value: str, source: str = "precision") -> Precision:
    """``value`` as a :data:`Precision`; ``InputError`` naming the choices otherwise."""
    if value not in PRECISIONS:
        raise InputError(
            f"{source} {value!r} is not one of {', '.join(PRECISIONS)}; float32 is the "
            "default, 'auto' uses bfloat16 where the CPU computes it natively"
        )
    return value  # type: ignore[return-value]


def bfloat16_native() -> bool:
    """Whether this CPU has bfloat16 instructions (AVX-512 BF16 or AMX tiles)."""
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, probe, lambda: False)()) for probe in probes)


def resolved(precision: Precision) -> Literal["float32", "bfloat16"]:
    """The format ``precision`` means on this machine."""
    if precision == "auto":
        return "bfloat16" if bfloat16_native() else "float32"
    return precision


@contextlib.contextmanager
def compute_in(precision: Precision) -> Iterator[None]:
    """Run the network's forward passes inside in ``precision`` (bfloat16 outputs: cast
    them to float32 before use)."""
    import torch

    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=resolved(precision) == "bfloat16"):
        yield
