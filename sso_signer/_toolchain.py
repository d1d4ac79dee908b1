"""The npm tools the local stack runs (anvil, forge, cast, Alto, the EntryPoint v0.8 artifact): where they are
looked for, and ``sso-signer setup``, which installs them into a per-user directory.

Search order for each tool, first match wins:

1. an explicit argument (``AnvilNode(binary=...)``, ``AltoBundler(alto_entry=...)``, ``node_modules=...``);
2. its environment variable (``SSO_SIGNER_ANVIL``, ``SSO_SIGNER_FORGE``, ``SSO_SIGNER_CAST``,
   ``SSO_SIGNER_ALTO``, ``SSO_SIGNER_ENTRY_POINT``);
3. the per-user directory ``$SSO_SIGNER_HOME/node_modules`` (default ``$XDG_CACHE_HOME/sso-signer``, else
   ``~/.cache/sso-signer``), filled by ``sso-signer setup``;
4. the checkout's ``node_modules`` when the package runs from a source checkout (contributors);
5. ``PATH`` (executables only).

An explicit argument or an environment variable that names a missing file is an error, not a reason to look
further: a typo must not silently pick another copy. This module sits in the bottom layer: it imports no room.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import platform
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from sso_signer.exceptions import ToolNotFound

__all__ = [
    "HOME_ENV",
    "SETUP_COMMAND",
    "TOOLS",
    "SetupReport",
    "Tool",
    "install_tools",
    "locate_tool",
    "tools_home",
]

HOME_ENV: Final = "SSO_SIGNER_HOME"
SETUP_COMMAND: Final = "sso-signer setup"
# The npm manifest and lockfile `setup` installs from, shipped inside the package.
_MANIFEST_DIR: Final = pathlib.Path(__file__).resolve().parent / "toolchain"
_MANIFEST_FILES: Final = ("package.json", "package-lock.json")
_STAMP: Final = ".sso-signer-setup"
# A source checkout: the package sits next to pyproject.toml (an installed wheel sits in site-packages).
_CHECKOUT: Final = pathlib.Path(__file__).resolve().parent.parent
# Foundry publishes its npm binaries per platform; the manifest pins the linux-amd64 ones.
_SUPPORTED: Final = {("Linux", "x86_64"), ("Linux", "amd64")}


@dataclass(frozen=True, slots=True)
class Tool:
    """One tool of the local stack.

    Attributes:
        name: Short name (``anvil``).
        env: The environment variable that points at it.
        npm_path: Its path inside ``node_modules``.
        executable: Whether it must be an executable file (the Alto entry script and the artifact are read).
    """

    name: str
    env: str
    npm_path: str
    executable: bool = True


TOOLS: Final[Mapping[str, Tool]] = {
    tool.name: tool
    for tool in (
        Tool("anvil", "SSO_SIGNER_ANVIL", "@foundry-rs/anvil-linux-amd64/bin/anvil"),
        Tool("forge", "SSO_SIGNER_FORGE", "@foundry-rs/forge-linux-amd64/bin/forge"),
        Tool("cast", "SSO_SIGNER_CAST", "@foundry-rs/cast-linux-amd64/bin/cast"),
        Tool("alto", "SSO_SIGNER_ALTO", "@pimlico/alto/esm/cli/alto.js", executable=False),
        Tool(
            "entry-point",
            "SSO_SIGNER_ENTRY_POINT",
            "@account-abstraction/contracts/artifacts/EntryPoint.json",
            executable=False,
        ),
    )
}


def tools_home() -> pathlib.Path:
    """The per-user directory ``sso-signer setup`` installs into.

    Returns:
        ``$SSO_SIGNER_HOME`` if set, else ``$XDG_CACHE_HOME/sso-signer``, else ``~/.cache/sso-signer``.
    """
    explicit = os.environ.get(HOME_ENV)
    if explicit:
        return pathlib.Path(explicit).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME")
    base = pathlib.Path(cache) if cache else pathlib.Path.home() / ".cache"
    return base / "sso-signer"


def _usable(path: pathlib.Path, tool: Tool) -> bool:
    return path.is_file() and (not tool.executable or os.access(path, os.X_OK))


def locate_tool(
    name: str,
    given: str | os.PathLike[str] | None = None,
    *,
    error: Callable[..., ToolNotFound] = ToolNotFound,
) -> str:
    """Find a tool of the local stack (search order in the module docstring).

    Args:
        name: A key of :data:`TOOLS` (``anvil``, ``forge``, ``cast``, ``alto``, ``entry-point``).
        given: An explicit path (or, for an executable, a command name on ``PATH``).
        error: The :class:`ToolNotFound` subclass to raise (the node room raises its own).

    Returns:
        The absolute path of the file.

    Raises:
        ToolNotFound: If ``name`` is not a known tool, the explicit path or the environment variable names
            no usable file, or no copy is found; the message says how to install it.
    """
    tool = TOOLS.get(name)
    if tool is None:
        raise error(f"unknown tool {name!r} (known: {', '.join(TOOLS)})", tool=name)
    for source, value in (("argument", given), (f"${tool.env}", os.environ.get(tool.env))):
        if value is None or value == "":
            continue
        path = pathlib.Path(value).expanduser()
        if _usable(path, tool):
            return str(path.resolve())
        found = shutil.which(str(value)) if tool.executable and source == "argument" else None
        if found:
            return str(pathlib.Path(found).resolve())
        kind = "an executable file" if tool.executable else "a file"
        fix = "pass an existing path" if source == "argument" else f"fix or unset ${tool.env}"
        raise error(
            f"{name}: {value} (from the {source}) is not {kind}; {fix} (`{SETUP_COMMAND}` installs a copy)",
            tool=name,
        )
    looked = [f"${tool.env} (unset)"]
    roots = [tools_home() / "node_modules"]
    if (_CHECKOUT / "pyproject.toml").is_file():
        roots.append(_CHECKOUT / "node_modules")
    for root in roots:
        candidate = root / tool.npm_path
        if _usable(candidate, tool):
            return str(candidate.resolve())
        looked.append(str(candidate))
    if tool.executable:
        found = shutil.which(name)
        if found:
            return str(pathlib.Path(found).resolve())
        looked.append("PATH")
    raise error(
        f"{name} not found (looked at {', '.join(looked)}); install the local-stack tools with "
        f"`{SETUP_COMMAND}`, or point ${tool.env} at a copy",
        tool=name,
    )


@dataclass(frozen=True, slots=True)
class SetupReport:
    """What :func:`install_tools` did.

    Attributes:
        home: The per-user directory.
        installed: Whether npm ran (``False``: everything was already installed from this manifest).
        packages: The npm packages the manifest pins, ``name@version``.
        tools: Where each tool is found afterwards (tool name → path).
        seconds: Time taken.
    """

    home: str
    installed: bool
    packages: tuple[str, ...]
    tools: Mapping[str, str]
    seconds: float


def _manifest_digest() -> str:
    digest = hashlib.sha256()
    for name in _MANIFEST_FILES:
        digest.update((_MANIFEST_DIR / name).read_bytes())
    return digest.hexdigest()


def _pinned_packages() -> tuple[str, ...]:
    manifest = json.loads((_MANIFEST_DIR / "package.json").read_text())
    return tuple(f"{name}@{version}" for name, version in sorted(manifest["dependencies"].items()))


def _check_platform() -> None:
    system, machine = platform.system(), platform.machine()
    if (system, machine.lower()) not in {(s, m.lower()) for s, m in _SUPPORTED}:
        raise ToolNotFound(
            f"`{SETUP_COMMAND}` installs Foundry's linux-amd64 binaries; this is {system} {machine}, "
            "which is not supported: install anvil, forge, cast, Alto and "
            "@account-abstraction/contracts@0.8.0 "
            "yourself and point SSO_SIGNER_ANVIL, SSO_SIGNER_FORGE, SSO_SIGNER_CAST, SSO_SIGNER_ALTO and "
            "SSO_SIGNER_ENTRY_POINT at them",
            tool="anvil",
        )


def install_tools(
    home: str | os.PathLike[str] | None = None,
    *,
    npm: str | os.PathLike[str] | None = None,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    timeout: float = 900.0,
) -> SetupReport:
    """Install the pinned npm tools of the local stack into ``home`` (idempotent).

    Runs ``npm install`` from the ``package.json`` and ``package-lock.json`` shipped in the package, then
    writes a stamp; a later call with the same manifest and every tool present installs nothing.

    Args:
        home: Target directory; default :func:`tools_home`.
        npm: The npm executable; default ``npm`` on ``PATH``.
        force: Reinstall even when the stamp says everything is installed.
        progress: Called with one line per step (npm's own output goes to stderr).
        timeout: Seconds npm may take.

    Returns:
        What was done and where each tool is.

    Raises:
        ToolNotFound: On an unsupported platform, without npm, or when npm fails.
    """
    started = time.monotonic()
    say = progress or (lambda _line: None)
    _check_platform()
    target = pathlib.Path(home).expanduser() if home is not None else tools_home()
    packages = _pinned_packages()
    digest = _manifest_digest()
    stamp = target / _STAMP
    modules = target / "node_modules"

    def present() -> dict[str, str] | None:
        paths = {name: modules / tool.npm_path for name, tool in TOOLS.items()}
        if all(_usable(path, TOOLS[name]) for name, path in paths.items()):
            return {name: str(path) for name, path in paths.items()}
        return None

    current = present()
    if not force and current is not None and stamp.is_file() and stamp.read_text().strip() == digest:
        say(f"already installed in {target}: {', '.join(packages)}")
        return SetupReport(str(target), False, packages, current, round(time.monotonic() - started, 2))
    npm_path = shutil.which(str(npm)) if npm is not None else shutil.which("npm")
    if npm_path is None:
        raise ToolNotFound(
            f"npm not found{f' ({npm})' if npm else ' on PATH'}: `{SETUP_COMMAND}` installs the local-stack "
            "tools with npm; install Node.js 20 or later (it brings npm), then run it again",
            tool="npm",
        )
    target.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        stamp.unlink()  # a failed or interrupted install must not look complete
    for name in _MANIFEST_FILES:
        shutil.copyfile(_MANIFEST_DIR / name, target / name)
    say(f"installing {', '.join(packages)} into {target} with npm (from the pinned package-lock.json)")
    # `npm install` honours the lockfile; `npm ci` rejects it over optional platform packages of Alto's
    # dependencies (an npm bug), although the lock is complete for linux-amd64.
    # --prefer-offline: the lockfile pins every version, so a cached copy needs no revalidation.
    argv = [npm_path, "install", "--prefer-offline", "--no-audit", "--no-fund", "--no-save"]
    argv.append("--loglevel=error")
    try:
        # npm's stdout goes to stderr: with --json the command's stdout carries one JSON object only.
        done = subprocess.run(argv, cwd=target, stdout=2, stderr=2, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolNotFound(f"npm install in {target} failed: {exc}", tool="npm") from exc
    if done.returncode != 0:
        raise ToolNotFound(
            f"npm install in {target} exited with code {done.returncode} (its output is above); the "
            f"local-stack tools are not installed; fix the cause and run `{SETUP_COMMAND}` again",
            tool="npm",
        )
    current = present()
    if current is None:
        missing = [n for n, t in TOOLS.items() if not _usable(modules / t.npm_path, t)]
        raise ToolNotFound(f"npm install in {target} left {', '.join(missing)} missing", tool=missing[0])
    stamp.write_text(digest + "\n")
    seconds = round(time.monotonic() - started, 2)
    say(f"installed in {seconds} s")
    return SetupReport(str(target), True, packages, current, seconds)
