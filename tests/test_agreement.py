"""Agreement between coders: Cohen's kappa on textbook examples, the item definition, and the
draft coder against the analyst on the shipped Norfolk letter."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import schemas
from analysis.agreement import NOT_CODED, TABLE_COLUMNS, agreement_table, auto_vs_analyst, cohen_kappa


def test_kappa_textbook_example():
    # Two raters, 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15.
    # p_o = 35/50 = 0.70; p_e = 0.5*0.6 + 0.5*0.4 = 0.50; kappa = (0.70 - 0.50) / 0.50 = 0.40
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.40)


def test_kappa_three_categories_against_the_confusion_matrix_formula():
    # Confusion matrix (rows rater A, columns rater B) over categories x, y, z
    m = [[10, 2, 3], [1, 12, 2], [4, 1, 15]]
    cats = ["x", "y", "z"]
    a, b = [], []
    for i, row in enumerate(m):
        for j, n in enumerate(row):
            a += [cats[i]] * n
            b += [cats[j]] * n
    n = sum(map(sum, m))
    p_o = sum(m[i][i] for i in range(3)) / n
    p_e = sum(sum(m[i]) * sum(r[i] for r in m) for i in range(3)) / n ** 2
    assert cohen_kappa(a, b) == pytest.approx((p_o - p_e) / (1 - p_e))
    # by hand: p_o = 37/50 = 0.74; margins 15/15/20 both ways -> p_e = 850/2500 = 0.34
    assert cohen_kappa(a, b) == pytest.approx(0.40 / 0.66)


def test_kappa_limits():
    assert cohen_kappa(["a", "b", "a"], ["a", "b", "a"]) == 1.0
    assert cohen_kappa(["a", "a", "b", "b"], ["a", "b", "a", "b"]) == 0.0  # agreement at chance level
    assert cohen_kappa(["a", "a"], ["a", "a"]) is None                     # one category: undefined
    assert cohen_kappa([], []) is None
    with pytest.raises(ValueError):
        cohen_kappa(["a"], ["a", "b"])


def codes(rows):
    return pd.DataFrame(rows, columns=["round", "force_id", "criterion_id", "value"])


def test_agreement_table_items_are_criteria_either_coder_used_on_shared_units():
    a = codes([("r", "f1", "P1", "none"), ("r", "f1", "A2", "yes"), ("r", "f2", "A2", "no"),
               ("r", "f3", "A2", "yes")])                       # f3 only coded by A: not compared
    b = codes([("r", "f1", "P1", "none"), ("r", "f1", "F4", "some"), ("r", "f2", "A2", "yes"),
               ("r", "f2", "P0", "strength")])
    table = agreement_table(a, b, "auto", "analyst")
    assert list(table.columns) == [c for c, _, _ in TABLE_COLUMNS["agreement"]]
    t = table.set_index("criterion_id")
    assert t.loc["P1", ["n_items", "n_agree"]].tolist() == [1, 1]
    # A2: f1 yes vs not coded, f2 no vs yes
    assert t.loc["A2", ["n_items", "n_agree", "n_only_a", "n_only_b", "n_value_differs"]].tolist() == [2, 0, 1, 0, 1]
    assert t.loc["F4", ["n_items", "n_only_b"]].tolist() == [1, 1]
    assert t.loc["overall", "n_units"] == 2
    assert t.loc["overall", "n_items"] == 5 and t.loc["overall", "n_agree"] == 1
    assert t.loc["overall", "percent_agreement"] == pytest.approx(20.0)
    pooled_a = ["P1:none", "A2:yes", "A2:no", NOT_CODED, NOT_CODED]
    pooled_b = ["P1:none", NOT_CODED, "A2:yes", "F4:some", "P0:strength"]
    assert t.loc["overall", "kappa"] == pytest.approx(round(cohen_kappa(pooled_a, pooled_b), 3))
    framed = agreement_table(a, b, "auto", "analyst", framed_only=True)
    assert "P0" not in set(framed["criterion_id"])


def test_agreement_by_finding_and_an_uncoded_finding_counts_as_looked_at():
    a = pd.DataFrame({"finding_id": ["x", "y"], "criterion_id": ["A2", None], "value": ["yes", None]})
    b = pd.DataFrame({"finding_id": ["x", "y"], "criterion_id": ["A2", "A9"], "value": ["yes", "no"]})
    t = agreement_table(a, b).set_index("criterion_id")
    assert t.loc["A9", ["n_items", "n_only_b"]].tolist() == [1, 1]
    assert t.loc["overall", "n_units"] == 2


def _tidy(rows):
    df = pd.DataFrame(rows, columns=["round", "force_id", "criterion_id", "value", "coder", "source_kind",
                                     "is_override"])
    df["judgement"] = "positive"
    df["source_ref"] = "x"
    return schemas.conform("findings", df)


def test_auto_vs_analyst_uses_letter_codes_of_forces_both_coded_and_leaves_out_overrides():
    f = _tidy([
        ("r", "norfolk", "P1", "some_crime_types", "auto", "letter", False),
        ("r", "norfolk", "A2", "yes", "auto", "letter", False),
        ("r", "norfolk", "P1", "some_crime_types", "analyst", "letter", False),
        ("r", "norfolk", "A2", "no", "analyst", "letter", True),         # a review override: left out
        ("r", "norfolk", "A9", "yes", "analyst", "press_summary", False),  # not a letter
        ("r", "suffolk", "A2", "yes", "auto", "letter", False),          # no human letter coding
    ])
    t = auto_vs_analyst(f).set_index("criterion_id")
    assert set(t.index) == {"P1", "A2", "overall"}
    assert t.loc["overall", "n_units"] == 1
    assert t.loc["A2", "n_only_a"] == 1 and t.loc["P1", "n_agree"] == 1
    assert (t["round"] == "r").all() and (t["coder_a"] == "auto").all() and (t["coder_b"] == "analyst").all()
    with_overrides = auto_vs_analyst(f, include_overrides=True).set_index("criterion_id")
    assert with_overrides.loc["A2", "n_value_differs"] == 1
    assert auto_vs_analyst(f.iloc[0:0]).empty


def test_norfolk_auto_agrees_with_the_analyst_on_the_shipped_data(shipped_tables):
    t = shipped_tables["agreement"]
    row = t[(t["round"] == "core_business_2014") & (t["criterion_id"] == "overall")].iloc[0]
    assert row["n_units"] == 1 and row["n_items"] == 17
    assert row["percent_agreement"] == 100.0 and row["kappa"] == 1.0
