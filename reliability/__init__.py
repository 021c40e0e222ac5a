"""Reliability scenarios: faults survived, bad input refused, nothing lost, no secret leaked.

Each scenario module exposes ``run(quick: bool) -> list[Trial]``. `python -m reliability`
runs them all and writes RELIABILITY.md; tests/test_reliability.py runs the quick versions in
CI and fails on any trial that did not hold."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(slots=True)
class Trial:
    """One fault or bad input, tried ``tried`` times.

    ``held`` is True when every attempt ended the way maforge promises (the final state equals
    the plan, a clean located error, no secret found...); ``result`` says what happened in
    words, with numbers; ``details`` holds the counts behind it."""

    category: str  # "faults", "kills", "bad input", "property-based", "secrets", "permissions"
    name: str
    tried: int
    held: bool
    result: str
    details: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return asdict(self)
