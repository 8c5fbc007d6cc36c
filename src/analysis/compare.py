"""What changed between rounds: per force x criterion, per force, nationally, and for PEEL grades.

Rules (also in docs/adding_a_round.md):

* **Before** is the baseline round's *effective* state: its own matrix, with anything it did not
  revisit carried forward from the round it updates (so a chain of updates works). **After** is
  the update round's own matrix.
* An update round is silent wherever it does not revisit, so **absence in the update is never
  evidence that something stopped**. A force x criterion with no code in the update is
  ``not_revisited`` and keeps its earlier state. That covers a criterion the update codes for no
  force at all, and a force the update has no codes for at all.
* ``no_longer_reported`` therefore only arises when the update round *declares full coverage*
  (``coverage: full`` on the round, or ``full_coverage=True``): it read every force's evidence in
  full, so a criterion it codes for other forces but not for this force (which it does have codes
  for) was looked for and not found. Even then a force with no codes at all, or a criterion coded
  for no force, stays ``not_revisited`` (a missing document is not a finding). The shipped coded
  rounds do not declare full coverage, so for them ``no_longer_reported`` never occurs.
* ``improved`` / ``declined`` / ``unchanged`` compare judgements, negative < partial < positive.
  Two values with the same judgement (F4 limited -> none) are ``unchanged``; ``value_changed``
  says the value name moved. ``newly_reported``: not reported before, reported now. ``contested``:
  the update's cell is contested, or the before cell was contested and the update reports a value
  (no direction can be read).
* PEEL grades stay in their own terms: a question is compared only with the same question_id in
  another grade round (outstanding > good > requires_improvement > inadequate). A force with two
  different grades for one question in one round (Cheshire, PEEL 2014) keeps both, flagged
  ``contested``; neither is picked.
* Core Business judgements meet PEEL grades only through the mapping table
  (:mod:`analysis.grades_map`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import schemas
from .codebook import CONTESTED, NOT_REPORTED
from .errors import InputError
from .grades_map import GRADE_ORDER, check_grades, load_mapping, map_path, mapped_rows

S, B, F, I = "string", "boolean", "Float64", "Int64"

CHANGE_TYPES = ("improved", "declined", "unchanged", "newly_reported", "no_longer_reported",
                "not_revisited", "contested")
GRADE_CHANGE_TYPES = ("improved", "declined", "unchanged", "newly_graded", "not_regraded", "contested")
JUDGEMENT_RANK = {"negative": 0, "partial": 1, "positive": 2}
GRADE_RANK = {g: i + 1 for i, g in enumerate(GRADE_ORDER)}  # 1 = outstanding
# Why a cell was or was not revisited.
BASES = ("coded", "force_not_covered", "criterion_not_covered", "cell_not_coded", "full_coverage_absent")
MATRIX_KINDS = ("coded", "letters")

TABLE_COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "changes": [
        ("round", S, "Update round (the 'after')"),
        ("baseline_round", S, "Round compared against (the 'before')"),
        ("force_id", S, "Force"),
        ("area", S, "Codebook area"),
        ("criterion_id", S, "Framed codebook criterion"),
        ("change", S, "improved / declined / unchanged / newly_reported / no_longer_reported / "
                      "not_revisited / contested"),
        ("basis", S, "coded = the update codes this cell; force_not_covered = no code at all for the "
                     "force; criterion_not_covered = criterion coded for no force; cell_not_coded = "
                     "silent on this cell; full_coverage_absent = silent although the round declares "
                     "full coverage"),
        ("before_status", S, "reported / not_reported / contested, in the baseline's effective state"),
        ("before_value", S, "Value before"),
        ("before_judgement", S, "Judgement before"),
        ("before_round", S, "Round the before value comes from (an earlier round when carried forward)"),
        ("after_status", S, "Status in the update round's own matrix"),
        ("after_value", S, "Value in the update round ('not_reported' where silent)"),
        ("after_judgement", S, "Judgement in the update round"),
        ("value_changed", B, "True when the cell was revisited and its value name differs"),
        ("effective_status", S, "Status after the update: the update where it revisits, else before"),
        ("effective_value", S, "Value after the update (before value carried forward if not revisited)"),
        ("effective_judgement", S, "Judgement after the update"),
        ("effective_round", S, "Round the effective value comes from"),
        ("after_source_ref", S, "source_ref of the update's deciding code(s)"),
        ("synthetic", B, "True when either round is generated (SYNTHETIC)"),
    ],
    "change_summary_force": [
        ("round", S, "Update round"),
        ("baseline_round", S, "Round compared against"),
        ("force_id", S, "Force"),
        ("n_criteria", I, "Framed criteria compared"),
        ("n_revisited", I, "Criteria the update revisited (all but not_revisited)"),
        *[(f"n_{c}", I, f"Criteria whose change is {c}") for c in CHANGE_TYPES],
        ("synthetic", B, "True when either round is generated (SYNTHETIC)"),
    ],
    "change_summary_national": [
        ("round", S, "Update round"),
        ("baseline_round", S, "Round compared against"),
        ("area", S, "Codebook area"),
        ("criterion_id", S, "Framed codebook criterion"),
        ("before_value", S, "Value before"),
        ("before_judgement", S, "Judgement before"),
        ("after_value", S, "Value in the update ('not_reported' where silent)"),
        ("after_judgement", S, "Judgement in the update"),
        ("change", S, "Change type of these forces"),
        ("n_forces", I, "Number of forces making this move"),
        ("force_ids", S, "Those forces, '|'-separated"),
        ("synthetic", B, "True when either round is generated (SYNTHETIC)"),
    ],
    "grade_changes": [
        ("round", S, "Later grade round"),
        ("baseline_round", S, "Earlier grade round asking the same question_id"),
        ("force_id", S, "Force"),
        ("question_id", S, "PEEL question id (the same in both rounds)"),
        ("question", S, "Question wording in the later round"),
        ("before_question", S, "Question wording in the earlier round (the same id may be worded anew)"),
        ("change", S, "improved / declined / unchanged / newly_graded / not_regraded / contested"),
        ("before_grade", S, "Earlier grade ('contested' when the sources disagree; blank = not graded)"),
        ("before_grade_rank", I, "1 = outstanding ... 4 = inadequate"),
        ("before_grades_seen", S, "Every grade given for the earlier round, best first, '|'-separated"),
        ("after_grade", S, "Later grade ('contested' when the sources disagree; blank = not graded)"),
        ("after_grade_rank", I, "1 = outstanding ... 4 = inadequate"),
        ("after_grades_seen", S, "Every grade given for the later round, best first, '|'-separated"),
        ("rank_step", I, "before_grade_rank - after_grade_rank: positive = better"),
        ("before_source_ref", S, "Grades file and row(s), earlier round"),
        ("after_source_ref", S, "Grades file and row(s), later round"),
    ],
    "cb_vs_peel": [
        ("round", S, "Grade round (an update round with graded questions)"),
        ("baseline_round", S, "Core Business round whose judgements are set beside the grade"),
        ("force_id", S, "Force"),
        ("question_id", S, "PEEL question id"),
        ("question", S, "Question wording"),
        ("area", S, "Core Business area the mapping links the question to"),
        ("criteria", S, "Criteria the mapping links it to, '|'-separated"),
        ("fit", S, "direct / partial, from the mapping"),
        ("grade", S, "PEEL grade, or 'contested' when the sources disagree"),
        ("grade_rank", I, "1 = outstanding ... 4 = inadequate; blank when contested"),
        ("grade_conflict", B, "True when the sources give different grades (all kept in grades_seen)"),
        ("grades_seen", S, "Every grade given, best first, '|'-separated"),
        ("cb_positive", I, "Mapped criteria judged positive in the baseline"),
        ("cb_partial", I, "... judged partial"),
        ("cb_negative", I, "... judged negative"),
        ("cb_not_reported", I, "... not reported"),
        ("cb_contested", I, "... contested"),
        ("cb_share_positive", F, "cb_positive / (positive + partial + negative); blank when none reported"),
        ("cb_judgements", S, "criterion=judgement for each mapped criterion, '|'-separated"),
        ("synthetic", B, "True when either round is generated (SYNTHETIC)"),
    ],
}


def conform(table: str, df: pd.DataFrame) -> pd.DataFrame:
    """Exactly ``TABLE_COLUMNS[table]``, in order and typed."""
    return schemas.conform(table, df, TABLE_COLUMNS[table])


def empty(table: str) -> pd.DataFrame:
    return schemas.empty(table, TABLE_COLUMNS[table])


# ----- rounds -------------------------------------------------------------------------------------
def coverage(rnd) -> str:
    """'full' when the round declares it read every force's evidence in full, else 'partial'.
    Read from the Round's ``coverage`` (rounds.yaml field; ``extra["coverage"]`` as a fallback)."""
    val = getattr(rnd, "coverage", None) or (getattr(rnd, "extra", None) or {}).get("coverage")
    return "full" if str(val or "").strip().lower() == "full" else "partial"


def ancestry(rounds, round_id: str) -> list[str]:
    """[round_id, the round it updates, that round's parent, ...]; stops on a cycle."""
    chain = [round_id]
    while rounds[chain[-1]].updates:
        nxt = rounds[chain[-1]].updates
        if nxt in chain:
            raise InputError(rounds.source, f"round {round_id}", f"'updates' loops: {' -> '.join(chain + [nxt])}",
                             "point each round's 'updates' at an earlier round")
        chain.append(nxt)
    return chain


def _check_matrix_round(rounds, rid: str) -> None:
    rnd = rounds[rid]  # raises InputError for an unknown round
    if not set(rnd.kind) & set(MATRIX_KINDS):
        raise InputError(rounds.source, f"round {rid}", f"round {rid!r} holds {list(rnd.kind)}, no coded "
                         "findings or letters, so it has no criteria to compare",
                         "compare grade rounds with grade_changes, or choose a coded round")


# ----- cells --------------------------------------------------------------------------------------
def _framed(codebook, matrix: pd.DataFrame) -> list[str]:
    if codebook is not None:
        return list(codebook.framed_ids)
    return sorted(matrix["criterion_id"].dropna().unique())


def _areas(codebook, matrix: pd.DataFrame) -> dict[str, str]:
    if codebook is not None:
        return {c: codebook[c].area for c in codebook.framed_ids}
    return dict(zip(matrix["criterion_id"], matrix["area"]))


def _cells(matrix: pd.DataFrame, rid: str) -> dict[tuple[str, str], dict]:
    sub = matrix[matrix["round"] == rid]
    return {(r["force_id"], r["criterion_id"]): r for r in sub.to_dict("records")}


_SILENT = {"status": "not_reported", "value": NOT_REPORTED, "judgement": NOT_REPORTED,
           "winning_source_ref": pd.NA}


def _coverage_sets(matrix: pd.DataFrame, findings: pd.DataFrame | None, rid: str) -> tuple[set, set]:
    """(forces with any code in the round, criteria coded for any force in the round)."""
    sub = matrix[(matrix["round"] == rid) & (matrix["status"] != "not_reported")]
    forces = set(sub["force_id"])
    crits = set(sub["criterion_id"])
    if findings is not None and len(findings):
        fsub = findings[findings["round"] == rid]
        forces |= set(fsub["force_id"])  # P0/A0/F0 codes show the force's evidence was read
    return forces, crits


def _basis(cell: dict, fid: str, cid: str, forces: set, crits: set, full: bool) -> str:
    if cell["status"] != "not_reported":
        return "coded"
    if fid not in forces:
        return "force_not_covered"
    if cid not in crits:
        return "criterion_not_covered"
    return "full_coverage_absent" if full else "cell_not_coded"


def effective_matrix(matrix: pd.DataFrame, rounds, round_id: str, codebook=None,
                     findings: pd.DataFrame | None = None, forces: list[str] | None = None,
                     full_coverage: dict[str, bool] | None = None) -> pd.DataFrame:
    """The state of every force x framed criterion as of ``round_id``: the round's own cell where
    it revisits, otherwise the value carried forward from the round it updates (recursively).
    Matrix columns plus ``value_round``: the round each cell's value comes from."""
    _check_matrix_round(rounds, round_id)
    chain = list(reversed(ancestry(rounds, round_id)))  # oldest first
    framed, areas = _framed(codebook, matrix), _areas(codebook, matrix)
    forces = list(forces) if forces is not None else sorted(matrix["force_id"].dropna().unique())
    state: dict[tuple, dict] = {}
    for rid in chain:
        cells = _cells(matrix, rid)
        full = (full_coverage or {}).get(rid, coverage(rounds[rid]) == "full")
        fcov, ccov = _coverage_sets(matrix, findings, rid)
        for fid in forces:
            for cid in framed:
                cell = cells.get((fid, cid), _SILENT)
                basis = _basis(cell, fid, cid, fcov, ccov, full)
                if (fid, cid) not in state or basis in ("coded", "full_coverage_absent"):
                    state[(fid, cid)] = {**cell, "value_round": rid}
    rows = []
    for fid in forces:
        for cid in framed:
            c = state[(fid, cid)]
            rows.append({**c, "round": round_id, "force_id": fid,
                         "criterion_id": cid, "area": areas[cid]})
    from . import schemas
    out = schemas.conform("matrix", pd.DataFrame(rows))
    out["value_round"] = pd.array([r["value_round"] for r in rows], dtype="string")
    return out


def classify(before: dict, after: dict, basis: str) -> str:
    """The change for one cell (see the module docstring)."""
    if basis in ("force_not_covered", "criterion_not_covered", "cell_not_coded"):
        return "not_revisited"
    if basis == "full_coverage_absent":
        return "unchanged" if before["status"] == "not_reported" else "no_longer_reported"
    if after["status"] == "contested" or before["status"] == "contested":
        return "contested"
    if before["status"] == "not_reported":
        return "newly_reported"
    b, a = JUDGEMENT_RANK[before["judgement"]], JUDGEMENT_RANK[after["judgement"]]
    return "improved" if a > b else "declined" if a < b else "unchanged"


def compare(matrix: pd.DataFrame, rounds, baseline: str, update: str, codebook=None,
            findings: pd.DataFrame | None = None, forces: list[str] | None = None,
            full_coverage: bool | None = None) -> pd.DataFrame:
    """One row per force x framed criterion: before (baseline's effective state), after (the
    update's own cell), the change, and the effective state after the update."""
    _check_matrix_round(rounds, update)
    _check_matrix_round(rounds, baseline)
    chain = ancestry(rounds, update)
    if baseline not in chain[1:]:
        raise InputError(rounds.source, f"round {update}",
                         f"{update!r} does not update {baseline!r} (its chain is {' -> '.join(chain)})",
                         f"set 'updates: {baseline}' on {update} in rounds.yaml, or compare against "
                         f"{chain[1] if len(chain) > 1 else 'the round it updates'}")
    forces = list(forces) if forces is not None else sorted(matrix["force_id"].dropna().unique())
    full = coverage(rounds[update]) == "full" if full_coverage is None else bool(full_coverage)
    before = effective_matrix(matrix, rounds, baseline, codebook, findings, forces)
    before_cells = {(r["force_id"], r["criterion_id"]): r for r in before.to_dict("records")}
    after_cells = _cells(matrix, update)
    fcov, ccov = _coverage_sets(matrix, findings, update)
    synthetic = bool(rounds[baseline].synthetic or rounds[update].synthetic)
    rows = []
    for fid in forces:
        for cid in _framed(codebook, matrix):
            b = before_cells[(fid, cid)]
            a = after_cells.get((fid, cid), _SILENT)
            basis = _basis(a, fid, cid, fcov, ccov, full)
            change = classify(b, a, basis)
            keep = change == "not_revisited"
            eff = b if keep else a
            rows.append({
                "round": update, "baseline_round": baseline, "force_id": fid, "area": b["area"],
                "criterion_id": cid, "change": change, "basis": basis,
                "before_status": b["status"], "before_value": b["value"], "before_judgement": b["judgement"],
                "before_round": b["value_round"],
                "after_status": a["status"], "after_value": a["value"], "after_judgement": a["judgement"],
                "value_changed": (not keep) and a["value"] != b["value"],
                "effective_status": eff["status"], "effective_value": eff["value"],
                "effective_judgement": eff["judgement"],
                "effective_round": b["value_round"] if keep else update,
                "after_source_ref": a.get("winning_source_ref"), "synthetic": synthetic,
            })
    return conform("changes", pd.DataFrame(rows))


def summarise_force(changes: pd.DataFrame) -> pd.DataFrame:
    """Counts by change type, one row per round pair x force."""
    if changes.empty:
        return empty("change_summary_force")
    keys = ["round", "baseline_round", "force_id"]
    counts = (changes.groupby(keys + ["change"], sort=False).size().unstack("change", fill_value=0)
              .reindex(columns=list(CHANGE_TYPES), fill_value=0))
    out = counts.rename(columns={c: f"n_{c}" for c in CHANGE_TYPES}).reset_index()
    out["n_criteria"] = counts.sum(axis=1).to_numpy()
    out["n_revisited"] = (counts.sum(axis=1) - counts["not_revisited"]).to_numpy()
    syn = changes.groupby(keys, sort=False)["synthetic"].any().reset_index()
    out = out.merge(syn, on=keys, how="left")
    return conform("change_summary_force", out.sort_values(keys, ignore_index=True))


def summarise_national(changes: pd.DataFrame, codebook=None) -> pd.DataFrame:
    """Forces moving from each before value to each after value, per criterion."""
    if changes.empty:
        return empty("change_summary_national")
    keys = ["round", "baseline_round", "area", "criterion_id", "before_value", "before_judgement",
            "after_value", "after_judgement", "change"]
    g = changes.groupby(keys, sort=False)
    out = g.agg(n_forces=("force_id", "size"), force_ids=("force_id", lambda s: "|".join(sorted(s))),
                synthetic=("synthetic", "any")).reset_index()
    order = {c: i for i, c in enumerate(codebook.ids)} if codebook is not None else None
    out["_c"] = out["criterion_id"].map(order) if order else out["criterion_id"]
    out["_k"] = out["change"].map({c: i for i, c in enumerate(CHANGE_TYPES)})
    out = out.sort_values(["round", "baseline_round", "_c", "_k", "before_value", "after_value"],
                          ignore_index=True)
    return conform("change_summary_national", out)


def change_counts(changes: pd.DataFrame, criteria: pd.DataFrame | None = None) -> pd.DataFrame:
    """Forces per criterion by change type (one update round): rows in ``changes`` order, one
    column per change type, plus the criterion label when the ``criteria`` table is given."""
    out = (changes.groupby(["area", "criterion_id"], sort=False)["change"].value_counts()
           .unstack(fill_value=0).reindex(columns=list(CHANGE_TYPES), fill_value=0).reset_index())
    out.columns.name = None
    if criteria is not None:
        out.insert(2, "label", out["criterion_id"].map(dict(zip(criteria["criterion_id"], criteria["label"]))))
    return out


# ----- grades -------------------------------------------------------------------------------------
def resolve_grades(grades: pd.DataFrame) -> pd.DataFrame:
    """One row per round x force x question. Several rows agreeing collapse to one grade; rows
    that disagree give grade 'contested' with every grade kept in ``grades_seen`` (best first),
    so the result never depends on row order."""
    cols = ["round", "force_id", "question_id", "question", "grade", "grade_rank", "conflict",
            "grades_seen", "n_rows", "source_ref"]
    if grades is None or grades.empty:
        return pd.DataFrame({c: pd.Series(dtype=S) for c in cols})
    rows = []
    for (rnd, fid, qid), g in grades.groupby(["round", "force_id", "question_id"], sort=True):
        seen = sorted(set(g["grade"]), key=GRADE_RANK.__getitem__)
        conflict = len(seen) > 1
        rows.append({"round": rnd, "force_id": fid, "question_id": qid,
                     "question": g["question"].dropna().iloc[0] if g["question"].notna().any() else pd.NA,
                     "grade": CONTESTED if conflict else seen[0],
                     "grade_rank": pd.NA if conflict else GRADE_RANK[seen[0]],
                     "conflict": conflict, "grades_seen": "|".join(seen), "n_rows": len(g),
                     "source_ref": ";".join(sorted(g["source_ref"].dropna().astype(str)))})
    out = pd.DataFrame(rows)
    return out.astype({"round": S, "force_id": S, "question_id": S, "question": S, "grade": S,
                       "grade_rank": I, "conflict": B, "grades_seen": S, "n_rows": I, "source_ref": S})


def grade_changes(grades: pd.DataFrame, rounds, pair: tuple[str, str] | None = None) -> pd.DataFrame:
    """For each question_id, each grade round asking it against the next round (rounds.yaml
    order) asking the same question_id; one row per force graded in either. With ``pair``
    (earlier, later): only that pair of rounds, for every question_id both ask."""
    res = resolve_grades(grades)
    if res.empty:
        return empty("grade_changes")
    order = {r.id: r.order for r in rounds}
    rows = []
    for qid, g in res.groupby("question_id", sort=True):
        rids = sorted(set(g["round"]), key=lambda r: order.get(r, 10**6))
        pairs = list(zip(rids, rids[1:]))
        if pair is not None:
            pairs = [pair] if set(pair) <= set(rids) else []
        for earlier, later in pairs:
            b = {r["force_id"]: r for r in g[g["round"] == earlier].to_dict("records")}
            a = {r["force_id"]: r for r in g[g["round"] == later].to_dict("records")}
            for fid in sorted(set(b) | set(a)):
                rb, ra = b.get(fid), a.get(fid)
                if rb is None:
                    change = "newly_graded"
                elif ra is None:
                    change = "not_regraded"
                elif rb["conflict"] or ra["conflict"]:
                    change = "contested"
                else:
                    d = rb["grade_rank"] - ra["grade_rank"]
                    change = "improved" if d > 0 else "declined" if d < 0 else "unchanged"
                step = (rb["grade_rank"] - ra["grade_rank"]) if change in ("improved", "declined", "unchanged") else pd.NA
                rows.append({
                    "round": later, "baseline_round": earlier, "force_id": fid, "question_id": qid,
                    "question": (ra or rb)["question"], "change": change,
                    "before_question": rb["question"] if rb else pd.NA,
                    "before_grade": rb["grade"] if rb else pd.NA,
                    "before_grade_rank": rb["grade_rank"] if rb else pd.NA,
                    "before_grades_seen": rb["grades_seen"] if rb else pd.NA,
                    "after_grade": ra["grade"] if ra else pd.NA,
                    "after_grade_rank": ra["grade_rank"] if ra else pd.NA,
                    "after_grades_seen": ra["grades_seen"] if ra else pd.NA,
                    "rank_step": step,
                    "before_source_ref": rb["source_ref"] if rb else pd.NA,
                    "after_source_ref": ra["source_ref"] if ra else pd.NA,
                })
    if not rows:
        return empty("grade_changes")
    out = pd.DataFrame(rows)
    out["_o"] = out["round"].map(order)
    out = out.sort_values(["_o", "baseline_round", "question_id", "force_id"], ignore_index=True)
    return conform("grade_changes", out)


def cb_vs_peel(matrix: pd.DataFrame, grades: pd.DataFrame, mapping: pd.DataFrame, rounds,
               grade_round: str, baseline: str, codebook=None, findings=None,
               forces: list[str] | None = None) -> pd.DataFrame:
    """Each force's grade on every *mapped* question of ``grade_round``, beside the baseline's
    judgements on the criteria the mapping links that question to. Forces not graded on a
    question get no row for it; unmapped questions get none at all."""
    res = resolve_grades(grades)
    res = res[res["round"] == grade_round]
    maps = mapped_rows(mapping, grade_round)
    if res.empty or maps.empty:
        return empty("cb_vs_peel")
    eff = effective_matrix(matrix, rounds, baseline, codebook, findings, forces)
    cells = {(r["force_id"], r["criterion_id"]): r["judgement"] for r in eff.to_dict("records")}
    synthetic = bool(rounds[grade_round].synthetic or rounds[baseline].synthetic)
    rows = []
    for m in maps.to_dict("records"):
        crits = str(m["criteria_resolved"]).split("|")
        for g in res[res["question_id"] == m["question_id"]].to_dict("records"):
            js = [cells.get((g["force_id"], c), NOT_REPORTED) for c in crits]
            n = {j: js.count(j) for j in ("positive", "partial", "negative", NOT_REPORTED, CONTESTED)}
            rep = n["positive"] + n["partial"] + n["negative"]
            rows.append({
                "round": grade_round, "baseline_round": baseline, "force_id": g["force_id"],
                "question_id": m["question_id"], "question": g["question"], "area": m["area"],
                "criteria": m["criteria_resolved"], "fit": m["fit"], "grade": g["grade"],
                "grade_rank": g["grade_rank"], "grade_conflict": g["conflict"],
                "grades_seen": g["grades_seen"],
                "cb_positive": n["positive"], "cb_partial": n["partial"], "cb_negative": n["negative"],
                "cb_not_reported": n[NOT_REPORTED], "cb_contested": n[CONTESTED],
                "cb_share_positive": (n["positive"] / rep) if rep else pd.NA,
                "cb_judgements": "|".join(f"{c}={j}" for c, j in zip(crits, js)),
                "synthetic": synthetic,
            })
    if not rows:
        return empty("cb_vs_peel")
    out = pd.DataFrame(rows).sort_values(["question_id", "area", "force_id"], ignore_index=True)
    return conform("cb_vs_peel", out)


def cb_vs_peel_summary(cbp: pd.DataFrame) -> pd.DataFrame:
    """Per mapped question and grade: forces, how many have any Core Business judgement on the
    mapped criteria (read this before the mean), and the mean share of positive judgements."""
    if cbp.empty:
        return pd.DataFrame(columns=["round", "question_id", "area", "fit", "grade", "forces",
                                     "with_cb_evidence", "mean_share_positive"])
    d = cbp.assign(with_cb_evidence=(cbp[["cb_positive", "cb_partial", "cb_negative"]].sum(axis=1) > 0),
                   _rank=cbp["grade_rank"].fillna(9))
    out = (d.groupby(["round", "question_id", "area", "fit", "grade"], sort=False)
           .agg(forces=("force_id", "size"), with_cb_evidence=("with_cb_evidence", "sum"),
                mean_share_positive=("cb_share_positive", "mean"), _rank=("_rank", "first"))
           .reset_index().sort_values(["round", "question_id", "area", "_rank"], ignore_index=True))
    return out.drop(columns="_rank")


# ----- everything, for the build --------------------------------------------------------------
def compare_all(tables: dict[str, pd.DataFrame], rounds, codebook, mapping) -> dict[str, pd.DataFrame]:
    """The comparison tables for every registered update round (rounds.yaml ``updates:``):
    ``changes`` and both summaries for update rounds holding coded findings or letters;
    ``cb_vs_peel`` for update rounds holding grades; ``grade_changes`` across all grade rounds.
    ``mapping`` is the validated mapping table or its path. Grades are checked first
    (scale, known force, question in the mapping)."""
    matrix = tables["matrix"]
    findings = tables.get("findings")
    grades = tables.get("grades")
    forces_tbl = tables.get("forces")
    forces = (sorted(forces_tbl["force_id"]) if forces_tbl is not None and len(forces_tbl)
              else sorted(matrix["force_id"].dropna().unique()))
    if mapping is None:
        # The build should pass grades_map.map_path(paths.raw); the default raw folder is only a
        # fallback, with a warning, so that an older build still produces the tables.
        import warnings

        from .paths import RAW

        warnings.warn("compare_all: no mapping given; reading the default "
                      f"{map_path(RAW)} (pass grades_map.map_path(paths.raw))", stacklevel=2)
        mapping = map_path(RAW)
    if not isinstance(mapping, pd.DataFrame):
        mapping = load_mapping(mapping, codebook, rounds)
    has_grades = grades is not None and len(grades) > 0
    if has_grades:
        check_grades(grades, mapping, forces_tbl)

    changes, cbp = [], []
    for upd in rounds.updates():
        if set(upd.kind) & set(MATRIX_KINDS):
            changes.append(compare(matrix, rounds, upd.updates, upd.id, codebook, findings, forces))
        if "grades" in upd.kind and has_grades and set(rounds[upd.updates].kind) & set(MATRIX_KINDS):
            cbp.append(cb_vs_peel(matrix, grades, mapping, rounds, upd.id, upd.updates, codebook,
                                  findings, forces))
    ch = pd.concat(changes, ignore_index=True) if changes else empty("changes")
    return {
        "changes": ch,
        "change_summary_force": summarise_force(ch),
        "change_summary_national": summarise_national(ch, codebook),
        "grade_changes": grade_changes(grades, rounds) if has_grades else empty("grade_changes"),
        "cb_vs_peel": pd.concat(cbp, ignore_index=True) if cbp else empty("cb_vs_peel"),
    }


# ----- CLI ----------------------------------------------------------------------------------------
def register(subparsers) -> None:
    from .cli import add_path_args

    p = subparsers.add_parser(
        "compare", help="what changed between a baseline round and an update round",
        description="Compare an update round with the round it updates, force by force and criterion "
        "by criterion (reads the processed tables: run `build` first). Writes changes, "
        "change_summary_force, change_summary_national, grade_changes and cb_vs_peel as CSV.")
    p.add_argument("--baseline", required=True, help="round compared against, e.g. core_business_2014")
    p.add_argument("--update", required=True, help="update round, e.g. peel_2014")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="folder for the CSVs (default: reports/compare/<baseline>__<update>)")
    p.add_argument("--full-coverage", action="store_true",
                   help="treat the update as having read every force's evidence in full (enables "
                        "no_longer_reported; see docs/adding_a_round.md)")
    p.add_argument("--charts", action="store_true", help="also export the comparison charts")
    add_path_args(p)
    p.set_defaults(func=_cmd)


def run(paths, baseline: str, update: str, full_coverage: bool | None = None) -> dict[str, pd.DataFrame]:
    """The comparison of one pair of rounds, from the processed tables and raw reference data.
    Coded/letters rounds give changes and both summaries (plus cb_vs_peel when the update also
    holds grades); two grade rounds give the grade changes between them."""
    from .codebook import Codebook
    from .io import load_tables
    from .rounds import Rounds

    rounds = Rounds.load(paths.rounds)
    codebook = Codebook.load(paths.codebook)
    for rid in (baseline, update):
        rounds[rid]  # an unknown round -> InputError naming rounds.yaml
    tables = load_tables(paths.processed)
    matrix = tables["matrix"]
    findings = tables.get("findings")
    forces = sorted(tables["forces"]["force_id"]) if "forces" in tables else None
    grades = tables.get("grades")
    has_grades = grades is not None and len(grades) > 0
    mapping = None
    if has_grades:
        mapping = load_mapping(map_path(paths.raw), codebook, rounds)
        check_grades(grades, mapping, tables.get("forces"))
    coded = [bool(set(rounds[r].kind) & set(MATRIX_KINDS)) for r in (baseline, update)]
    graded = ["grades" in rounds[r].kind for r in (baseline, update)]
    out: dict[str, pd.DataFrame] = {}
    if all(graded) and not coded[1]:
        earlier, later = sorted((baseline, update), key=lambda r: rounds[r].order)
        out["grade_changes"] = grade_changes(grades, rounds, pair=(earlier, later)) if has_grades \
            else empty("grade_changes")
        return out
    ch = compare(matrix, rounds, baseline, update, codebook, findings, forces, full_coverage)
    out.update(changes=ch, change_summary_force=summarise_force(ch),
               change_summary_national=summarise_national(ch, codebook))
    if has_grades:
        if graded[1]:
            out["cb_vs_peel"] = cb_vs_peel(matrix, grades, mapping, rounds, update, baseline, codebook,
                                           findings, forces)
        out["grade_changes"] = grade_changes(grades, rounds)
    return out


def _cmd(args) -> int:
    from .cli import paths_from_args
    from .io import write_table

    paths = paths_from_args(args)
    out = run(paths, args.baseline, args.update, True if args.full_coverage else None)
    folder = args.output or (paths.reports / "compare" / f"{args.baseline}__{args.update}")
    for name, df in out.items():
        write_table(df, Path(folder), name)
    key, types = ("changes", CHANGE_TYPES) if "changes" in out else ("grade_changes", GRADE_CHANGE_TYPES)
    counts = out[key]["change"].value_counts()
    print(f"{args.update} against {args.baseline} ({key}): " +
          ", ".join(f"{c} {int(counts.get(c, 0))}" for c in types))
    print(f"tables written to {folder}")
    if args.charts:
        from . import compare_charts

        from .io import load_tables

        written = compare_charts.export_all(paths, {**load_tables(paths.processed), **out},
                                            allow_embargoed=False, folder=Path(folder) / "figures")
        print(f"{len(written)} chart files written to {Path(folder) / 'figures'}")
    return 0
