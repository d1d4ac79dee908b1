"""Sync and async shells around flows: each method is written once, as a flow, and runs in both worlds.

A class that talks to a chain lists its methods once, as generator methods decorated with :func:`flow_method`.
The same methods then serve two concrete classes, one built on :class:`SyncShell` (each call drives the flow
with blocking I/O and returns its value) and one on :class:`AsyncShell` (each call returns a coroutine)::

    class _BalanceMethods:
        @flow_method
        def get_balance(self, address: str) -> Flow[int]:
            \"\"\"The balance in wei.\"\"\"
            return parse_quantity((yield RpcCall("eth_getBalance", (address, "latest"))), "eth_getBalance")

    class Balances(_BalanceMethods, SyncShell): ...            # Balances(...).get_balance(a) -> int
    class AsyncBalances(_BalanceMethods, AsyncShell): ...      # await AsyncBalances(...).get_balance(a)

The shell answers each step the flow yields in :meth:`SyncShell.answer` / :meth:`AsyncShell.answer` (the
JSON-RPC clients answer HTTP posts and sleeps, the chain clients JSON-RPC calls, batches and sleeps; a
subclass adds its own steps, such as asking a passkey for an assertion). Inside a flow, another flow method
is entered with ``yield from Cls.method.flow(self, ...)``: a plain ``self.method(...)`` there does not
type-check, which keeps flows free of I/O.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, Concatenate, Generic, Never, NoReturn, ParamSpec, Self, TypeVar, get_args, overload

__all__ = [
    "AsyncShell",
    "SyncShell",
    "drive",
    "drive_async",
    "flow_constructor",
    "flow_constructor_with",
    "flow_method",
    "resume",
]

P = ParamSpec("P")
T = TypeVar("T")
S = TypeVar("S")
Y = TypeVar("Y")


def resume(flow: Generator[Y, Any, T], value: Any, error: BaseException | None) -> tuple[bool, Any]:
    """Send ``value`` (or throw ``error``) into ``flow``: ``(False, next step)``, or ``(True, its value)``."""
    try:
        return False, (flow.throw(error) if error is not None else flow.send(value))
    except StopIteration as stop:
        return True, stop.value


def drive(flow: Generator[Y, Any, T], handle: Callable[[Y], Any]) -> T:
    """Run ``flow`` to its end, answering each step with ``handle(step)``.

    Whatever ``handle`` raises is thrown into the flow at its ``yield``: the flow handles the SDK's errors it
    expects, and notes on the rest (an interrupt, a cancellation) what it had already sent before they
    propagate.
    """
    done, out = resume(flow, None, None)
    while not done:
        try:
            value, error = handle(out), None
        except BaseException as exc:  # noqa: BLE001 - handed to the flow, which re-raises what it does not handle
            value, error = None, exc
        done, out = resume(flow, value, error)
    return out  # type: ignore[no-any-return]


async def drive_async(flow: Generator[Y, Any, T], handle: Callable[[Y], Awaitable[Any]]) -> T:
    """:func:`drive` with each step answered by awaiting ``handle(step)`` (a cancellation is thrown into the
    flow like any other exception)."""
    done, out = resume(flow, None, None)
    while not done:
        try:
            value, error = await handle(out), None
        except BaseException as exc:  # noqa: BLE001 - handed to the flow, which re-raises what it does not handle
            value, error = None, exc
        done, out = resume(flow, value, error)
    return out  # type: ignore[no-any-return]


class SyncShell:
    """Runs flow methods with blocking I/O: subclasses answer each step in :meth:`answer`."""

    __slots__ = ()

    def answer(self, step: Any) -> Any:
        """Carry out one step of a flow and return what the flow receives.

        Raises:
            SsoSignerError: What the step failed with (it is thrown into the flow at its ``yield``).
        """
        raise NotImplementedError

    def run(self, flow: Generator[Any, Any, T]) -> T:
        """Drive a flow (a generator of this shell's steps) on this shell and return its value."""
        return drive(flow, self.answer)

    def close(self) -> None:
        """Release what the shell holds (a connection pool); also done on leaving a ``with`` block."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncShell:
    """Runs flow methods with asyncio: subclasses answer each step in :meth:`answer`."""

    __slots__ = ()

    async def answer(self, step: Any) -> Any:
        """Carry out one step of a flow, awaiting its I/O, and return what the flow receives.

        Raises:
            SsoSignerError: What the step failed with (it is thrown into the flow at its ``yield``).
        """
        raise NotImplementedError

    async def run(self, flow: Generator[Any, Any, T]) -> T:
        """Drive a flow on this shell and return its value."""
        return await drive_async(flow, self.answer)

    async def aclose(self) -> None:
        """Release what the shell holds (a connection pool); also done on leaving an ``async with`` block."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _FlowDescriptor:
    """What a flow method and a constructor flow share: the flow, its name and docstring (for help() and
    Sphinx), and the function that drives it on a sync or an async shell."""

    __slots__ = ("__dict__", "flow")

    def __init__(self, flow: Callable[..., Generator[Any, Any, Any]]) -> None:
        self.flow = flow
        self.__doc__ = flow.__doc__
        self.__name__ = flow.__name__
        self.__wrapped__ = flow

    @functools.cached_property
    def __signature__(self) -> inspect.Signature:
        """The method's signature as help() shows it on the class: the flow's, returning what the flow returns
        (``Flow[X]``, ``Generator[Y, S, X]``: X)."""
        signature = inspect.signature(self.flow)
        returns: Any = signature.return_annotation
        if isinstance(returns, str):  # postponed annotations: the generic's last argument, split at depth 0
            inner, depth, start = returns.partition("[")[2].removesuffix("]"), 0, 0
            for at, char in enumerate(inner):
                depth += (char in "[(") - (char in "])")
                if char == "," and depth == 0:
                    start = at + 1
            returns = inner[start:].strip() or inspect.Signature.empty
        elif returns is not inspect.Signature.empty:
            returns = (get_args(returns) or (inspect.Signature.empty,))[-1]
        return signature.replace(return_annotation=returns)

    @functools.cached_property
    def _signature(self) -> inspect.Signature:
        """The driven method's signature: without the first parameter (``self`` / ``cls``)."""
        signature = self.__signature__
        return signature.replace(parameters=list(signature.parameters.values())[1:])

    def __call__(self, *args: Never, **kwargs: Never) -> NoReturn:
        """Reached on a class, a flow method is not called: it is called on an instance, and entered inside
        another flow with ``yield from Cls.method.flow(self, ...)`` (callable only so that help() and
        inspect show its signature).

        Raises:
            TypeError: Always.
        """
        raise TypeError(
            f"{self.__name__}() is called on an instance (inside a flow: "
            f"yield from Cls.{self.__name__}.flow(self, ...))"
        )

    def _driver(
        self,
        first: object,
        shell: type[Any],
        answerer: Callable[[dict[str, Any]], Any],
        prepare: Callable[[dict[str, Any]], dict[str, Any]] = dict,
    ) -> Any:
        """``flow(first, ...)`` as a function (a coroutine function on an async ``shell``) whose steps
        ``answerer(kwargs).answer`` answers, the keyword arguments first passed through ``prepare``."""
        flow = self.flow
        if issubclass(shell, AsyncShell):

            async def run_async(*args: Any, **kwargs: Any) -> Any:
                kwargs = prepare(kwargs)
                return await drive_async(flow(first, *args, **kwargs), answerer(kwargs).answer)

            functools.update_wrapper(run_async, flow)
            run_async.__signature__ = self._signature  # type: ignore[attr-defined]
            return run_async
        if issubclass(shell, SyncShell):

            def run(*args: Any, **kwargs: Any) -> Any:
                kwargs = prepare(kwargs)
                return drive(flow(first, *args, **kwargs), answerer(kwargs).answer)

            functools.update_wrapper(run, flow)
            run.__signature__ = self._signature  # type: ignore[attr-defined]
            return run
        raise TypeError(f"{shell.__name__} is neither a SyncShell nor an AsyncShell")


class flow_method(_FlowDescriptor, Generic[S, P, T]):  # noqa: N801 - used as a decorator, named like one
    """Make a generator method (a flow) a method of both shells; its docstring serves both.

    Accessed on a :class:`SyncShell` instance it is a plain method returning the flow's value; on an
    :class:`AsyncShell` instance, a coroutine method; on the class, this descriptor, whose :attr:`flow` is the
    generator function (for ``yield from`` inside other flows).
    """

    __slots__ = ()
    flow: Callable[Concatenate[S, P], Generator[Any, Any, T]]

    def __init__(self, flow: Callable[Concatenate[S, P], Generator[Any, Any, T]]) -> None:
        super().__init__(flow)

    @overload
    def __get__(self, obj: None, owner: type[Any] | None = None) -> Self: ...

    @overload
    def __get__(self, obj: SyncShell, owner: type[Any] | None = None) -> Callable[P, T]: ...

    @overload
    def __get__(
        self, obj: AsyncShell, owner: type[Any] | None = None
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...

    def __get__(self, obj: object, owner: type[Any] | None = None) -> Any:
        return self if obj is None else self._driver(obj, type(obj), lambda _: obj)


_SS = TypeVar("_SS", bound=SyncShell)
_AS = TypeVar("_AS", bound=AsyncShell)
X = TypeVar("X")


class _Constructor(_FlowDescriptor):
    """A classmethod written once as a flow ``flow(cls, ..., eth=client, ...)`` whose steps the ``eth``
    client answers (there is no instance yet to answer them); the class's shell decides sync or async."""

    __slots__ = ()

    def _bind(self, owner: type[Any]) -> Any:
        if not issubclass(owner, SyncShell | AsyncShell):
            return self  # reached through a methods mixin (help(), inspect): the descriptor, as flow_method's
        # The class may turn its client arguments into clients first (a URL or a web3.py Web3, say).
        clients: Callable[[dict[str, Any]], dict[str, Any]] = getattr(owner, "constructor_clients", dict)
        return self._driver(owner, owner, lambda kwargs: kwargs["eth"], clients)


class flow_constructor(_Constructor, Generic[P]):  # noqa: N801 - used as a decorator, named like one
    """A constructor flow returning the new instance: ``Cls.make(...)`` on a sync class, ``await`` on an async
    one (the instance is of the class it was reached through)."""

    def __init__(self, flow: Callable[Concatenate[Any, P], Generator[Any, Any, Any]]) -> None:
        super().__init__(flow)

    @overload
    def __get__(self, obj: object, owner: type[_SS]) -> Callable[P, _SS]: ...

    @overload
    def __get__(self, obj: object, owner: type[_AS]) -> Callable[P, Coroutine[Any, Any, _AS]]: ...

    def __get__(self, obj: object, owner: type[Any]) -> Any:
        return self._bind(owner)


class flow_constructor_with(_Constructor, Generic[P, X]):  # noqa: N801
    """A constructor flow returning ``(new instance, something learnt on the way)``, e.g. a receipt."""

    def __init__(self, flow: Callable[Concatenate[Any, P], Generator[Any, Any, tuple[Any, X]]]) -> None:
        super().__init__(flow)

    @overload
    def __get__(self, obj: object, owner: type[_SS]) -> Callable[P, tuple[_SS, X]]: ...

    @overload
    def __get__(self, obj: object, owner: type[_AS]) -> Callable[P, Coroutine[Any, Any, tuple[_AS, X]]]: ...

    def __get__(self, obj: object, owner: type[Any]) -> Any:
        return self._bind(owner)
