"""The load test's browsers run in an event loop of their own, so the tool works where a loop already runs (pytest
with Playwright's sync API open by the browser tests, a notebook)."""
import asyncio
import threading

import pytest

from tools.bench_load import _run_in_own_loop


async def _answer(value: int) -> int:
    """Return `value` after giving the loop a turn."""
    await asyncio.sleep(0)
    return value


async def _fail() -> None:
    """Raise after giving the loop a turn."""
    await asyncio.sleep(0)
    raise ValueError("from the loop")


def test_a_coroutine_runs_even_inside_a_running_loop():
    async def outer() -> int:
        return _run_in_own_loop(_answer(42))  # asyncio.run() here would refuse: a loop is running

    seen: list[int] = []
    thread = threading.Thread(target=lambda: seen.append(asyncio.run(outer())))  # a thread of its own: this one
    thread.start()                                                                 # may hold Playwright's loop
    thread.join()
    assert seen == [42]


def test_its_error_reaches_the_caller():
    with pytest.raises(ValueError, match="from the loop"):
        _run_in_own_loop(_fail())
