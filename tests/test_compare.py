"""Change between rounds: the cell rules, the carry-forward, grades, the synthetic update end to
end, the back-test against committed ground truth, the CLI and the charts.

Regenerate the ground-truth snapshot (only deliberately, after a reviewed change to the baseline
data or to how the matrix is resolved):

    CORE_BUSINESS_REGEN_BASELINE=1 .venv/bin/python -m pytest tests/test_compare.py -k snapshot
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from analysis import compare, schemas
from analysis.codebook import Codebook
from analysis.errors import InputError
from analysis.paths import RAW, Paths
from analysis.rounds import Rounds
from analysis.synthetic_update import add_synthetic_update, make_synthetic_update

FIXTURES = Path(__file__).parent / "fixtures"
SNAPSHOT = FIXTURES / "baseline_core_business_2014_matrix.csv"
BASELINE = "core_business_2014"
CB = Codebook.load(RAW / "codebook.yaml")
FORCES = ["a", "b", "c", "d"]


# ----- hand-built matrices ------------------------------------------------------------------------
def _matrix(round_id: str, cells: dict[tuple[str, str], str], forces=FORCES) -> pd.DataFrame:
    """A full matrix for one round; ``cells`` maps (force, criterion) to a value or 'contested'."""
    rows = []
    for f in forces:
        for cid in CB.framed_ids:
            v = cells.get((f, cid))
            if v is None:
                st, val, j = "not_reported", "not_reported", "not_reported"
            elif v == "contested":
                st, val, j = "contested", "contested", "contested"
            else:
                st, val, j = "reported", v, CB.judgement(cid, v)
            rows.append({"round": round_id, "force_id": f, "area": CB[cid].area, "criterion_id": cid,
                         "status": st, "value": val, "judgement": j, "n_sources": int(v is not None),
                         "winning_source_ref": f"{round_id}/coded/x.csv:row 2" if v else None})
    return schemas.conform("matrix", pd.DataFrame(rows))


def _rounds(*entries) -> Rounds:
    base = [{"id": "base", "published": "2014-09-04", "kind": ["coded"]}]
    return Rounds.from_dict({"rounds": base + list(entries)})


UPD = {"id": "upd", "published": "2014-11-27", "kind": ["coded"], "updates": "base"}
BEFORE = {("a", "P2"): "developing", ("a", "A5"): "good", ("a", "A2"): "yes", ("a", "F4"): "limited",
          ("b", "P2"): "strong", ("b", "A3"): "contested", ("c", "P2"): "weak", ("d", "P2"): "strong"}
AFTER = {("a", "P2"): "strong",      # partial -> positive: improved
         ("a", "A5"): "mixed",       # positive -> partial: declined
         ("a", "F4"): "none",        # negative -> negative (another value): unchanged, value_changed
         ("a", "A3"): "consistent",  # not reported -> reported: newly reported
         ("b", "P2"): "strong",      # same: unchanged
         ("b", "A3"): "consistent",  # contested before: contested
         ("c", "A5"): "contested"}   # contested in the update: contested
# a: A2 silent although a has codes and A2 is coded for nobody -> criterion_not_covered
# c: P2 silent, but P2 is coded for other forces -> cell_not_coded
# d: no code at all in the update -> force_not_covered


@pytest.fixture
def hand():
    m = pd.concat([_matrix("base", BEFORE), _matrix("upd", AFTER)], ignore_index=True)
    return m, _rounds(UPD)


def _cell(ch, f, c):
    return ch[(ch["force_id"] == f) & (ch["criterion_id"] == c)].iloc[0]


def test_change_rules(hand):
    m, rounds = hand
    ch = compare.compare(m, rounds, "base", "upd", CB)
    assert len(ch) == len(FORCES) * len(CB.framed_ids)
    expect = {("a", "P2"): "improved", ("a", "A5"): "declined", ("a", "F4"): "unchanged",
              ("a", "A3"): "newly_reported", ("b", "P2"): "unchanged", ("b", "A3"): "contested",
              ("c", "A5"): "contested", ("a", "A2"): "not_revisited", ("c", "P2"): "not_revisited",
              ("d", "P2"): "not_revisited"}
    for (f, c), change in expect.items():
        assert _cell(ch, f, c)["change"] == change, (f, c)
    assert _cell(ch, "a", "A2")["basis"] == "criterion_not_covered"
    assert _cell(ch, "c", "P2")["basis"] == "cell_not_coded"
    assert _cell(ch, "d", "P2")["basis"] == "force_not_covered"
    assert bool(_cell(ch, "a", "F4")["value_changed"]) and not bool(_cell(ch, "b", "P2")["value_changed"])
    assert "no_longer_reported" not in set(ch["change"])  # silence is never evidence of 'no longer'
    # every cell the update says nothing about is not_revisited, whatever the reason
    silent = ch["after_status"] == "not_reported"
    assert (ch.loc[silent, "change"] == "not_revisited").all()
    assert (ch.loc[~silent, "change"] != "not_revisited").all()


def test_not_revisited_keeps_and_shows_the_earlier_state(hand):
    m, rounds = hand
    ch = compare.compare(m, rounds, "base", "upd", CB)
    d = _cell(ch, "d", "P2")  # force with no codes at all in the update
    assert (d["before_value"], d["effective_value"], d["effective_round"]) == ("strong", "strong", "base")
    a = _cell(ch, "a", "A2")
    assert (a["before_value"], a["effective_value"], a["effective_judgement"]) == ("yes", "yes", "positive")
    up = _cell(ch, "a", "P2")
    assert (up["effective_value"], up["effective_round"]) == ("strong", "upd")
    eff = compare.effective_matrix(m, rounds, "upd", CB)
    schemas.validate("matrix", eff.drop(columns="value_round"))
    e = eff.set_index(["force_id", "criterion_id"])
    assert e.loc[("d", "P2"), "value"] == "strong" and e.loc[("d", "P2"), "value_round"] == "base"
    assert e.loc[("a", "P2"), "value"] == "strong" and e.loc[("a", "P2"), "value_round"] == "upd"
    assert e.loc[("a", "A3"), "value_round"] == "upd"
    assert (eff["round"] == "upd").all()


def test_full_coverage_allows_no_longer_reported_only_where_the_update_looked(hand):
    m, rounds = hand
    ch = compare.compare(m, rounds, "base", "upd", CB, full_coverage=True)
    c = _cell(ch, "c", "P2")  # c has codes, P2 is coded for others, c's P2 is now silent
    assert (c["change"], c["basis"]) == ("no_longer_reported", "full_coverage_absent")
    assert c["effective_value"] == "not_reported" and c["effective_round"] == "upd"
    assert _cell(ch, "d", "P2")["change"] == "not_revisited"  # a whole force missing is no finding
    assert _cell(ch, "a", "A2")["change"] == "not_revisited"  # nor a criterion coded for no one
    assert _cell(ch, "c", "A3")["change"] == "unchanged"      # not reported before or after
    # the same, declared in the round registry (rounds.yaml 'coverage: full')
    declared = _rounds({**UPD, "coverage": "full"})
    assert compare.coverage(declared["upd"]) == "full" and compare.coverage(rounds["upd"]) == "partial"
    pd.testing.assert_frame_equal(compare.compare(m, declared, "base", "upd", CB), ch)


def test_chain_of_updates_carries_forward_through_each_round():
    second = {"id": "upd2", "published": "2015-01-01", "kind": ["coded"], "updates": "upd"}
    m = pd.concat([_matrix("base", BEFORE), _matrix("upd", AFTER),
                   _matrix("upd2", {("a", "P2"): "weak", ("b", "A5"): "good"})], ignore_index=True)
    rounds = _rounds(UPD, second)
    assert compare.ancestry(rounds, "upd2") == ["upd2", "upd", "base"]
    ch = compare.compare(m, rounds, "upd", "upd2", CB)
    a = _cell(ch, "a", "P2")
    assert (a["before_value"], a["before_round"], a["change"]) == ("strong", "upd", "declined")
    d = _cell(ch, "d", "P2")  # carried from base, through upd, into upd2
    assert (d["before_round"], d["effective_round"], d["change"]) == ("base", "base", "not_revisited")
    # comparing against the grandparent is allowed; against an unrelated round it is not
    assert len(compare.compare(m, rounds, "base", "upd2", CB)) == len(ch)
    with pytest.raises(InputError, match="does not update"):
        compare.compare(m, rounds, "upd2", "upd", CB)


def test_bad_rounds_are_input_errors(hand):
    m, rounds = hand
    with pytest.raises(InputError, match="unknown round 'nope'"):
        compare.compare(m, rounds, "base", "nope", CB)
    g = _rounds({"id": "grades_only", "published": "2015-01-01", "kind": ["grades"], "updates": "base"})
    with pytest.raises(InputError, match="no coded findings"):
        compare.compare(m, g, "base", "grades_only", CB)
    with pytest.raises(InputError, match="updates unknown round"):
        Rounds.from_dict({"rounds": [{"id": "x", "kind": ["coded"], "updates": "missing"}]})


def test_summaries_add_up(hand):
    m, rounds = hand
    ch = compare.compare(m, rounds, "base", "upd", CB)
    sf = compare.summarise_force(ch)
    assert list(sf.columns) == [c for c, _, _ in compare.TABLE_COLUMNS["change_summary_force"]]
    a = sf.set_index("force_id").loc["a"]
    assert (a["n_improved"], a["n_declined"], a["n_newly_reported"], a["n_unchanged"]) == (1, 1, 1, 1)
    assert (sf["n_criteria"] == len(CB.framed_ids)).all()
    assert (sf[[f"n_{c}" for c in compare.CHANGE_TYPES]].sum(axis=1) == sf["n_criteria"]).all()
    assert sf.set_index("force_id").loc["d", "n_not_revisited"] == len(CB.framed_ids)
    nat = compare.summarise_national(ch, CB)
    assert nat.groupby("criterion_id")["n_forces"].sum().eq(len(FORCES)).all()
    p2 = nat[(nat["criterion_id"] == "P2") & (nat["change"] == "unchanged")].iloc[0]
    assert (p2["before_value"], p2["after_value"], p2["n_forces"], p2["force_ids"]) == ("strong", "strong", 1, "b")


# ----- grades -------------------------------------------------------------------------------------
def _grades(rows):
    return schemas.conform("grades", pd.DataFrame(
        [{"round": r, "force_id": f, "question_id": q, "question": q, "grade": g,
          "source_ref": f"{r}/grades/g.csv:row {i + 2}"} for i, (r, f, q, g) in enumerate(rows)]))


def test_grade_changes_only_for_the_same_question():
    rounds = Rounds.from_dict({"rounds": [
        {"id": "g1", "kind": ["grades"]}, {"id": "g2", "kind": ["grades"]}, {"id": "g3", "kind": ["grades"]}]})
    g = _grades([("g1", "a", "q", "good"), ("g2", "a", "q", "outstanding"), ("g3", "a", "q", "inadequate"),
                 ("g1", "b", "q", "good"), ("g1", "b", "q", "requires_improvement"), ("g2", "b", "q", "good"),
                 ("g2", "c", "q", "good"), ("g1", "d", "q", "good"),
                 ("g1", "a", "only_once", "good"), ("g1", "a", "x", "good"), ("g3", "a", "x", "good")])
    gc = compare.grade_changes(g, rounds)
    got = {(r["baseline_round"], r["round"], r["force_id"], r["question_id"]): r["change"] for r in gc.to_dict("records")}
    assert got == {("g1", "g2", "a", "q"): "improved", ("g2", "g3", "a", "q"): "declined",
                   ("g1", "g2", "b", "q"): "contested", ("g1", "g2", "c", "q"): "newly_graded",
                   ("g1", "g2", "d", "q"): "not_regraded", ("g2", "g3", "b", "q"): "not_regraded",
                   ("g2", "g3", "c", "q"): "not_regraded",
                   ("g1", "g3", "a", "x"): "unchanged"}  # x skips g2: compared with the next round asking it
    b = gc[(gc["force_id"] == "b")].iloc[0]
    assert b["before_grade"] == "contested" and b["before_grades_seen"] == "good|requires_improvement"
    assert gc[gc["force_id"] == "a"].iloc[0]["rank_step"] == 1


def test_cb_vs_peel_only_through_the_mapping(hand):
    m, rounds = hand
    rounds = _rounds({**UPD, "kind": ["coded", "grades"]})
    mapping = pd.DataFrame([
        {"round": "upd", "question_id": "prev", "status": "mapped", "area": "prevention",
         "criteria_resolved": "P1|P2", "fit": "direct"},
        {"round": "upd", "question_id": "legit", "status": "unmapped", "area": pd.NA,
         "criteria_resolved": pd.NA, "fit": pd.NA}]).astype("string")
    g = _grades([("upd", "a", "prev", "good"), ("upd", "b", "prev", "good"), ("upd", "b", "prev", "inadequate"),
                 ("upd", "a", "legit", "good")])
    out = compare.cb_vs_peel(m, g, mapping, rounds, "upd", "base", CB)
    assert set(out["question_id"]) == {"prev"}  # the unmapped question is never set beside CB
    a = out.set_index("force_id").loc["a"]
    assert a["cb_judgements"] == "P1=not_reported|P2=partial" and a["cb_partial"] == 1
    assert a["cb_share_positive"] == 0.0
    b = out.set_index("force_id").loc["b"]
    assert b["grade"] == "contested" and bool(b["grade_conflict"]) and b["grades_seen"] == "good|inadequate"


# ----- the shipped data ---------------------------------------------------------------------------
def test_shipped_build_has_the_comparison_tables(shipped_tables):
    for name, cols in compare.TABLE_COLUMNS.items():
        assert name in shipped_tables
        assert list(shipped_tables[name].columns) == [c for c, _, _ in cols]
    ch = shipped_tables["changes"]
    peel = ch[(ch["round"] == "peel_2014") & (ch["baseline_round"] == BASELINE)]
    assert len(peel) == 43 * len(CB.framed_ids)
    assert "no_longer_reported" not in set(peel["change"])
    coded = set(shipped_tables["matrix"].query("round == 'peel_2014' and status != 'not_reported'")["criterion_id"])
    for cid in set(CB.framed_ids) - coded:  # criteria PEEL 2014 never speaks to
        assert (peel.loc[peel["criterion_id"] == cid, "change"] == "not_revisited").all(), cid
    assert {"P2", "P3", "A3", "A5", "A6"} <= coded
    assert (peel.loc[peel["criterion_id"] == "A5", "change"] == "newly_reported").sum() >= 10


def test_comparison_charts_name_rounds_by_their_labels(shipped_tables):
    """Readers see 'PEEL 2014', not the folder id peel_2014, in every comparison chart's title,
    subtitle, axis labels and alt text; counts of one read as plain English."""
    from analysis import compare_charts as cc

    assert cc.round_labels(shipped_tables)["peel_2014"] == "PEEL 2014"
    seen = 0
    for name, _rounds, draw in cc.chart_plan(shipped_tables):
        fig, _data, alt = draw()
        words = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))] + [alt]
        fig.clf()
        text = "\n".join(words)
        assert not re.search(r"\b(core_business|peel)_20\d\d\b", text), (name, text)
        assert not re.search(r"\b1 forces\b|\b1 forces were\b|\b1 were\b", text), (name, text)
        seen += ("PEEL 2014" in text)
    assert seen >= 3
    one = shipped_tables["changes"].query("round == 'peel_2014' and criterion_id == 'A2'")
    _, _, alt = cc.dumbbell_figure(one, "A2", rounds=cc.round_labels(shipped_tables))
    revisited = int((one["change"] != "not_revisited").sum())
    if revisited == 1:  # (the shipped data: Dyfed-Powys alone)
        assert "1 force was revisited" in alt
    assert "in Core Business 2014 and in PEEL 2014" in alt


def test_grade_distribution_title_accounts_for_every_grade(shipped_tables):
    """The title's parts (good or outstanding, requires improvement or inadequate, disputed) add
    up to the grades shown: a disputed grade is named, not counted as 'not good'."""
    from analysis import compare_charts as cc

    grades = shipped_tables["grades"]
    order = cc._round_order(shipped_tables, grades)
    fig, counts, _ = cc.grade_distribution_figure(grades, order, rounds=cc.round_labels(shipped_tables))
    title = fig.get_label()
    fig.clf()
    total = int(counts["n_forces"].sum())
    weak = int(counts[["requires_improvement", "inadequate"]].sum().sum())
    disputed = int(counts["contested"].sum())
    good = int(counts[["outstanding", "good"]].sum().sum())
    assert good + weak + disputed == total
    assert f"of the {total} PEEL grades shown" in title and f"{weak} require improvement" in title
    assert disputed and f"sources disagree on {disputed}" in title  # (Cheshire, PEEL 2014)
    assert f"{good / total:.0%}" in title


def test_shipped_grades_changes_and_cb_vs_peel(shipped_tables):
    gc = shipped_tables["grade_changes"]
    assert set(zip(gc["baseline_round"], gc["round"], gc["question_id"])) == {
        ("peel_2014", "peel_2015", "efficiency"), ("peel_2015", "peel_2016", "effectiveness")}
    cbp = shipped_tables["cb_vs_peel"]
    assert set(cbp["round"]) == {"peel_2014"} and set(cbp["baseline_round"]) == {BASELINE}
    assert set(cbp["question_id"]) == {"reducing_crime", "tackling_asb", "investigating_offending", "efficiency"}
    ches = cbp[(cbp["force_id"] == "cheshire") & (cbp["question_id"] == "reducing_crime")].iloc[0]
    assert ches["grade"] == "contested" and ches["grades_seen"] == "good|requires_improvement"


# ----- synthetic update, end to end ---------------------------------------------------------------
@pytest.fixture(scope="module")
def synthetic_build(shipped_tables, tmp_path_factory):
    from analysis.build import build

    root = tmp_path_factory.mktemp("synthetic_update")
    raw = root / "raw"
    shutil.copytree(RAW, raw)
    add_synthetic_update(raw, shipped_tables["matrix"], CB, BASELINE)
    paths = Paths(raw=raw, processed=root / "processed", reports=root / "reports")
    return build(paths, tables_only=True, log=lambda s: None).tables, paths


def test_synthetic_update_exercises_every_partial_coverage_change(synthetic_build):
    tables, _ = synthetic_build
    ch = tables["changes"]
    syn = ch[ch["round"] == "synthetic_update"]
    assert len(syn) == 43 * len(CB.framed_ids)
    assert syn["synthetic"].all() and not ch.loc[ch["round"] == "peel_2014", "synthetic"].any()
    assert {"improved", "declined", "unchanged", "newly_reported", "not_revisited"} <= set(syn["change"])
    nr = syn[syn["change"] == "not_revisited"]
    assert set(nr["basis"]) == {"force_not_covered", "criterion_not_covered", "cell_not_coded"}
    for cid in ("F2", "F3"):  # coded for no force
        assert (syn.loc[syn["criterion_id"] == cid, "change"] == "not_revisited").all()
    # the force with only a P0 code counts as covered: its silent cells are cell_not_coded
    p0 = tables["findings"].query("round == 'synthetic_update' and criterion_id == 'P0'")["force_id"]
    assert len(p0) == 1
    assert set(syn.loc[syn["force_id"] == p0.iloc[0], "basis"]) <= {"cell_not_coded", "criterion_not_covered"}
    assert tables["rounds"].set_index("round").loc["synthetic_update", "synthetic"]
    assert tables["matrix"].query("round == 'synthetic_update'")["synthetic"].all()
    sf = tables["change_summary_force"]
    assert (sf.loc[sf["round"] == "synthetic_update", "n_revisited"] > 0).any()


def test_adding_an_update_leaves_the_baseline_tables_unchanged(shipped_tables, synthetic_build):
    tables, _ = synthetic_build
    for name in ("findings", "matrix", "conflicts"):
        before = shipped_tables[name]
        after = tables[name]
        b = before[before["round"] == BASELINE].reset_index(drop=True)
        a = after[after["round"] == BASELINE].reset_index(drop=True)
        if name != "conflicts":
            assert len(b) > 0
        pd.testing.assert_frame_equal(a, b)
    assert len(tables["matrix"]) > len(shipped_tables["matrix"])  # the update really was added


def _snapshot_dtypes():
    return {c: d for c, d, _ in schemas.COLUMNS["matrix"]}


def test_baseline_matrix_matches_committed_snapshot(shipped_tables):
    m = shipped_tables["matrix"]
    base = m[m["round"] == BASELINE].reset_index(drop=True)
    if os.environ.get("CORE_BUSINESS_REGEN_BASELINE") == "1":
        base.to_csv(SNAPSHOT, index=False, lineterminator="\n", encoding="utf-8")
    assert SNAPSHOT.exists(), "snapshot missing: regenerate it (see the module docstring)"
    snap = pd.read_csv(SNAPSHOT, dtype=_snapshot_dtypes(), keep_default_na=False, na_values=[""])
    pd.testing.assert_frame_equal(base, schemas.conform("matrix", snap))


def test_make_synthetic_update_is_deterministic_and_marked(shipped_tables, tmp_path):
    a = make_synthetic_update(shipped_tables["matrix"], CB, BASELINE)
    b = make_synthetic_update(shipped_tables["matrix"], CB, BASELINE)
    pd.testing.assert_frame_equal(a, b)
    assert a["evidence"].str.startswith("SYNTHETIC").all()
    assert (a["round"] == "synthetic_update").all()
    with pytest.raises(ValueError, match="synthetic_"):
        make_synthetic_update(shipped_tables["matrix"], CB, BASELINE, round_id="peel_2017")
    with pytest.raises(InputError, match="refusing"):
        add_synthetic_update(RAW, shipped_tables["matrix"], CB, BASELINE)


# ----- CLI ----------------------------------------------------------------------------------------
def test_cli_compare_writes_tables(shipped_paths, tmp_path, capsys):
    from analysis.cli import main

    out = tmp_path / "cmp"
    rc = main(["compare", "--baseline", BASELINE, "--update", "peel_2014", "-o", str(out),
               "--raw", str(shipped_paths.raw), "--out", str(shipped_paths.processed)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "not_revisited" in text
    for name in ("changes", "change_summary_force", "change_summary_national", "grade_changes", "cb_vs_peel"):
        assert (out / f"{name}.csv").exists()
    ch = pd.read_csv(out / "changes.csv")
    assert len(ch) == 43 * len(CB.framed_ids)
    rc = main(["compare", "--baseline", BASELINE, "--update", "peel_2099", "-o", str(out),
               "--raw", str(shipped_paths.raw), "--out", str(shipped_paths.processed)])
    assert rc == 1
    assert "unknown round 'peel_2099'" in capsys.readouterr().err


# ----- charts -------------------------------------------------------------------------------------
def test_charts_export_with_data_and_alt_text(synthetic_build, tmp_path):
    from analysis import compare_charts

    tables, paths = synthetic_build
    few = sorted(tables["forces"]["force_id"])[:8]
    small = {k: v for k, v in tables.items()}
    ch = tables["changes"]
    small["changes"] = ch[(ch["round"] == "synthetic_update") & ch["force_id"].isin(few)
                          & ch["criterion_id"].isin(["P2", "A5", "F2"])].reset_index(drop=True)
    small["grades"] = tables["grades"][tables["grades"]["force_id"].isin(few + ["cheshire"])]
    out = compare_charts.export_all(paths, small, folder=tmp_path)
    names = {p.name for p in out}
    stem = f"{BASELINE}__synthetic_update"
    for n in (f"change_matrix_{stem}", f"dumbbell_P2_{stem}", "grade_distribution", "grade_paths"):
        for ext in (".png", ".svg", ".csv", ".alt.txt"):
            assert n + ext in names, n + ext
    assert f"dumbbell_F2_{stem}.png" not in names  # nobody revisited: no dumbbell
    alt = (tmp_path / f"change_matrix_{stem}.alt.txt").read_text(encoding="utf-8")
    assert "SYNTHETIC" in alt and "not revisited" in alt
    data = pd.read_csv(tmp_path / f"dumbbell_P2_{stem}.csv")
    assert set(data["force_id"]) == set(few)
    dist = pd.read_csv(tmp_path / "grade_distribution.csv")
    row = dist[(dist["round"] == "peel_2014") & (dist["question_id"] == "reducing_crime")].iloc[0]
    assert row["contested"] == 1  # Cheshire counted once, under neither grade


def test_charts_refuse_an_embargoed_round(synthetic_build, tmp_path):
    from analysis import compare_charts
    from analysis.style import EmbargoError

    tables, paths = synthetic_build
    rounds = tables["rounds"].copy()
    rounds.loc[rounds["round"] == "synthetic_update", "embargo_until"] = "2999-01-01T09:30"
    ch = tables["changes"]
    small = {"rounds": rounds, "forces": tables["forces"], "criteria": tables["criteria"],
             "changes": ch[(ch["round"] == "synthetic_update") & (ch["criterion_id"] == "P2")].reset_index(drop=True)}
    with pytest.raises(EmbargoError):
        compare_charts.export_all(paths, small, folder=tmp_path)
    out = compare_charts.export_all(paths, small, allow_embargoed=True, folder=tmp_path)
    alt = next(p for p in out if p.name.endswith(".alt.txt")).read_text(encoding="utf-8")
    assert "EMBARGOED" in alt
    # the data behind each chart carry the mark too (they went out unmarked)
    csvs = [p for p in out if p.suffix == ".csv"]
    assert len(csvs) == 2 and all((pd.read_csv(p)["embargoed"] == "EMBARGOED until 09:30 on 1 January 2999").all()
                                  for p in csvs)



def test_labels_sharing_one_unused_clip_path_draw_the_same_files(synthetic_build, tmp_path, monkeypatch):
    """The charts' many labels are made with one shared clip path (compare_charts._unclipped)
    instead of a clip box each, which ax.text would make: the clip is off, so the files are the
    ones the default texts give. Also: drawing leaves the garbage collector as it found it."""
    import gc

    from analysis import compare_charts

    tables, paths = synthetic_build
    few = sorted(tables["forces"]["force_id"])[:10]
    small = dict(tables)
    ch = tables["changes"]
    small["changes"] = ch[(ch["round"] == "synthetic_update") & ch["force_id"].isin(few)
                          & ch["criterion_id"].isin(["P2", "A5"])].reset_index(drop=True)
    small["grades"] = tables["grades"][tables["grades"]["force_id"].isin(few)]
    frozen = gc.get_freeze_count()
    shared = compare_charts.export_all(paths, small, folder=tmp_path / "shared")
    assert gc.get_freeze_count() == frozen and gc.isenabled()
    monkeypatch.setattr(compare_charts, "_unclipped", lambda ax: {})
    own = compare_charts.export_all(paths, small, folder=tmp_path / "own")
    assert [p.name for p in shared] == [p.name for p in own]
    assert any(p.name.startswith("dumbbell_") for p in own) and any(p.name == "grade_paths.svg" for p in own)
    for a, b in zip(shared, own):
        assert a.read_bytes() == b.read_bytes(), a.name


# ----- notebook -----------------------------------------------------------------------------------
NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "05_update_comparison.ipynb"


def test_notebook_is_committed_clean_with_parameters():
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    for name in ("baseline", "update", "processed_dir", "reports_dir"):
        assert f"{name} =" in params[0].source


@pytest.mark.slow
def test_notebook_runs_on_the_synthetic_update(synthetic_build, tmp_path):
    import nbformat
    import papermill as pm

    tables, paths = synthetic_build
    from analysis.build import write_tables

    write_tables(tables, paths.processed)
    out = tmp_path / "05.ipynb"
    pm.execute_notebook(str(NOTEBOOK), str(out), kernel_name="python3", progress_bar=False,
                        parameters={"baseline": BASELINE, "update": "synthetic_update",
                                    "processed_dir": str(paths.processed), "reports_dir": str(tmp_path),
                                    "raw_dir": str(paths.raw)})
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3
    text = "".join(str(o.get("data", {}).get("text/markdown", "")) for o in outputs)
    assert "SYNTHETIC" in text
    # each chart's <img> in the HTML copy carries its alt text, not nbconvert's stand-in
    from analysis.notebooks import to_html

    html = to_html(out).read_text(encoding="utf-8")
    alts = re.findall(r'<img[^>]+alt="([^"]*)"', html)
    assert len(alts) >= 3 and all(len(a) >= 20 and "No description has been provided" not in a for a in alts)


def test_cli_compare_two_grade_rounds(shipped_paths, tmp_path, capsys):
    from analysis.cli import main

    out = tmp_path / "grades"
    rc = main(["compare", "--baseline", "peel_2015", "--update", "peel_2016", "-o", str(out),
               "--raw", str(shipped_paths.raw), "--out", str(shipped_paths.processed)])
    assert rc == 0 and "grade_changes" in capsys.readouterr().out
    gc = pd.read_csv(out / "grade_changes.csv")
    assert set(gc["question_id"]) == {"effectiveness"} and len(gc) == 43
    rc = main(["compare", "--baseline", "peel_2014", "--update", "peel_2016", "-o", str(tmp_path / "none"),
               "--raw", str(shipped_paths.raw), "--out", str(shipped_paths.processed)])
    assert rc == 0  # no question asked in both: an empty table, not a guess
    assert len(pd.read_csv(tmp_path / "none" / "grade_changes.csv")) == 0
