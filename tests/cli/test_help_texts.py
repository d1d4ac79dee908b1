"""Every option of every ``sso-signer`` command says what it is in ``--help``, and the choices that are
decided for the user (``--kind auto``, defaults of files and amounts) say how."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from sso_signer.cli._parser import build_parser


def _options(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:  # argparse keeps the sub-commands only here
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _options(child, f"{path} {name}")
        else:
            yield path, action


def test_every_option_has_a_help_text() -> None:
    # `node start --kind` had none: `--help` showed the choices and nothing about what they do.
    bare = [f"{path} {action.option_strings or action.dest}" for path, action in _options(build_parser(), "")
            if not action.help]  # fmt: skip
    assert bare == []


def test_auto_kinds_and_defaults_are_explained() -> None:
    helps = {
        (path.strip(), action.option_strings[0]): action.help or ""
        for path, action in _options(build_parser(), "")
        if action.option_strings
    }
    assert "auto: ERC-4337 when the deployment has that stack" in helps[("send", "--kind")]
    assert "auto: anvil-zksync" in helps[("node start", "--kind")]
    assert "node start --out" in helps[("send", "--deployment")]
    assert "default 0.01ether" in helps[("demo", "--amount")]
    assert "default deployment.json" in helps[("deploy", "--out")]
