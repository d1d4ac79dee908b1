"""I/O-free "flows": generators that yield the requests they need and receive the answers.

A flow such as "fill fees, sign, send, wait for the receipt" is written once as a generator; the sync client
drives it with blocking calls and the async client with awaits. Errors raised by a request are thrown back
into the flow at the ``yield`` so it can handle them (e.g. turn a lost send into ``SendOutcomeUnknown``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sso_signer.exceptions import AfterSendError, SsoSignerError
from sso_signer.rpc._client import AsyncJsonRpcClient, JsonRpcClient
from sso_signer.rpc._core import RpcCall

__all__ = [
    "Batch",
    "Flow",
    "Sleep",
    "after_send",
    "answer",
    "answer_async",
    "drive",
    "drive_async",
    "gather",
    "relay",
    "run_flow",
    "run_flow_async",
]

log = logging.getLogger("sso_signer.rpc")

T = TypeVar("T")
S = TypeVar("S")
W = TypeVar("W")


@dataclass(frozen=True, slots=True)
class Batch:
    """A flow step: send these calls in one round trip; the flow receives the list of results.

    With ``return_errors`` a failed member's slot holds its ``RpcError`` instead of the batch raising.
    """

    calls: Sequence[RpcCall]
    return_errors: bool = False


@dataclass(frozen=True, slots=True)
class Sleep:
    """A flow step: pause for ``seconds`` (polling); the flow receives ``None``."""

    seconds: float


Step = RpcCall | Batch | Sleep
Flow = Generator[Step, Any, T]


def relay(
    flow: Generator[S, Any, T],
    wrap: Callable[[S], W],
    value: Any = None,
    error: SsoSignerError | None = None,
) -> Generator[W, Any, T]:
    """Run ``flow`` inside another generator: each step goes out as ``wrap(step)``, and what comes back (the
    answer, or the exception raised at the ``yield``) goes back into ``flow``.

    Args:
        flow: The inner flow, unstarted or (with ``value``/``error``) waiting for an answer.
        wrap: What the outer generator yields for each inner step.
        value: The answer to hand the waiting flow first.
        error: The error to throw into the waiting flow first (instead of ``value``).

    Returns:
        The inner flow's value.
    """
    pending: BaseException | None = error
    while True:
        try:
            step = flow.throw(pending) if pending is not None else flow.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value, pending = None, None
        try:
            value = yield wrap(step)
        except GeneratorExit:
            flow.close()
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the flow, which re-raises what it does not handle
            pending = exc


def drive(flow: Generator[S, Any, T], handle: Callable[[S], Any]) -> T:
    """Run ``flow`` to its end, answering each step with ``handle(step)``.

    Whatever ``handle`` raises is thrown into the flow at its ``yield``: the flow handles the SDK's errors it
    expects, and notes on the rest (an interrupt, a cancellation) what it had already sent before they
    propagate.
    """
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value, error = None, None
        try:
            value = handle(step)
        except BaseException as exc:  # noqa: BLE001 - handed to the flow, which re-raises what it does not handle
            error = exc


async def drive_async(flow: Generator[S, Any, T], handle: Callable[[S], Awaitable[Any]]) -> T:
    """The asyncio twin of :func:`drive`: each step is answered by awaiting ``handle(step)`` (a cancellation
    is thrown into the flow like any other exception)."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value, error = None, None
        try:
            value = await handle(step)
        except BaseException as exc:  # noqa: BLE001 - handed to the flow, which re-raises what it does not handle
            error = exc


@contextmanager
def after_send(what: str, unknown: Callable[[str], AfterSendError], *, sent: bool = True) -> Iterator[None]:
    """Guard the part of a flow that runs once a transaction or UserOperation has (or may have) left.

    Inside the block, an :class:`AfterSendError` gets what ``unknown`` knows of the send filled in (the
    signed bytes, the UserOperation); any other exception becomes ``unknown(message)`` (an "outcome
    unknown" error carrying the hash and the signed bytes), chained to the original; an interrupt or a
    cancellation propagates unchanged, with a note naming what was sent (``KeyboardInterrupt`` and
    ``asyncio.CancelledError`` must not be swallowed, but the caller must not lose the hash).

    Args:
        what: Names what was sent, with its hash if known (``"transaction 0x…"``); used in messages.
        unknown: Builds the "outcome unknown" error for a message.
        sent: ``False`` while the send itself is under way (its own errors say whether it left): then only
            interrupts are noted and nothing is converted.

    Raises:
        AfterSendError: For any failure in the block (with ``sent``).
    """
    try:
        yield
    except GeneratorExit:  # the flow is being closed, nothing failed
        raise
    except AfterSendError as exc:
        if sent:
            exc.fill(unknown(str(exc)))
        raise
    except Exception as exc:
        if not sent:
            raise
        raise unknown(
            f"{what} was sent, then the wait for its outcome failed ({type(exc).__name__}: {exc}); do not "
            "sign it again: poll for its receipt, or re-send the same signed bytes"
        ) from exc
    except BaseException as exc:
        state = "had been sent" if sent else "may have been sent"
        log.warning("interrupted (%s) after %s %s", type(exc).__name__, what, state)
        exc.add_note(f"sso-signer: {what} {state}; do not sign it again, poll for its receipt")
        raise


def _same(step: Step) -> Step:
    return step


def gather(*flows: Flow[Any]) -> Flow[list[Any]]:
    """Run several flows as one: their first requests share a single JSON-RPC batch (one round trip).

    Each flow whose first step is a single call gets its own answer, or its own error thrown at its
    ``yield``, exactly as if it ran alone; later steps (and a first step that is a batch or a sleep) run flow
    by flow, in order.

    Args:
        flows: Unstarted flows.

    Returns:
        The flows' values, in order.
    """
    firsts: list[Step | None] = []
    results: list[Any] = [None] * len(flows)
    for index, flow in enumerate(flows):
        try:
            firsts.append(flow.send(None))
        except StopIteration as stop:  # a flow that needs no request
            firsts.append(None)
            results[index] = stop.value
    shared = [i for i, step in enumerate(firsts) if isinstance(step, RpcCall)]
    answers: list[Any] = []
    if shared:
        answers = yield Batch([firsts[i] for i in shared], return_errors=True)  # type: ignore[misc]
    answer_of = dict(zip(shared, answers, strict=True))
    for index, flow in enumerate(flows):
        step = firsts[index]
        if step is None:
            continue
        if index in answer_of:
            answer = answer_of[index]
            error = answer if isinstance(answer, SsoSignerError) else None
            results[index] = yield from relay(flow, _same, None if error else answer, error)
            continue
        value: Any = None
        failure: SsoSignerError | None = None
        try:
            value = yield step
        except SsoSignerError as exc:
            failure = exc
        results[index] = yield from relay(flow, _same, value, failure)
    return results


def answer(rpc: JsonRpcClient, step: Step) -> Any:
    """Carry out one flow step with blocking I/O: the call's result, the batch's results, None for a sleep.

    Raises:
        SsoSignerError: What the request raised (a driver throws it into the flow).
    """
    if isinstance(step, Sleep):
        time.sleep(step.seconds)
        return None
    if isinstance(step, Batch):
        return rpc.batch(step.calls, return_errors=step.return_errors)
    return rpc.request(step.method, step.params, retry=step.retry, deadline=step.deadline)


async def answer_async(rpc: AsyncJsonRpcClient, step: Step) -> Any:
    """The asyncio twin of :func:`answer`."""
    if isinstance(step, Sleep):
        await asyncio.sleep(step.seconds)
        return None
    if isinstance(step, Batch):
        return await rpc.batch(step.calls, return_errors=step.return_errors)
    return await rpc.request(step.method, step.params, retry=step.retry, deadline=step.deadline)


def run_flow(rpc: JsonRpcClient, flow: Flow[T]) -> T:
    """Drive a flow with blocking I/O and return its value."""
    return drive(flow, functools.partial(answer, rpc))


async def run_flow_async(rpc: AsyncJsonRpcClient, flow: Flow[T]) -> T:
    """Drive a flow with asyncio I/O and return its value."""
    return await drive_async(flow, functools.partial(answer_async, rpc))
