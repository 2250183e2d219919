"""prefetched: the next item's computation runs while the caller handles this one."""

from __future__ import annotations

import contextvars
import threading

import pytest

from tiandi.eo._pipeline import prefetched

_WHO: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")


def test_results_come_in_order_and_the_next_one_is_computed_meanwhile() -> None:
    started = {i: threading.Event() for i in range(3)}

    def fn(i: int) -> int:
        started[i].set()
        return i * 10

    seen = []
    for item, result in prefetched(fn, [0, 1, 2]):
        if item < 2:  # while the caller holds item i, fn(i + 1) has started
            assert started[item + 1].wait(5), f"fn({item + 1}) did not start meanwhile"
        else:
            assert not started.get(3)
        seen.append((item, result))
    assert seen == [(0, 0), (1, 10), (2, 20)]
    assert list(prefetched(fn, [])) == []


def test_an_error_is_raised_at_its_item_and_the_callers_context_is_kept() -> None:
    def fn(i: int) -> str:
        if i == 1:
            raise ValueError("item 1 failed")
        return _WHO.get()

    token = _WHO.set("the flow")
    try:
        results = prefetched(fn, [0, 1, 2])
        assert next(results) == (0, "the flow")  # the worker thread sees the caller's context
        with pytest.raises(ValueError, match="item 1 failed"):
            next(results)
    finally:
        _WHO.reset(token)


def test_the_memory_a_pass_freed_is_handed_back_on_glibc() -> None:
    import platform

    from tiandi.eo._pipeline import _malloc_trim, release_free_memory

    if platform.libc_ver()[0] == "glibc":
        assert _malloc_trim() is not None
    release_free_memory()  # a no-op elsewhere, never an error
