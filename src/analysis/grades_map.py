"""The explicit link between PEEL graded questions and Core Business areas.

PEEL grades are kept in their own terms (``grades``: round, force, question_id, grade). They are set
beside Core Business judgements only through ``data/raw/reference/peel_question_map.csv``, one row
per round x question_id (x area, when a question bears on more than one area):

=============  ===========================================================================
round          the grade round (as in rounds.yaml)
question_id    the PEEL question id used in that round's grades file
question       its wording, for the reader (not matched against the grades)
status         ``mapped`` or ``unmapped``
area           mapped rows: prevention / attendance / freeing_time; unmapped rows: blank
criteria       optional, mapped rows: the criteria of that area the question bears on,
               '|'-separated (blank = every framed criterion of the area)
fit            mapped rows: ``direct`` (asks the same thing) or ``partial`` (one strand of it)
rationale      why, in the analysts' own words; for an unmapped row, the reason it is not linked
=============  ===========================================================================

Every question in the grades must have a row (mapped or unmapped): a question the table does not
mention is an error, never a silent guess. The key is round + question_id because the same id
can be asked in different words in different years (``efficiency`` in 2014 and 2015).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from .errors import InputError, InputErrors
from .io import records
from .sheets import read_reference_csv

GRADE_ORDER = ("outstanding", "good", "requires_improvement", "inadequate")  # best first
MAP_COLUMNS = ("round", "question_id", "question", "status", "area", "criteria", "fit", "rationale")
STATUSES = ("mapped", "unmapped")
FITS = ("direct", "partial")
DEFAULT_MAP = Path("reference") / "peel_question_map.csv"  # relative to data/raw/


def map_path(raw: str | Path) -> Path:
    return Path(raw) / DEFAULT_MAP


def _blank(v) -> bool:
    return v is None or (not isinstance(v, str) and pd.isna(v)) or str(v).strip() == ""


def load_mapping(path: str | Path, codebook=None, rounds=None) -> pd.DataFrame:
    """The mapping table, validated (every problem reported at once).

    ``codebook`` (a :class:`~analysis.codebook.Codebook`) checks areas and criteria; ``rounds``
    (a :class:`~analysis.rounds.Rounds`) checks round ids. The result has the columns above plus
    ``row`` (the CSV line) and ``criteria_resolved`` (the criteria that apply, blank expanded).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, None, "PEEL question mapping not found",
                         "create data/raw/reference/peel_question_map.csv (see docs/adding_a_round.md)")
    df = read_reference_csv(path, "question mapping", keep_default_na=False, na_values=[""])
    df.columns = [str(c).strip().lower() for c in df.columns]
    missing = [c for c in MAP_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(path, "row 1 (header)", f"missing column(s) {missing}",
                         f"the header needs {list(MAP_COLUMNS)}")
    df = df[list(MAP_COLUMNS)].copy()
    for c in MAP_COLUMNS:
        df[c] = df[c].str.strip()
    df["row"] = pd.array(range(2, len(df) + 2), dtype="Int64")  # line 1 is the header

    areas = dict(codebook.areas) if codebook is not None else None
    errors: list[InputError] = []
    resolved: list[str | None] = []
    seen: dict[tuple, int] = {}
    for rec in records(df):
        where = f"row {rec['row']}"
        crit_out = None

        def err(what, fix):
            errors.append(InputError(path, where, what, fix))

        for col in ("round", "question_id", "status", "rationale"):
            if _blank(rec[col]):
                err(f"blank {col}", f"fill in {col} (every row needs round, question_id, status and rationale)")
        status = rec["status"]
        if not _blank(status) and status not in STATUSES:
            err(f"status {status!r} is not one of {list(STATUSES)}", "write mapped or unmapped")
        if rounds is not None and not _blank(rec["round"]) and rec["round"] not in rounds:
            err(f"unknown round {rec['round']!r}", f"use a round from rounds.yaml ({', '.join(rounds.ids)})")
        if status == "unmapped":
            for col in ("area", "criteria", "fit"):
                if not _blank(rec[col]):
                    err(f"an unmapped question has {col} {rec[col]!r}",
                        "leave area, criteria and fit blank, or set status to mapped")
        elif status == "mapped":
            area = rec["area"]
            if _blank(area):
                err("a mapped question has no area", "give prevention, attendance or freeing_time")
            elif areas is not None and area not in areas:
                err(f"area {area!r} is not one of {list(areas)}", "use a codebook area")
            if _blank(rec["fit"]) or rec["fit"] not in FITS:
                err(f"fit {rec['fit']!r} is not one of {list(FITS)}",
                    "direct = asks the same thing; partial = one strand of it")
            if codebook is not None and not _blank(area) and area in codebook.areas:
                area_ids = [c for c in codebook.framed_ids if codebook[c].area == area]
                if _blank(rec["criteria"]):
                    crit_out = "|".join(area_ids)
                else:
                    ids = [t.strip().upper() for t in re.split(r"[|;,]", rec["criteria"]) if t.strip()]
                    bad = [c for c in ids if c not in area_ids]
                    if bad:
                        err(f"criteria {bad} are not framed criteria of area {area!r}",
                            f"use some of {area_ids}, or leave blank for all of them")
                    else:
                        crit_out = "|".join(ids)
        key = (rec["round"], rec["question_id"], rec["area"] if status == "mapped" else None)
        if key in seen:
            err(f"{rec['round']} {rec['question_id']} (area {key[2]}) is listed twice (also row {seen[key]})",
                "keep one row per round, question and area")
        seen.setdefault(key, rec["row"])
        resolved.append(crit_out)

    # A question is either unmapped (one row) or mapped (one row per area), never both.
    by_q: dict[tuple, dict[str, list[int]]] = {}
    for rec in records(df):
        by_q.setdefault((rec["round"], rec["question_id"]), {}).setdefault(rec["status"], []).append(rec["row"])
    for (rnd, qid), sts in by_q.items():
        if "mapped" in sts and "unmapped" in sts:
            rows = sorted(sts["mapped"] + sts["unmapped"])
            errors.append(InputError(path, "rows " + ", ".join(map(str, rows)),
                                     f"{rnd} {qid} is both mapped and unmapped",
                                     "drop the unmapped row or the mapped ones"))
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    df["criteria_resolved"] = pd.array(resolved, dtype="string")
    return df.reset_index(drop=True)


def _ref_location(source_ref, fallback_file: str) -> tuple[str, str | None]:
    """'peel_2014/grades/x.csv:row 12' -> ('peel_2014/grades/x.csv', 'row 12')."""
    if _blank(source_ref):
        return fallback_file, None
    s = str(source_ref)
    if ":" in s:
        f, w = s.rsplit(":", 1)
        return f, w.strip()
    return s, None


def check_grades(grades: pd.DataFrame, mapping: pd.DataFrame, forces: pd.DataFrame | None = None,
                 map_file: str | Path = DEFAULT_MAP) -> None:
    """Stop on grades the comparison cannot use, naming the grades file and row (from
    ``source_ref``): a grade off the PEEL scale, a force not in the forces table, or a
    round x question_id the mapping table does not list. Raises InputError(s)."""
    errors: list[InputError] = []
    known_q = set(zip(mapping["round"], mapping["question_id"]))
    known_f = set(forces["force_id"]) if forces is not None else None
    for rec in records(grades):
        file, where = _ref_location(rec.get("source_ref"), f"grades table ({rec['round']})")
        if rec["grade"] not in GRADE_ORDER:
            errors.append(InputError(file, where, f"grade {rec['grade']!r} is outside the PEEL scale",
                                     f"use one of {list(GRADE_ORDER)}"))
        if known_f is not None and rec["force_id"] not in known_f:
            errors.append(InputError(file, where, f"unknown force {rec['force_id']!r}",
                                     "use a force from data/raw/reference/forces.csv"))
        if (rec["round"], rec["question_id"]) not in known_q:
            errors.append(InputError(file, where,
                                     f"question {rec['question_id']!r} of round {rec['round']} is not in "
                                     f"the PEEL question mapping ({map_file})",
                                     "add a row for it to peel_question_map.csv: mapped with an area and "
                                     "rationale, or unmapped with the reason"))
    if errors:
        # One message per distinct problem is enough: a missing question repeats on every force.
        uniq = list({(e.what, e.file): e for e in errors}.values()) if len(errors) > 20 else errors
        raise uniq[0] if len(uniq) == 1 else InputErrors(uniq)


def mapped_rows(mapping: pd.DataFrame, round_id: str | None = None) -> pd.DataFrame:
    """Only the mapped rows (optionally of one round)."""
    m = mapping[mapping["status"] == "mapped"]
    if round_id is not None:
        m = m[m["round"] == round_id]
    return m.reset_index(drop=True)


def copy_mapping_rows(source: str | Path, dest: str | Path, from_round: str, to_round: str,
                      question_ids=None, note: str = "") -> Path:
    """Reuse another round's mapping rows for a new round asking the same questions (e.g. a
    generated ``synthetic_peel`` round shaped like ``peel_2014``). Rows of ``from_round`` (only
    ``question_ids`` if given) are written to ``dest`` under ``to_round``, appended when ``dest``
    exists; each rationale is prefixed with ``note`` (say where the rows came from). A requested
    question the source does not map is an error, never a guess. Returns ``dest``."""
    source, dest = Path(source), Path(dest)
    src = read_reference_csv(source, "question mapping", keep_default_na=False, na_values=[""])
    rows = src[src["round"] == from_round].copy()
    if question_ids is not None:
        wanted = list(dict.fromkeys(question_ids))
        missing = [q for q in wanted if q not in set(rows["question_id"])]
        if missing:
            raise InputError(source, None, f"{from_round} has no mapping row for {missing}",
                             "map them in the source table first, or choose another round")
        rows = rows[rows["question_id"].isin(wanted)]
    rows["round"] = to_round
    if note:
        rows["rationale"] = note.rstrip() + " " + rows["rationale"]
    rows = rows[list(MAP_COLUMNS)]
    if dest.exists():
        old = read_reference_csv(dest, "question mapping", keep_default_na=False, na_values=[""])
        rows = pd.concat([old[list(MAP_COLUMNS)], rows], ignore_index=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(dest, index=False, lineterminator="\n", encoding="utf-8")
    return dest
