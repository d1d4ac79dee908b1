"""docs/example-backend.md as written: its python blocks run, and every command line it gives for the example
parses with the example's own parser (the multi-worker command itself runs in test_example_workers.py)."""

from __future__ import annotations

import pathlib
import re
import shlex

import pytest

from examples.dapp_backend.__main__ import parse_args

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "example-backend.md"


def test_example_backend_doc_python_blocks_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert blocks, "docs/example-backend.md lost its store example"
    namespace: dict[str, object] = {"__name__": "example_backend_doc"}
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"docs/example-backend.md python block {number}", "exec"), namespace)  # noqa: S102


def test_example_backend_doc_command_lines_parse() -> None:
    commands = re.findall(r"python -m examples\.dapp_backend([^\n#`]*)", DOC.read_text())
    assert any("--workers" in c for c in commands), commands
    for command in commands:
        args = parse_args(shlex.split(command))
        assert args.workers >= 1


def test_several_workers_need_a_shared_store(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--workers", "2"])
    assert "--store" in capsys.readouterr().err
