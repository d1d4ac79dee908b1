"""The connection pool size of the JSON-RPC clients is checked and handed to httpx."""

from __future__ import annotations

from typing import Any

import pytest

from sso_signer.exceptions import InvalidRpcParams
from sso_signer.rpc import AsyncJsonRpcClient, JsonRpcClient


@pytest.mark.parametrize("bad", [0, -1, True, 2.5, "8"])
def test_max_connections_must_be_a_positive_int(bad: object) -> None:
    with pytest.raises(InvalidRpcParams, match="max_connections"):
        JsonRpcClient("http://127.0.0.1:1", max_connections=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidRpcParams, match="max_connections"):
        AsyncJsonRpcClient("http://127.0.0.1:1", max_connections=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [None, 1, 32])
async def test_pool_size_reaches_httpx(size: int | None) -> None:
    # httpx keeps the limits on its pool; every pooled connection is kept alive (no reconnect churn).
    url = "http://127.0.0.1:1"
    if size is None:
        sync, asynchronous, expected = JsonRpcClient(url), AsyncJsonRpcClient(url), 8
    else:
        sync = JsonRpcClient(url, max_connections=size)
        asynchronous = AsyncJsonRpcClient(url, max_connections=size)
        expected = size
    try:
        for client in (sync, asynchronous):
            transport: Any = client._http._transport
            pool = transport._pool
            assert pool._max_connections == expected
            assert pool._max_keepalive_connections == expected
    finally:
        sync.close()
        await asynchronous.aclose()


def test_sniffio_is_installed_for_httpcore() -> None:
    # httpcore imports sniffio lazily for every async lock; when it is missing each request pays a failed
    # import (a scan of sys.path), which benchmarks/concurrency.py showed as a fifth of the client's CPU.
    import importlib.util

    assert importlib.util.find_spec("sniffio") is not None
