"""Graded judgements (PEEL) and numeric measures: small, structured tables.

Unlike analysts' coded sheets these are exact tables, so any bad row is an error that stops the
build (all problems reported at once), naming file, row and fix.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from . import schemas
from .errors import InputError, InputErrors
from .forces import ForceResolver
from .sheets import read_csv_grid, refuse_repeated_headers

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
    out, lines = [], []
    for r, n in zip(rows[1:], grid.row_numbers[1:]):
        if not any(v is not None for v in r):
            continue
        out.append({h: (r[i].strip() if i < len(r) and isinstance(r[i], str) else None) for i, h in enumerate(header) if h})
        lines.append(n)
    return out, lines


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
        recs.append({"round": round_id, "force_id": fid, "question_id": rec["question_id"],
                     "question": rec.get("question"), "grade": g, "grade_rank": GRADE_SCALE.index(g) + 1,
                     "published": rec.get("published"), "source_kind": rec.get("source_kind"),
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
            value = float(str(rec["value"]).replace(",", "").rstrip("%"))
            if not math.isfinite(value):  # 'nan', 'inf', '1e999': float() reads them, a measure is not one
                raise ValueError(value)
        except ValueError:
            errors.append(InputError(path, where, f"value {rec['value']!r} is not a number",
                                     "write the number only; put 'about'/'under' in the qualifier column"))
            continue
        recs.append({"round": round_id, "force_id": fid, "measure": rec["measure"], "value": value,
                     "qualifier": rec.get("qualifier"), "unit": rec.get("unit"), "period": rec.get("period"),
                     "source_kind": rec.get("source_kind"), "source_ref": f"{rel}:row {line}",
                     "source_url": rec.get("source_url"), "note": rec.get("note")})
    if errors:
        raise InputErrors(errors)
    return schemas.frame("measures", recs) if recs else schemas.empty("measures")
