"""The pytest plugin: loaded through the ``pytest11`` entry point, cheap to load, and its fixtures work."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest_plugins = ["pytester"]


def test_plugin_is_registered_through_the_entry_point() -> None:
    from importlib.metadata import entry_points

    plugins = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert plugins.get("sso_signer") == "sso_signer.pytest_plugin"


def test_loading_the_plugin_imports_no_heavy_module() -> None:
    # A fresh interpreter: importing the plugin must not pull in the chain, passkey or node code.
    code = (
        "import sys, sso_signer.pytest_plugin\n"
        "heavy = [m for m in sys.modules if m.startswith(('sso_signer.node', 'sso_signer.webauthn', "
        "'sso_signer.sso', 'sso_signer.local_erc4337', 'web3', 'httpx'))]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


def test_fixtures_are_listed(pytester: pytest.Pytester) -> None:
    # No "-p": the plugin arrives through its entry point, as in a user's project.
    result = pytester.runpytest_subprocess("--fixtures")
    for name in (
        "sso_anvil",
        "sso_stack",
        "sso_deployment",
        "headless_passkey",
        "passkey_account",
        "session_account",
        "sso_fund",
        "anvil_zksync_node",
        "sso_guardian",
        "guarded_passkey_account",
    ):
        result.stdout.fnmatch_lines([f"*{name}*"])


def test_headless_passkey_and_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_user=textwrap.dedent(
            """
            import pytest

            @pytest.mark.chain
            def test_passkey(headless_passkey):
                assertion = headless_passkey.sign(bytes(range(32)))
                assert headless_passkey.public_key.verify(assertion.ecdsa_signature, assertion.signed_message)
                assert assertion.client_data.origin == "http://localhost:5173"
            """
        )
    )
    result = pytester.runpytest_subprocess("--strict-markers", "-q")
    result.assert_outcomes(passed=1)


def test_anvil_zksync_fixture_skips_with_a_reason_when_absent(pytester: pytest.Pytester) -> None:
    from sso_signer.node import AnvilZkSyncNode

    if AnvilZkSyncNode.available():
        pytest.skip("anvil-zksync is on PATH here, so the fixture does not skip")
    pytester.makepyfile(
        test_era="def test_era(anvil_zksync_node):\n    assert anvil_zksync_node.chain_id == 260\n"
    )
    result = pytester.runpytest_subprocess("-rs", "-q")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*anvil-zksync not on PATH*"])


@pytest.mark.chain
@pytest.mark.bundler
def test_funded_passkey_account_executes_a_transfer(pytester: pytest.Pytester) -> None:
    # What a user's integration test looks like: a few lines on top of the fixtures.
    pytester.makepyfile(
        test_flow=textwrap.dedent(
            """
            def test_transfer(passkey_account, sso_deployment, sso_anvil):
                eth = passkey_account.eth
                recipient = "0x000000000000000000000000000000000000bEEF"
                before = eth.get_balance(recipient)
                assert passkey_account.get_balance() == 10**18
                receipt = passkey_account.send_calls([(recipient, 12345, b"")])
                assert receipt.success
                assert eth.get_balance(recipient) - before == 12345
                assert passkey_account.is_deployed()
                assert sso_deployment.era is not None and eth.get_code(sso_deployment.era.passkey_validator)
                assert sso_anvil.chain_id == 31337
            """
        )
    )
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=1)


@pytest.mark.chain
@pytest.mark.bundler
def test_funding_is_a_fixture_parameter_and_sso_fund_pays_more(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_funding=textwrap.dedent(
            """
            import pytest
            from sso_signer.cli import Deployment

            @pytest.mark.parametrize("passkey_account", [10**15, 0], indirect=True)
            def test_amount(passkey_account, sso_fund, sso_deployment):
                assert isinstance(sso_deployment, Deployment)
                before = passkey_account.get_balance()
                assert before in (10**15, 0)
                receipt = sso_fund(passkey_account.address, 7)
                assert receipt.status == 1
                assert passkey_account.get_balance() == before + 7

            @pytest.mark.parametrize("passkey_account", ["1ether"], indirect=True)
            def test_wrong_parameter(passkey_account):
                pass
            """
        )
    )
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*the parameter is the funding in wei*"])


@pytest.mark.chain
@pytest.mark.bundler
def test_guarded_passkey_account_has_the_guardian_accepted(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_user=textwrap.dedent(
            """
            from sso_signer.sso import GuardianStatus

            def test_guarded(guarded_passkey_account, sso_guardian):
                assert guarded_passkey_account.is_deployed()
                assert guarded_passkey_account.list_guardians() == {
                    sso_guardian.address: GuardianStatus(is_present=True, is_active=True)
                }
                assert sso_guardian.status(guarded_passkey_account.address).is_active
                assert not guarded_passkey_account.pending_recovery().exists
            """
        )
    )
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=1)


@pytest.mark.chain
@pytest.mark.bundler
def test_session_account_sends_with_its_key_and_takes_a_spec_parameter(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_session=textwrap.dedent(
            """
            import pytest
            from sso_signer.sso import SessionSpec, TransferPolicy, UsageLimit

            def test_default(session_account):
                account, spec, key = session_account
                assert key.address == spec.signer
                assert account.session_state(spec).active
                dead = "0x000000000000000000000000000000000000dEaD"
                before = account.eth.get_balance(dead)
                assert account.send_with_session(spec, key, dead, 10**15).success
                assert account.eth.get_balance(dead) == before + 10**15
                # The validator was installed at creation: createSession did not install it again.
                assert len(account.list_sessions()) == 1

            def beef_only(signer, expires_at, deployment):
                beef = "0x000000000000000000000000000000000000bEEF"
                return SessionSpec(signer, expires_at, UsageLimit.lifetime(10**17),
                                   transfer_policies=(TransferPolicy(beef, 5),))

            @pytest.mark.parametrize("session_account", [beef_only], indirect=True)
            def test_parameter(session_account):
                account, spec, key = session_account
                assert spec.transfer_policies[0].max_value_per_use == 5
                assert account.send_with_session(spec, key, spec.transfer_policies[0].target, 5).success
            """
        )
    )
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=2)
