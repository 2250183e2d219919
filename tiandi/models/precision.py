"""The number format the change networks compute in at inference: float32 or bfloat16.

``auto`` (the default) runs the convolutions in bfloat16 (``torch.autocast``; weights,
sums and outputs stay float32 where oneDNN keeps them) on a CPU that has bfloat16
instructions (AVX-512 BF16 or AMX), and in float32 elsewhere, where bfloat16 would be
emulated and slower. On this project's machine (AMD EPYC, AVX-512 BF16) the shipped
6-band network's forward pass runs ≈ 2.3x faster in bfloat16; its probabilities move by
at most ≈ 2e-4 on OSCD cities it never saw, and their F1 does not change (bench/README.md,
"The change networks in bfloat16"). ``float32`` gives the numbers of the training runs
(bit for bit across machines of one instruction set), ``bfloat16`` forces the format.
Training and its validation scores stay float32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal, get_args

from tiandi.errors import InputError

__all__ = [
    "PRECISIONS",
    "Precision",
    "bfloat16_native",
    "check_precision",
    "compute_in",
    "resolved",
]

Precision = Literal["auto", "float32", "bfloat16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)


def check_precision(value: str, source: str = "precision") -> Precision:
    """``value`` as a :data:`Precision`; ``InputError`` naming the choices otherwise."""
    if value not in PRECISIONS:
        raise InputError(
            f"{source} {value!r} is not one of {', '.join(PRECISIONS)}; 'auto' uses "
            "bfloat16 where the CPU computes it natively, float32 elsewhere"
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
    """Run the network's forward passes inside in ``precision`` (outputs: cast them to
    float32 before use)."""
    import torch

    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=resolved(precision) == "bfloat16"):
        yield
