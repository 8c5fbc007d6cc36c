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

from .codebook import CONTESTED, NOT_REPORTED
from .errors import InputError
from .io import records
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
    from . import schemas  # (pandera: imported when a table is made, not by a notebook that reads them)

    return schemas.conform(table, df, TABLE_COLUMNS[table])


def frame(table: str, rows: list[dict]) -> pd.DataFrame:
    """``conform(table, pd.DataFrame(rows))``, built in the final dtypes (schemas.frame)."""
    from . import schemas

    return schemas.frame(table, rows, TABLE_COLUMNS[table])


def empty(table: str) -> pd.DataFrame:
    from . import schemas

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


def _forces(matrix: pd.DataFrame, forces) -> list[str]:
    return list(forces) if forces is not None else sorted(matrix["force_id"].dropna().unique())


_SILENT = {"status": "not_reported", "value": NOT_REPORTED, "judgement": NOT_REPORTED,
           "winning_source_ref": pd.NA}
# Codes used by the vectorised comparison: basis = index into BASES, change = into CHANGE_TYPES.
_CODED, _FORCE_NC, _CRIT_NC, _CELL_NC, _FULL_ABSENT = range(len(BASES))
_CH = {c: i for i, c in enumerate(CHANGE_TYPES)}
_ST_NR, _ST_CONTESTED, _ST_BLANK = 1, 2, 4  # status codes: reported 0, ..., other text 3, blank 4


def _as_list(df: pd.DataFrame, col: str) -> list:
    """A column as a plain list (missing values stay pd.NA); all-NA when the column is absent."""
    return df[col].tolist() if col in df.columns else [pd.NA] * len(df)


class _Grid:
    """Every force x framed criterion (force-major, ``keys``) of every round, read from the
    matrix once for all the comparisons drawn from it.

    A round's cells are matrix row numbers, one per key; a cell the round does not have points
    at one extra *silent* row (not_reported, no source). Status, judgement rank and value are
    held as numbers per row, so the rules run on whole arrays (the same rules as
    :func:`_basis` and :func:`classify`), and the output columns are taken from the matrix
    columns by row number. Effective states are cached per round, so a baseline that many
    rounds update is carried forward once."""

    def __init__(self, matrix: pd.DataFrame, findings: pd.DataFrame | None, rounds, framed: list[str],
                 forces: list[str], areas: dict[str, str]):
        import numpy as np

        n = len(matrix)
        self.silent = n
        self.forces, self.framed = list(forces), list(framed)
        self.keys = [(f, c) for f in self.forces for c in self.framed]
        self._k = len(self.keys)
        # The matrix columns a comparison shows, the silent row appended. (The take makes each
        # column one piece: a column in pieces would be joined anew on every take.)
        self.cols = {}
        for col, silent in _SILENT.items():
            values = matrix[col].astype(S) if col in matrix.columns else pd.Series(pd.NA, index=matrix.index, dtype=S)
            joined = pd.concat([values, pd.Series([silent], dtype=S)], ignore_index=True)
            self.cols[col] = joined.array.take(np.arange(n + 1))
        st = self.cols["status"]
        is_ = [(st == v).to_numpy(bool, na_value=False) for v in ("reported", "not_reported", "contested")]
        self.st = np.select(is_ + [st.isna()], [0, _ST_NR, _ST_CONTESTED, _ST_BLANK], 3)
        self.rank = pd.Series(self.cols["judgement"]).map(JUDGEMENT_RANK).fillna(-1).to_numpy().astype(np.int64)
        self.vcode = pd.factorize(self.cols["value"])[0]  # equal values, equal codes; blank -1

        # Rounds, forces and criteria as numbers (-1: not one of them).
        has_findings = findings is not None and len(findings) > 0
        names = list(dict.fromkeys([*rounds.ids, *matrix["round"].dropna().unique(),
                                    *(findings["round"].dropna().unique() if has_findings else [])]))
        self.round_no = {r: i for i, r in enumerate(names)}
        self.round_names = pd.array(names, dtype=S)
        uf, uc = list(dict.fromkeys(self.forces)), list(dict.fromkeys(self.framed))
        nf, nc = len(uf), len(uc)

        def codes(df, col, values):
            return pd.Index(pd.array(values, dtype=S)).get_indexer(df[col].astype(S))

        r, f, c = codes(matrix, "round", names), codes(matrix, "force_id", uf), codes(matrix, "criterion_id", uc)
        # pos[round, force * nc + criterion] = the row of that cell (a cell given twice: the later
        # row, as reading the rows in order would give), else the silent row
        ok = (r >= 0) & (f >= 0) & (c >= 0)
        pos = np.full((len(names), nf * nc), -1, dtype=np.int64)
        np.maximum.at(pos, (r[ok], (f * nc + c)[ok]), np.arange(n)[ok])
        pos[pos < 0] = n
        self.key_force = np.array([uf.index(f_) for f_, _ in self.keys], dtype=np.int64)
        self.key_crit = np.array([uc.index(c_) for _, c_ in self.keys], dtype=np.int64)
        self.pos = pos[:, self.key_force * nc + self.key_crit]
        # Forces with any code in a round (a reported or contested cell, or any finding at all:
        # P0/A0/F0 codes show the force's evidence was read); criteria coded for any force.
        coded = (self.st[:n] != _ST_NR) & (self.st[:n] != _ST_BLANK) & (r >= 0)
        self.fcov = np.zeros((len(names), nf), dtype=bool)
        self.ccov = np.zeros((len(names), nc), dtype=bool)
        self.fcov[r[coded & (f >= 0)], f[coded & (f >= 0)]] = True
        self.ccov[r[coded & (c >= 0)], c[coded & (c >= 0)]] = True
        if has_findings:
            fr, ff = codes(findings, "round", names), codes(findings, "force_id", uf)
            self.fcov[fr[(fr >= 0) & (ff >= 0)], ff[(fr >= 0) & (ff >= 0)]] = True
        self.key_cols = {"force_id": pd.array([f_ for f_, _ in self.keys], dtype=S),
                         "criterion_id": pd.array([c_ for _, c_ in self.keys], dtype=S),
                         "area": pd.array([areas[c_] for _, c_ in self.keys], dtype=S)}
        self.change_names, self.basis_names = pd.array(CHANGE_TYPES, dtype=S), pd.array(BASES, dtype=S)
        self._states: dict[str, tuple] = {}

    def basis(self, rid: str, full: bool):
        """(row of each key's cell in round ``rid``, basis code per key): see :func:`_basis`."""
        import numpy as np

        i = self.round_no[rid]  # every round of rounds.yaml has a number, with or without cells
        pos, f_in, c_in = self.pos[i], self.fcov[i][self.key_force], self.ccov[i][self.key_crit]
        code = np.where(self.st[pos] != _ST_NR, _CODED,
                        np.where(~f_in, _FORCE_NC, np.where(~c_in, _CRIT_NC, _FULL_ABSENT if full else _CELL_NC)))
        return pos, code

    def state(self, rounds, round_id: str, full_coverage: dict[str, bool] | None = None):
        """(row of each key's effective cell, number of the round it comes from) as of
        ``round_id``: the round's own cell where it revisits, else the state of the round it
        updates (recursively)."""
        import numpy as np

        if full_coverage is None and round_id in self._states:
            return self._states[round_id]
        chain = ancestry(rounds, round_id)
        full = (full_coverage or {}).get(round_id, coverage(rounds[round_id]) == "full")
        pos, code = self.basis(round_id, full)
        if len(chain) == 1:
            out = pos, np.full(len(pos), self.round_no[round_id], dtype=np.int64)
        else:
            before, src = self.state(rounds, chain[1], full_coverage)
            take = (code == _CODED) | (code == _FULL_ABSENT)
            out = np.where(take, pos, before), np.where(take, self.round_no[round_id], src)
        if full_coverage is None:
            self._states[round_id] = out
        return out

    def judgements(self, rounds, round_id: str) -> dict[tuple[str, str], str]:
        """(force, criterion) -> judgement in the effective state as of ``round_id``."""
        return dict(zip(self.keys, self.cols["judgement"].take(self.state(rounds, round_id)[0]).tolist()))

    def changes(self, rounds, baseline: str, update: str, full: bool) -> pd.DataFrame:
        """The ``changes`` rows of ``update`` against ``baseline`` (typed, not yet conformed)."""
        import numpy as np

        bpos, bsrc = self.state(rounds, baseline)
        apos, basis = self.basis(update, full)
        b_st, a_st, b_rk, a_rk = self.st[bpos], self.st[apos], self.rank[bpos], self.rank[apos]
        keep = (basis == _FORCE_NC) | (basis == _CRIT_NC) | (basis == _CELL_NC)  # not revisited
        absent, b_nr = basis == _FULL_ABSENT, b_st == _ST_NR
        contested = (a_st == _ST_CONTESTED) | (b_st == _ST_CONTESTED)
        ranked = ~keep & ~absent & ~contested & ~b_nr
        bad = ranked & ((b_rk < 0) | (a_rk < 0))
        if bad.any():  # a reported cell whose judgement has no rank: as classify() would
            i = int(np.flatnonzero(bad)[0])
            j = self.cols["judgement"]
            raise KeyError(j[bpos[i]] if b_rk[i] < 0 else j[apos[i]])
        change = np.select([keep, absent & b_nr, absent, contested, b_nr, a_rk > b_rk, a_rk < b_rk],
                           [_CH["not_revisited"], _CH["unchanged"], _CH["no_longer_reported"], _CH["contested"],
                            _CH["newly_reported"], _CH["improved"], _CH["declined"]], _CH["unchanged"])
        vb, va = self.vcode[bpos], self.vcode[apos]
        value_changed = pd.arrays.BooleanArray(~keep & (va != vb), ~keep & ((va < 0) | (vb < 0)))
        epos = np.where(keep, bpos, apos)
        ucode = self.round_no[update]
        rnames, k = self.round_names, self._k
        take = {c: col.take for c, col in self.cols.items()}
        return pd.DataFrame({
            "round": rnames.take(np.full(k, ucode)),
            "baseline_round": rnames.take(np.full(k, self.round_no[baseline])),
            "force_id": self.key_cols["force_id"],
            "area": self.key_cols["area"],
            "criterion_id": self.key_cols["criterion_id"],
            "change": self.change_names.take(change), "basis": self.basis_names.take(basis),
            "before_status": take["status"](bpos), "before_value": take["value"](bpos),
            "before_judgement": take["judgement"](bpos), "before_round": rnames.take(bsrc),
            "after_status": take["status"](apos), "after_value": take["value"](apos),
            "after_judgement": take["judgement"](apos), "value_changed": value_changed,
            "effective_status": take["status"](epos), "effective_value": take["value"](epos),
            "effective_judgement": take["judgement"](epos),
            "effective_round": rnames.take(np.where(keep, bsrc, ucode)),
            "after_source_ref": take["winning_source_ref"](apos),
            "synthetic": pd.array(np.full(k, bool(rounds[baseline].synthetic or rounds[update].synthetic)),
                                  dtype=B),
        })


def _basis(cell: dict, fid: str, cid: str, forces: set, crits: set, full: bool) -> str:
    """Why a cell was or was not revisited (``_Grid.basis`` does the same on whole arrays)."""
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
    framed, areas = _framed(codebook, matrix), _areas(codebook, matrix)
    grid = _Grid(matrix, findings, rounds, framed, _forces(matrix, forces), areas)
    pos, src = grid.state(rounds, round_id, full_coverage or {})
    src = grid.round_names.take(src).tolist()
    used = sorted({int(p) for p in pos if p != grid.silent})
    kept = dict(zip(used, records(matrix.iloc[used])))  # only the rows the state keeps
    rows = [{**kept.get(int(p), _SILENT), "value_round": rid, "round": round_id, "force_id": fid,
             "criterion_id": cid, "area": areas[cid]} for (fid, cid), p, rid in zip(grid.keys, pos, src)]
    from . import schemas

    out = schemas.conform("matrix", pd.DataFrame(rows))
    out["value_round"] = pd.array([r["value_round"] for r in rows], dtype="string")
    return out


def classify(before: dict, after: dict, basis: str) -> str:
    """The change for one cell (see the module docstring; ``_Grid.changes`` does the same on
    whole arrays)."""
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


def _check_pair(rounds, baseline: str, update: str) -> None:
    _check_matrix_round(rounds, update)
    _check_matrix_round(rounds, baseline)
    chain = ancestry(rounds, update)
    if baseline not in chain[1:]:
        raise InputError(rounds.source, f"round {update}",
                         f"{update!r} does not update {baseline!r} (its chain is {' -> '.join(chain)})",
                         f"set 'updates: {baseline}' on {update} in rounds.yaml, or compare against "
                         f"{chain[1] if len(chain) > 1 else 'the round it updates'}")


def compare(matrix: pd.DataFrame, rounds, baseline: str, update: str, codebook=None,
            findings: pd.DataFrame | None = None, forces: list[str] | None = None,
            full_coverage: bool | None = None) -> pd.DataFrame:
    """One row per force x framed criterion: before (baseline's effective state), after (the
    update's own cell), the change, and the effective state after the update."""
    _check_pair(rounds, baseline, update)
    full = coverage(rounds[update]) == "full" if full_coverage is None else bool(full_coverage)
    grid = _Grid(matrix, findings, rounds, _framed(codebook, matrix), _forces(matrix, forces),
                 _areas(codebook, matrix))
    return conform("changes", grid.changes(rounds, baseline, update, full))


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
    import numpy as np

    if changes.empty:
        return empty("change_summary_national")
    keys = ["round", "baseline_round", "area", "criterion_id", "before_value", "before_judgement",
            "after_value", "after_judgement", "change"]
    blank = changes[keys].isna().any(axis=1)
    if blank.any():  # a key with a blank is left out, as groupby leaves it out
        changes = changes[~blank]
    # Groups numbered in order of first appearance; counts, 'any' and the joined force ids from
    # whole arrays (a joining lambda per group through pandas' agg was most of the cost).
    gid = changes.groupby(keys, sort=False).ngroup().to_numpy()
    first = np.unique(gid, return_index=True)[1]
    n = np.bincount(gid)
    fcode, fnames = pd.factorize(changes["force_id"], sort=True)
    by_force = np.array(fnames, dtype=object)[fcode[np.lexsort((fcode, gid))]].tolist()
    ends = np.cumsum(n).tolist()
    out = changes[keys].iloc[first].reset_index(drop=True)
    out["n_forces"] = n
    out["force_ids"] = ["|".join(by_force[e - k:e]) for k, e in zip(n.tolist(), ends)]
    syn = changes["synthetic"].to_numpy(dtype=bool, na_value=False)
    out["synthetic"] = np.bincount(gid, weights=syn, minlength=len(n)) > 0
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
    # Grouped in plain Python over column lists (a pandas group per force x question was most of
    # the cost); rows whose key has a blank are left out, as groupby leaves them out.
    keys = list(zip(*(_as_list(grades, c) for c in ("round", "force_id", "question_id"))))
    grade, question, ref = (_as_list(grades, c) for c in ("grade", "question", "source_ref"))
    groups: dict[tuple, list[int]] = {}
    for i, key in enumerate(keys):
        if not any(pd.isna(k) for k in key):
            groups.setdefault(key, []).append(i)
    out: dict[str, list] = {c: [] for c in cols}
    for key in sorted(groups):
        rows = groups[key]
        seen = sorted({grade[i] for i in rows}, key=GRADE_RANK.__getitem__)
        conflict = len(seen) > 1
        questions = [question[i] for i in rows if not pd.isna(question[i])]
        refs = sorted(str(ref[i]) for i in rows if not pd.isna(ref[i]))
        values = (*key, questions[0] if questions else pd.NA, CONTESTED if conflict else seen[0],
                  pd.NA if conflict else GRADE_RANK[seen[0]], conflict, "|".join(seen), len(rows), ";".join(refs))
        for c, v in zip(cols, values):
            out[c].append(v)
    return pd.DataFrame(out).astype({"round": S, "force_id": S, "question_id": S, "question": S, "grade": S,
                                     "grade_rank": I, "conflict": B, "grades_seen": S, "n_rows": I,
                                     "source_ref": S})


def grade_changes(grades: pd.DataFrame, rounds, pair: tuple[str, str] | None = None) -> pd.DataFrame:
    """For each question_id, each grade round asking it against the next round (rounds.yaml
    order) asking the same question_id; one row per force graded in either. With ``pair``
    (earlier, later): only that pair of rounds, for every question_id both ask."""
    return _grade_changes(resolve_grades(grades), rounds, pair)


def _grade_changes(res: pd.DataFrame, rounds, pair: tuple[str, str] | None = None) -> pd.DataFrame:
    """:func:`grade_changes` from grades already resolved (:func:`resolve_grades`)."""
    if res.empty:
        return empty("grade_changes")
    order = {r.id: r.order for r in rounds}
    rows = []
    by_question: dict[str, list[dict]] = {}  # rows per question_id, in table order (as groupby)
    for r in records(res):
        if r["question_id"] is not None:
            by_question.setdefault(r["question_id"], []).append(r)
    for qid in sorted(by_question):
        recs = by_question[qid]
        rids = sorted({r["round"] for r in recs}, key=lambda r: order.get(r, 10**6))
        pairs = list(zip(rids, rids[1:]))
        if pair is not None:
            pairs = [pair] if set(pair) <= set(rids) else []
        by_round: dict[str, dict] = {}
        for r in recs:
            by_round.setdefault(r["round"], {})[r["force_id"]] = r
        for earlier, later in pairs:
            b, a = by_round.get(earlier, {}), by_round.get(later, {})
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
    # rounds.yaml order first (a round not in it last), then baseline, question and force: the
    # order sort_values gave (the four keys are unique per row)
    rows.sort(key=lambda r: (r["round"] not in order, order.get(r["round"], 0), r["baseline_round"],
                             r["question_id"], r["force_id"]))
    return frame("grade_changes", rows)


def cb_vs_peel(matrix: pd.DataFrame, grades: pd.DataFrame, mapping: pd.DataFrame, rounds,
               grade_round: str, baseline: str, codebook=None, findings=None,
               forces: list[str] | None = None) -> pd.DataFrame:
    """Each force's grade on every *mapped* question of ``grade_round``, beside the baseline's
    judgements on the criteria the mapping links that question to. Forces not graded on a
    question get no row for it; unmapped questions get none at all."""
    def judgements():
        _check_matrix_round(rounds, baseline)
        return _Grid(matrix, findings, rounds, _framed(codebook, matrix), _forces(matrix, forces),
                     _areas(codebook, matrix)).judgements(rounds, baseline)

    return _cb_vs_peel(resolve_grades(grades), mapping, rounds, grade_round, baseline, judgements)


def _cb_vs_peel(res: pd.DataFrame, mapping: pd.DataFrame, rounds, grade_round: str, baseline: str,
                judgements) -> pd.DataFrame:
    """:func:`cb_vs_peel` from resolved grades; ``judgements()`` gives the baseline's cells (only
    called when there is something to set beside them)."""
    res = res[res["round"] == grade_round]
    maps = mapped_rows(mapping, grade_round)
    if res.empty or maps.empty:
        return empty("cb_vs_peel")
    cells = judgements()
    synthetic = bool(rounds[grade_round].synthetic or rounds[baseline].synthetic)
    by_question: dict[str, list[dict]] = {}
    for g in records(res):
        by_question.setdefault(g["question_id"], []).append(g)
    rows = []
    for m in records(maps):
        crits = str(m["criteria_resolved"]).split("|")
        for g in by_question.get(m["question_id"], []):
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
    rows.sort(key=lambda r: tuple(_na_last(r[k]) for k in ("question_id", "area", "force_id")))
    return frame("cb_vs_peel", rows)


def _na_last(v) -> tuple:
    """Sort key of sort_values(na_position="last") for text that may be missing (None)."""
    return (True, "") if v is None or v is pd.NA else (False, v)


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
    (scale, known force, question in the mapping).

    The matrix and findings are read once for every update round (:class:`_Grid`), each
    baseline's effective state is carried forward once however many rounds update it, and the
    grades are resolved once; the tables are the same as calling :func:`compare`,
    :func:`cb_vs_peel` and :func:`grade_changes` one by one."""
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

    grid = _Grid(matrix, findings, rounds, _framed(codebook, matrix), forces, _areas(codebook, matrix))
    res = resolve_grades(grades) if has_grades else None
    changes, cbp = [], []
    for upd in rounds.updates():
        if set(upd.kind) & set(MATRIX_KINDS):
            _check_pair(rounds, upd.updates, upd.id)
            changes.append(grid.changes(rounds, upd.updates, upd.id, coverage(rounds[upd.id]) == "full"))
        if "grades" in upd.kind and has_grades and set(rounds[upd.updates].kind) & set(MATRIX_KINDS):
            cbp.append(_cb_vs_peel(res, mapping, rounds, upd.id, upd.updates,
                                   lambda base=upd.updates: grid.judgements(rounds, base)))
    # One frame per update round, concatenated: the string columns keep one chunk per round, as
    # they always have (the Parquet writer's encoding, hence the file's bytes, follows the chunks).
    ch = conform("changes", pd.concat(changes, ignore_index=True)) if changes else empty("changes")
    return {
        "changes": ch,
        "change_summary_force": summarise_force(ch),
        "change_summary_national": summarise_national(ch, codebook),
        "grade_changes": _grade_changes(res, rounds) if has_grades else empty("grade_changes"),
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
    p.add_argument("--allow-embargoed", action="store_true",
                   help="write the comparison of a round still under embargo (marked EMBARGOED)")
    add_path_args(p)
    p.set_defaults(func=_cmd)


def run(paths, baseline: str, update: str, full_coverage: bool | None = None,
        tables: dict[str, pd.DataFrame] | None = None, reuse: bool = False) -> dict[str, pd.DataFrame]:
    """The comparison of one pair of rounds, from the processed tables and raw reference data.
    Coded/letters rounds give changes and both summaries (plus cb_vs_peel when the update also
    holds grades); two grade rounds give the grade changes between them.

    ``tables``: the processed tables, when already loaded (else they are read). ``reuse``: when
    the comparison tables the build wrote hold this pair, return its rows from them rather than
    comparing again (the same rows: the build compares each update round with the round it
    updates, at the update's declared coverage); any other pair is computed."""
    from .codebook import Codebook
    from .io import load_tables
    from .rounds import Rounds

    rounds = Rounds.load(paths.rounds)
    for rid in (baseline, update):
        rounds[rid]  # an unknown round -> InputError naming rounds.yaml
    tables = load_tables(paths.processed) if tables is None else tables
    grades = tables.get("grades")
    has_grades = grades is not None and len(grades) > 0
    coded = [bool(set(rounds[r].kind) & set(MATRIX_KINDS)) for r in (baseline, update)]
    graded = ["grades" in rounds[r].kind for r in (baseline, update)]
    if reuse and full_coverage is None and coded[1]:
        stored = _stored_pair(tables, baseline, update, has_grades, graded[1])
        if stored is not None:
            return stored
    codebook = Codebook.load(paths.codebook)
    matrix = tables["matrix"]
    findings = tables.get("findings")
    forces = sorted(tables["forces"]["force_id"]) if "forces" in tables else None
    mapping = None
    if has_grades:
        mapping = load_mapping(map_path(paths.raw), codebook, rounds)
        check_grades(grades, mapping, tables.get("forces"))
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


def _stored_pair(tables: dict[str, pd.DataFrame], baseline: str, update: str, has_grades: bool,
                 graded_update: bool) -> dict[str, pd.DataFrame] | None:
    """What :func:`run` returns for a coded update round, taken from the build's comparison
    tables; None when they are not there or do not hold this pair."""
    per_pair = ["changes", "change_summary_force", "change_summary_national"]
    per_pair += ["cb_vs_peel"] if has_grades and graded_update else []
    needed = per_pair + (["grade_changes"] if has_grades else [])
    if any(name not in tables for name in needed):
        return None
    out = {}
    for name in per_pair:
        df = tables[name]
        out[name] = df[(df["round"] == update) & (df["baseline_round"] == baseline)].reset_index(drop=True)
    if out["changes"].empty:
        return None
    if has_grades:
        out["grade_changes"] = tables["grade_changes"]
    return out


def _cmd(args) -> int:
    from .cli import paths_from_args
    from .io import write_table

    from .io import load_tables
    from .style import EmbargoError, marks_for

    paths = paths_from_args(args)
    processed = load_tables(paths.processed)
    # A round under embargo is written only when asked, and then marked (as the build does)
    marks = marks_for(processed["rounds"], [args.baseline, args.update]) if "rounds" in processed else None
    if marks is not None and marks.embargoed and not args.allow_embargoed:
        embargoed = next(r for r in (args.baseline, args.update) if marks_for(processed["rounds"], r).embargoed)
        raise EmbargoError(embargoed, marks.embargo_until)
    out = run(paths, args.baseline, args.update, True if args.full_coverage else None, tables=processed)
    if marks is not None and marks.embargoed:
        out = {name: df.assign(embargoed=marks.embargo_label)[["embargoed", *df.columns]] for name, df in out.items()}
    folder = args.output or (paths.reports / "compare" / f"{args.baseline}__{args.update}")
    if Path(folder).is_file():
        raise InputError(folder, None, "is a file: the comparison is written as a folder of tables",
                         "give -o a folder name")
    for name, df in out.items():
        write_table(df, Path(folder), name)
    key, types = ("changes", CHANGE_TYPES) if "changes" in out else ("grade_changes", GRADE_CHANGE_TYPES)
    counts = out[key]["change"].value_counts()
    print(f"{args.update} against {args.baseline} ({key}): " +
          ", ".join(f"{c} {int(counts.get(c, 0))}" for c in types))
    print(f"tables written to {folder}")
    if args.charts:
        from . import compare_charts

        written = compare_charts.export_all(paths, {**processed, **out}, allow_embargoed=args.allow_embargoed,
                                            folder=Path(folder) / "figures")
        print(f"{len(written)} chart files written to {Path(folder) / 'figures'}")
    return 0
