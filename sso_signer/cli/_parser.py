"""The ``sso-signer`` argument parser: the whole command tree, its options and their help, nothing else.

Each command names the function that runs it as ``run="_module:function"``: the dispatcher (``_app.main``)
imports that command group's module only when the command runs, so ``sso-signer --help`` stays fast.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Any, NoReturn

from sso_signer import __version__
from sso_signer.cli._output import ExitCode, Reporter
from sso_signer.exceptions import CliUsageError

__all__ = [
    "ENV_BUNDLER",
    "ENV_DEPLOYER_KEY",
    "ENV_DEPLOYMENT",
    "ENV_KEY",
    "ENV_PASSPHRASE",
    "ENV_RPC",
    "build_parser",
]

ENV_RPC = "SSO_SIGNER_RPC"
ENV_DEPLOYMENT = "SSO_SIGNER_DEPLOYMENT"
ENV_KEY = "SSO_SIGNER_KEY"
ENV_PASSPHRASE = "SSO_SIGNER_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret
ENV_DEPLOYER_KEY = "SSO_SIGNER_DEPLOYER_KEY"
ENV_BUNDLER = "SSO_SIGNER_BUNDLER"
#: The online documentation (the project's Documentation URL in pyproject.toml).
DOCS_URL = "https://github.com/sso-signer/sso-signer#readme"
# The option of each command that reads a second (new) key file.
_NEW_PASSPHRASE: dict[str, Any] = {"metavar": "VAR", "help": "env variable with the new key's passphrase"}


_SESSION_SPEC_HELP = """\
the --spec file (JSON; amounts in wei or with a unit, e.g. "0.1ether"):
  {"expires_in": 86400,                               (or "expires_at": unix seconds)
   "fee_limit": {"lifetime": "0.1ether"},             (or {"allowance": "0.01ether", "period": 86400})
   "transfers": [{"to": "0x...", "max_value_per_use": "0.001ether",
                  "limit": {"lifetime": "0.01ether"}}],
   "calls": [{"target": "0x...", "selector": "transfer(address,uint256)",   (or "0xa9059cbb")
              "max_value_per_use": "0", "limit": "unlimited",
              "constraints": [{"index": 1, "condition": "less_or_equal", "value": "1000",
                               "limit": {"allowance": "2500", "period": 86400}}]}]}
then: sso-signer send --session-key SESSION.json --to ADDR --value AMOUNT (no passkey prompt)"""


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in the chosen output mode (exit code 2)."""

    #: Set by :func:`~sso_signer.cli._app.main` from the arguments it parses, so usage errors honour
    #: ``--json`` too.
    json_errors = False

    def error(self, message: str) -> NoReturn:
        if _Parser.json_errors:
            Reporter(json_mode=True).error(CliUsageError(message), ExitCode.USAGE)
        else:
            self.print_usage(sys.stderr)
            print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(ExitCode.USAGE)


def _integer_in(text: str, low: int, high: int, what: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        value = low - 1  # not a decimal integer: reported as out of range, with the text as given
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r:.40}")
    return value


def port_number(text: str) -> int:
    """argparse type of ``--port``: 1-65535."""
    return _integer_in(text, 1, 65535, "a port number 1-65535")


def chain_id_number(text: str) -> int:
    """argparse type of ``--chain-id``: a positive integer below 2**64 (what EIP-155 nodes accept)."""
    return _integer_in(text, 1, 2**64 - 1, "a chain id in [1, 2**64)")


def block_number(text: str) -> int:
    """argparse type of ``--from-block``: a block number, 0 or more (below 2**63, what nodes serve)."""
    return _integer_in(text, 0, 2**63 - 1, "a block number >= 0")


def seconds(text: str) -> float:
    """argparse type of ``--timeout``: a finite positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r:.40}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite positive number of seconds, got {text!r:.40}")
    return value


def _common(json_default: Any = argparse.SUPPRESS) -> _Parser:
    # Accepted before and after the subcommand; SUPPRESS keeps a subcommand's default from hiding the global.
    parent = _Parser(add_help=False)
    parent.add_argument("--json", action="store_true", default=json_default, help="print one JSON object")
    parent.add_argument("--debug", action="store_true", default=json_default, help="show tracebacks")
    return parent


def _chain_options() -> _Parser:
    parent = _Parser(add_help=False)
    group = parent.add_argument_group("chain")
    group.add_argument("--rpc", help="node URL (env SSO_SIGNER_RPC; default: the deployment's)")
    group.add_argument(
        "--deployment",
        help=f"deployment JSON written by `node start --out` or `deploy` (env {ENV_DEPLOYMENT})",
    )
    group.add_argument("--network", help="Era network preset: era-sepolia")
    group.add_argument("--validator", help="Era WebAuthValidator address (overrides the deployment/network)")
    group.add_argument("--factory", help="Era AAFactory address (overrides the deployment/network)")
    return parent


def _key_options(deployer: bool = False) -> _Parser:
    parent = _Parser(add_help=False)
    group = parent.add_argument_group("keys")
    group.add_argument("--key", help="passkey key file (env SSO_SIGNER_KEY)")
    group.add_argument(
        "--passphrase-env", metavar="VAR", help="env variable holding the key file passphrase "
        "(default SSO_SIGNER_PASSPHRASE if set)",
    )  # fmt: skip
    if deployer:
        group.add_argument(
            "--deployer-key-env", metavar="VAR", help="env variable holding the paying EOA's private key "
            "(default SSO_SIGNER_DEPLOYER_KEY; dev account #0 on local chains)",
        )  # fmt: skip
    return parent


def _account_options() -> _Parser:
    parent = _Parser(add_help=False)
    group = parent.add_argument_group("account")
    group.add_argument(
        "--kind", choices=("auto", "erc4337", "era"), default="auto", help="account generation (auto: "
        "ERC-4337 when the deployment has that stack and no --network is given, else Era)",
    )  # fmt: skip
    group.add_argument("--address", help="the account address (default: found from the passkey)")
    group.add_argument("--bundler", help="ERC-4337 bundler URL (env SSO_SIGNER_BUNDLER)")
    group.add_argument(
        "--store",
        help="relying-party store (file path, sqlite:///path or postgresql://...): sign through the full"
        " WebAuthn ceremony",
    )
    return parent


def _command(actions: Any, name: str, run: str, parents: list[_Parser], text: str, **more: Any) -> _Parser:
    """Add the command ``name`` (help ``text``) that the function ``run`` names runs."""
    command: _Parser = actions.add_parser(name, parents=parents, help=text, **more)
    command.set_defaults(run=run)
    return command


def _group(actions: Any, name: str, text: str) -> Any:
    """Add the command group ``name`` (help ``text``): its actions are added to what this returns."""
    return actions.add_parser(name, help=text).add_subparsers(dest=f"{name}_command", metavar="ACTION")


def build_parser() -> argparse.ArgumentParser:
    """The ``sso-signer`` argument parser."""
    common, chain, keys, account = _common(), _chain_options(), _key_options(), _account_options()
    keys_deployer, signed = _key_options(deployer=True), [common, chain, keys, account]
    parser = _Parser(
        prog="sso-signer",
        description="Own and drive ZKsync SSO smart accounts with a passkey.",
        parents=[_common(json_default=False)],
        epilog="First time: `sso-signer setup` installs the local-stack tools (anvil, Alto, ...). "
        "Exit codes: 0 ok, 1 operation failed, 2 usage error, 3 configuration / missing tool, "
        "4 node or bundler error. `sso-signer COMMAND --help` describes each command; "
        f"documentation: {DOCS_URL}",
    )
    parser.add_argument("--version", action="version", version=f"sso-signer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    setup = sub.add_parser(
        "setup", parents=[common], help="install the local-stack tools (anvil, forge, cast, Alto, EntryPoint)"
    )
    setup.set_defaults(run="_setup:setup")
    setup.add_argument(
        "--home", help="install directory (default $SSO_SIGNER_HOME, else the user cache dir's sso-signer)"
    )
    setup.add_argument("--force", action="store_true", help="reinstall even if already installed")

    node = _group(sub, "node", "run a local chain (and bundler), wait for it")
    start = _command(node, "start", "_node:node_start", [common], "start anvil / anvil-zksync until Ctrl-C")
    start.add_argument(
        "--kind", choices=("auto", "anvil", "anvil-zksync"), default="anvil",
        help="the node (default anvil; auto: anvil-zksync when it is installed)",
    )  # fmt: skip
    start.add_argument("--port", type=port_number, help="fixed port (default: a free one)")
    start.add_argument("--chain-id", type=chain_id_number, help="chain id (default: the node's)")
    start.add_argument(
        "--with-bundler", action="store_true", help="also deploy the contracts and run Alto (anvil only); "
        "writes the deployment JSON (with the bundler URL) to --out",
    )  # fmt: skip
    start.add_argument(
        "--with-sponsor", action="store_true", help="with --with-bundler: also deploy and fund a "
        "SponsorPaymaster and serve its ERC-7677 sponsor service on 127.0.0.1 (sponsors every operation "
        "of any sender: local development only); "
        'needs the sponsor extra: pip install "sso-signer[sponsor]"',
    )  # fmt: skip
    start.add_argument(
        "--out", help="write the deployment JSON here once every service answers (removed at exit); "
        "default deployment.json with --with-bundler, none otherwise",
    )  # fmt: skip
    wait = _command(node, "wait", "_node:node_wait", [common], "block until `node start --out FILE` is ready")
    wait.add_argument(
        "--deployment", default=os.environ.get(ENV_DEPLOYMENT, "deployment.json"),
        help=f"the file `node start --out` writes (env {ENV_DEPLOYMENT}; default deployment.json)",
    )  # fmt: skip
    wait.add_argument("--timeout", type=float, default=120.0, help="seconds to wait (default 120)")

    fund = _command(
        sub, "fund", "_node:fund", [common, chain], "send ETH from anvil's dev account (local chains only)"
    )
    fund.add_argument("address", metavar="ADDRESS", help="the address to fund")
    fund.add_argument("--value", default="1ether", help="amount: wei, or with a unit (default 1ether)")
    fund.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for inclusion")

    deploy = _command(sub, "deploy", "_node:deploy", [common, chain, keys_deployer], "deploy the contracts")
    deploy.add_argument(
        "--stack", default="era,erc4337", help="era, erc4337 or both, comma-separated (default both)"
    )
    deploy.add_argument(
        "--out",
        default="deployment.json",
        help="where to write the deployment JSON (default deployment.json)",
    )
    deploy.add_argument("--era-factory", help="an AAFactory already on the chain (ZKsync nodes)")
    deploy.add_argument("--test-token", action="store_true", help="also deploy the mintable test ERC-20")

    passkey = _group(sub, "passkey", "create and register headless passkeys")
    create = _command(passkey, "create", "_passkey:create", [common], "create a passkey key file (mode 0600)")
    create.add_argument("--out", required=True, help="key file to write")
    create.add_argument("--rp-id", default="localhost", help="relying party id (default localhost)")
    create.add_argument(
        "--origin", default="http://localhost:5173", help="the origin clientDataJSON will carry"
    )
    create.add_argument("--user-name", default="", help="user name")
    create.add_argument(
        "--passphrase-env", metavar="VAR", help="encrypt with the passphrase in this env variable"
    )
    create.add_argument("--force", action="store_true", help="overwrite an existing file")
    register = _command(
        passkey, "register", "_passkey:register", [common, keys], "relying-party registration ceremony"
    )
    register.add_argument(
        "--store", required=True, help="relying-party store: file path, sqlite:///path or postgresql://..."
    )
    register.add_argument("--user-name", help="user name in the options (default the rp id)")
    register.add_argument("--rp-name", default="sso-signer", help="relying party display name")

    acct = _group(sub, "account", "create and manage the passkey's smart account")
    a_create = _command(
        acct, "create", "_account:create", [common, chain, keys_deployer, account], "create the account"
    )
    a_create.add_argument(
        "--counterfactual", action="store_true", help="ERC-4337: only compute the address (its first "
        "UserOperation creates it)",
    )  # fmt: skip
    _command(acct, "show", "_account:show", signed, "address and balance")
    a_add = _command(
        acct, "add-passkey", "_account:add_passkey", signed, "register another passkey (signed by --key)"
    )
    a_add.add_argument("--new-key", required=True, help="key file of the passkey to add")
    a_add.add_argument("--new-passphrase-env", **_NEW_PASSPHRASE)
    a_add.add_argument("--timeout", type=seconds, default=60.0, help="seconds to wait for inclusion")
    a_remove = acct.add_parser(
        "remove-passkey",
        parents=signed,
        help="remove a passkey (signed by --key); refuses to remove the last way in unless --force",
        description="Remove a passkey from the account. Refused when no other passkey, owner or validator "
        "could sign for the account afterwards (that would lock it for good), unless --force.",
    )
    a_remove.set_defaults(run="_account:remove_passkey")
    a_remove.add_argument(
        "--credential-id",
        required=True,
        help="base64url credential id to remove (write --credential-id=ID: an id may start with '-')",
    )
    a_remove.add_argument("--origin", help="its origin (default: the signing passkey's)")
    a_remove.add_argument(
        "--force",
        action="store_true",
        help="remove it even if it is the account's last way in (no other passkey, owner or validator): "
        "the account is then locked for good and its funds are lost",
    )
    a_remove.add_argument("--timeout", type=seconds, default=60.0, help="seconds to wait for inclusion")

    _recovery_commands(sub, common, chain, signed)

    send = _command(sub, "send", "_account:send", signed, "send ETH or a call")
    send.add_argument("--to", required=True, help="recipient / contract")
    send.add_argument("--value", default="0", help="amount: wei, or with a unit (0.1ether, 5gwei)")
    send.add_argument("--data", help="0x-hex calldata")
    send.add_argument("--timeout", type=seconds, default=60.0, help="seconds to wait for inclusion")
    send.add_argument("--paymaster", help="Era: a paymaster that pays the fee (general flow)")
    send.add_argument(
        "--fee-ceiling",
        metavar="AMOUNT",
        help="refuse, before the passkey is asked, a maxFeePerGas above this (wei or with a unit: 50gwei)",
    )
    send.add_argument(
        "--cost-ceiling",
        metavar="AMOUNT",
        help="refuse, before the passkey is asked, gas limits × maxFeePerGas above this (0.01ether)",
    )
    send.add_argument(
        "--sign-only", action="store_true", help="Era: sign, check with the deployed validator (eth_call), "
        "print the raw 0x71 bytes; do not send (works on any chain with the validator)",
    )  # fmt: skip
    send.add_argument(
        "--session-key",
        metavar="FILE",
        help="ERC-4337: send with this session (a file `session create` wrote): no passkey prompt, and no "
        "--key needed",
    )
    send.add_argument(
        "--account",
        metavar="ADDRESS",
        help="with --session-key: the account (default the session file's; a different one is refused)",
    )

    sess = _group(sub, "session", "session keys of the passkey's ERC-4337 account (docs/sessions.md)")
    s_create = sess.add_parser(
        "create",
        parents=signed,
        help="open a session for a new key",
        description="Generate a session key, write it with the spec to --out (mode 0600), then open the\n"
        "session with a UserOperation signed by the passkey (installing the session validator if needed).",
        # The spec format is shown as written: a wheel user has no other copy of it at hand.
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_SESSION_SPEC_HELP,
    )
    s_create.set_defaults(run="_session:create")
    s_create.add_argument(
        "--spec", required=True, metavar="FILE", help="the session's policies (JSON; format below)"
    )
    s_create.add_argument("--out", required=True, metavar="FILE", help="where to write the session key file")
    s_create.add_argument("--force", action="store_true", help="replace an existing --out file")
    s_create.add_argument("--timeout", type=seconds, default=60.0, help="seconds to wait for inclusion")
    s_create.add_argument(
        "--from-block",
        type=block_number,
        metavar="N",
        help="when the validator must be installed again: search the account's SessionCreated logs from "
        "block N, for a node that refuses a longer range (default: from the account's deployment block)",
    )
    s_list = sess.add_parser(
        "list",
        parents=signed,
        help="the account's sessions and their state",
        description="List the sessions the account created (its SessionCreated logs) with their state.",
    )
    s_list.set_defaults(run="_session:list_sessions")
    listing = [s_list]
    for name, run, text in (
        ("show", "_session:show", "a session's status and remaining limits"),
        ("revoke", "_session:revoke", "revoke sessions (one UserOperation signed by the passkey)"),
    ):
        cmd = _command(sess, name, run, signed, text, description=text + ".")
        cmd.add_argument("--session-key", action="append", metavar="FILE", help="a session key file")
        cmd.add_argument("--hash", action="append", metavar="0x…", help="a session hash (of the account)")
        if name == "show":
            listing.append(cmd)
        if name == "revoke":
            cmd.add_argument("--timeout", type=seconds, default=60.0, help="seconds to wait for inclusion")

    for cmd in listing:
        cmd.add_argument(
            "--from-block",
            type=block_number,
            default=0,
            metavar="N",
            help="search the account's SessionCreated logs from block N (default 0: a node that refuses "
            "a long range needs the account's creation block)",
        )

    for name, run, text in (
        ("sign-message", "_message:sign", "ERC-1271 (ERC-7739) signature of a message"),
        ("verify-message", "_message:verify", "check a signature with the account's isValidSignature"),
    ):
        cmd = _command(sub, name, run, signed if name == "sign-message" else [common, chain], text)
        cmd.add_argument("--message", help="message text (UTF-8)")
        cmd.add_argument("--message-hex", help="message bytes as 0x-hex")
        if name == "verify-message":
            cmd.add_argument("--account", required=True, help="the account address")
            cmd.add_argument("--signature", required=True, help="0x-hex signature")

    demo = _command(sub, "demo", "_demo:demo", [common], "the whole flow on a local chain it starts")
    demo.add_argument(
        "--amount",
        default="0.01ether",
        help="amount of the demo transfer: wei, or with a unit (default 0.01ether)",
    )
    _describe(parser)
    return parser


def _recovery_commands(sub: Any, common: _Parser, chain: _Parser, signing: list[_Parser]) -> None:
    """``guardian add|remove|list|accept`` and ``recover start|finish|cancel|status`` (ERC-4337 and Era).

    ``signing``: the options of a command the account's passkey signs.
    """
    guardian_key = _Parser(add_help=False)
    group = guardian_key.add_argument_group("guardian")
    group.add_argument(
        "--guardian-key-env", metavar="VAR", help="env variable holding the guardian's private key "
        "(default SSO_SIGNER_GUARDIAN_KEY)",
    )  # fmt: skip
    era_origin = _Parser(add_help=False)
    scope = era_origin.add_argument_group("account")
    scope.add_argument(
        "--kind", choices=("auto", "erc4337", "era"), default="auto", help="account generation (auto: "
        "ERC-4337 when the deployment has that stack and no --network is given)",
    )  # fmt: skip
    scope.add_argument(
        "--origin", help="Era accounts: the dapp origin the guardian is scoped to (the account's passkeys' "
        "origin; default for start/finish: the new key's)",
    )  # fmt: skip
    timeout = _Parser(add_help=False)
    timeout.add_argument("--timeout", type=seconds, default=60.0, help="seconds to wait for inclusion")
    signed = [*signing, timeout]
    by_guardian = [common, chain, guardian_key, era_origin, timeout]

    guardian = _group(sub, "guardian", "the guardians who may recover the account when its passkey is lost")
    g_add = guardian.add_parser(
        "add", parents=signed, help="propose a guardian (signed by --key; installs the recovery module)"
    )
    g_add.set_defaults(run="_guardian:add")
    g_add.add_argument("guardian", metavar="GUARDIAN", help="the guardian's address (e.g. a backend's EOA)")
    g_remove = guardian.add_parser(
        "remove", parents=signed, help="remove a guardian (signed by --key); discards its pending recovery"
    )
    g_remove.set_defaults(run="_guardian:remove")
    g_remove.add_argument("guardian", metavar="GUARDIAN", help="the guardian's address")
    _command(
        guardian, "list", "_guardian:list_guardians", signing, "the account's guardians and pending recovery"
    )
    g_accept = guardian.add_parser(
        "accept", parents=by_guardian, help="accept a guardianship (signed by the guardian's key)"
    )
    g_accept.set_defaults(run="_guardian:accept")
    g_accept.add_argument("--account", required=True, help="the account that proposed the guardian")

    recover = _group(sub, "recover", "give an account that lost its passkey a new one, as its guardian")
    r_start = recover.add_parser(
        "start", parents=by_guardian, help="ask for a new passkey (signed by the guardian; 24 h delay)"
    )
    r_start.set_defaults(run="_guardian:recover_start")
    r_start.add_argument("--account", required=True, help="the account to recover")
    r_start.add_argument("--new-key", required=True, help="key file of the user's new passkey")
    r_start.add_argument("--new-passphrase-env", **_NEW_PASSPHRASE)
    r_finish = recover.add_parser(
        "finish",
        parents=by_guardian,
        help="add the new passkey once the delay has passed (anyone may; paid by the guardian's key, else "
        "the deployer key; an Era account pays its own)",
    )
    r_finish.set_defaults(run="_guardian:recover_finish")
    r_finish.add_argument("--account", required=True, help="the account being recovered")
    r_finish.add_argument(
        "--new-key", help="key file of the new passkey the recovery asked for (needed for an Era account)"
    )
    r_finish.add_argument("--new-passphrase-env", **_NEW_PASSPHRASE)
    r_finish.add_argument(
        "--deployer-key-env", metavar="VAR", help="env variable with the paying key when no guardian key is "
        "given (default SSO_SIGNER_DEPLOYER_KEY; dev account #0 on local chains)",
    )  # fmt: skip
    r_cancel = recover.add_parser(
        "cancel", parents=signed, help="discard a pending recovery (signed by --key: the passkey is not lost)"
    )
    r_cancel.set_defaults(run="_guardian:recover_cancel")
    r_status = recover.add_parser(
        "status", parents=[common, chain, era_origin], help="an account's pending recovery"
    )
    r_status.set_defaults(run="_guardian:recover_status")
    r_status.add_argument("--account", required=True, help="the account")


def _describe(parser: argparse.ArgumentParser) -> None:
    """Give each sub-command its one-line help as description, and a group without an action a usage error."""
    for action in parser._actions:  # argparse keeps sub-commands only here
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for choice in action._choices_actions:
            child = action.choices[choice.dest]
            if child.description is None and choice.help:
                child.description = choice.help[0].upper() + choice.help[1:] + "."
            _describe(child)
        if parser.prog != "sso-signer":
            parser.set_defaults(run="_parser:needs_action", group=(parser.prog, tuple(action.choices)))


def needs_action(args: argparse.Namespace, out: Reporter) -> None:
    """The command of a group given without an action (``sso-signer node``).

    Raises:
        CliUsageError: Naming the group's actions.
    """
    prog, actions = args.group
    raise CliUsageError(f"`{prog}` needs an action: {', '.join(actions)} (see `{prog} --help`)")
