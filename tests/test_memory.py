"""release_memory hands a thread arena's free pages back to the OS (what a reused Ray worker
needs between trials); the control shows glibc keeps them resident without it."""

import threading

import pytest

from rnn_core import memory

pytestmark = pytest.mark.skipif(memory._MALLOC_TRIM is None or memory.resident_bytes() is None,
                                reason="needs glibc's malloc_trim and /proc (Linux)")

MiB = 2**20


def _fragment_an_arena(out: dict, pinned: list) -> None:
    # 3,000 x 100 KB (under glibc's 128 KB mmap threshold: they live in this thread's arena),
    # then free all but the last, which pins the arena's top so free() cannot shrink it
    blocks = [b"\x01" * 100_000 for _ in range(3000)]
    out["peak"] = memory.resident_bytes()
    pinned.append(blocks[-1])
    del blocks
    out["after_free"] = memory.resident_bytes()


def test_release_memory_returns_free_arena_pages():
    out: dict = {}
    pinned: list = []
    base = memory.resident_bytes()
    t = threading.Thread(target=_fragment_an_arena, args=(out, pinned))
    t.start()
    t.join()
    assert out["peak"] - base > 200 * MiB
    # the control: freed, yet still resident
    assert out["after_free"] - base > 200 * MiB
    assert memory.release_memory() is True
    after = memory.resident_bytes()
    assert out["after_free"] - after > 200 * MiB, (base, out, after)
