"""The CLI's shared readers: a private key from the environment, and the chain's clock."""

from __future__ import annotations

import argparse
import json

import httpx
import pytest

from sso_signer.cli._context import ChainContext, key_from_env
from sso_signer.exceptions import CliUsageError, ErrorCode
from sso_signer.zksync._client import ZkSyncClient
from tests.errors import raises_rule

# anvil's dev account #2: a public key, never a secret.
DEV_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
DEV_ADDRESS = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"


def _args(**options: object) -> argparse.Namespace:
    return argparse.Namespace(**options)


def test_key_from_env_reads_the_named_variable_then_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSO_TEST_DEFAULT_KEY", raising=False)
    assert key_from_env(_args(deployer_key_env=None), "--deployer-key-env", "SSO_TEST_DEFAULT_KEY") is None
    monkeypatch.setenv("SSO_TEST_DEFAULT_KEY", f" {DEV_KEY}\n")
    found = key_from_env(_args(), "--guardian-key-env", "SSO_TEST_DEFAULT_KEY")
    assert found is not None
    assert (found[0].address, found[1]) == (DEV_ADDRESS, "$SSO_TEST_DEFAULT_KEY")
    monkeypatch.setenv("SSO_TEST_NAMED_KEY", DEV_KEY)
    named = key_from_env(
        _args(guardian_key_env="SSO_TEST_NAMED_KEY"), "--guardian-key-env", "SSO_TEST_DEFAULT_KEY"
    )
    assert named is not None
    assert named[1] == "$SSO_TEST_NAMED_KEY"


def test_key_from_env_refuses_an_unset_or_garbled_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSO_TEST_UNSET_KEY", raising=False)
    args = _args(deployer_key_env="SSO_TEST_UNSET_KEY")
    with pytest.raises(CliUsageError, match="--deployer-key-env SSO_TEST_UNSET_KEY: that environment"):
        key_from_env(args, "--deployer-key-env", "SSO_TEST_DEFAULT_KEY")
    secret = "0x" + "zz" * 32
    monkeypatch.setenv("SSO_TEST_UNSET_KEY", secret)
    with pytest.raises(CliUsageError, match="does not hold a secp256k1 private key") as caught:
        key_from_env(args, "--deployer-key-env", "SSO_TEST_DEFAULT_KEY")
    assert secret not in str(caught.value)
    assert caught.value.__cause__ is None


def _context(block: object) -> ChainContext:
    def answer(request: httpx.Request) -> httpx.Response:
        body = {"jsonrpc": "2.0", "id": json.loads(request.content)["id"], "result": block}
        return httpx.Response(200, json=body)

    ctx = ChainContext("http://127.0.0.1:1", None, None)
    ctx._client = ZkSyncClient(transport=httpx.MockTransport(answer))
    return ctx


def test_chain_time_is_the_latest_block_timestamp() -> None:
    with _context({"timestamp": "0x65", "number": "0x7"}) as ctx:
        assert ctx.chain_time() == 0x65


@pytest.mark.parametrize(
    "block",
    [None, {"number": "0x7"}, {"timestamp": "soon", "number": "0x7"}, {"timestamp": 5}, {"timestamp": "0x"}],
)
def test_chain_time_refuses_a_latest_block_without_a_timestamp(block: object) -> None:
    # The CLI's copies read a missing block or timestamp as time 0 (a session spec expiring in 1970, a
    # recovery "finalizable now") and let a garbled one escape as a bare ValueError.
    with _context(block) as ctx, raises_rule(ErrorCode.MALFORMED_RPC_RESPONSE):
        ctx.chain_time()
