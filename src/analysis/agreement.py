"""Inter-coder agreement: percentage agreement and Cohen's kappa, per criterion and overall.

Items. Two coders are compared on the units both of them coded (a force in a round, or a letter
finding). Within a unit, every criterion either coder used is one item; a coder who did not use
that criterion there is counted as the category ``not_coded``. So missing a criterion and coding
an extra one are disagreements, and criteria neither coder used (the great majority) do not
inflate agreement. A coder who gave one criterion two different values in one unit (two findings
of one letter coded differently) is represented by the '|'-joined set of values.

Kappa. Cohen's kappa = (p_o - p_e) / (1 - p_e), with p_e from the two coders' marginal category
shares. It is undefined (blank) when p_e = 1, i.e. both coders used a single category for every
item (typical for one criterion of one force): read the percentage agreement then. The overall
row pools every item; its categories are criterion:value, so agreeing on P1 and agreeing on A2 are
different categories.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd

NOT_CODED = "not_coded"
S, I, F = "string", "Int64", "Float64"

TABLE_COLUMNS = {
    "agreement": [
        ("round", S, "Round id"),
        ("coder_a", S, "First coder (auto = the draft coder)"),
        ("coder_b", S, "Second coder (analyst codes from letters, not review overrides)"),
        ("criterion_id", S, "Criterion, or 'overall' (all items pooled)"),
        ("n_units", I, "Units (forces) both coders coded"),
        ("n_items", I, "Items compared: unit x criterion used by either coder"),
        ("n_agree", I, "Items with the same value (or the same set of values)"),
        ("n_only_a", I, "Items coder A coded and coder B did not"),
        ("n_only_b", I, "Items coder B coded and coder A did not"),
        ("n_value_differs", I, "Items both coded, with different values"),
        ("percent_agreement", F, "100 x n_agree / n_items"),
        ("kappa", F, "Cohen's kappa; blank when undefined (a single category throughout)"),
    ],
}
COLUMNS = [c for c, _, _ in TABLE_COLUMNS["agreement"]]


def cohen_kappa(a: list, b: list) -> float | None:
    """Cohen's kappa of two equally long label sequences; None when undefined (p_e = 1) or empty."""
    if len(a) != len(b):
        raise ValueError("the two coders must label the same items")
    n = len(a)
    if n == 0:
        return None
    p_o = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    p_e = sum(ca[k] * cb.get(k, 0) for k in ca) / (n * n)
    if p_e >= 1.0:
        return None
    return (p_o - p_e) / (1 - p_e)


def _criterion_order(cid: str) -> tuple:
    return ("PAF".index(cid[0]) if cid[:1] in ("P", "A", "F") else 9, cid)


def _collapse(codes: pd.DataFrame, keys: list[str]) -> tuple[dict, set]:
    """({(unit, criterion): value-or-set}, units present)."""
    units = set(map(tuple, codes[keys].astype("string").fillna("").itertuples(index=False, name=None)))
    coded = codes[codes["criterion_id"].notna()]
    out: dict = {}
    for row in coded[keys + ["criterion_id", "value"]].astype("string").itertuples(index=False, name=None):
        unit, cid, value = tuple("" if pd.isna(x) else x for x in row[:-2]), row[-2], row[-1]
        out.setdefault((unit, cid), set()).add("" if pd.isna(value) else value)
    return {k: "|".join(sorted(v)) for k, v in out.items()}, units


def agreement_table(codes_a: pd.DataFrame, codes_b: pd.DataFrame, label_a: str = "a", label_b: str = "b",
                    keys: list[str] | None = None, framed_only: bool = False) -> pd.DataFrame:
    """Per criterion and overall: items, percentage agreement and Cohen's kappa of two coders.

    ``codes_*``: one row per code with columns ``keys`` + criterion_id + value (a row with a blank
    criterion marks a unit the coder looked at and left uncoded). ``keys`` default to
    [round, force_id] when both tables have them, else [finding_id]."""
    if keys is None:
        keys = ["round", "force_id"] if all({"round", "force_id"} <= set(c.columns) for c in (codes_a, codes_b)) \
            else ["finding_id"]
    a, units_a = _collapse(codes_a, keys)
    b, units_b = _collapse(codes_b, keys)
    units = units_a & units_b
    items: dict[str, list[tuple[str, str]]] = {}
    for unit, cid in sorted(set(a) | set(b)):
        if unit not in units or (framed_only and cid.endswith("0")):
            continue
        items.setdefault(cid, []).append((a.get((unit, cid), NOT_CODED), b.get((unit, cid), NOT_CODED)))
    rows = []
    pooled_a, pooled_b = [], []
    for cid in sorted(items, key=_criterion_order):
        pairs = items[cid]
        rows.append(_row(cid, pairs, len(units)))
        pooled_a += [f"{cid}:{x}" if x != NOT_CODED else x for x, _ in pairs]
        pooled_b += [f"{cid}:{y}" if y != NOT_CODED else y for _, y in pairs]
    if items:
        overall = _row("overall", list(zip(pooled_a, pooled_b)), len(units))
        rows.append(overall)
    df = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("round", "coder_a", "coder_b")])
    df.insert(0, "coder_b", label_b)
    df.insert(0, "coder_a", label_a)
    df.insert(0, "round", pd.NA)
    return _typed(df)


def _row(cid: str, pairs: list[tuple[str, str]], n_units: int) -> dict:
    n = len(pairs)
    agree = sum(x == y for x, y in pairs)
    only_a = sum(x != NOT_CODED and y == NOT_CODED for x, y in pairs)
    only_b = sum(x == NOT_CODED and y != NOT_CODED for x, y in pairs)
    kappa = cohen_kappa([x for x, _ in pairs], [y for _, y in pairs])
    return {"criterion_id": cid, "n_units": n_units, "n_items": n, "n_agree": agree, "n_only_a": only_a,
            "n_only_b": only_b, "n_value_differs": n - agree - only_a - only_b,
            "percent_agreement": round(100 * agree / n, 1) if n else None,
            "kappa": round(kappa, 3) if kappa is not None else None}


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    return df[COLUMNS].astype({c: t for c, t, _ in TABLE_COLUMNS["agreement"]}).reset_index(drop=True)


def empty() -> pd.DataFrame:
    return _typed(pd.DataFrame(columns=COLUMNS))


def auto_vs_analyst(findings: pd.DataFrame, include_overrides: bool = False,
                    framed_only: bool = True) -> pd.DataFrame:
    """Draft coder (coder 'auto') against people's codes from the same letters (source_kind
    'letter', any other coder), per round, over the forces both coded. Review overrides are left
    out by default: they start from the drafts, so they would flatter the draft coder."""
    if findings is None or findings.empty:
        return empty()
    letter = findings[findings["source_kind"] == "letter"]
    auto = letter[letter["coder"] == "auto"]
    human = letter[letter["coder"] != "auto"]
    if not include_overrides and "is_override" in human.columns:
        human = human[~human["is_override"].fillna(False).astype(bool)]
    parts = []
    for rnd in sorted(set(auto["round"].dropna()) & set(human["round"].dropna())):
        a, h = auto[auto["round"] == rnd], human[human["round"] == rnd]
        label = "|".join(sorted(set(h["coder"].dropna()))) or "analyst"
        t = agreement_table(a, h, "auto", label, keys=["round", "force_id"], framed_only=framed_only)
        if len(t):
            parts.append(t.assign(round=rnd))
    return _typed(pd.concat(parts, ignore_index=True)) if parts else empty()
