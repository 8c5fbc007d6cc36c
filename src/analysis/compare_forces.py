"""Comparing forces on the processed tables: the analysis behind the notebooks, charts and workbook.

Every function takes the dict of processed tables (``io.load_tables(...)`` or a build result) and
returns a tidy DataFrame, so a notebook shows it, a chart plots it and the workbook writes it from
the same numbers. Nothing here reads raw files except :func:`national_figures`, which parses the
reference table of published national figures.

Conventions:
- A round defaults to the *primary* round: the first round (in rounds.yaml order) that holds coded
  findings or letters and has matrix rows.
- ``not_reported`` and ``contested`` are shown as states of their own, never folded into a value.
- A blank region or country is shown as ``Unknown``, never dropped.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools
import math
import re
from fractions import Fraction
from pathlib import Path

import pandas as pd

from .io import records
from .sheets import read_reference_csv
from .style import JUDGEMENT_ORDER, SOURCE_TIER, STRENGTH_TIERS, UNKNOWN

NOT_REPORTED, CONTESTED = "not_reported", "contested"
STATE_LABELS = {NOT_REPORTED: "Not reported", CONTESTED: "Contested"}
GRADE_ORDER = ("outstanding", "good", "requires_improvement", "inadequate")
GRADE_LABELS = {"outstanding": "Outstanding", "good": "Good",
                "requires_improvement": "Requires improvement", "inadequate": "Inadequate",
                "conflicting": "Conflicting grades", "not graded": "Not graded"}
GRADE_COLUMNS = (*GRADE_ORDER, "conflicting", "not graded")

# Force profiles (see :func:`profiles`). Rules, not clustering: easy to explain and to check.
PROFILE_MIN_KNOWN = 3          # fewer known judgements than this -> "Little known"
PROFILE_MIN_SHARE_KNOWN = 0.2  # ... or fewer than this share of the framed criteria
PROFILE_STRENGTHS = 0.6        # share positive at least this, and negative at most 0.2
PROFILE_WEAKNESSES = 0.5       # share negative at least this
PROFILE_ORDER = ("Mostly strengths", "Mixed", "Mostly weaknesses", "Little known")

# Small-n thresholds for co-occurrence tests.
MIN_BOTH_KNOWN = 5             # fewer forces with both criteria known: no test at all
SMALL_N = 15                   # below this, the test has little power: say so


# ----- rounds, forces, criteria -----------------------------------------------------------------
def coded_rounds(tables: dict) -> list[str]:
    """Rounds with a framework matrix, in rounds.yaml order."""
    in_matrix = set(tables["matrix"]["round"].dropna())
    return [r for r in tables["rounds"].sort_values("order")["round"] if r in in_matrix]


def primary_round(tables: dict) -> str:
    rounds = coded_rounds(tables)
    if not rounds:
        raise ValueError("no round has a framework matrix: build a round with coded findings or letters")
    return rounds[0]


def _round(tables: dict, round_id: str | None) -> str:
    if round_id is None:
        return primary_round(tables)
    if round_id not in set(tables["rounds"]["round"]):
        raise ValueError(f"unknown round {round_id!r}; rounds: {list(tables['rounds']['round'])}")
    return round_id


def is_synthetic(tables: dict, round_ids) -> bool:
    ids = [round_ids] if isinstance(round_ids, str) else list(round_ids)
    r = tables["rounds"]
    return bool(r[r["round"].isin(ids)]["synthetic"].fillna(False).any()) or \
        any(str(i).startswith("synthetic_") for i in ids)


def forces_frame(tables: dict) -> pd.DataFrame:
    """force_id, names, country and region, with blanks shown as 'Unknown'."""
    f = tables["forces"]
    return pd.DataFrame({
        "force_id": f["force_id"],
        "force_name": f["force_name"],
        "short_name": f["short_name"],
        "country": f["country"].fillna(UNKNOWN).astype("string"),
        "region": f["hmic_region_2014"].fillna(UNKNOWN).astype("string"),
    }).sort_values("short_name", ignore_index=True)


def region_order(forces: pd.DataFrame, by: str = "region") -> list[str]:
    """Known groups alphabetically, 'Unknown' last."""
    groups = sorted(set(forces[by]) - {UNKNOWN})
    return groups + ([UNKNOWN] if (forces[by] == UNKNOWN).any() else [])


def criteria_frame(tables: dict, framed_only: bool = True) -> pd.DataFrame:
    c = tables["criteria"].sort_values("order", ignore_index=True)
    return c[c["framed"].fillna(False)].reset_index(drop=True) if framed_only else c


def criterion_info(tables: dict, criterion_id: str) -> dict:
    c = tables["criteria"]
    row = c[c["criterion_id"] == criterion_id]
    if row.empty:
        raise ValueError(f"unknown criterion {criterion_id!r}; criteria: {list(c['criterion_id'])}")
    row = row.iloc[0]
    judgements = dict(pair.split("=", 1) for pair in str(row["value_judgements"]).split("|") if "=" in pair)
    return {"criterion_id": criterion_id, "label": row["label"], "question": row["question"],
            "area": row["area"], "area_label": row["area_label"], "framed": bool(row["framed"]),
            "values": [v for v in str(row["values"]).split("|") if v], "judgements": judgements}


def value_label(value: str) -> str:
    return STATE_LABELS.get(value, str(value).replace("_", " ").capitalize())


# ----- the matrix -------------------------------------------------------------------------------
_MEMO: contextvars.ContextVar[dict | None] = contextvars.ContextVar("compare_forces_memo", default=None)


@contextlib.contextmanager
def reuse_round_frames(store: dict | None = None):
    """Inside the block, :func:`matrix_for` builds each round's frame once per set of tables and
    hands out copies of it (shallow, copy-on-write: changing one never changes the kept frame).
    For code that reads the same tables many times, such as drawing every chart of a round (19
    criterion charts each counting one criterion). The tables themselves must not be changed
    inside the block. ``store``: a dict that keeps the frames across several blocks (the chart
    loop opens one block per chart so that nothing outside a draw sees the memo); without it, a
    block inside another block shares the outer one's frames."""
    token = _MEMO.set(store if store is not None else (_MEMO.get() if _MEMO.get() is not None else {}))
    try:
        yield
    finally:
        _MEMO.reset(token)


def matrix_for(tables: dict, round_id: str | None = None) -> pd.DataFrame:
    """The round's matrix with force names, country/region and criterion labels, ordered."""
    rid = _round(tables, round_id)
    memo = _MEMO.get()
    sources = (tables["matrix"], tables["forces"], tables["criteria"])
    key = ("matrix_for", rid, *map(id, sources))
    if memo is not None:
        hit = memo.get(key)  # the frames are kept with the result, so their ids are not reused
        if hit is not None and all(a is b for a, b in zip(hit[0], sources)):
            return hit[1].copy(deep=False)
    m = tables["matrix"][tables["matrix"]["round"] == rid]
    crit = criteria_frame(tables)[["criterion_id", "label", "area_label", "order"]]
    out = (m.merge(forces_frame(tables), on="force_id", how="left")
            .merge(crit, on="criterion_id", how="left"))
    out["short_name"] = out["short_name"].fillna(out["force_id"])
    out = out.sort_values(["order", "short_name"], ignore_index=True)
    if memo is not None:
        memo[key] = (sources, out)
        return out.copy(deep=False)
    return out


def force_order(tables: dict, round_id: str | None = None, by: str = "region") -> pd.DataFrame:
    """Forces in display order with their group: by 'region' (then name), 'country' or 'profile'."""
    f = forces_frame(tables)
    if by in ("region", "country"):
        order = region_order(f, by)
        f = f.assign(group=f[by], _g=f[by].map({g: i for i, g in enumerate(order)}))
        return f.sort_values(["_g", "short_name"], ignore_index=True).drop(columns="_g")
    if by == "profile":
        p = profiles(tables, round_id)
        f = f.merge(p[["force_id", "profile", "share_positive", "n_known"]], on="force_id", how="left")
        f["group"] = f["profile"]
        f["_g"] = f["profile"].map({g: i for i, g in enumerate(PROFILE_ORDER)})
        f = f.sort_values(["_g", "share_positive", "short_name"], ascending=[True, False, True],
                          ignore_index=True)
        return f.drop(columns=["_g", "profile", "share_positive", "n_known"])
    raise ValueError(f"order by 'region', 'country' or 'profile', not {by!r}")


def value_counts(tables: dict, criterion_id: str, round_id: str | None = None) -> pd.DataFrame:
    """How many forces (and which) have each value of a criterion, in codebook order, then
    contested and not reported. Every force is counted exactly once."""
    rid = _round(tables, round_id)
    return _value_counts(matrix_for(tables, rid), criterion_info(tables, criterion_id), rid)


def _value_counts(matrix: pd.DataFrame, info: dict, rid: str) -> pd.DataFrame:
    """:func:`value_counts` from the round's :func:`matrix_for` (so that a caller counting every
    criterion builds that frame once)."""
    criterion_id = info["criterion_id"]
    # one pass over three columns as lists (not a filter of the whole frame, then one per value)
    names: dict[str, list[str]] = {}
    total = 0
    for cid, value, name in zip(matrix["criterion_id"].tolist(), matrix["value"].tolist(),
                                matrix["short_name"].tolist()):
        if cid != criterion_id:
            continue
        total += 1
        if isinstance(value, str):
            names.setdefault(value, []).append(str(name))
    rows = []
    order = info["values"] + [CONTESTED, NOT_REPORTED]
    for value in order:
        these = sorted(names.get(value, []))
        judgement = info["judgements"].get(value, value)
        rows.append({"round": rid, "criterion_id": criterion_id, "value": value,
                     "value_label": value_label(value), "judgement": judgement,
                     "n_forces": len(these), "share": (len(these) / total) if total else float("nan"),
                     "forces": "; ".join(these)})
    out = pd.DataFrame(rows)
    return out.astype({"round": "string", "criterion_id": "string", "value": "string",
                       "value_label": "string", "judgement": "string", "forces": "string",
                       "n_forces": "Int64", "share": "Float64"})


def forces_by_value(tables: dict, criterion_id: str, round_id: str | None = None) -> dict[str, list[str]]:
    vc = value_counts(tables, criterion_id, round_id)
    return {r.value: ([s for s in str(r.forces).split("; ") if s] if r.n_forces else [])
            for r in vc.itertuples()}


def region_breakdown(tables: dict, criterion_id: str | None = None, round_id: str | None = None,
                     by: str = "region") -> pd.DataFrame:
    """Counts by region (or country), 'Unknown' included. With a criterion: forces per value; without:
    force x criterion cells per judgement state. Columns: group, n_forces_in_group, category, n, share."""
    rid = _round(tables, round_id)
    m = matrix_for(tables, rid)
    key = by
    if criterion_id is not None:
        info = criterion_info(tables, criterion_id)
        m = m[m["criterion_id"] == criterion_id]
        cats = info["values"] + [CONTESTED, NOT_REPORTED]
        col = "value"
    else:
        cats = list(JUDGEMENT_ORDER)
        col = "judgement"
    forces = forces_frame(tables)
    groups = region_order(forces, key)
    rows = []
    for g in groups:
        sub = m[m[key] == g]
        n_group = int((forces[key] == g).sum())
        total = len(sub)
        for cat in cats:
            n = int((sub[col] == cat).sum())
            rows.append({"round": rid, "grouping": key, "group": g, "n_forces_in_group": n_group,
                         "category": cat, "n": n, "share": n / total if total else float("nan"),
                         "forces": "; ".join(sorted(sub[sub[col] == cat]["short_name"].unique()))
                         if criterion_id else ""})
    return pd.DataFrame(rows).astype({"round": "string", "grouping": "string", "group": "string",
                                      "category": "string", "forces": "string",
                                      "n_forces_in_group": "Int64", "n": "Int64", "share": "Float64"})


def region_table(tables: dict, criterion_id: str, round_id: str | None = None, by: str = "region") -> pd.DataFrame:
    """Wide view of :func:`region_breakdown` for a criterion: groups x values (counts)."""
    long = region_breakdown(tables, criterion_id, round_id, by)
    wide = long.pivot(index="group", columns="category", values="n")
    wide = wide[list(dict.fromkeys(long["category"]))].loc[list(dict.fromkeys(long["group"]))]
    wide.columns = [value_label(c) for c in wide.columns]
    return wide.reset_index().rename(columns={"group": by.capitalize()})


# ----- coverage ---------------------------------------------------------------------------------
def coverage(tables: dict, round_id: str | None = None, by: str = "criterion") -> pd.DataFrame:
    """What is known, by source strength: for each criterion (or force), how many cells were decided
    by each tier of source, were contested, or are not reported. Long form, every tier listed."""
    rid = _round(tables, round_id)
    m = matrix_for(tables, rid)
    tier = m["winning_source_kind"].map(SOURCE_TIER)
    tier = tier.where(m["status"] == "reported", None)
    tier = tier.where(m["status"] != "contested", "Contested").where(m["status"] != NOT_REPORTED, "Not reported")
    m = m.assign(tier=tier.fillna("Secondary source"))
    tiers = list(STRENGTH_TIERS) + ["Contested", "Not reported"]
    if by == "criterion":
        ids = criteria_frame(tables)[["criterion_id", "label"]].rename(columns={"criterion_id": "id"})
        m = m.assign(id=m["criterion_id"])
    elif by == "force":
        ids = force_order(tables, rid, "region")[["force_id", "short_name"]].rename(
            columns={"force_id": "id", "short_name": "label"})
        m = m.assign(id=m["force_id"])
    else:
        raise ValueError("by must be 'criterion' or 'force'")
    counts = m.groupby(["id", "tier"]).size()
    rows = []
    for r in ids.itertuples():
        total = int(sum(counts.get((r.id, t), 0) for t in tiers))
        for t in tiers:
            n = int(counts.get((r.id, t), 0))
            rows.append({"round": rid, "by": by, "id": r.id, "label": r.label, "tier": t, "n": n,
                         "share": n / total if total else float("nan")})
    return pd.DataFrame(rows).astype({"round": "string", "by": "string", "id": "string",
                                      "label": "string", "tier": "string", "n": "Int64",
                                      "share": "Float64"})


def coverage_summary(tables: dict, round_id: str | None = None) -> pd.DataFrame:
    """One row per criterion: known (reported), contested, not reported, strongest source seen."""
    cov = coverage(tables, round_id, "criterion")
    wide = cov.pivot(index=["id", "label"], columns="tier", values="n").reset_index()
    wide["known"] = wide[list(STRENGTH_TIERS)].sum(axis=1)
    order = criteria_frame(tables)["criterion_id"].tolist()
    wide = wide.set_index("id").loc[order].reset_index()
    cols = ["id", "label", "known", *STRENGTH_TIERS, "Contested", "Not reported"]
    return wide[cols].rename(columns={"id": "criterion_id"})


# ----- evidence, conflicts, rejects --------------------------------------------------------------
def evidence_table(tables: dict, criterion_id: str, round_id: str | None = None) -> pd.DataFrame:
    """Every code behind a criterion in a round: force, value, evidence and where it came from, and
    whether it is the code that decided the matrix cell."""
    rid = _round(tables, round_id)
    f = tables["findings"]
    f = f[(f["round"] == rid) & (f["criterion_id"] == criterion_id)]
    m = tables["matrix"]
    m = m[(m["round"] == rid) & (m["criterion_id"] == criterion_id)][
        ["force_id", "value", "status", "winning_source_ref"]].rename(
        columns={"value": "matrix_value", "status": "matrix_status"})
    out = f.merge(forces_frame(tables)[["force_id", "short_name", "region"]], on="force_id", how="left") \
           .merge(m, on="force_id", how="left")
    refs = out["winning_source_ref"].fillna("").str.split(";")
    out["decides_cell"] = [
        (str(ref) in [x.strip() for x in wins]) and (ms == "reported")
        for ref, wins, ms in zip(out["source_ref"], refs, out["matrix_status"])]
    cols = ["short_name", "region", "value", "judgement", "matrix_value", "decides_cell", "evidence",
            "source_kind", "coder", "confidence", "source_ref", "source_url", "note"]
    return out.sort_values(["short_name", "source_kind", "source_ref"], ignore_index=True)[cols] \
              .rename(columns={"short_name": "force"})


def conflicts_table(tables: dict, round_id: str | None = None) -> pd.DataFrame:
    """Cells where sources disagreed, with force names and how each was settled."""
    c = tables["conflicts"]
    if round_id is not None:
        c = c[c["round"] == round_id]
    out = c.merge(forces_frame(tables)[["force_id", "short_name"]], on="force_id", how="left")
    cols = ["round", "short_name", "criterion_id", "values", "n_candidates", "resolved_value",
            "resolution", "candidates"]
    return out.sort_values(["round", "criterion_id", "short_name"], ignore_index=True)[cols] \
              .rename(columns={"short_name": "force"})


def rejects_summary(tables: dict) -> pd.DataFrame:
    """Rejected input records per file and reason (first clause of the reason)."""
    r = tables["rejects"]
    if r.empty:
        return pd.DataFrame({"file": pd.Series(dtype="string"), "reason": pd.Series(dtype="string"),
                             "n": pd.Series(dtype="Int64")})
    reason = r["reason"].fillna("").str.split(";").str[0]
    out = r.assign(reason=reason).groupby(["file", "reason"], dropna=False).size().rename("n").reset_index()
    return out.sort_values(["n", "file"], ascending=[False, True], ignore_index=True)


def loaded_summary(tables: dict) -> pd.DataFrame:
    """Rows per round in each table: what the build loaded."""
    rows = []
    for r in tables["rounds"].sort_values("order").itertuples():
        row = {"round": r.round, "kind": r.kind, "synthetic": bool(r.synthetic)}
        for name in ("findings", "grades", "measures", "rejects"):
            t = tables.get(name)
            row[name] = int((t["round"] == r.round).sum()) if t is not None and len(t) else 0
        m = tables["matrix"]
        m = m[m["round"] == r.round]
        row["matrix_reported"] = int((m["status"] == "reported").sum())
        row["matrix_contested"] = int((m["status"] == "contested").sum())
        row["matrix_not_reported"] = int((m["status"] == NOT_REPORTED).sum())
        rows.append(row)
    return pd.DataFrame(rows)


def coder_agreement(tables: dict) -> pd.DataFrame:
    """Automatic draft codes against analysts' codes for the same round x force x criterion:
    percentage agreement and Cohen's kappa per criterion. Uses the build's ``agreement`` table when
    there is one; empty when no cell was coded by both."""
    if "agreement" in tables and len(tables["agreement"]):
        return tables["agreement"]
    f = tables["findings"]
    auto = f[f["coder"] == "auto"]
    human = f[(f["coder"] != "auto") & ~f["is_override"].fillna(False)]
    keys = ["round", "force_id", "criterion_id"]
    a = auto.groupby(keys)["value"].first().rename("auto")
    h = human.groupby(keys)["value"].agg(lambda s: s.mode().iloc[0]).rename("analyst")
    pairs = pd.concat([a, h], axis=1, join="inner").reset_index()
    rows = []
    for cid, sub in pairs.groupby("criterion_id"):
        rows.append({"criterion_id": cid, "n_pairs": len(sub),
                     "agreement": float((sub["auto"] == sub["analyst"]).mean()),
                     "kappa": cohen_kappa(sub["auto"], sub["analyst"])})
    return pd.DataFrame(rows, columns=["criterion_id", "n_pairs", "agreement", "kappa"])


def cohen_kappa(a: pd.Series, b: pd.Series) -> float:
    """Cohen's kappa for two coders' labels; NaN when chance agreement is 1 (nothing to beat)."""
    a, b = pd.Series(list(a)), pd.Series(list(b))
    if len(a) == 0:
        return float("nan")
    po = float((a == b).mean())
    cats = set(a) | set(b)
    pe = sum(float((a == c).mean()) * float((b == c).mean()) for c in cats)
    return float("nan") if pe >= 1 else (po - pe) / (1 - pe)


# ----- patterns ---------------------------------------------------------------------------------
def fisher_exact_2x2(table) -> tuple[float, float]:
    """Fisher's exact test, two-sided, on a 2x2 table of counts: (sample odds ratio, p-value).

    The same test as ``scipy.stats.fisher_exact`` (odds ratio a*d / (b*c), infinite when b*c is
    0; NaN and p = 1 when a row or column is empty; the p-value sums the probabilities of every
    table with the same margins that is no more likely than the one observed), computed with
    exact integer binomials, so it needs no scipy import (about a second on a notebook's start)
    and has no rounding in the comparison of probabilities. Agrees with scipy to floating-point
    precision (the tests check it)."""
    (a, b), (c, d) = ((int(x) for x in row) for row in table)
    return _fisher_exact_2x2(a, b, c, d)


@functools.lru_cache(maxsize=4096)
def _fisher_exact_2x2(a: int, b: int, c: int, d: int) -> tuple[float, float]:
    if min(a, b, c, d) < 0:
        raise ValueError("a 2x2 table of counts cannot hold a negative number")
    row1, col1, n = a + b, a + c, a + b + c + d
    if 0 in (row1, n - row1, col1, n - col1):
        return float("nan"), 1.0
    odds = a * d / (b * c) if b > 0 and c > 0 else float("inf")
    # P(X = x) is proportional to C(col1, x) * C(n - col1, row1 - x): compare and sum the integer
    # weights, then divide once. scipy counts a table as "as likely" within a relative 1e-14.
    lo, hi = max(0, row1 + col1 - n), min(row1, col1)
    weights = [math.comb(col1, x) * math.comb(n - col1, row1 - x) for x in range(lo, hi + 1)]
    observed = weights[a - lo]
    limit = Fraction(observed) * (1 + Fraction(1, 10**14))
    tail = sum(w for w in weights if w <= limit)
    return float(odds), min(1.0, float(Fraction(tail, math.comb(n, row1))))


def bh_adjust(p_values) -> "np.ndarray":
    """Benjamini-Hochberg adjusted p-values (as ``scipy.stats.false_discovery_control(p,
    method="bh")``): sorted p times m / rank, made monotone from the largest down, clipped to 1."""
    import numpy as np

    ps = np.asarray(p_values, dtype=float)
    if ps.size == 0:
        return ps.copy()
    order = np.argsort(ps)
    ranked = ps[order] * (ps.size / np.arange(1, ps.size + 1, dtype=float))
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty_like(ranked)
    out[order] = ranked
    return np.clip(out, 0.0, 1.0)


def cooccurrence(tables: dict, round_id: str | None = None, criteria: list[str] | None = None,
                 min_both: int = MIN_BOTH_KNOWN) -> pd.DataFrame:
    """Do strengths (positive) and weaknesses (negative) go together across forces?

    For each pair of framed criteria and each pattern (strength & strength, weakness & weakness,
    strength in A & weakness in B), a 2x2 table over the forces where *both* criteria have a
    reported judgement, tested with Fisher's exact test (two-sided, :func:`fisher_exact_2x2`).
    p-values are also adjusted for the number of tests (Benjamini-Hochberg). Pairs with fewer than
    ``min_both`` forces known, or with no variation, are listed but not tested. Exploratory: with
    43 forces at most, and far fewer known, a small p-value is a lead to read the evidence, not a
    finding."""
    import numpy as np

    rid = _round(tables, round_id)
    m = matrix_for(tables, rid)
    m = m[m["status"] == "reported"]
    wide = m.pivot(index="force_id", columns="criterion_id", values="judgement")
    ids = criteria if criteria is not None else [c for c in criteria_frame(tables)["criterion_id"]
                                                 if c in wide.columns]
    patterns = (("strength", "strength", "positive", "positive"),
                ("weakness", "weakness", "negative", "negative"),
                ("strength", "weakness", "positive", "negative"),
                ("weakness", "strength", "negative", "positive"))
    # per criterion, boolean vectors over forces: judgement known, positive, negative
    known = {c: wide[c].notna().to_numpy(dtype=bool) for c in wide.columns}
    is_j = {(c, j): wide[c].isin([j]).to_numpy(dtype=bool) for c in wide.columns
            for j in ("positive", "negative")}
    rows = []
    for a, b in itertools.combinations(ids, 2):
        if a not in wide.columns or b not in wide.columns:
            continue
        both = known[a] & known[b]
        n = int(both.sum())
        for pa, pb, ja, jb in patterns:
            xa, xb = is_j[(a, ja)][both], is_j[(b, jb)][both]
            table = [[int((xa & xb).sum()), int((xa & ~xb).sum())],
                     [int((~xa & xb).sum()), int((~xa & ~xb).sum())]]
            row = {"round": rid, "criterion_a": a, "pattern_a": pa, "criterion_b": b, "pattern_b": pb,
                   "n_both_known": n, "both": table[0][0], "a_only": table[0][1],
                   "b_only": table[1][0], "neither": table[1][1],
                   "odds_ratio": float("nan"), "p_value": float("nan")}
            if n < min_both:
                row["caveat"] = f"not tested: only {n} force(s) with both known"
            elif xa.all() or not xa.any() or xb.all() or not xb.any():
                row["caveat"] = "not tested: no variation (every known force the same)"
            else:
                row["odds_ratio"], row["p_value"] = fisher_exact_2x2(table)
                row["caveat"] = (f"small n ({n}): weak evidence either way" if n < SMALL_N
                                 else "exploratory; read the evidence behind both codes")
            rows.append(row)
    out = pd.DataFrame(rows, columns=["round", "criterion_a", "pattern_a", "criterion_b", "pattern_b",
                                      "n_both_known", "both", "a_only", "b_only", "neither",
                                      "odds_ratio", "p_value", "caveat"])
    tested = out["p_value"].notna()
    out["p_adjusted"] = float("nan")
    if tested.any():
        out.loc[tested, "p_adjusted"] = bh_adjust(out.loc[tested, "p_value"].to_numpy())
    out["n_tests"] = int(tested.sum())
    return out.sort_values(["p_value", "criterion_a", "criterion_b"], na_position="last", ignore_index=True)


def profiles(tables: dict, round_id: str | None = None) -> pd.DataFrame:
    """Each force's profile from its reported judgements: counts and shares, per area too, and a
    profile label by simple rules (constants PROFILE_* above)."""
    rid = _round(tables, round_id)
    m = matrix_for(tables, rid)
    n_framed = m["criterion_id"].nunique()
    cols = {c: m[c].tolist() for c in ("force_id", "status", "judgement", "area", "short_name", "region")}
    by_force: dict[str, list[int]] = {}  # row numbers per force, forces in order of appearance
    for i, fid in enumerate(cols["force_id"]):
        if isinstance(fid, str):
            by_force.setdefault(fid, []).append(i)
    status, judgement, areas = cols["status"], cols["judgement"], cols["area"]

    def count(rows, j):
        return sum(1 for i in rows if judgement[i] == j and isinstance(judgement[i], str))

    rows = []
    for fid, idx in by_force.items():
        known = [i for i in idx if status[i] == "reported" and isinstance(status[i], str)]
        n = len(known)
        pos, par, neg = (count(known, j) for j in ("positive", "partial", "negative"))
        row = {"round": rid, "force_id": fid, "force": cols["short_name"][idx[0]],
               "region": cols["region"][idx[0]], "n_known": n,
               "n_contested": sum(1 for i in idx if status[i] == "contested" and isinstance(status[i], str)),
               "n_positive": pos, "n_partial": par, "n_negative": neg,
               "share_positive": pos / n if n else float("nan"),
               "share_negative": neg / n if n else float("nan")}
        for area in sorted({areas[i] for i in known if isinstance(areas[i], str)}):
            in_area = [i for i in known if areas[i] == area]
            row[f"positive_{area}"] = count(in_area, "positive")
            row[f"negative_{area}"] = count(in_area, "negative")
        if n < max(PROFILE_MIN_KNOWN, PROFILE_MIN_SHARE_KNOWN * n_framed):
            label = "Little known"
        elif row["share_positive"] >= PROFILE_STRENGTHS and row["share_negative"] <= 0.2:
            label = "Mostly strengths"
        elif row["share_negative"] >= PROFILE_WEAKNESSES:
            label = "Mostly weaknesses"
        else:
            label = "Mixed"
        row["profile"] = label
        rows.append(row)
    out = pd.DataFrame(rows).fillna({c: 0 for c in pd.DataFrame(rows).columns
                                     if c.startswith(("positive_", "negative_"))})
    out["_p"] = out["profile"].map({p: i for i, p in enumerate(PROFILE_ORDER)})
    return out.sort_values(["_p", "share_positive", "force"], ascending=[True, False, True],
                           ignore_index=True).drop(columns="_p")


def grades_round_for(tables: dict, coded_round: str) -> str | None:
    """The grades round to set beside a coded round: the round that updates it and has grades,
    else the first round with grades."""
    g = tables.get("grades")
    if g is None or g.empty:
        return None
    with_grades = [r for r in tables["rounds"].sort_values("order")["round"] if (g["round"] == r).any()]
    r = tables["rounds"]
    updaters = set(r[r["updates"] == coded_round]["round"])
    for rid in with_grades:
        if rid in updaters or rid == coded_round:
            return rid
    return with_grades[0] if with_grades else None


def grades_crosstab(tables: dict, criterion_id: str = "A2", round_id: str | None = None,
                    grades_round: str | None = None, question_id: str | None = None) -> pd.DataFrame:
    """Forces by coded value (of one criterion in the coded round) and PEEL grade (in the grades
    round), per question. Long form: question_id, value, grade, n_forces, forces. Forces without a
    grade appear under 'not graded'; a force whose sources give different grades for the same
    question (Cheshire in PEEL 2014) under 'conflicting', never with one of them picked."""
    rid = _round(tables, round_id)
    groud = grades_round or grades_round_for(tables, rid)
    cols = ["coded_round", "grades_round", "question_id", "question", "value", "judgement", "grade",
            "n_forces", "forces"]
    if groud is None:
        return pd.DataFrame(columns=cols)
    info = criterion_info(tables, criterion_id)
    m = matrix_for(tables, rid)
    m = m[m["criterion_id"] == criterion_id]
    coded = list(zip(m["force_id"].tolist(), m["short_name"].tolist(), m["value"].tolist()))
    g = tables["grades"]
    g = g[g["round"] == groud]
    if question_id is not None:
        g = g[g["question_id"] == question_id]
    rows = []
    values = info["values"] + [CONTESTED, NOT_REPORTED]
    for qid, gq in g.groupby("question_id", sort=True):
        seen: dict[str, list] = {}  # each force's grades in this question, in row order
        for fid, grade in zip(gq["force_id"].tolist(), gq["grade"].tolist()):
            if not pd.isna(fid):
                seen.setdefault(fid, []).append(grade)
        per_force = {}
        for fid, grades in seen.items():  # one grade, or 'conflicting' when sources differ
            distinct = {x for x in grades if not pd.isna(x)}
            one = grades[0] if len(distinct) == 1 else "conflicting"
            per_force[fid] = "not graded" if pd.isna(one) else one
        cells: dict[tuple, list[str]] = {}
        for fid, name, value in coded:
            cells.setdefault((value, per_force.get(fid, "not graded")), []).append(name)
        question = gq["question"].iloc[0]
        for v in values:
            for grade in GRADE_COLUMNS:
                names = cells.get((v, grade), [])
                rows.append({"coded_round": rid, "grades_round": groud, "question_id": qid,
                             "question": question, "value": v,
                             "judgement": info["judgements"].get(v, v), "grade": grade,
                             "n_forces": len(names), "forces": "; ".join(sorted(names))})
    return pd.DataFrame(rows, columns=cols)


def grades_pivot(crosstab: pd.DataFrame, question_id: str) -> pd.DataFrame:
    """Value x grade counts for one question of :func:`grades_crosstab`, for display."""
    sub = crosstab[crosstab["question_id"] == question_id]
    wide = sub.pivot(index="value", columns="grade", values="n_forces")
    wide = wide.loc[list(dict.fromkeys(sub["value"])), list(GRADE_COLUMNS)]
    wide.columns = [GRADE_LABELS.get(c, c.capitalize()) for c in wide.columns]
    wide.index = [value_label(v) for v in wide.index]
    wide.index.name = "Coded value"
    return wide


# ----- national figures (reference table) --------------------------------------------------------
NATIONAL_FIGURES_FILE = Path("reference") / "core_business_2014_national_figures.csv"
NATIONAL_FIGURES_ROUND = "core_business_2014"  # the round whose national report the figures are from

# Published national counts set beside our coded counts. Matched on words in the statement (not the
# row number, which may change); `pick` is which number in the 'numbers' field is the count.
NATIONAL_LINKS = (
    {"match": r"attend-all", "criterion_id": "A2", "values": ("yes",), "pick": 1,
     "what": "forces with an attend-all-crimes policy"},
    {"match": r"vulnerable and repeat victims", "criterion_id": "A3", "values": ("inconsistent", "not_done"),
     "pick": 2, "what": "forces not consistently identifying vulnerable and repeat victims"},
    {"match": r"PCSOs", "criterion_id": "A9", "values": ("yes",), "pick": 0,
     "what": "forces tasking PCSOs beyond their role"},
    {"match": r"analysing their demand", "criterion_id": "F1", "values": ("good",), "pick": 1,
     "what": "forces analysing demand well (national: at most)"},
    {"match": r"attendance figures were available", "criterion_id": "A4", "values": ("yes",), "pick": 0,
     "what": "forces able to say how many crimes they attend"},
)


def _raw_dir(raw) -> Path:
    return Path(getattr(raw, "raw", raw))


def national_figures(raw) -> pd.DataFrame:
    """The reference table of published national figures, with each 'numbers' cell parsed: the
    numbers in it, a single value when the cell is one plain number (e.g. 79), and a qualifier
    (about / at most / derived) when the text says so. Empty when the file is absent."""
    path = _raw_dir(raw) / NATIONAL_FIGURES_FILE
    cols = ["figure_no", "statement", "numbers", "value", "qualifier", "all_numbers", "denominator",
            "section", "source_url", "confidence"]
    if not path.exists():
        return pd.DataFrame(columns=cols)
    df = read_reference_csv(path, "national figures table", keep_default_na=False)
    rows = []
    for r in records(df):
        text = str(r.get("numbers", "") or "").strip()
        plain = re.fullmatch(r"(~|about\s+)?(\d+(?:\.\d+)?)\s*%?", text)
        nums = re.findall(r"\d+(?:\.\d+)?", text.replace(",", ""))
        qual = []
        if re.search(r"~|about|roughly", text):
            qual.append("about")
        if re.search(r"<|at most", text):
            qual.append("at most")
        if "derived" in text:
            qual.append("derived")
        rows.append({"figure_no": r.get("figure_no"), "statement": r.get("statement"), "numbers": text,
                     "value": float(plain.group(2)) if plain else float("nan"),
                     "qualifier": ", ".join(qual), "all_numbers": "; ".join(nums),
                     "denominator": r.get("denominator"), "section": r.get("section"),
                     "source_url": r.get("source_url"), "confidence": r.get("confidence")})
    return pd.DataFrame(rows, columns=cols)


def national_average_attended(raw) -> dict | None:
    """The England and Wales average share of crimes attended (79% in 2014), from the reference
    table: the row whose statement speaks of the average share attended and whose number is a
    single percentage. None when there is no such row."""
    nf = national_figures(raw)
    for r in nf.itertuples():
        s = str(r.statement).lower()
        if "average" in s and "attend" in s and pd.notna(r.value) and 0 < r.value <= 100:
            period = re.search(r"(12 months to \d{1,2} \w+ \d{4})", str(r.statement))
            return {"value": float(r.value), "figure_no": r.figure_no, "statement": r.statement,
                    "period": period.group(1) if period else "", "source_url": r.source_url,
                    "confidence": r.confidence}
    return None


def national_comparison(tables: dict, raw, round_id: str | None = None) -> pd.DataFrame:
    """Published national counts beside our coded counts for the same question, where both exist."""
    rid = _round(tables, round_id)
    nf = national_figures(raw)
    rows = []
    for link in NATIONAL_LINKS:
        hit = nf[nf["statement"].str.contains(link["match"], case=False, regex=True, na=False)]
        if hit.empty:
            continue
        r = hit.iloc[0]
        nums = [x for x in str(r["all_numbers"]).split("; ") if x]
        national = float(nums[link["pick"]]) if len(nums) > link["pick"] else float("nan")
        vc = value_counts(tables, link["criterion_id"], rid)
        ours = int(vc[vc["value"].isin(link["values"])]["n_forces"].sum())
        nr = int(vc[vc["value"] == NOT_REPORTED]["n_forces"].sum())
        rows.append({"figure_no": r["figure_no"], "what": link["what"], "national_text": r["numbers"],
                     "national_count": national, "national_qualifier": r["qualifier"],
                     "criterion_id": link["criterion_id"], "values_counted": "|".join(link["values"]),
                     "our_count": ours, "our_not_reported": nr,
                     "difference": ours - national if pd.notna(national) else float("nan"),
                     "national_confidence": r["confidence"], "national_source": r["source_url"]})
    return pd.DataFrame(rows)


# ----- measures -------------------------------------------------------------------------------------
def crimes_attended(tables: dict, round_id: str | None = None, measure: str = "crimes_attended_pct") -> pd.DataFrame:
    """Force figures for the share of crimes attended, with names, approximate flags and source."""
    meas = tables.get("measures")
    cols = ["round", "force_id", "force", "region", "value", "qualifier", "approximate", "period",
            "source_kind", "source_url", "note"]
    if meas is None or meas.empty:
        return pd.DataFrame(columns=cols)
    m = meas[meas["measure"] == measure]
    if round_id is not None:
        m = m[m["round"] == round_id]
    out = m.merge(forces_frame(tables)[["force_id", "short_name", "region"]], on="force_id", how="left") \
           .rename(columns={"short_name": "force"})
    out["qualifier"] = out["qualifier"].fillna("").astype("string")
    out["approximate"] = out["qualifier"] != ""
    return out.sort_values(["value", "force"], ascending=[False, True], ignore_index=True)[cols]


# ----- summaries used by the notebooks ----------------------------------------------------------------
def criterion_summary(tables: dict, round_id: str | None = None) -> pd.DataFrame:
    """National counts per criterion: forces in each judgement state and the most common value
    (the counts of :func:`value_counts`, taken in one pass over the round's matrix)."""
    rid = _round(tables, round_id)
    m = matrix_for(tables, rid)
    n_cells: dict[tuple[str, str], int] = {}
    for cid, value in zip(m["criterion_id"].tolist(), m["value"].tolist()):
        n_cells[(cid, value)] = n_cells.get((cid, value), 0) + 1
    rows = []
    for c in criteria_frame(tables).itertuples():
        info = criterion_info(tables, c.criterion_id)
        by_j = dict.fromkeys(JUDGEMENT_ORDER, 0)
        top, top_n = None, 0  # the first value in codebook order with the most forces
        for value in info["values"] + [CONTESTED, NOT_REPORTED]:
            n = n_cells.get((c.criterion_id, value), 0)
            judgement = info["judgements"].get(value, value)
            if judgement in by_j:
                by_j[judgement] += n
            if value not in (CONTESTED, NOT_REPORTED) and (top is None or n > top_n):
                top, top_n = value, n
        rows.append({"criterion_id": c.criterion_id, "label": c.label, **by_j,
                     "most_common_value": (f"{value_label(top)} ({top_n})" if top is not None and top_n
                                           else "none reported")})
    return pd.DataFrame(rows)


def explain_conflict(tables: dict, force: str, criterion_id: str, round_id: str | None = None) -> str:
    """A plain-English account of how one cell was settled (or that its sources agreed)."""
    rid = _round(tables, round_id)
    fid = forces_frame(tables).set_index("short_name")["force_id"].get(force, force)
    c = tables["conflicts"]
    row = c[(c["round"] == rid) & (c["force_id"] == fid) & (c["criterion_id"] == criterion_id)]
    m = tables["matrix"]
    cell = m[(m["round"] == rid) & (m["force_id"] == fid) & (m["criterion_id"] == criterion_id)]
    if row.empty:
        if cell.empty:
            return f"{force} {criterion_id}: no such cell in {rid}."
        r = cell.iloc[0]
        return (f"{force} {criterion_id} in {rid}: no conflict; status {r['status']}, value {r['value']} "
                f"from {int(r['n_sources'])} code(s).")
    r = row.iloc[0]
    cands = str(r["candidates"]).split(" | ")
    return (f"{force} {criterion_id} in {rid}: {int(r['n_candidates'])} codes disagree ({r['values']}).\n"
            + "\n".join(f"  - {x}" for x in cands)
            + f"\nResult: {r['resolved_value']} ({r['resolution']}). The matrix never averages or picks by "
              "row order: the strongest source wins, and equally strong sources that disagree make the "
              "cell 'contested'.")


def grades_test(tables: dict, criterion_id: str = "A2", question_id: str = "reducing_crime",
                round_id: str | None = None, grades_round: str | None = None) -> dict:
    """Positive code vs a good-or-better grade, 2x2 over forces with both known, Fisher's exact
    test. Exploratory; the returned 'caveat' says how much (little) the numbers can carry."""
    ct = grades_crosstab(tables, criterion_id, round_id, grades_round, question_id)
    known = ct[~ct["value"].isin([NOT_REPORTED, CONTESTED]) & ct["grade"].isin(GRADE_ORDER)]
    if known.empty:
        return {"n": 0, "table": None, "odds_ratio": float("nan"), "p_value": float("nan"),
                "caveat": "no force has both a code and a grade"}
    pos = known["judgement"] == "positive"
    good = known["grade"].isin(["outstanding", "good"])
    table = [[int(known[pos & good]["n_forces"].sum()), int(known[pos & ~good]["n_forces"].sum())],
             [int(known[~pos & good]["n_forces"].sum()), int(known[~pos & ~good]["n_forces"].sum())]]
    n = sum(map(sum, table))
    out = {"n": n, "table": pd.DataFrame(table, index=["positive code", "other code"],
                                         columns=["good or outstanding", "requires improvement or inadequate"])}
    if min(sum(table[0]), sum(table[1]), table[0][0] + table[1][0], table[0][1] + table[1][1]) == 0:
        out.update(odds_ratio=float("nan"), p_value=float("nan"), caveat="not tested: a row or column is empty")
        return out
    odds_ratio, p_value = fisher_exact_2x2(table)
    out.update(odds_ratio=odds_ratio, p_value=p_value,
               caveat=(f"{n} forces; exploratory. A grade covers far more than one criterion, and the "
                       "grades came months after the coded findings."))
    return out
