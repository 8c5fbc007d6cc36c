"""The cross-force analysis helpers (analysis.compare_forces) on the shipped build, a synthetic
build and small hand-made tables whose answers are known."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from analysis import compare_forces as cf
from analysis import schemas
from analysis.paths import RAW


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from analysis.build import build
    from analysis.synthetic import make_synthetic_raw

    paths = make_synthetic_raw(tmp_path_factory.mktemp("cf_synth") / "raw", seed=5)
    return build(paths, tables_only=True, log=lambda s: None).tables


def mini_tables(cells: dict[tuple[str, str], str], forces: list[str], regions: dict | None = None) -> dict:
    """Tables for forces x criteria {P1, P2, A2}: cells maps (force, criterion) -> value; every other
    cell is not reported."""
    crit = pd.DataFrame([
        {"criterion_id": "P1", "key": "p1", "area": "prevention", "area_label": "Prevention", "label": "P one",
         "question": "q1", "values": "good|some|none", "value_judgements": "good=positive|some=partial|none=negative",
         "framed": True, "order": 1},
        {"criterion_id": "P2", "key": "p2", "area": "prevention", "area_label": "Prevention", "label": "P two",
         "question": "q2", "values": "good|none", "value_judgements": "good=positive|none=negative",
         "framed": True, "order": 2},
        {"criterion_id": "A2", "key": "a2", "area": "attendance", "area_label": "Attendance", "label": "Attend all",
         "question": "q3", "values": "yes|no", "value_judgements": "yes=positive|no=negative",
         "framed": True, "order": 3},
    ])
    judg = {"good": "positive", "some": "partial", "none": "negative", "yes": "positive", "no": "negative"}
    regions = regions or {}
    f = pd.DataFrame({"force_id": forces, "force_name": forces, "short_name": [x.title() for x in forces],
                      "country": "England", "hmic_region_2014": [regions.get(x) for x in forces]})
    rows = []
    for fid in forces:
        for c in ("P1", "P2", "A2"):
            v = cells.get((fid, c))
            rows.append({"round": "r1", "force_id": fid, "area": "prevention" if c[0] == "P" else "attendance",
                         "criterion_id": c, "status": "reported" if v else "not_reported",
                         "value": v or "not_reported", "judgement": judg[v] if v else "not_reported",
                         "n_sources": 1 if v else 0, "n_values": 1 if v else 0,
                         "winning_source_kind": "letter" if v else None, "resolution": "single" if v else "not_reported",
                         "synthetic": False})
    rounds = pd.DataFrame([{"round": "r1", "title": "Round one", "published": "2014-09-04", "kind": "coded",
                            "synthetic": False, "order": 1}])
    return {"forces": schemas.conform("forces", f), "criteria": schemas.conform("criteria", crit),
            "matrix": schemas.conform("matrix", pd.DataFrame(rows)), "rounds": schemas.conform("rounds", rounds),
            "findings": schemas.empty("findings"), "conflicts": schemas.empty("conflicts"),
            "grades": schemas.empty("grades"), "measures": schemas.empty("measures"),
            "rejects": schemas.empty("rejects")}


# ----- counts, regions, coverage ------------------------------------------------------------------
def test_value_counts_count_every_force_once_and_name_them(shipped_tables):
    rid = cf.primary_round(shipped_tables)
    assert rid == "core_business_2014"
    m = shipped_tables["matrix"]
    for cid in cf.criteria_frame(shipped_tables)["criterion_id"]:
        vc = cf.value_counts(shipped_tables, cid, rid)
        assert int(vc["n_forces"].sum()) == 43
        cell = m[(m["round"] == rid) & (m["criterion_id"] == cid)]
        for r in vc.itertuples():
            assert r.n_forces == int((cell["value"] == r.value).sum())
            named = [x for x in str(r.forces).split("; ") if x]
            assert len(named) == r.n_forces
    a2 = cf.forces_by_value(shipped_tables, "A2", rid)
    # Cleveland's A2 conflict is settled by source precedence (press summary > national report via press)
    assert "Cleveland" in a2["yes"] and "Norfolk" in a2["yes"]
    assert "Warwickshire" in a2["no"]


def test_region_breakdown_shows_unknown_and_keeps_every_force(shipped_tables, synth):
    for tables in (shipped_tables, synth):
        f = cf.forces_frame(tables)
        blank = int(tables["forces"]["hmic_region_2014"].isna().sum())
        assert blank > 0  # the reference table leaves some regions blank
        rb = cf.region_breakdown(tables, "A2")
        assert "Unknown" in set(rb["group"])
        assert rb[rb["group"] == "Unknown"]["n_forces_in_group"].iloc[0] == blank
        assert int(rb["n"].sum()) == 43
        assert cf.region_order(f)[-1] == "Unknown"
        wide = cf.region_table(tables, "A2")
        assert wide["Region"].tolist()[-1] == "Unknown"


def test_coverage_by_criterion_and_by_force_add_up(shipped_tables):
    rid = cf.primary_round(shipped_tables)
    m = shipped_tables["matrix"]
    m = m[m["round"] == rid]
    by_c = cf.coverage(shipped_tables, rid, "criterion")
    assert (by_c.groupby("id")["n"].sum() == 43).all()
    nr = by_c[by_c["tier"] == "Not reported"].set_index("id")["n"]
    expected = m[m["status"] == "not_reported"].groupby("criterion_id").size()
    assert nr.reindex(expected.index).tolist() == expected.tolist()
    by_f = cf.coverage(shipped_tables, rid, "force")
    assert (by_f.groupby("id")["n"].sum() == 19).all()
    # Norfolk's letter is the strongest source: its known cells come from the letter tier
    norfolk = by_f[(by_f["id"] == "norfolk") & (by_f["tier"] == "Force letter")]["n"].iloc[0]
    assert norfolk >= 15
    summary = cf.coverage_summary(shipped_tables, rid)
    assert summary.loc[summary["criterion_id"] == "A2", "known"].iloc[0] == 43


def test_evidence_table_lists_every_code_and_marks_the_deciding_one(shipped_tables):
    rid = cf.primary_round(shipped_tables)
    ev = cf.evidence_table(shipped_tables, "A2", rid)
    f = shipped_tables["findings"]
    assert len(ev) == int(((f["round"] == rid) & (f["criterion_id"] == "A2")).sum())
    clev = ev[ev["force"] == "Cleveland"]
    assert set(clev["value"]) == {"yes", "no"}
    assert clev[clev["decides_cell"]]["value"].unique().tolist() == ["yes"]
    assert not clev[clev["value"] == "no"]["decides_cell"].any()
    assert ev["source_ref"].notna().all() and ev["evidence"].notna().all()
    assert "Cleveland" in cf.explain_conflict(shipped_tables, "Cleveland", "A2", rid)
    assert "precedence" in cf.explain_conflict(shipped_tables, "Cleveland", "A2", rid)


# ----- patterns ----------------------------------------------------------------------------------------
def test_cooccurrence_fisher_on_a_known_table():
    from scipy.stats import fisher_exact

    forces = [f"f{i:02d}" for i in range(12)]
    cells = {}
    for i, fid in enumerate(forces):
        p1 = "good" if i < 6 else "none"
        a2 = "yes" if i < 5 or i == 11 else "no"   # strength on P1 mostly goes with A2 yes
        cells[(fid, "P1")] = p1
        cells[(fid, "A2")] = a2
    cells[("f00", "P2")] = "good"  # P2 known for one force only: never tested
    t = mini_tables(cells, forces)
    co = cf.cooccurrence(t, "r1")
    row = co[(co["criterion_a"] == "P1") & (co["criterion_b"] == "A2") & (co["pattern_a"] == "strength")
             & (co["pattern_b"] == "strength")].iloc[0]
    assert (row.both, row.a_only, row.b_only, row.neither) == (5, 1, 1, 5)
    expected = fisher_exact([[5, 1], [1, 5]])
    assert math.isclose(row.p_value, expected.pvalue) and math.isclose(row.odds_ratio, expected.statistic)
    assert "small n" in row.caveat
    p2 = co[(co["criterion_a"] == "P1") & (co["criterion_b"] == "P2")]
    assert p2["p_value"].isna().all() and p2["caveat"].str.contains("not tested").all()
    tested = co[co["p_value"].notna()]
    assert (tested["p_adjusted"] >= tested["p_value"] - 1e-12).all()
    assert (co["n_tests"] == len(tested)).all()


def test_cooccurrence_with_no_variation_is_not_tested():
    forces = [f"f{i}" for i in range(8)]
    cells = {(f, "P1"): "good" for f in forces} | {(f, "A2"): ("yes" if i % 2 else "no") for i, f in enumerate(forces)}
    co = cf.cooccurrence(mini_tables(cells, forces), "r1")
    row = co[(co["criterion_a"] == "P1") & (co["criterion_b"] == "A2")].iloc[0]
    assert math.isnan(row.p_value) and "no variation" in row.caveat


def test_profiles_follow_the_documented_rules():
    forces = ["strong", "weak", "mixed", "unknown"]
    cells = {("strong", "P1"): "good", ("strong", "P2"): "good", ("strong", "A2"): "yes",
             ("weak", "P1"): "none", ("weak", "P2"): "none", ("weak", "A2"): "yes",
             ("mixed", "P1"): "some", ("mixed", "P2"): "good", ("mixed", "A2"): "no",
             ("unknown", "P1"): "good"}
    p = cf.profiles(mini_tables(cells, forces), "r1").set_index("force_id")
    assert p.loc["strong", "profile"] == "Mostly strengths"
    assert p.loc["weak", "profile"] == "Mostly weaknesses"
    assert p.loc["mixed", "profile"] == "Mixed"
    assert p.loc["unknown", "profile"] == "Little known"
    assert p.loc["strong", "n_positive"] == 3 and p.loc["unknown", "n_known"] == 1


def test_force_order_groups_by_region_with_unknown_last():
    forces = ["a", "b", "c", "d"]
    t = mini_tables({}, forces, regions={"a": "West", "b": "East", "d": "East"})
    order = cf.force_order(t, "r1", "region")
    assert order["group"].tolist() == ["East", "East", "West", "Unknown"]
    assert order["force_id"].tolist() == ["b", "d", "a", "c"]


def test_grades_crosstab_counts_each_force_once_per_question(shipped_tables, synth):
    for tables in (shipped_tables, synth):
        ct = cf.grades_crosstab(tables, "A2")
        assert len(ct)
        per_q = ct.groupby("question_id")["n_forces"].sum()
        assert (per_q == 43).all()
        q = ct["question_id"].iloc[0]
        pv = cf.grades_pivot(ct, q)
        assert int(pv.to_numpy().sum()) == 43
    ct = cf.grades_crosstab(shipped_tables, "A2")
    assert set(ct["grades_round"]) == {"peel_2014"}  # the round that updates core_business_2014
    # Cheshire has two different PEEL 2014 grades for reducing crime (overview vs effectiveness page)
    rc = ct[(ct["question_id"] == "reducing_crime") & (ct["grade"] == "conflicting")]
    assert "Cheshire" in "; ".join(rc["forces"])
    res = cf.grades_test(shipped_tables, "A2", "reducing_crime")
    assert res["n"] > 30 and "exploratory" in res["caveat"]


def test_cohen_kappa_and_agreement():
    a = ["yes", "yes", "no", "no", "yes", "no"]
    b = ["yes", "no", "no", "no", "yes", "yes"]
    # po = 4/6; pe = 0.5*0.5 + 0.5*0.5 = 0.5 -> kappa = 1/3
    assert math.isclose(cf.cohen_kappa(a, b), 1 / 3)
    assert math.isnan(cf.cohen_kappa(["x", "x"], ["x", "x"]))  # chance agreement is 1: undefined


# ----- national figures ---------------------------------------------------------------------------------
def test_national_figures_are_parsed_from_the_messy_reference_table():
    nf = cf.national_figures(RAW)
    assert len(nf) >= 18
    row18 = nf[nf["statement"].str.contains("average share of reported crimes attended")].iloc[0]
    assert row18["value"] == 79.0
    # cells that are not one plain number are never read as one
    derived = nf[nf["numbers"].str.contains("derived", na=False)]
    assert derived["value"].isna().all() and derived["qualifier"].str.contains("derived").all()
    avg = cf.national_average_attended(RAW)
    assert avg["value"] == 79.0 and "30 November 2013" in avg["period"]


def test_national_average_missing_file_gives_none(tmp_path):
    assert cf.national_average_attended(tmp_path) is None
    assert cf.national_figures(tmp_path).empty


def test_national_average_ignores_rows_that_only_mention_attendance(tmp_path):
    (tmp_path / "reference").mkdir()
    src = RAW / "reference" / "core_business_2014_national_figures.csv"
    text = src.read_text(encoding="utf-8").splitlines()
    keep = [text[0]] + [line for line in text[1:] if "average share" not in line]
    (tmp_path / "reference" / src.name).write_text("\n".join(keep) + "\n", encoding="utf-8")
    # row 11 speaks of an average of 'around 80%' but its number cell is '~1 in 5 not attended'
    assert cf.national_average_attended(tmp_path) is None


def test_national_comparison_sets_counts_side_by_side(shipped_tables):
    nc = cf.national_comparison(shipped_tables, RAW)
    a2 = nc[nc["criterion_id"] == "A2"].iloc[0]
    assert a2["national_count"] == 6.0 and "derived" in a2["national_qualifier"]
    assert a2["our_count"] == len(cf.forces_by_value(shipped_tables, "A2")["yes"])
    assert set(nc["criterion_id"]) >= {"A2", "A9"}


def test_crimes_attended_flags_approximate_figures(shipped_tables):
    ca = cf.crimes_attended(shipped_tables)
    assert len(ca) >= 5
    wilts = ca[ca["force"] == "Wiltshire"].iloc[0]
    assert wilts["approximate"] and wilts["qualifier"] == "almost"
    assert not ca[ca["force"] == "Cleveland"]["approximate"].iloc[0]


def test_unknown_round_and_criterion_are_reported_clearly(shipped_tables):
    with pytest.raises(ValueError, match="unknown round"):
        cf.value_counts(shipped_tables, "A2", "no_such_round")
    with pytest.raises(ValueError, match="unknown criterion"):
        cf.value_counts(shipped_tables, "Z9")


def test_loaded_summary_and_rejects(shipped_tables):
    ls = cf.loaded_summary(shipped_tables)
    assert list(ls["round"]) == list(shipped_tables["rounds"].sort_values("order")["round"])
    cb = ls[ls["round"] == "core_business_2014"].iloc[0]
    assert cb["matrix_reported"] + cb["matrix_contested"] + cb["matrix_not_reported"] == 43 * 19
    rs = cf.rejects_summary(shipped_tables)
    assert int(rs["n"].sum()) == len(shipped_tables["rejects"])


# ----- exact tests without scipy, and the round-frame memo ------------------------------------------------
def test_fisher_exact_matches_scipy_on_every_small_table():
    import itertools as it

    from scipy.stats import fisher_exact

    for a, b, c, d in it.product(range(7), repeat=4):
        odds, p = cf.fisher_exact_2x2([[a, b], [c, d]])
        ref = fisher_exact([[a, b], [c, d]])
        assert math.isclose(p, ref.pvalue, rel_tol=1e-9, abs_tol=1e-15), (a, b, c, d)
        if math.isnan(ref.statistic):
            assert math.isnan(odds)
        else:
            assert odds == ref.statistic, (a, b, c, d)
    for table in ([[12, 5], [3, 23]], [[0, 9], [14, 20]], [[21, 1], [1, 20]], [[40, 1], [1, 1]]):
        assert math.isclose(cf.fisher_exact_2x2(table)[1], fisher_exact(table).pvalue, rel_tol=1e-9)
    with pytest.raises(ValueError):
        cf.fisher_exact_2x2([[1, -1], [2, 3]])


def test_bh_adjust_matches_scipy():
    import numpy as np
    from scipy.stats import false_discovery_control

    rng = np.random.default_rng(1)
    for n in (1, 2, 7, 50):
        ps = rng.random(n) ** 3
        ps[: n // 3] = ps[0]  # ties
        assert np.allclose(cf.bh_adjust(ps), false_discovery_control(ps, method="bh"), rtol=1e-12, atol=0)
    assert cf.bh_adjust([]).size == 0


def test_grades_test_and_cooccurrence_agree_with_scipy_on_the_shipped_build(shipped_tables):
    from scipy.stats import fisher_exact

    res = cf.grades_test(shipped_tables, "A2", "reducing_crime")
    ref = fisher_exact(res["table"].to_numpy())
    assert math.isclose(res["p_value"], ref.pvalue, rel_tol=1e-9) and res["odds_ratio"] == ref.statistic
    co = cf.cooccurrence(shipped_tables)
    for r in co[co["p_value"].notna()].head(20).itertuples():
        ref = fisher_exact([[r.both, r.a_only], [r.b_only, r.neither]])
        assert math.isclose(r.p_value, ref.pvalue, rel_tol=1e-9)


def test_reuse_round_frames_builds_once_and_hands_out_independent_copies(shipped_tables):
    fresh = cf.matrix_for(shipped_tables)
    store: dict = {}
    with cf.reuse_round_frames(store):
        first = cf.matrix_for(shipped_tables)
        first["value"] = "changed"  # a caller changing its copy changes nothing kept
        second = cf.matrix_for(shipped_tables)
    assert len(store) == 1
    pd.testing.assert_frame_equal(second, fresh)
    with cf.reuse_round_frames(store):  # the same store again: the kept frame is reused
        assert cf.matrix_for(shipped_tables) is not second
        pd.testing.assert_frame_equal(cf.matrix_for(shipped_tables), fresh)
    other = dict(shipped_tables, matrix=shipped_tables["matrix"].copy())
    with cf.reuse_round_frames(store):  # other tables: built afresh, not taken from the store
        cf.matrix_for(other)
    assert len(store) == 2
    with cf.reuse_round_frames(store):
        with cf.reuse_round_frames():  # a block inside a block shares its frames
            cf.matrix_for(shipped_tables, "peel_2014")
    assert len(store) == 3
    assert cf._MEMO.get() is None  # nothing is kept outside a block
