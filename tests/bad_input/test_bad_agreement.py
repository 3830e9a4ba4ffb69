"""Hostile input for inter-coder agreement: figures that look excellent only because a code was
compared where it could not apply, or because a coder's uncoded answers were silently dropped.

Each case builds a two-question survey coded by two analysts (see `builders.build_survey`): on the 20
answers to "How could we improve?" they agree on Waiting times 8 times, disagree 4 times and agree
it is absent 8 times (percent agreement 0.8, AC1 0.6). Compared over all 40 answers, the 20 agreed
absences on the other question would give 0.9 and 0.84."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from builders import IMPROVE, WELL, build_survey

from assistant.coding.agreement import agreement_report
from assistant.coding.codebook import CodeSpec

CODES = [CodeSpec(name="Waiting times", definition="Waits for appointments or care.", scope={"question": IMPROVE}),
         CodeSpec(name="Other", definition="Anything else.")]


def coder(uncoded_by_bob: frozenset[int] = frozenset()) -> Callable[[str, int, str], list[str]]:
    def codes(name: str, i: int, question: str) -> list[str]:
        if question == WELL:
            return ["Other"]
        if name == "bob" and i in uncoded_by_bob:
            return []
        wt = i < 8 or (name == "alice" and i in (8, 9)) or (name == "bob" and i in (10, 11))
        return ["Waiting times"] if wt else ["Other"]

    return codes


@dataclass
class Case:
    id: str
    coder: Callable[[str, int, str], list[str]]
    report_kwargs: dict[str, Any] = field(default_factory=dict)
    units: int = 20
    basis: str = "scope"
    percent_agreement: float = 0.8
    ac1: float = 0.6


CASES = [
    # F18: a code scoped to one survey question was compared over every answer both coders coded
    Case("F18-scoped-code", coder()),
    # F18: an assigned answer that one coder left uncoded was dropped instead of counted as absent
    Case("F18-assigned-uncoded-counts-absent", coder(frozenset({8, 12, 13})),
         {"assigned_filters": {"kind": "survey"}}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_agreement(case: Case, tmp_path) -> None:
    project = build_survey(tmp_path / "survey", 20, CODES, case.coder)
    try:
        report = agreement_report(project, "alice", "bob", **case.report_kwargs)
        row = next(r for r in report.per_code if r.code == "Waiting times")
        assert row.percent_agreement == pytest.approx(case.percent_agreement)
        assert row.ac1 == pytest.approx(case.ac1)
        assert (row.units, row.units_basis) == (case.units, case.basis)
        assert row.units_rule  # which units were used is said, not left implicit
        assert report.overall.units_basis in ("mixed", case.basis)
    finally:
        project.close()
