"""The fast paths of the comparison against plain statements of the same rules.

``compare`` and ``compare_all`` work on whole arrays (:class:`analysis.compare._Grid`), the
grades and the national summary are grouped in one pass, notebook 05 reuses the tables the build
wrote, and the comparison charts draw whole classes of marks at once. Each is checked here against
a cell-by-cell / group-by-group statement of the rule (random inputs, hypothesis), or for what the
chart and notebook helpers must still carry (alt text, data, one artist per class)."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis import compare, schemas
from analysis.codebook import Codebook
from analysis.paths import RAW
from analysis.rounds import Rounds

CB = Codebook.load(RAW / "codebook.yaml")
CRITS = CB.framed_ids[:4] + ["F2"]
FORCES = ["a", "b", "c"]
ROUND_IDS = ["base", "u1", "u2", "u3"]
UPDATES = {"u1": "base", "u2": "u1", "u3": "base"}  # a chain (base <- u1 <- u2) and a branch (u3)
SILENT = {"status": "not_reported", "value": "not_reported", "judgement": "not_reported",
          "winning_source_ref": pd.NA}


# ----- reference: the rules cell by cell --------------------------------------------------------------
def ref_state(matrix, findings, rounds, round_id, forces, framed, full_coverage=None):
    """(force, criterion) -> (cell dict, round it comes from), as of round_id."""
    state = {}
    for rid in reversed(compare.ancestry(rounds, round_id)):
        sub = matrix[matrix["round"] == rid]
        cells = {(r["force_id"], r["criterion_id"]): r for r in sub.to_dict("records")}
        coded = sub[sub["status"] != "not_reported"]
        fcov = set(coded["force_id"]) | set(findings.loc[findings["round"] == rid, "force_id"])
        ccov = set(coded["criterion_id"])
        full = (full_coverage or {}).get(rid, compare.coverage(rounds[rid]) == "full")
        for f in forces:
            for c in framed:
                cell = cells.get((f, c), SILENT)
                basis = compare._basis(cell, f, c, fcov, ccov, full)
                if (f, c) not in state or basis in ("coded", "full_coverage_absent"):
                    state[(f, c)] = (cell, rid)
    return state


def ref_changes(matrix, findings, rounds, baseline, update, forces, framed, full):
    before = ref_state(matrix, findings, rounds, baseline, forces, framed)
    sub = matrix[matrix["round"] == update]
    after = {(r["force_id"], r["criterion_id"]): r for r in sub.to_dict("records")}
    coded = sub[sub["status"] != "not_reported"]
    fcov = set(coded["force_id"]) | set(findings.loc[findings["round"] == update, "force_id"])
    ccov = set(coded["criterion_id"])
    rows = []
    for f in forces:
        for c in framed:
            b, b_round = before[(f, c)]
            a = after.get((f, c), SILENT)
            basis = compare._basis(a, f, c, fcov, ccov, full)
            change = compare.classify(b, a, basis)
            keep = change == "not_revisited"
            eff = b if keep else a
            rows.append({"force_id": f, "criterion_id": c, "change": change, "basis": basis,
                         "before_value": b["value"], "before_round": b_round, "after_value": a["value"],
                         "value_changed": (not keep) and a["value"] != b["value"],
                         "effective_value": eff["value"], "effective_judgement": eff["judgement"],
                         "effective_round": b_round if keep else update,
                         "after_source_ref": a.get("winning_source_ref")})
    return rows


# ----- random rounds ------------------------------------------------------------------------------------
def _cell_strategy(cid):
    return st.one_of(st.none(), st.just("not_reported"), st.just("contested"),
                     st.sampled_from(list(CB[cid].values)))


@st.composite
def rounds_and_matrix(draw):
    rows = []
    for rid in ROUND_IDS:
        for f in FORCES:
            for c in CRITS:
                v = draw(_cell_strategy(c))
                if v is None:
                    continue  # no row at all for this cell
                st_, j = (v, v) if v in ("not_reported", "contested") else ("reported", CB.judgement(c, v))
                rows.append({"round": rid, "force_id": f, "area": CB[c].area, "criterion_id": c, "status": st_,
                             "value": v, "judgement": j, "n_sources": int(v != "not_reported"),
                             "winning_source_ref": None if v == "not_reported" else f"{rid}/{f}{c}.csv:row 2"})
    matrix = schemas.conform("matrix", pd.DataFrame(rows)) if rows else schemas.empty("matrix")
    extra = draw(st.lists(st.tuples(st.sampled_from(ROUND_IDS), st.sampled_from(FORCES)), max_size=4))
    findings = pd.DataFrame({"round": [r for r, _ in extra], "force_id": [f for _, f in extra]},
                            dtype="string")
    entries = []
    for rid in ROUND_IDS:
        e = {"id": rid, "published": "2014-09-04", "kind": ["coded"]}
        if rid in UPDATES:
            e["updates"] = UPDATES[rid]
            if draw(st.booleans()):
                e["coverage"] = "full"
        entries.append(e)
    return Rounds.from_dict({"rounds": entries}), matrix, findings


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds_and_matrix())
def test_compare_follows_the_rules_cell_by_cell(case):
    rounds, matrix, findings = case
    for upd, base in UPDATES.items():
        full = compare.coverage(rounds[upd]) == "full"
        got = compare.compare(matrix, rounds, base, upd, CB, findings, FORCES)
        want = ref_changes(matrix, findings, rounds, base, upd, FORCES, CB.framed_ids, full)
        assert len(got) == len(want)
        for g, w in zip(got.to_dict("records"), want):
            for k, v in w.items():
                assert (pd.isna(g[k]) and pd.isna(v)) or g[k] == v, (upd, k, g, w)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds_and_matrix(), st.dictionaries(st.sampled_from(ROUND_IDS), st.booleans(), max_size=3))
def test_effective_matrix_follows_the_rules(case, full_coverage):
    rounds, matrix, findings = case
    for rid in ROUND_IDS:
        eff = compare.effective_matrix(matrix, rounds, rid, CB, findings, FORCES, full_coverage)
        want = ref_state(matrix, findings, rounds, rid, FORCES, CB.framed_ids, full_coverage)
        got = {(r["force_id"], r["criterion_id"]): r for r in eff.to_dict("records")}
        assert list(got) == list(want)
        for key, (cell, src) in want.items():
            assert got[key]["value_round"] == src
            for col in ("status", "value", "judgement"):
                assert got[key][col] == cell[col]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds_and_matrix())
def test_compare_all_equals_one_comparison_per_update(case):
    rounds, matrix, findings = case
    forces = pd.DataFrame({"force_id": FORCES})
    out = compare.compare_all({"matrix": matrix, "findings": findings, "forces": forces}, rounds, CB,
                              pd.DataFrame(columns=["round", "question_id", "status"]))
    each = pd.concat([compare.compare(matrix, rounds, u.updates, u.id, CB, findings, FORCES)
                      for u in rounds.updates()], ignore_index=True)
    pd.testing.assert_frame_equal(out["changes"], each)
    pd.testing.assert_frame_equal(out["change_summary_national"], ref_national(each, CB))


# ----- summaries and grades ------------------------------------------------------------------------------
def ref_national(changes, codebook):
    """The national summary as pandas' groupby states it."""
    keys = ["round", "baseline_round", "area", "criterion_id", "before_value", "before_judgement",
            "after_value", "after_judgement", "change"]
    out = (changes.groupby(keys, sort=False)
           .agg(n_forces=("force_id", "size"), force_ids=("force_id", lambda s: "|".join(sorted(s))),
                synthetic=("synthetic", "any")).reset_index())
    order = {c: i for i, c in enumerate(codebook.ids)}
    out["_c"] = out["criterion_id"].map(order)
    out["_k"] = out["change"].map({c: i for i, c in enumerate(compare.CHANGE_TYPES)})
    out = out.sort_values(["round", "baseline_round", "_c", "_k", "before_value", "after_value"],
                          ignore_index=True)
    return compare.conform("change_summary_national", out)


def ref_resolve_grades(grades):
    rows = []
    for (rnd, fid, qid), g in grades.groupby(["round", "force_id", "question_id"], sort=True):
        seen = sorted(set(g["grade"]), key=compare.GRADE_RANK.__getitem__)
        conflict = len(seen) > 1
        rows.append({"round": rnd, "force_id": fid, "question_id": qid,
                     "question": g["question"].dropna().iloc[0] if g["question"].notna().any() else pd.NA,
                     "grade": "contested" if conflict else seen[0],
                     "grade_rank": pd.NA if conflict else compare.GRADE_RANK[seen[0]],
                     "conflict": conflict, "grades_seen": "|".join(seen), "n_rows": len(g),
                     "source_ref": ";".join(sorted(g["source_ref"].dropna().astype(str)))})
    return pd.DataFrame(rows).astype({"round": "string", "force_id": "string", "question_id": "string",
                                      "question": "string", "grade": "string", "grade_rank": "Int64",
                                      "conflict": "boolean", "grades_seen": "string", "n_rows": "Int64",
                                      "source_ref": "string"})


grade_rows = st.lists(st.fixed_dictionaries({
    "round": st.sampled_from(["peel_2014", "peel_2015", None]),
    "force_id": st.sampled_from(["a", "b", "c"]),
    "question_id": st.sampled_from(["efficiency", "legitimacy"]),
    "question": st.sampled_from(["How efficient?", "How legitimate?", None]),
    "grade": st.sampled_from(list(compare.GRADE_RANK)),
    "source_ref": st.sampled_from(["g.csv:row 2", "g.csv:row 3", "h.csv:row 2", None]),
}), min_size=1, max_size=25)


@settings(max_examples=100, deadline=None)
@given(grade_rows)
def test_resolve_grades_matches_the_groupwise_rule(rows):
    grades = pd.DataFrame(rows).astype("string")
    want = ref_resolve_grades(grades) if grades["round"].notna().any() else None
    got = compare.resolve_grades(grades)
    if want is None:
        assert got.empty
    else:
        pd.testing.assert_frame_equal(got, want)
    # row order never changes a grade (only which wording of the question is shown first)
    rev = compare.resolve_grades(grades.iloc[::-1].reset_index(drop=True))
    pd.testing.assert_frame_equal(rev.drop(columns="question"), got.drop(columns="question"))


def test_national_summary_leaves_out_blank_keys_as_groupby_does():
    ch = pd.DataFrame({"round": ["u", "u", "u"], "baseline_round": ["b"] * 3, "area": ["prevention"] * 3,
                       "criterion_id": ["P2", "P2", "P2"], "before_value": ["weak", pd.NA, "weak"],
                       "before_judgement": ["negative"] * 3, "after_value": ["strong"] * 3,
                       "after_judgement": ["positive"] * 3, "change": ["improved"] * 3,
                       "force_id": ["z", "y", "x"], "synthetic": [False, True, pd.NA]}).astype(
        {"synthetic": "boolean"})
    got = compare.summarise_national(ch, CB)
    assert got["force_ids"].tolist() == ["x|z"] and got["n_forces"].tolist() == [2]
    assert got["synthetic"].tolist() == [False]


# ----- notebook 05: the build's rows for the pair ---------------------------------------------------------
def test_run_reuses_the_tables_the_build_wrote(shipped_paths):
    from analysis.io import load_tables

    tables = load_tables(shipped_paths.processed)
    fresh = compare.run(shipped_paths, "core_business_2014", "peel_2014")
    reused = compare.run(shipped_paths, "core_business_2014", "peel_2014", tables=tables, reuse=True)
    assert sorted(reused) == sorted(fresh)
    for name in fresh:
        pd.testing.assert_frame_equal(reused[name], fresh[name])
    # the rows came from the tables given, not from a new comparison
    marked = dict(tables, changes=tables["changes"].assign(basis="from the build"))
    again = compare.run(shipped_paths, "core_business_2014", "peel_2014", tables=marked, reuse=True)
    assert (again["changes"]["basis"] == "from the build").all()


def test_run_computes_what_the_build_did_not_write(shipped_paths):
    from analysis.io import load_tables

    tables = load_tables(shipped_paths.processed)
    bare = {k: v for k, v in tables.items() if k not in ("changes", "change_summary_force")}
    fresh = compare.run(shipped_paths, "core_business_2014", "peel_2014")
    got = compare.run(shipped_paths, "core_business_2014", "peel_2014", tables=bare, reuse=True)
    pd.testing.assert_frame_equal(got["changes"], fresh["changes"])
    # another coverage than the round declares: computed, never the build's rows
    full = compare.run(shipped_paths, "core_business_2014", "peel_2014", full_coverage=True, tables=tables,
                       reuse=True)
    assert "no_longer_reported" in set(full["changes"]["change"])
    # two grade rounds: the grade changes of that pair only
    gr = compare.run(shipped_paths, "peel_2015", "peel_2016", tables=tables, reuse=True)
    assert list(gr) == ["grade_changes"] and set(gr["grade_changes"]["question_id"]) == {"effectiveness"}


def test_compare_reads_without_pandera():
    import subprocess
    import sys

    code = ("import sys, analysis.compare, analysis.compare_charts; "
            "assert 'pandera' not in sys.modules, 'pandera imported'")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0


# ----- charts --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shipped_changes(shipped_tables):
    ch = shipped_tables["changes"]
    return ch[ch["round"] == "peel_2014"].reset_index(drop=True)


def test_change_matrix_draws_one_patch_and_one_scatter_per_change(shipped_tables, shipped_changes):
    from matplotlib.path import Path as MPath

    from analysis import compare_charts as cc

    fig, data, alt = cc.change_matrix_figure(shipped_changes, cc._short_names(shipped_tables))
    ax = fig.axes[0]
    counts = shipped_changes["change"].value_counts()
    cells = {p.get_gid(): p for p in ax.patches if (p.get_gid() or "").startswith("change-cells-")}
    assert set(cells) == {f"change-cells-{c}" for c in counts.index}
    for change, n in counts.items():
        path = cells[f"change-cells-{change}"].get_path()
        assert int((path.codes == MPath.MOVETO).sum()) == n  # one square per cell
        look = cc.CHANGE_LOOK[change]
        sym = [c for c in ax.collections if c.get_gid() == f"change-symbols-{change}"]
        assert len(sym) == (1 if look.symbol else 0)
        if sym:
            assert len(sym[0].get_offsets()) == n
    assert cells["change-cells-not_revisited"].get_hatch() == "///"  # not colour alone
    # force names and criterion labels, no Text per cell
    assert len(ax.texts) == shipped_changes["force_id"].nunique() + shipped_changes["criterion_id"].nunique()
    assert "not revisited" in alt and len(data) == shipped_changes["force_id"].nunique()


def test_dumbbell_arrows_and_markers_are_collections(shipped_tables, shipped_changes):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from analysis import compare_charts as cc

    sub = shipped_changes[shipped_changes["criterion_id"] == "A5"]
    fig, data, alt = cc.dumbbell_figure(sub, "A5", cc._short_names(shipped_tables), "label")
    ax = fig.axes[0]
    assert not ax.patches and not [t for t in ax.texts if t.get_text() == ""]  # no per-arrow artists
    moved = sub[(sub["change"] != "not_revisited") & (sub["before_judgement"] != sub["after_judgement"])]
    shafts = [c for c in ax.collections if type(c).__name__ == "Shafts"]
    assert len(shafts) == 1 and len(shafts[0].get_segments()) == len(moved)
    FigureCanvasAgg(fig).draw()  # the shafts are shortened in points when drawn
    seg = shafts[0].get_segments()[0]
    full = moved.iloc[0]
    assert abs(seg[1][0] - seg[0][0]) < abs(cc.JUDGEMENT_X[full["after_judgement"]]
                                           - cc.JUDGEMENT_X[full["before_judgement"]])
    labels = {t.get_text() for t in ax.texts}
    assert "Not revisited" in labels and "+ Newly reported" in labels  # the change in words too
    short = cc.dumbbell_figure(sub, "A5", {}, "label", only_revisited=True)
    n_kept = int((sub["change"] == "not_revisited").sum())
    assert len(short[1]) == len(sub) - n_kept and f"{n_kept} were not revisited and are not shown" in short[2]


def test_dumbbell_row_grid_lines_stop_before_the_change_names(shipped_tables, shipped_changes):
    """A row's grid line runs through the middle of the change's name at the right, where it
    reads as struck out ("Not revisited"): the lines end before the names start."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection

    from analysis import compare_charts as cc

    sub = shipped_changes[shipped_changes["criterion_id"] == "A5"]
    for only in (False, True):
        fig, data, _ = cc.dumbbell_figure(sub, "A5", cc._short_names(shipped_tables), "label", only_revisited=only)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        ax = fig.axes[0]
        rows = [c for c in ax.collections if isinstance(c, LineCollection)
                and len(c.get_segments()) == len(data) and all(s[0][1] == s[1][1] for s in c.get_segments())]
        assert len(rows) == 1  # one horizontal grid line per row
        grid = rows[0]
        ends = grid.get_transform().transform([s[1] for s in grid.get_segments()])[:, 0]
        renderer = canvas.get_renderer()
        names = [t for t in ax.texts if t.get_position()[0] == cc.DUMBBELL_LABEL_X]
        assert len(names) == len(data)
        starts = [t.get_window_extent(renderer).x0 for t in names]
        assert ends.max() < min(starts)
        # the judgement columns (x 0-4, "Contested" the last) keep their full row lines
        assert ends.min() > ax.transData.transform((4, 0))[0]
        # nor does the bottom axis line run on under the names (it ends where the row lines do)
        spine = ax.spines["bottom"].get_window_extent(renderer)
        assert spine.x1 < min(starts) and abs(spine.x1 - ends.max()) < 2


def test_arrow_head_tip_stops_short_of_the_point():
    from analysis import compare_charts as cc

    for sign in (1, -1):
        marker, size = cc._arrow_head(sign, 11)
        points = marker.get_transform().transform(marker.get_path().vertices) * size ** 0.5  # as scatter draws
        tip, base = sign * points[:, 0].max() if sign > 0 else points[:, 0].min(), size ** 0.5 / 2
        assert abs(tip) > 5 and abs(points[:, 0]).max() == pytest.approx(base)  # 5 pt + the mitre, short
        assert points[:, 1].max() == pytest.approx(0.2 * 11)  # head half-width: 0.2 x the font size


def test_grade_paths_is_one_axes_with_every_panel(shipped_tables):
    from analysis import compare_charts as cc

    grades = shipped_tables["grades"]
    order = cc._round_order(shipped_tables, grades)
    names = cc._short_names(shipped_tables)
    fig, data, alt = cc.grade_paths_figure(grades, order, names)
    assert len(fig.axes) == 1
    texts = [t.get_text() for t in fig.axes[0].texts]
    forces = sorted(set(data["force_id"]))
    assert all(names[f] in texts for f in forces)
    assert texts.count("O") == -(-len(forces) // 7)  # grade letters once per row of panels
    assert texts.count("2016") == 7  # years under the lowest panel of each column
    assert fig.axes[0].get_legend() is not None and len(data) >= len(grades.drop_duplicates(
        ["round", "force_id", "question_id", "grade"]))


def test_chart_plan_and_export_of_chosen_charts(shipped_tables, tmp_path):
    from analysis import compare_charts as cc
    from analysis.paths import Paths

    plan = cc.chart_plan(shipped_tables)
    keys = [k for k, _, _ in plan]
    assert keys[0] == "change_matrix_core_business_2014__peel_2014" and keys[-2:] == ["grade_distribution",
                                                                                     "grade_paths"]
    assert len(keys) == len(set(keys))
    paths = Paths(raw=RAW, processed=tmp_path, reports=tmp_path)
    files = cc.export_all(paths, shipped_tables, allow_embargoed=True, folder=tmp_path, keys={"grade_paths"})
    assert sorted(p.name for p in files) == ["grade_paths.alt.txt", "grade_paths.csv", "grade_paths.png",
                                             "grade_paths.svg"]


def test_grade_counts_are_the_numbers_behind_the_distribution(shipped_tables):
    from analysis import compare_charts as cc

    grades = shipped_tables["grades"]
    order = cc._round_order(shipped_tables, grades)
    counts = cc.grade_counts(grades, order)
    _, data, _ = cc.grade_distribution_figure(grades, order)
    pd.testing.assert_frame_equal(counts, data)
    assert (counts[list(cc.GRADE_STATES)].sum(axis=1) == counts["n_forces"]).all()


def test_show_displays_a_png_with_the_alt_text(shipped_tables, shipped_changes, monkeypatch):
    import IPython.display

    from analysis import compare_charts as cc

    import html

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append((obj, kw)))
    chart = cc.change_matrix_figure(shipped_changes, cc._short_names(shipped_tables))
    cc.show(chart)
    cc.show(chart[0])  # a bare figure: its title stands in for the alt text
    (data, kw), (bare, _) = shown
    assert kw["raw"] and data["image/png"][:8] == b"\x89PNG\r\n\x1a\n" and data["text/plain"] == chart[2].strip()
    # the HTML <img> carries the alt text (nbconvert's HTML reads no alt from a plain PNG output)
    assert f'alt="{html.escape(" ".join(chart[2].split()), quote=True)}"' in data["text/html"]
    assert bare["text/plain"] == chart[0].get_label() and bare["text/plain"].startswith("peel_2014 revisited")
