"""The shells run one flow method in both worlds, with the flow's docstring and error handling."""

from __future__ import annotations

import asyncio
import inspect
import pydoc
from collections.abc import Generator
from typing import Any

import pytest

from sso_signer._shell import AsyncShell, SyncShell, flow_constructor, flow_constructor_with, flow_method
from sso_signer.rpc._core import Sleep


class _Failure(Exception):
    pass


class _Methods:
    scale: int

    @flow_method
    def double(self, value: int, *, plus: int = 0) -> Generator[Any, Any, int]:
        """Twice ``value`` (times ``scale``), asked of the shell."""
        answered = yield ("double", value)
        return int(answered) * self.scale + plus

    @flow_method
    def guarded(self) -> Generator[Any, Any, str]:
        """Turns a failed step into a value: the shell's error is thrown in at the yield."""
        try:
            yield ("fail", 0)
        except _Failure as exc:
            return f"handled {exc}"
        return "not reached"

    @flow_method
    def composed(self, value: int) -> Generator[Any, Any, int]:
        """Enters another flow method through its ``flow``."""
        first = yield from _Methods.double.flow(self, value)
        yield Sleep(0)
        return first + 1


def _answer(step: Any) -> Any:
    if isinstance(step, Sleep):
        return None
    kind, value = step
    if kind == "fail":
        raise _Failure("by the shell")
    return value * 2


class _Sync(_Methods, SyncShell):
    def __init__(self) -> None:
        self.scale = 10
        self.steps: list[Any] = []

    def answer(self, step: Any) -> Any:
        self.steps.append(step)
        return _answer(step)


class _Async(_Methods, AsyncShell):
    def __init__(self) -> None:
        self.scale = 10

    async def answer(self, step: Any) -> Any:
        await asyncio.sleep(0)
        return _answer(step)


def test_a_flow_method_runs_with_blocking_io_on_a_sync_shell() -> None:
    shell = _Sync()
    assert shell.double(3, plus=1) == 61
    assert shell.steps == [("double", 3)]
    assert shell.guarded() == "handled by the shell"
    assert shell.composed(2) == 41


def test_the_same_method_is_a_coroutine_on_an_async_shell() -> None:
    shell = _Async()
    assert asyncio.run(shell.double(3)) == 60
    assert asyncio.run(shell.guarded()) == "handled by the shell"
    assert asyncio.run(shell.composed(2)) == 41


def test_both_methods_carry_the_flows_docstring_and_name() -> None:
    assert _Sync().double.__doc__ == _Async().double.__doc__ == _Methods.double.flow.__doc__
    assert _Sync().double.__name__ == "double"


def test_an_unhandled_step_error_propagates_from_the_flow() -> None:
    class Raising(_Methods, SyncShell):
        scale = 1

        def answer(self, step: Any) -> Any:
            raise _Failure("unhandled")

    with pytest.raises(_Failure, match="unhandled"):
        Raising().double(1)


def test_a_flow_method_on_something_that_is_not_a_shell_is_refused() -> None:
    class Plain(_Methods):
        scale = 1

    with pytest.raises(TypeError, match="neither a SyncShell nor an AsyncShell"):
        Plain().double(1)  # type: ignore[call-overload]


class _Client(SyncShell):
    def answer(self, step: Any) -> Any:
        return _answer(step)


class _AsyncClient(AsyncShell):
    async def answer(self, step: Any) -> Any:
        return _answer(step)


class _Built:
    def __init__(self, value: int) -> None:
        self.value = value

    @flow_constructor
    def make(cls: Any, *, eth: Any, value: int) -> Generator[Any, Any, Any]:  # noqa: N805
        """Built from what the client answers."""
        return cls((yield ("double", value)))

    @flow_constructor_with
    def make_with(cls: Any, *, eth: Any, value: int) -> Generator[Any, Any, tuple[Any, str]]:  # noqa: N805
        """Built, with a note."""
        return cls((yield ("double", value))), "noted"


class _SyncBuilt(_Built, SyncShell):
    pass


class _AsyncBuilt(_Built, AsyncShell):
    pass


def test_a_constructor_flow_builds_the_class_it_is_reached_on_with_the_clients_answers() -> None:
    built = _SyncBuilt.make(eth=_Client(), value=4)
    assert type(built) is _SyncBuilt
    assert built.value == 8
    made, note = _SyncBuilt.make_with(eth=_Client(), value=1)
    assert type(made) is _SyncBuilt
    assert (made.value, note) == (2, "noted")
    awaited = asyncio.run(_AsyncBuilt.make(eth=_AsyncClient(), value=5))
    assert type(awaited) is _AsyncBuilt
    assert awaited.value == 10
    assert _SyncBuilt.make.__doc__ == _AsyncBuilt.make.__doc__ == "Built from what the client answers."


def test_help_shows_the_driven_methods_parameters_and_return() -> None:
    # help(account.send) showed ``send(self, ...) -> 'Flow[...]'``: a self to pass and a generator returned.
    for method in (_Sync().double, _Async().double):
        assert str(inspect.signature(method)) == "(value: 'int', *, plus: 'int' = 0) -> 'int'"
    assert str(inspect.signature(_SyncBuilt.make)) == "(*, eth: 'Any', value: 'int') -> 'Any'"
    assert (
        str(inspect.signature(_AsyncBuilt.make_with)) == "(*, eth: 'Any', value: 'int') -> 'tuple[Any, str]'"
    )
    assert "double(value: 'int', *, plus: 'int' = 0) -> 'int'" in pydoc.plain(
        pydoc.render_doc(_Sync().double)
    )
    # On the class (help(Erc4337Account) lists the methods there) every method showed as `double(...)`.
    assert "double(self, value: 'int', *, plus: 'int' = 0) -> 'int'" in pydoc.plain(pydoc.render_doc(_Sync))
    with pytest.raises(TypeError, match=r"on an instance \(inside a flow: yield from Cls.double.flow"):
        _Sync.double(_Sync(), 1)  # type: ignore[arg-type]


def test_help_on_a_class_whose_methods_mixin_has_a_constructor_flow() -> None:
    # help(Erc4337Account) raised TypeError: inspect reads every attribute on each class of the MRO, and the
    # constructor reached through the (non-shell) methods mixin refused to bind.
    mixin: Any = _Built
    with pytest.raises(TypeError):
        mixin.make(eth=_Client(), value=1)  # not a shell: nothing to run it on
    assert isinstance(mixin.make, flow_constructor)
    assert "Built from what the client answers." in pydoc.plain(pydoc.render_doc(_SyncBuilt))
