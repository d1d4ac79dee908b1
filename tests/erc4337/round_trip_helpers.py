"""Counting helpers for the round-trip tests: transports that forward to the real services, a passkey
provider that counts signatures, and a clock the test moves by hand."""

from __future__ import annotations

import json
from typing import Any

import httpx

from sso_signer.accounts import HeadlessAssertionProvider
from sso_signer.webauthn import Assertion, HeadlessPasskey

Log = list[tuple[str, tuple[str, ...]]]


def _methods(request: httpx.Request) -> tuple[str, ...]:
    body = json.loads(request.content)
    calls = body if isinstance(body, list) else [body]
    return tuple(str(call.get("method")) for call in calls)


class CountingTransport(httpx.BaseTransport):
    """Forwards every HTTP request to the real service and logs ``(label, methods)``; answers nothing."""

    def __init__(self, label: str, log: Log) -> None:
        self.label = label
        self.log = log
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.log.append((self.label, _methods(request)))
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class AnswerLosingTransport(CountingTransport):
    """A :class:`CountingTransport` that delivers the first ``eth_sendUserOperation`` to the real bundler and
    then loses its answer (``httpx.ReadError``): the fault of a connection dropped after the request left."""

    def __init__(self, label: str, log: Log) -> None:
        super().__init__(label, log)
        self.lost = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if self.lost == 0 and "eth_sendUserOperation" in _methods(request):
            self.lost += 1
            response.read()
            response.close()
            raise httpx.ReadError("connection dropped before the answer (injected)", request=request)
        return response


class AsyncCountingTransport(httpx.AsyncBaseTransport):
    """The asyncio twin of :class:`CountingTransport`."""

    def __init__(self, label: str, log: Log) -> None:
        self.label = label
        self.log = log
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.log.append((self.label, _methods(request)))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class CountingProvider(HeadlessAssertionProvider):
    """The headless provider, counting the assertions it makes (one per passkey signature)."""

    def __init__(self, passkey: HeadlessPasskey) -> None:
        super().__init__(passkey)
        self.calls = 0

    def get_assertion(self, request: Any) -> Assertion:
        self.calls += 1
        return super().get_assertion(request)


class ManualClock:
    """A monotonic clock that only moves when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def until_send(log: Log) -> Log:
    """The requests up to and including the one carrying ``eth_sendUserOperation`` (receipt polling cut)."""
    for index, (_, methods) in enumerate(log):
        if "eth_sendUserOperation" in methods:
            return log[: index + 1]
    return list(log)


def _rewrite(request: httpx.Request, response: httpx.Response, answers: dict[str, Any]) -> httpx.Response:
    """``response`` with the result of each call whose method is in ``answers`` replaced (errors too)."""
    body = json.loads(request.content)
    calls = body if isinstance(body, list) else [body]
    if not any(call.get("method") in answers for call in calls):
        return response
    response.read()
    answered = json.loads(response.content)
    items = answered if isinstance(answered, list) else [answered]
    methods = {call.get("id"): call.get("method") for call in calls}
    for item in items:
        method = methods.get(item.get("id"))
        if method in answers:
            item.pop("error", None)
            item["result"] = answers[method]
    return httpx.Response(response.status_code, json=answered)


class HostileTransport(CountingTransport):
    """A :class:`CountingTransport` that replaces the real service's answer to each method of ``answers``
    (fault injection: a greedy node or bundler answering fees or gas of its choosing)."""

    def __init__(self, label: str, log: Log, answers: dict[str, Any]) -> None:
        super().__init__(label, log)
        self.answers = answers

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return _rewrite(request, super().handle_request(request), self.answers)


class AsyncHostileTransport(AsyncCountingTransport):
    """The asyncio twin of :class:`HostileTransport`."""

    def __init__(self, label: str, log: Log, answers: dict[str, Any]) -> None:
        super().__init__(label, log)
        self.answers = answers

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        await response.aread()
        return _rewrite(request, response, self.answers)
