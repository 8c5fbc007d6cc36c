"""The accessible Excel workbook (reports/tables.xlsx): sheets, no merged cells, no formulas,
formula-like text kept as text, marks, embargo, determinism."""

from __future__ import annotations

import openpyxl
import pandas as pd
import pytest

from analysis import tables as wbmod
from analysis.paths import RAW, Paths
from analysis.style import EmbargoError

BASE_SHEETS = ["Cover", "Contents", "Notes"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from analysis.build import build
    from analysis.synthetic import make_synthetic_raw

    paths = make_synthetic_raw(tmp_path_factory.mktemp("tables_synth") / "raw", seed=8)
    return paths, build(paths, tables_only=True, log=lambda s: None).tables


@pytest.fixture(scope="module")
def shipped_book(tmp_path_factory, shipped_tables):
    out = tmp_path_factory.mktemp("book")
    paths = Paths(raw=RAW, processed=out / "processed", reports=out / "reports")
    files = wbmod.write_workbook(paths, shipped_tables)
    assert files == [paths.reports / "tables.xlsx"]
    return openpyxl.load_workbook(files[0])


def _assert_accessible(wb):
    for ws in wb.worksheets:
        assert not ws.merged_cells.ranges, f"merged cells in {ws.title}"
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"formula in {ws.title}!{cell.coordinate}: {cell.value!r}"


def test_shipped_workbook_has_cover_contents_notes_and_one_table_per_sheet(shipped_book):
    wb = shipped_book
    names = wb.sheetnames
    assert names[:3] == BASE_SHEETS
    for expected in ("Matrix_core_business_2014", "Counts_core_business_2014", "Coverage_core_business_2014",
                     "Regions_core_business_2014", "Matrix_peel_2014", "Crimes_attended", "National_figures",
                     "Changes_by_force_peel_2014", "Changes_peel_2014",
                     "Findings", "Conflicts", "Grades", "Forces", "Criteria", "Rounds"):
        assert expected in names
    _assert_accessible(wb)
    contents = [c.value for c in wb["Contents"]["A"] if c.value]
    for sheet in names[3:]:
        assert sheet in contents
        ws = wb[sheet]
        assert ws["A1"].value and isinstance(ws["A1"].value, str)           # title
        assert len(ws.tables) == 1                                           # one marked-up table
        col_a = [c.value for c in ws["A"] if isinstance(c.value, str)]
        assert any(v.startswith("Source:") for v in col_a), sheet
    notes = [c.value for c in wb["Notes"]["B"] if c.value]
    assert any("not a negative judgement" in str(n) for n in notes)


def test_matrix_sheet_is_the_43_forces_by_19_criteria(shipped_book):
    ws = shipped_book["Matrix_core_business_2014"]
    table = next(iter(ws.tables.values()))
    rows = list(ws[table.ref])
    header = [c.value for c in rows[0]]
    assert header[:3] == ["Force", "Country", "HMIC region 2014"] and len(header) == 3 + 19
    body = [[c.value for c in r] for r in rows[1:]]
    assert len(body) == 43
    cleveland = next(r for r in body if r[0] == "Cleveland")
    assert cleveland[header.index("A2 Attend-all-crimes policy")] == "Yes"
    assert "Not reported" in {v for r in body for v in r}
    assert "Unknown" in {r[2] for r in body}
    assert all(v is not None for r in body for v in r)  # missing is written as [x] or a state, never blank


def _table(ws) -> tuple[list, list[list]]:
    rows = list(ws[next(iter(ws.tables.values())).ref])
    return [c.value for c in rows[0]], [[c.value for c in r] for r in rows[1:]]


def test_change_sheets_show_every_cell_and_add_up_per_force(shipped_book, shipped_tables):
    """What an update round changed, in the workbook: every force x criterion cell (not revisited
    ones too, so nothing is silently left out) and per force counts that add up to 19."""
    ch = shipped_tables["changes"]
    ch = ch[ch["round"] == "peel_2014"]
    header, body = _table(shipped_book["Changes_peel_2014"])
    assert header[:3] == ["Force", "Criterion", "Label"] and "Change" in header and "Before" in header
    assert len(body) == len(ch) == 43 * 19
    change = header.index("Change")
    assert pd.Series([r[change] for r in body]).value_counts().to_dict() == (
        ch["change"].map(lambda c: c.replace("_", " ").capitalize()).value_counts().to_dict())
    dorset_a3 = next(r for r in body if r[0] == "Dorset" and r[1] == "A3")
    expected = ch[(ch["force_id"] == "dorset") & (ch["criterion_id"] == "A3")].iloc[0]
    assert dorset_a3[change] == expected["change"].replace("_", " ").capitalize()
    assert dorset_a3[header.index("After (source)")] == expected["after_source_ref"]

    header, body = _table(shipped_book["Changes_by_force_peel_2014"])
    assert header[:3] == ["Force", "Criteria", "Revisited"] and len(body) == 43
    kinds = [header.index(k) for k in ("Improved", "Declined", "Unchanged", "Newly reported",
                                       "No longer reported", "Contested")]
    for r in body:
        assert r[1] == 19 and r[2] + r[header.index("Not revisited")] == 19
        assert sum(r[k] for k in kinds) == r[2]
    per_force = ch.groupby("force_id")["change"].apply(lambda s: int((s != "not_revisited").sum()))
    names = shipped_tables["forces"].set_index("force_id")["short_name"]
    assert {r[0]: r[2] for r in body} == {names[f]: n for f, n in per_force.items()}
    notes = [c.value for c in shipped_book["Notes"]["B"] if c.value]
    assert any("is not 'Unchanged'" in str(n) or "not 'Unchanged'" in str(n) for n in notes)


def test_sheet_titles_name_rounds_by_their_labels(shipped_book):
    """Sheet names keep the round id (stable, short); the titles readers see use its label."""
    titles = {ws.title: str(ws["A1"].value) for ws in shipped_book.worksheets}
    assert "PEEL 2014 against Core Business 2014" in titles["Changes_peel_2014"]
    assert titles["Matrix_peel_2014"].startswith("Framework matrix: coded value per force and criterion, PEEL 2014")
    assert titles["Regions_core_business_2014"].startswith("Judgements by country and HMIC region (2014), "
                                                             "Core Business 2014")
    assert not [t for t in titles.values() if "peel_2014" in t or "core_business_2014" in t]
    header, body = _table(shipped_book["Rounds"])
    assert header[:3] == ["Round", "Label (in charts and titles)", "Title"]
    assert [r[:2] for r in body][:2] == [["core_business_2014", "Core Business 2014"], ["peel_2014", "PEEL 2014"]]


def test_cover_says_what_the_workbook_was_built_from(shipped_book, shipped_tables):
    """The cover names each round by label and id, and the number of input files and the code's
    fingerprint, so a printed or e-mailed copy can be traced to the inputs table of its build."""
    cover = "\n".join(str(c.value) for row in shipped_book["Cover"].iter_rows() for c in row if c.value)
    inputs = shipped_tables["inputs"]
    n_files = int((inputs["role"] != "code").sum())
    code = inputs.loc[inputs["role"] == "code", "sha256"].iloc[0]
    assert f"built from {n_files} files under data/raw" in cover and f"fingerprint {code[:12]}" in cover
    assert "PEEL 2014 (peel_2014): PEEL 2014 crime inspection (effectiveness)" in cover


def test_formula_like_text_is_written_as_text(tmp_path, synth):
    paths, t = synth
    t = dict(t)
    f = t["findings"].copy()
    nasty = ["=SUM(A1:A3)", '=HYPERLINK("http://example.invalid","click")', "+44 20 7946 0000", "-1 officers",
             "@mention", "[one](http://a.invalid) and [two](http://b.invalid)", "costs $$note$$", "—"]
    f.loc[: len(nasty) - 1, "evidence"] = nasty
    t["findings"] = f
    out = wbmod.write_workbook(Paths(raw=paths.raw, processed=paths.processed, reports=tmp_path), t)[0]
    wb = openpyxl.load_workbook(out)
    _assert_accessible(wb)
    ws = wb["Findings"]
    cells = {c.value: c for row in ws.iter_rows() for c in row if isinstance(c.value, str)}
    for text in nasty[:5]:
        assert text in cells, text
        assert cells[text].data_type == "s" and cells[text].quotePrefix
    assert "[one] (http://a.invalid) and [two] (http://b.invalid)" in cells   # not turned into links
    assert "costs $ $note$ $" in cells                                        # not a note reference
    assert "[symbol only] —" in cells
    assert not any(c.hyperlink for row in ws.iter_rows() for c in row)


def test_synthetic_workbook_is_marked(tmp_path, synth):
    paths, t = synth
    out = wbmod.write_workbook(Paths(raw=paths.raw, processed=paths.processed, reports=tmp_path), t)[0]
    wb = openpyxl.load_workbook(out)
    assert wb["Cover"]["A1"].value.startswith("SYNTHETIC")
    for sheet in wb.sheetnames[3:]:
        assert wb[sheet]["A1"].value.startswith("SYNTHETIC"), sheet
    assert "National_figures" not in wb.sheetnames  # real national figures are not set beside synthetic data
    _assert_accessible(wb)


def test_embargoed_round_is_refused_then_marked(tmp_path):
    from analysis.build import build
    from analysis.synthetic import make_synthetic_raw

    paths = make_synthetic_raw(tmp_path / "raw", seed=1, grades=False, measures=False,
                               embargo_until="2999-01-01")
    t = build(paths, tables_only=True, log=lambda s: None).tables
    with pytest.raises(EmbargoError):
        wbmod.write_workbook(paths, t)
    assert not (paths.reports / "tables.xlsx").exists()
    out = wbmod.write_workbook(paths, t, allow_embargoed=True)[0]
    wb = openpyxl.load_workbook(out)
    assert "EMBARGOED until 1 January 2999" in wb["Cover"]["A1"].value
    assert "EMBARGOED until" in wb["Matrix_synthetic_round_1"]["A1"].value


def test_workbook_is_deterministic(tmp_path, synth):
    paths, t = synth
    a = wbmod.write_workbook(paths, t, path=tmp_path / "a.xlsx")[0]
    b = wbmod.write_workbook(paths, t, path=tmp_path / "b.xlsx")[0]
    assert a.read_bytes() == b.read_bytes()


def test_prepare_writes_shorthand_for_missing_and_words_for_booleans():
    df = pd.DataFrame({"a": pd.array(["x", None], dtype="string"), "b": pd.array([True, False], dtype="boolean"),
                       "c": pd.array([1, None], dtype="Int64"), "d": ["=1+1", "   "]})
    plain, fmt = wbmod.prepare(df)
    assert plain.to_dict("list") == {"a": ["x", "[x]"], "b": ["Yes", "No"], "c": [1, "[x]"], "d": ["=1+1", "[x]"]}
    assert fmt == [{"cell": {"cells": (1, 3), "format": {"quote_prefix": True}}}]
    empty, _ = wbmod.prepare(df.iloc[0:0])
    assert empty.iloc[0, 0] == "No rows in this build"


def test_national_figures_are_left_out_with_their_round(shipped_tables):
    """The national figures are Core Business 2014's national report: with that round left out
    (under embargo) the sheet still went out, setting them beside PEEL 2014's counts."""
    from analysis.build import without_rounds
    from analysis.tables import sheets_for

    sheets, _, _ = sheets_for(shipped_tables, RAW)
    assert "National_figures" in sheets
    kept = without_rounds(shipped_tables, {"core_business_2014"})
    sheets, _, _ = sheets_for(kept, RAW)
    assert "National_figures" not in sheets and any(s.endswith("peel_2014") for s in sheets)
