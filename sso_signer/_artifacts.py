"""Compiled contract artifacts (ABI + bytecode) and small ABI encoding helpers.

``scripts/build-contracts.sh`` compiles ``contracts/src`` with forge and writes
``sso_signer/artifacts/<Name>.json`` (``abi``, ``bytecode``, ``deployedBytecode``);
:func:`load_artifact` reads them. The helpers encode constructor arguments and calls with eth-abi,
without a provider.
"""

from __future__ import annotations

import functools
import os
import pathlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError, EncodingError
from eth_utils.crypto import keccak

from sso_signer._codec import hex_decode
from sso_signer._json import ARTIFACT_LIMITS, read_json_file
from sso_signer.exceptions import ConfigurationError, ErrorCode, InvalidAbiData, InvalidEncoding

__all__ = [
    "ARTIFACTS_DIR",
    "Artifact",
    "abi_type",
    "load_artifact",
]

ARTIFACTS_DIR = pathlib.Path(__file__).resolve().parent / "artifacts"
_ENV_DIR = "SSO_SIGNER_ARTIFACTS"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def abi_type(param: Mapping[str, Any]) -> str:
    """The canonical type string of an ABI parameter, expanding tuples (``(uint256,bytes)[]``)."""
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(abi_type(c) for c in param.get("components", []))
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def _signature(entry: Mapping[str, Any]) -> str:
    return f"{entry['name']}({','.join(abi_type(p) for p in entry.get('inputs', []))})"


@dataclass(frozen=True, slots=True)
class Artifact:
    """A compiled contract.

    Attributes:
        name: The contract name.
        abi: The ABI (list of entries as forge emits them).
        bytecode: Creation bytecode (without constructor arguments).
        deployed_bytecode: Runtime bytecode (immutables unset).
    """

    name: str
    abi: tuple[Mapping[str, Any], ...]
    bytecode: bytes
    deployed_bytecode: bytes

    def _entry(self, kind: str, name: str) -> Mapping[str, Any]:
        # ``name`` may be a bare name or a full signature ``f(uint256,address)`` to pick an overload.
        matches = [
            e for e in self.abi if e.get("type") == kind and (e.get("name") == name or _signature(e) == name)
        ]
        if not matches:
            raise InvalidAbiData(f"{self.name}: no {kind} {name!r} in the ABI")
        if len(matches) > 1:
            options = ", ".join(_signature(e) for e in matches)
            raise InvalidAbiData(f"{self.name}: {kind} {name!r} is overloaded; use one of {options}")
        return matches[0]

    @staticmethod
    def _encode(types: Sequence[str], args: Sequence[Any], what: str) -> bytes:
        if len(types) != len(args):
            raise InvalidAbiData(
                f"{what}: expected {len(types)} arguments, got {len(args)}", rule=ErrorCode.ABI_ARGUMENTS
            )
        try:
            return bytes(abi_encode(list(types), list(args)))
        except (EncodingError, TypeError, ValueError, OverflowError) as exc:
            raise InvalidAbiData(f"{what}: {exc}", rule=ErrorCode.ABI_ARGUMENTS) from exc

    @staticmethod
    def _decode(params: Sequence[Mapping[str, Any]], data: bytes, what: str) -> tuple[Any, ...]:
        try:
            return tuple(abi_decode([abi_type(p) for p in params], data))
        except (DecodingError, ValueError, OverflowError) as exc:
            raise InvalidAbiData(f"{what}: {exc}", rule=ErrorCode.ABI_DECODING) from exc

    def deploy_data(self, *args: Any) -> bytes:
        """Creation bytecode + ABI-encoded constructor arguments (the initcode ``deploy_contract`` takes).

        Raises:
            InvalidAbiData (``ABI_ARGUMENTS``): If the arguments do not match the constructor.
        """
        ctor = next((e for e in self.abi if e.get("type") == "constructor"), None)
        types = [abi_type(p) for p in ctor.get("inputs", [])] if ctor else []
        return self.bytecode + self._encode(types, args, f"{self.name} constructor")

    def selector(self, function: str) -> bytes:
        """The 4-byte selector of a function (name or full signature)."""
        return bytes(keccak(text=_signature(self._entry("function", function))))[:4]

    def encode_call(self, function: str, *args: Any) -> bytes:
        """Calldata for ``function(*args)``.

        Raises:
            InvalidAbiData: If the function is absent or ambiguous.
            InvalidAbiData (``ABI_ARGUMENTS``): If the arguments do not match.
        """
        entry = self._entry("function", function)
        types = [abi_type(p) for p in entry.get("inputs", [])]
        return self.selector(function) + self._encode(types, args, f"{self.name}.{entry['name']}")

    def decode_output(self, function: str, data: bytes) -> tuple[Any, ...]:
        """Decode a function's return data into a tuple of values.

        Raises:
            InvalidAbiData (``ABI_DECODING``): If ``data`` does not match the outputs.
        """
        entry = self._entry("function", function)
        return self._decode(entry.get("outputs", []), data, f"{self.name}.{entry['name']} output")

    def decode_error(self, data: bytes) -> tuple[str, tuple[Any, ...]] | None:
        """Match revert data against the ABI's custom errors.

        Returns:
            ``(signature, args)`` for a known error selector, else ``None``.

        Raises:
            InvalidAbiData (``ABI_DECODING``): If the selector matches but the arguments do not decode.
        """
        if len(data) < 4:
            return None
        for entry in self.abi:
            if entry.get("type") != "error":
                continue
            signature = _signature(entry)
            if bytes(keccak(text=signature))[:4] == data[:4]:
                return signature, self._decode(
                    entry.get("inputs", []), data[4:], f"{self.name} error {signature}"
                )
        return None


def load_artifact(name: str, *, directory: str | os.PathLike[str] | None = None) -> Artifact:
    """Load ``<directory>/<name>.json`` as written by ``scripts/build-contracts.sh``.

    Args:
        name: The contract name (e.g. ``"WebAuthnValidator"``).
        directory: Where to look; default ``$SSO_SIGNER_ARTIFACTS`` or the package's ``artifacts/`` folder.

    Returns:
        The artifact.

    Raises:
        ConfigurationError (``ARTIFACT_NOT_FOUND``): If there is no such file (build the contracts with
            scripts/build-contracts.sh).
        ConfigurationError (``INVALID_ARTIFACT``): If the file is malformed.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigurationError(
            f"artifact name {name!r} is not a contract name", rule=ErrorCode.ARTIFACT_NOT_FOUND
        )
    if directory is None:
        directory = os.environ.get(_ENV_DIR) or ARTIFACTS_DIR
    path = pathlib.Path(directory) / f"{name}.json"
    try:
        stat = path.stat()
    except OSError:
        raise ConfigurationError(
            f"no artifact for {name} at {path}: the package ships its contracts' artifacts, so this "
            "directory is not the package's (check $SSO_SIGNER_ARTIFACTS); in a checkout, "
            "bash scripts/build-contracts.sh rebuilds them",
            rule=ErrorCode.ARTIFACT_NOT_FOUND,
        ) from None
    return _load_cached(str(path), stat.st_mtime_ns, name)


@functools.lru_cache(maxsize=128)
def _load_cached(path: str, mtime_ns: int, name: str) -> Artifact:
    del mtime_ns  # part of the cache key only: a rebuilt artifact is re-read
    data = read_json_file(
        path,
        limits=ARTIFACT_LIMITS,
        error=lambda message: ConfigurationError(f"{path}: {message}", rule=ErrorCode.INVALID_ARTIFACT),
        what="artifact JSON",
    )
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path}: artifact must be a JSON object", rule=ErrorCode.INVALID_ARTIFACT)
    abi = data.get("abi")
    if not isinstance(abi, list) or not all(isinstance(e, dict) for e in abi):
        raise ConfigurationError(f"{path}: 'abi' must be a list of objects", rule=ErrorCode.INVALID_ARTIFACT)
    try:
        bytecode = hex_decode(_bytecode_text(data.get("bytecode")), field="bytecode")
        deployed = hex_decode(_bytecode_text(data.get("deployedBytecode")), field="deployedBytecode")
    except InvalidEncoding as exc:
        raise ConfigurationError(
            f"{path}: {exc} (unlinked libraries are not supported)", rule=ErrorCode.INVALID_ARTIFACT
        ) from exc
    return Artifact(name=name, abi=tuple(abi), bytecode=bytecode, deployed_bytecode=deployed)


def _bytecode_text(value: object) -> str:
    # forge's own out/ files nest the hex under "object"; the exported files hold it directly.
    if isinstance(value, dict):
        value = value.get("object")
    if not isinstance(value, str):
        raise InvalidEncoding("bytecode: missing")
    return value
