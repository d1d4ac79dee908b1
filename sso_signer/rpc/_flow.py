"""I/O-free "flows": generators that yield the requests they need and receive the answers.

A flow such as "fill fees, sign, send, wait for the receipt" is written once as a generator; the sync client
drives it with blocking calls and the async client with awaits. Errors raised by a request are thrown back
into the flow at the ``yield`` so it can handle them (e.g. turn a lost send into ``SendOutcomeUnknown``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sso_signer._errors import SsoSignerError
from sso_signer.rpc._client import AsyncJsonRpcClient, JsonRpcClient
from sso_signer.rpc._core import RpcCall

__all__ = ["Batch", "Flow", "Sleep", "gather", "run_flow", "run_flow_async"]

T = TypeVar("T")


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


def _resume(flow: Flow[T], value: Any, error: SsoSignerError | None) -> Flow[T]:
    """Drive ``flow`` from where it stands (handing it ``value`` or ``error``) as part of another flow."""
    while True:
        try:
            step = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value, error = None, None
        try:
            value = yield step
        except SsoSignerError as exc:
            error = exc


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
            results[index] = yield from _resume(flow, None if error else answer, error)
            continue
        value: Any = None
        failure: SsoSignerError | None = None
        try:
            value = yield step
        except SsoSignerError as exc:
            failure = exc
        results[index] = yield from _resume(flow, value, failure)
    return results


def run_flow(rpc: JsonRpcClient, flow: Flow[T]) -> T:
    """Drive a flow with blocking I/O and return its value."""
    value: Any = None
    error: SsoSignerError | None = None
    while True:
        try:
            step = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value, error = None, None
        try:
            if isinstance(step, Sleep):
                time.sleep(step.seconds)
            elif isinstance(step, Batch):
                value = rpc.batch(step.calls, return_errors=step.return_errors)
            else:
                value = rpc.request(step.method, step.params, retry=step.retry)
        except SsoSignerError as exc:
            error = exc


async def run_flow_async(rpc: AsyncJsonRpcClient, flow: Flow[T]) -> T:
    """Drive a flow with asyncio I/O and return its value."""
    value: Any = None
    error: SsoSignerError | None = None
    while True:
        try:
            step = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value, error = None, None
        try:
            if isinstance(step, Sleep):
                await asyncio.sleep(step.seconds)
            elif isinstance(step, Batch):
                value = await rpc.batch(step.calls, return_errors=step.return_errors)
            else:
                value = await rpc.request(step.method, step.params, retry=step.retry)
        except SsoSignerError as exc:
            error = exc
