"""Source strength and precedence: the one place that decides which code wins.

A conflict is never settled by row order. Candidates for the same round × force × criterion are
ranked by (1) who coded them: an analyst override from the review round-trip beats everything;
(2) ``source_kind``, strongest first; (3) a human coder beats the automatic draft coder on the
same source. The best-ranked group wins if it agrees; if it disagrees the cell is ``contested``.
"""

from __future__ import annotations

# Strongest first (see data/raw/README.md for what each means).
SOURCE_KINDS = (
    "letter",
    "hmic_page",
    "press_summary",
    "national_report_via_press",
    "pcc_statement",
    "force_statement",
    "secondary",
)
# `auto` is the draft coder; any other coder (a person's initials, "analyst") is human. Rows an
# analyst wrote through `review-import` carry is_override=True and beat every other source.
AUTO_CODER = "auto"
ANALYST_CODER = "analyst"
DEFAULT_SOURCE_KIND = "secondary"  # an analyst's sheet that names no source is treated as weakest

CONFIDENCE_LABELS = ("high", "medium", "low")


def source_rank(kind: str) -> int:
    """0 = strongest. Unknown kinds are rejected earlier, at load."""
    return SOURCE_KINDS.index(kind)


def precedence_key(is_override: bool, source_kind: str, coder: str | None) -> tuple[int, int, int]:
    """Sort key, smaller wins: override first, then source strength, then human over auto."""
    return (0 if is_override else 1, source_rank(source_kind), 1 if coder == AUTO_CODER else 0)


def describe_rank(is_override: bool, source_kind: str, coder: str | None) -> str:
    if is_override:
        return "analyst override"
    return f"{source_kind} ({'auto draft' if coder == AUTO_CODER else 'analyst'})"
