"""The example backend's driver: one flow of steps runs on the sync backend and on the async one alike, a
failed step thrown into the flow at its ``yield``, blocking steps (chain calls) off the event loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from examples.dapp_backend import AsyncDappBackend, DappBackend, Flow, Step


def _flow(failing: Step, answer: Step, seen: list[str]) -> Flow[tuple[str, Any]]:
    try:
        yield failing
    except KeyError as exc:
        seen.append(f"caught {exc.args[0]}")
    value = yield answer
    return "done", value


def _fail() -> Any:
    raise KeyError("boom")


async def _afail() -> Any:
    raise KeyError("boom")


async def _aanswer(x: int) -> int:
    return x + 1


def test_the_sync_driver_throws_a_failed_step_into_the_flow() -> None:
    backend = DappBackend.__new__(DappBackend)
    seen: list[str] = []
    assert backend.run(_flow(Step(_fail), Step(lambda x: x + 1, (41,)), seen)) == ("done", 42)
    assert seen == ["caught boom"]


def test_the_async_driver_awaits_steps_and_runs_blocking_ones_in_a_thread() -> None:
    backend = AsyncDappBackend.__new__(AsyncDappBackend)
    seen: list[str] = []
    loop_thread: list[int] = []

    def blocking(x: int) -> tuple[int, bool]:
        return x, threading.get_ident() != loop_thread[0]

    async def main() -> tuple[Any, Any]:
        loop_thread.append(threading.get_ident())
        awaited = await backend.run(_flow(Step(_afail), Step(_aanswer, (41,)), seen))
        off_loop = await backend.run(_flow(Step(_afail), Step(blocking, (7,), blocking=True), seen))
        return awaited, off_loop

    awaited, off_loop = asyncio.run(main())
    assert awaited == ("done", 42)
    assert off_loop == ("done", (7, True))
    assert seen == ["caught boom", "caught boom"]


def test_an_unhandled_failure_propagates_from_both_drivers() -> None:
    def flow() -> Flow[None]:
        yield Step(_fail)

    with pytest.raises(KeyError):
        DappBackend.__new__(DappBackend).run(flow())

    def aflow() -> Flow[None]:
        yield Step(_afail)

    with pytest.raises(KeyError):
        asyncio.run(AsyncDappBackend.__new__(AsyncDappBackend).run(aflow()))
