"""I/O-free "flows": generators that yield the requests they need and receive the answers (or have the
request's error thrown in at the ``yield``); :mod:`sso_signer._shell` drives them, sync or async."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sso_signer._shell import resume
from sso_signer.exceptions import AfterSendError, RpcTransportError, SsoSignerError
from sso_signer.rpc._core import RpcCall, Sleep

__all__ = ["Batch", "Flow", "Step", "after_send", "gather", "poll", "relay"]

# The least time a poll is given, even when the wait has less left: a last poll can still land.
MIN_POLL_DEADLINE = 1.0

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


Step = RpcCall | Batch | Sleep
Flow = Generator[Step, Any, T]


def relay(
    flow: Generator[S, Any, T],
    wrap: Callable[[S], W],
    value: Any = None,
    error: SsoSignerError | None = None,
) -> Generator[W, Any, T]:
    """Run ``flow`` inside another generator and return its value: each step goes out as ``wrap(step)``, and
    what comes back (the answer, or the exception raised at the ``yield``) goes back into ``flow``. A flow
    already waiting for an answer is first handed ``value`` (or has ``error`` thrown into it)."""
    done, out = resume(flow, value, error)
    while not done:
        pending: BaseException | None = None
        try:
            value = yield wrap(out)
        except GeneratorExit:
            flow.close()
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the flow, which re-raises what it does not handle
            value, pending = None, exc
        done, out = resume(flow, value, pending)
    return out  # type: ignore[no-any-return]


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


def gather(*flows: Flow[Any]) -> Flow[list[Any]]:
    """Run unstarted flows as one, returning their values in order: their first requests share a single
    JSON-RPC batch (one round trip).

    Each flow whose first step is a single call gets its own answer, or its own error thrown at its
    ``yield``, exactly as if it ran alone; later steps (and a first step that is a batch or a sleep) run flow
    by flow, in order.
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
        else:
            try:
                answer = yield step
            except SsoSignerError as exc:
                answer = exc
        error = answer if isinstance(answer, SsoSignerError) else None
        results[index] = yield from relay(flow, lambda step: step, None if error else answer, error)
    return results


def poll(
    request: Callable[[float], Flow[Any]],
    parse: Callable[[Any], T],
    what: str,
    timeout: float,
    interval: float,
    *,
    unknown: Callable[[str], AfterSendError],
    timed_out: Callable[[str], Exception],
    growth: float = 1.0,
) -> Flow[T]:
    """Poll for the receipt of something sent until it appears (transactions and UserOperations alike).

    The wait is guarded by :func:`after_send`: every failure carries what ``unknown`` knows of the send.

    Args:
        request: One poll, given the seconds it may take (what is left of the wait, at least
            :data:`MIN_POLL_DEADLINE`, so one stalled answer cannot hold the wait); its value is ``None``
            while there is no receipt.
        parse: Turns the receipt object into the flow's value (and may raise, e.g. on a revert).
        what: Names what was sent, with its hash (``"transaction 0x…"``).
        timed_out: Builds the error raised when no receipt came within ``timeout`` seconds.
        growth: Factor applied to the ``interval`` after each poll (capped at one second unless it started
            above).
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    ceiling = max(interval, 1.0)
    with after_send(what, unknown):
        while True:
            try:
                result = yield from request(max(deadline - time.monotonic(), MIN_POLL_DEADLINE))
            except RpcTransportError as exc:
                # The caller asked to wait: an endpoint that is briefly unreachable is part of waiting.
                result, last_error = None, exc
            if result is not None:
                return parse(result)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise timed_out(
                    f"no receipt for {what} within {timeout:g} s; if it was sent, do not sign it again"
                ) from last_error
            yield Sleep(min(interval, remaining))
            interval = min(interval * growth, ceiling)
