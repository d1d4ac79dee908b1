"""Turns a shared fuzz target (conformance.fuzz_targets) into a short Hypothesis run for CI."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from conformance.fuzz_targets import TARGETS, FuzzTarget, run_check

#: Examples per target in CI; scripts/fuzz_campaign.py runs the long campaign.
CI_EXAMPLES = 200

BY_NAME = {t.name: t for t in TARGETS}


def run_target(name: str, examples: int = CI_EXAMPLES) -> int:
    """Run one target for ``examples`` examples; returns how many ran. Failures raise (with the example)."""
    target: FuzzTarget = BY_NAME[name]
    count = 0

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(target.strategy)
    def prop(value: object) -> None:
        nonlocal count
        count += 1
        run_check(target, value)

    prop()
    return count
