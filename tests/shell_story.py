"""A doc's command-line story run as a reader types it into one terminal, and what it must show.

``run_story`` runs a shell script in its own process group and reports whether anything of that group (a
background ``sso-signer node start``, its anvil and Alto) outlived the shell; the group is ended afterwards
whatever happened. ``recovery_story`` / ``check_recovery_story`` are docs/recovery.md's ERC-4337 command-line
story, run both through the editable install (tests/accounts/test_recovery_doc.py) and through the installed
wheel (tests/test_wheel.py): the page's own blocks in order, with ``@@`` marker lines between them and a few
commands the page describes in prose (``recover finish`` refused before the delay, ``recover cancel``,
``guardian remove``, ``account show`` reading back which account a key file controls).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import re
import signal
import subprocess
import time
from typing import Any

RECOVERY_DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "recovery.md"

# SIGTERM is a clean stop for `sso-signer node start` (it stops its anvil and Alto, removes its file).
_STOP_JOBS = "trap 'for job in $(jobs -p); do kill -TERM \"$job\"; done; wait' EXIT"


@dataclasses.dataclass(frozen=True)
class StoryRun:
    returncode: int
    out: str
    err: str
    left_running: bool  # a process of the story's group still ran after the shell ended (then ended)


def _group_alive(group: int, grace: float) -> bool:
    """Whether a process of ``group`` still runs ``grace`` seconds after its leader ended."""
    deadline = time.monotonic() + grace
    while True:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return False
        if time.monotonic() >= deadline:
            return True
        time.sleep(0.2)


def run_story(
    argv: list[str], *, cwd: pathlib.Path, env: dict[str, str], timeout: float, grace: float = 10.0
) -> StoryRun:
    """Run ``argv`` in a process group of its own; whatever of the group is left afterwards is ended."""
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    left_running = True
    try:
        out, err = process.communicate(timeout=timeout)
        left_running = _group_alive(process.pid, grace)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        if process.returncode is None:
            process.communicate(timeout=60)
    return StoryRun(process.returncode, out, err, left_running)


def run_shell_story(script: str, *, cwd: pathlib.Path, env: dict[str, str], timeout: float = 900) -> StoryRun:
    """Run ``script`` with bash (``-euo pipefail``) and a trap that stops its background jobs at exit; it
    must succeed and leave nothing running."""
    done = run_story(
        ["bash", "-euo", "pipefail", "-c", f"{_STOP_JOBS}\n{script}"], cwd=cwd, env=env, timeout=timeout
    )
    assert done.returncode == 0, (done.returncode, done.out[-4000:], done.err[-4000:])
    assert not done.left_running, "the story's node (or its anvil / Alto) outlived the shell"
    return done


def doc_blocks(language: str, *, era: bool = False) -> list[str]:
    """The ``language`` blocks of docs/recovery.md's ERC-4337 part, or (``era``) of its Era section."""
    erc4337, _, era_section = RECOVERY_DOC.read_text().partition("\n## Era accounts\n")
    return re.findall(rf"```{language}\n(.*?)```", era_section if era else erc4337, re.S)


def recovery_story(delay_seconds: int) -> str:
    """docs/recovery.md's command-line story (the setup block that starts a node, the account's and the
    guardian's commands, the clock, the finish, the stop), with the marker lines ``check_recovery_story``
    reads and the commands its prose promises."""
    bash, sh = doc_blocks("bash"), doc_blocks("sh")
    assert len(bash) == 2, "docs/recovery.md: the command-line story is two blocks around the delay"
    (setup,) = [block for block in sh if "node start" in block]
    (clock,) = [block for block in sh if "evm_increaseTime" in block]
    (stop,) = [block for block in sh if "kill %1" in block]
    assert str(delay_seconds + 1) in clock, "the clock block moves anvil's clock past the delay"
    return "\n".join(
        [
            setup,
            'echo "@@ account $ACCOUNT"',
            'echo "@@ guardian $GUARDIAN"',
            "echo @@ new-key-before",
            "sso-signer account show --key new.pem --json",
            "echo @@ before",
            bash[0],
            "echo @@ early",
            # "Before that, `recover finish` exits 1 with `recovery_too_early`".
            'sso-signer recover finish --account "$ACCOUNT" --json && exit 90 || echo "@@ exit $?"',
            "echo @@ clock",
            clock,
            "echo",
            "echo @@ after",
            bash[1],
            # The prose's other commands: a new request discarded by the account, then the guardian removed.
            "echo @@ cancel",
            "sso-signer passkey create --out other.pem",
            'sso-signer recover start --account "$ACCOUNT" --new-key other.pem --json',
            "sso-signer recover cancel --key new.pem --json",
            "echo @@ remove",
            'sso-signer guardian remove "$GUARDIAN" --key new.pem --json',
            "sso-signer guardian list --key new.pem --json",
            "echo @@ stop",
            stop,
        ]
    )


def _sections(out: str) -> dict[str, str]:
    """The story's output cut at its ``@@ NAME`` lines (a value on the marker line is kept as ``NAME``)."""
    sections: dict[str, str] = {}
    name = "setup"
    for line in out.splitlines(keepends=True):
        marker = re.fullmatch(r"@@ ([a-z-]+)(?: (.*))?\n?", line)
        if marker is None:
            sections[name] = sections.get(name, "") + line
            continue
        name = marker.group(1)
        if marker.group(2) is not None:
            sections[name] = marker.group(2)
            name = f"{name}:after"
    return sections


def _objects(text: str) -> list[dict[str, Any]]:
    """The JSON objects a section printed (``--json`` results, one a line), in order."""
    found = []
    for line in text.splitlines():
        if line.startswith("{") and line.rstrip().endswith("}"):
            with contextlib.suppress(ValueError):
                found.append(json.loads(line))
    return found


def check_recovery_story(out: str, cwd: pathlib.Path) -> None:
    """What the story must have done, read back from its output and its directory."""
    part = _sections(out)
    account, guardian = part["account"], part["guardian"]
    assert re.fullmatch(r"0x[0-9a-fA-F]{40}", account), part
    assert re.fullmatch(r"0x[0-9a-fA-F]{40}", guardian), part
    # Before the recovery the new key file controls no account of the user's: its own counterfactual one.
    (before_key,) = _objects(part["new-key-before"])
    assert before_key["address"] != account
    assert before_key["deployed"] is False
    # The guardian accepted (the account's own view), the request is pending, not finishable yet.
    (listed,) = [o for o in _objects(part["before"]) if "guardians" in o]
    assert listed["account"] == account
    assert listed["module_installed"] is True
    assert listed["guardians"] == [{"address": guardian, "active": True}]
    assert "can be finished from block time" in part["before"]
    # Finishing within the delay is refused, exit 1, naming the rule; nothing was sent.
    assert part["exit"] == "1", part
    (refused,) = _objects(part["early"])
    assert refused["ok"] is False
    assert refused["error"]["rule"] == "recovery_too_early"
    # After the delay: finished, and the new key file (which found no such account before) finds the
    # account, whose request is gone; its first operation (a transfer) went through.
    (after,) = [o for o in _objects(part["after"]) if "guardians" in o]
    assert after["account"] == account
    assert after["recovery"] == {"pending": False}
    assert after["guardians"] == [{"address": guardian, "active": True}]
    # A second request, discarded by the account's (new) passkey; then the guardian removed.
    started, cancelled = _objects(part["cancel"])
    assert started["recovery"]["pending"] is True
    assert (cancelled["account"], cancelled["discarded"]) == (account, True)
    removed, listed_last = _objects(part["remove"])
    assert removed["guardian"] == guardian
    assert (listed_last["guardians"], listed_last["recovery"]) == ([], {"pending": False})
    # The key files were written where the reader stood; the node, stopped, removed its deployment file.
    for name in ("alice.pem", "new.pem", "other.pem"):
        assert (cwd / name).is_file(), name
    assert not (cwd / "deployment.json").exists()
