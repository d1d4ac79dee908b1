"""``sso-signer session create --help`` shows the ``--spec`` format, and the example it shows is a valid spec.

A wheel user has no copy of ``cli/_session.py``'s docstring at hand, so the help is where the format lives.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

from sso_signer.cli._session import spec_from_json
from sso_signer.sso import Condition

SIGNER = "0x1927715dbfadc8185950b30dae894d12d758041c"


def test_the_help_shows_a_spec_that_parses() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sso_signer.cli", "session", "create", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    text = done.stdout.split("the --spec file", 1)[1]
    example = text[text.index("{") : text.index("\nthen:")]
    # The help annotates alternatives in parentheses and leaves addresses as 0x...: take them out.
    example = re.sub(r"\(or [^\n]*\)", "", example).replace('"0x..."', '"0x' + "5b" * 20 + '"')
    spec = spec_from_json(json.loads(example), SIGNER, 1_000)
    assert spec.expires_at == 1_000 + 86_400
    assert spec.transfer_policies[0].max_value_per_use == 10**15
    assert spec.call_policies[0].selector.hex() == "a9059cbb"
    assert spec.call_policies[0].constraints[0].condition is Condition.LESS_OR_EQUAL
    assert "send --session-key" in text
