"""Where the local-stack tools are looked for, and what a missing one says (sso_signer._toolchain)."""

from __future__ import annotations

import json
import os
import pathlib
import platform
import stat

import pytest

from sso_signer import _toolchain
from sso_signer._toolchain import TOOLS, install_tools, locate_tool, tools_home
from sso_signer.cli import ExitCode
from sso_signer.cli._output import exit_code_for
from sso_signer.erc4337._entry_point import load_entry_point_v08_initcode
from sso_signer.exceptions import ErrorCode, ToolNotFound
from sso_signer.node import AltoBundler, AnvilNode
from tests.errors import raises_rule

ROOT = pathlib.Path(__file__).resolve().parent.parent
TOOL_ENVS = [tool.env for tool in TOOLS.values()]


def _executable(path: pathlib.Path) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def isolated(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """No tool variable, an empty per-user directory, no checkout, an empty PATH."""
    for env in TOOL_ENVS:
        monkeypatch.delenv(env, raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("SSO_SIGNER_HOME", str(home))
    monkeypatch.setattr(_toolchain, "_CHECKOUT", tmp_path / "no-checkout")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    return home


def test_home_defaults_to_the_user_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    monkeypatch.delenv("SSO_SIGNER_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert tools_home() == tmp_path / ".cache" / "sso-signer"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert tools_home() == tmp_path / "xdg" / "sso-signer"
    monkeypatch.setenv("SSO_SIGNER_HOME", str(tmp_path / "mine"))
    assert tools_home() == tmp_path / "mine"


@pytest.mark.parametrize("name", sorted(TOOLS))
def test_a_missing_tool_names_itself_and_the_setup_command(isolated: pathlib.Path, name: str) -> None:
    with raises_rule(ErrorCode.TOOL_NOT_FOUND) as info:
        locate_tool(name)
    assert info.value.tool == name
    assert "sso-signer setup" in str(info.value)
    assert TOOLS[name].env in str(info.value)
    assert exit_code_for(info.value) == ExitCode.CONFIGURATION


def test_search_order(
    isolated: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    npm_path = TOOLS["anvil"].npm_path
    on_path = _executable(tmp_path / "bin" / "anvil")
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert locate_tool("anvil") == str(on_path)
    checkout = tmp_path / "checkout"
    (checkout / "pyproject.toml").parent.mkdir(parents=True)
    (checkout / "pyproject.toml").write_text("")
    in_checkout = _executable(checkout / "node_modules" / npm_path)
    monkeypatch.setattr(_toolchain, "_CHECKOUT", checkout)
    assert locate_tool("anvil") == str(in_checkout)
    in_home = _executable(isolated / "node_modules" / npm_path)
    assert locate_tool("anvil") == str(in_home)
    from_env = _executable(tmp_path / "env" / "anvil")
    monkeypatch.setenv("SSO_SIGNER_ANVIL", str(from_env))
    assert locate_tool("anvil") == str(from_env)
    given = _executable(tmp_path / "given" / "anvil")
    assert locate_tool("anvil", given) == str(given)


def test_a_wrong_variable_or_argument_is_an_error_not_a_fallback(
    isolated: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _executable(isolated / "node_modules" / TOOLS["anvil"].npm_path)
    monkeypatch.setenv("SSO_SIGNER_ANVIL", str(tmp_path / "typo"))
    with raises_rule(ErrorCode.TOOL_NOT_FOUND, match=r"typo \(from the \$SSO_SIGNER_ANVIL\)"):
        locate_tool("anvil")
    monkeypatch.delenv("SSO_SIGNER_ANVIL")
    with raises_rule(ErrorCode.TOOL_NOT_FOUND, match="from the argument"):
        locate_tool("anvil", tmp_path / "typo")


def test_the_node_room_raises_its_own_subclass(
    isolated: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with raises_rule(ErrorCode.NODE_BINARY_NOT_FOUND, match="sso-signer setup") as info:
        AnvilNode()
    assert isinstance(info.value, ToolNotFound)
    assert info.value.tool == "anvil"
    keys = {"executor_private_keys": ["0x" + "11" * 32], "utility_private_key": "0x" + "22" * 32}
    with raises_rule(ErrorCode.NODE_BINARY_NOT_FOUND, match=r"install Node\.js"):
        AltoBundler("http://127.0.0.1:1", **keys)  # type: ignore[arg-type]
    monkeypatch.setenv("PATH", str(_executable(tmp_path / "bin" / "node").parent))
    with raises_rule(ErrorCode.NODE_BINARY_NOT_FOUND, match="sso-signer setup"):
        AltoBundler(
            "http://127.0.0.1:1",
            executor_private_keys=["0x" + "11" * 32],
            utility_private_key="0x" + "22" * 32,
        )


def test_a_missing_entry_point_artifact_is_a_configuration_error(tmp_path: pathlib.Path) -> None:
    # Before: EntryPointArtifactMismatch, a remote-node error (exit 4), although nothing mismatched.
    with raises_rule(ErrorCode.TOOL_NOT_FOUND, match="sso-signer setup") as info:
        load_entry_point_v08_initcode(tmp_path)
    assert exit_code_for(info.value) == ExitCode.CONFIGURATION


def test_the_entry_point_artifact_comes_from_the_variable(
    isolated: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    artifact = tmp_path / "EntryPoint.json"
    artifact.write_text(json.dumps({"bytecode": "0x00"}))
    monkeypatch.setenv("SSO_SIGNER_ENTRY_POINT", str(artifact))
    with pytest.raises(Exception, match=str(artifact)):  # found, then rejected as not canonical
        load_entry_point_v08_initcode()


def test_setup_without_npm_names_what_to_install(isolated: pathlib.Path) -> None:
    with raises_rule(ErrorCode.TOOL_NOT_FOUND, match=r"install Node\.js") as info:
        install_tools()
    assert info.value.tool == "npm"
    assert exit_code_for(info.value) == ExitCode.CONFIGURATION


def test_setup_refuses_an_unsupported_platform(
    isolated: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    monkeypatch.setattr(platform, "machine", lambda: "arm64")
    with raises_rule(ErrorCode.TOOL_NOT_FOUND, match="Darwin arm64, which is not supported"):
        install_tools()


def test_the_shipped_manifest_pins_what_the_checkout_tests_with() -> None:
    # The per-user install must run the same versions as the test suite's node_modules.
    shipped = json.loads((ROOT / "sso_signer" / "toolchain" / "package.json").read_text())["dependencies"]
    checkout = json.loads((ROOT / "package.json").read_text())["devDependencies"]
    assert {name: checkout[name] for name in shipped} == shipped
    lock = json.loads((ROOT / "sso_signer" / "toolchain" / "package-lock.json").read_text())["packages"]
    full = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    differ = [key for key in lock if key and lock[key].get("version") != full.get(key, {}).get("version")]
    assert differ == [], "regenerate sso_signer/toolchain/package-lock.json from package-lock.json"
    for name in shipped:
        assert f"node_modules/{name}" in lock
    assert all(
        tool.npm_path.split("/")[0] + "/" + tool.npm_path.split("/")[1] in shipped for tool in TOOLS.values()
    )


def test_installed_tools_are_not_looked_for_in_the_working_directory(
    isolated: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A node_modules in the current directory is somebody else's project, not a source of tools.
    _executable(tmp_path / "cwd" / "node_modules" / TOOLS["anvil"].npm_path)
    monkeypatch.chdir(tmp_path / "cwd")
    with raises_rule(ErrorCode.TOOL_NOT_FOUND):
        locate_tool("anvil")
    assert os.getcwd() == str(tmp_path / "cwd")
