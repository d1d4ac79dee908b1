"""Reading fixture files straight out of the downloaded wheels and source distributions (no unpacking)."""

from __future__ import annotations

import os
import pathlib
import tarfile
import zipfile

from sso_signer.exceptions import ConfigurationError, InvalidInputError

__all__ = ["FIXTURES_DIR", "FixtureMissing", "VectorFormatError", "read_member", "sdist_members"]

_ROOT = pathlib.Path(__file__).resolve().parent.parent
#: Where scripts/fetch_fixtures.sh saves the distributions (override with SSO_SIGNER_FIXTURES).
FIXTURES_DIR = pathlib.Path(os.environ.get("SSO_SIGNER_FIXTURES", _ROOT / ".cache" / "fixtures"))


class FixtureMissing(ConfigurationError):
    """A fixture distribution (or a file inside it) is not there: run scripts/fetch_fixtures.sh."""


class VectorFormatError(InvalidInputError):
    """A vector file does not have the shape its loader expects (a new upstream schema)."""


def _archive(name: str) -> pathlib.Path:
    path = FIXTURES_DIR / name
    if not path.is_file():
        raise FixtureMissing(f"{path} not found: run scripts/fetch_fixtures.sh")
    return path


def read_member(archive: str, member: str) -> bytes:
    """One file from a wheel (zip) or sdist (tar.gz) in the fixture directory.

    Args:
        archive: File name of the distribution, e.g. ``webauthn-3.0.1.tar.gz``.
        member: Path of the file inside it.

    Returns:
        The file's bytes.

    Raises:
        FixtureMissing: If the distribution or the member is absent.
    """
    path = _archive(archive)
    if archive.endswith(".whl"):
        with zipfile.ZipFile(path) as zf:
            try:
                return zf.read(member)
            except KeyError as exc:
                raise FixtureMissing(f"{member} is not in {archive}") from exc
    with tarfile.open(path, "r:gz") as tf:
        try:
            handle = tf.extractfile(member)
        except KeyError as exc:
            raise FixtureMissing(f"{member} is not in {archive}") from exc
        if handle is None:
            raise FixtureMissing(f"{member} in {archive} is not a regular file")
        return handle.read()


def sdist_members(archive: str) -> list[str]:
    """The file names inside a source distribution.

    Raises:
        FixtureMissing: If the distribution is absent.
    """
    with tarfile.open(_archive(archive), "r:gz") as tf:
        return [m.name for m in tf.getmembers() if m.isfile()]
