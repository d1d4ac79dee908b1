"""Each sync client and its async twin are one definition: same methods, same signatures, one docstring."""

from __future__ import annotations

import inspect

import pytest

from sso_signer.erc4337 import AsyncBundlerClient, AsyncEntryPoint, BundlerClient, EntryPoint
from sso_signer.rpc import AsyncEthClient, AsyncJsonRpcClient, EthClient, JsonRpcClient
from sso_signer.zksync import AsyncZkSyncClient, ZkSyncClient

_TWINS = [
    (JsonRpcClient, AsyncJsonRpcClient),
    (EthClient, AsyncEthClient),
    (ZkSyncClient, AsyncZkSyncClient),
    (BundlerClient, AsyncBundlerClient),
    (EntryPoint, AsyncEntryPoint),
]
# What differs by design between the worlds: closing, and the shells' own plumbing (answering a step,
# driving a flow), which is written once per world; building a client from a web3.py object does no I/O, so
# it is a plain classmethod in both.
_PLUMBING = {"close", "aclose", "answer", "run", "from_web3"}


def _methods(cls: type) -> dict[str, object]:
    return {
        name: member
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and callable(member) and name not in _PLUMBING
    }


@pytest.mark.parametrize(("sync", "asynchronous"), _TWINS, ids=[s.__name__ for s, _ in _TWINS])
def test_the_twins_have_the_same_methods_signatures_and_docstrings(sync: type, asynchronous: type) -> None:
    sync_methods, async_methods = _methods(sync), _methods(asynchronous)
    assert sorted(sync_methods) == sorted(async_methods)
    for name, method in sync_methods.items():
        twin = async_methods[name]
        assert inspect.signature(method) == inspect.signature(twin), name  # type: ignore[arg-type]
        doc = inspect.getdoc(method) or ""
        assert doc, f"{sync.__name__}.{name} has no docstring"
        assert inspect.getdoc(twin) == doc, f"{asynchronous.__name__}.{name} documents something else"
        assert not doc.startswith("See :meth:"), f"{sync.__name__}.{name}: {doc[:60]}"


@pytest.mark.parametrize(("sync", "asynchronous"), _TWINS, ids=[s.__name__ for s, _ in _TWINS])
def test_the_async_methods_are_coroutine_functions(sync: type, asynchronous: type) -> None:
    for name in _methods(sync):
        bound_sync = getattr(_bare(sync), name)
        bound_async = getattr(_bare(asynchronous), name)
        assert not inspect.iscoroutinefunction(bound_sync), name
        assert inspect.iscoroutinefunction(bound_async), name


def _bare(cls: type) -> object:
    # An instance without running the constructor: only the methods' binding is looked at.
    return object.__new__(cls)
