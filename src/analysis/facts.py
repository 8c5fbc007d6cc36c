"""Graded judgements (PEEL) and numeric measures: small, structured tables.

Unlike analysts' coded sheets these are exact tables, so any bad row is an error that stops the
build (all problems reported at once), naming file, row and fix.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from . import schemas
from .codebook import norm_token
from .errors import InputError, InputErrors
from .forces import ForceResolver
from .sheets import UNQUOTED_COMMA_FIX, _col_letter, read_csv_grid, refuse_repeated_headers
from .sources import SOURCE_KINDS

GRADE_SCALE = ("outstanding", "good", "requires_improvement", "inadequate")
_GRADE_SPELLINGS = {"outstanding": "outstanding", "good": "good", "requires improvement": "requires_improvement",
                    "requires_improvement": "requires_improvement", "ri": "requires_improvement",
                    "inadequate": "inadequate"}


def _table(path: Path, required: tuple[str, ...]) -> tuple[list[dict], list[int]]:
    grid = read_csv_grid(path)
    rows = [[c.value for c in r] for r in grid.rows]
    if not rows or not any(rows[0]):
        raise InputError(path, None, "file is empty", "remove it or add the header and rows")
    header = [str(h or "").strip().lower() for h in rows[0]]
    refuse_repeated_headers(path, header)  # (each row is read by column name)
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(path, "row 1 (header)", f"missing column(s) {missing}",
                         f"the header needs {list(required)}")
    out, lines, errors = [], [], []
    for r, n in zip(rows[1:], grid.row_numbers[1:]):
        if not any(v is not None for v in r):
            continue
        # A cell with no header above it (past the header's end, or under a blank one) would be
        # passed over; past the end it is usually a comma in an unquoted cell, which has shifted
        # this row's later cells into the wrong columns.
        stray = [i for i, v in enumerate(r) if v is not None and (i >= len(header) or not header[i])]
        if stray:
            cols = ", ".join(f"{_col_letter(i + 1)} ({r[i]!r})" for i in stray)
            errors.append(InputError(path, f"row {n}", f"cell(s) with no column name above them: {cols}",
                                     UNQUOTED_COMMA_FIX))
            continue
        out.append({h: (r[i].strip() if i < len(r) and isinstance(r[i], str) else None) for i, h in enumerate(header) if h})
        lines.append(n)
    if errors:
        raise InputErrors(errors)
    return out, lines


# A measure as written: digits with an optional decimal point, commas only as thousands separators
# ('1,234'); '99,5' (a decimal comma) would otherwise read as 995, and float() also takes '1_00'.
_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d*)?(?:[eE][+-]?\d+)?%?")


def _measure_value(text: str | None) -> float:
    """The number in a measure cell; ValueError when it is not one plainly (see _NUMBER)."""
    text = str(text or "").strip()
    if not text or not _NUMBER.fullmatch(text) or not any(ch.isdigit() for ch in text):
        raise ValueError(text)
    value = float(text.replace(",", "").rstrip("%"))
    if not math.isfinite(value):  # '1e999': float() reads it, a measure is not one
        raise ValueError(text)
    return value


def _source_kind(rec: dict, path: Path, where: str, errors: list) -> str | None:
    """The row's source_kind as a token (blank stays blank); an unknown kind is an error, as in
    coded sheets (precedence and the reports rank sources by it)."""
    kind = rec.get("source_kind")
    if not kind:
        return None
    token = norm_token(kind)
    if token not in SOURCE_KINDS:
        errors.append(InputError(path, where, f"source_kind {kind!r} is not one of {list(SOURCE_KINDS)}",
                                 "use one of those kinds (data/raw/README.md says what each means)"))
    return token


def load_grades(path: Path, round_id: str, resolver: ForceResolver, rel: str) -> pd.DataFrame:
    rows, lines = _table(path, ("force", "question_id", "grade"))
    errors, recs = [], []
    for rec, line in zip(rows, lines):
        where = f"row {line}"
        try:
            fid = resolver.resolve(rec["force"], file=path, where=where)
        except InputError as exc:
            errors.append(exc)
            continue
        rnd = rec.get("round")
        if rnd and rnd != round_id:
            errors.append(InputError(path, where, f"round {rnd!r} differs from the folder's {round_id!r}",
                                     "move the row to the right round folder"))
            continue
        g = _GRADE_SPELLINGS.get(str(rec["grade"] or "").strip().lower())
        if g is None:
            errors.append(InputError(path, where, f"grade {rec['grade']!r} is not on the PEEL scale",
                                     "use Outstanding, Good, Requires improvement or Inadequate"))
            continue
        if not rec.get("question_id"):
            errors.append(InputError(path, where, "blank question_id", "give the PEEL question id"))
            continue
        n_errors = len(errors)
        kind = _source_kind(rec, path, where, errors)
        if len(errors) > n_errors:
            continue
        recs.append({"round": round_id, "force_id": fid, "question_id": rec["question_id"],
                     "question": rec.get("question"), "grade": g, "grade_rank": GRADE_SCALE.index(g) + 1,
                     "published": rec.get("published"), "source_kind": kind,
                     "source_ref": f"{rel}:row {line}", "source_url": rec.get("source_url"),
                     "note": rec.get("note")})
    if errors:
        raise InputErrors(errors)
    return schemas.frame("grades", recs) if recs else schemas.empty("grades")


def load_measures(path: Path, round_id: str, resolver: ForceResolver, rel: str) -> pd.DataFrame:
    rows, lines = _table(path, ("force", "measure", "value"))
    errors, recs = [], []
    for rec, line in zip(rows, lines):
        where = f"row {line}"
        try:
            fid = resolver.resolve(rec["force"], file=path, where=where)
        except InputError as exc:
            errors.append(exc)
            continue
        try:
            value = _measure_value(rec["value"])
        except ValueError:
            errors.append(InputError(path, where, f"value {rec['value']!r} is not a number",
                                     "write the number only, with a decimal point (99.5) and commas only "
                                     "between thousands (1,234); put 'about'/'under' in the qualifier column"))
            continue
        unit = norm_token(rec.get("unit") or "")
        if (unit == "percent" or str(rec["value"]).endswith("%")) and not 0 <= value <= 100:
            errors.append(InputError(path, where, f"value {rec['value']!r} is a percentage outside 0 to 100",
                                     "check the figure; a change in percentage points needs another unit "
                                     "(e.g. percentage_points)"))
            continue
        n_errors = len(errors)
        kind = _source_kind(rec, path, where, errors)
        if len(errors) > n_errors:
            continue
        recs.append({"round": round_id, "force_id": fid, "measure": rec["measure"], "value": value,
                     "qualifier": rec.get("qualifier"), "unit": rec.get("unit"), "period": rec.get("period"),
                     "source_kind": kind, "source_ref": f"{rel}:row {line}",
                     "source_url": rec.get("source_url"), "note": rec.get("note")})
    if errors:
        raise InputErrors(errors)
    return schemas.frame("measures", recs) if recs else schemas.empty("measures")
