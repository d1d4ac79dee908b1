"""LocalErc4337Stack's ``node`` is typed as the anvil node a user drives (``stack.node.url``,
``stack.node.increase_time(...)``), and reading it while the stack is not running is a typed error."""

from __future__ import annotations

import pytest

from sso_signer.exceptions import ErrorCode, ToolNotFound
from sso_signer.local_erc4337 import LocalErc4337Stack
from sso_signer.node import AnvilNode
from tests.errors import raises_rule
from tests.needs import ERC4337_CONTRACTS, require_artifacts


@pytest.mark.chain
@pytest.mark.bundler
def test_node_is_the_running_anvil_and_a_typed_error_when_the_stack_is_not_running() -> None:
    require_artifacts(*ERC4337_CONTRACTS)
    stack = LocalErc4337Stack(test_token=False)
    with raises_rule(ErrorCode.NODE_START_FAILED, match="not running; call start"):
        _ = stack.node  # not started yet
    try:
        stack.start()
    except ToolNotFound as exc:
        pytest.skip(f"anvil, node or npm @pimlico/alto missing: {exc}")
    try:
        node = stack.node
        assert isinstance(node, AnvilNode)
        assert node.running
        assert stack.eth.chain_id() == node.chain_id
        assert repr(stack) == f"LocalErc4337Stack(node={node.url}, bundler={stack.bundler_url})"
    finally:
        stack.stop()
    assert not node.running
    with raises_rule(ErrorCode.NODE_START_FAILED, match="not running"):
        _ = stack.node  # stopped
    assert repr(stack) == "LocalErc4337Stack(stopped)"
