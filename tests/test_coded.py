"""Cleaning analysts' coded sheets: messy layouts, spellings, wide <-> long, rejects, reconciliation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from analysis.build import build_tables, load_inputs
from analysis.codebook import Codebook
from analysis.coded import CodedLoader
from analysis.errors import InputError
from analysis.forces import ForceResolver
from analysis.paths import Paths

P = Paths()


@pytest.fixture(scope="module")
def loader(tmp_path_factory):
    return CodedLoader(Codebook.load(P.codebook), ForceResolver.from_files(P.forces, P.force_aliases),
                       tmp_path_factory.mktemp("raw"))


def _xlsx(path: Path, sheets: dict[str, list[list]], merge: dict[str, str] | None = None) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
        if merge and name in merge:
            ws.merge_cells(merge[name])
    wb.save(path)
    return path


def _key(findings: list[dict]) -> list[tuple]:
    return sorted((f["force_id"], f["criterion_id"], f["value"], f["judgement"]) for f in findings)


LONG_ROWS = [
    ["Force", "Criterion", "Value", "Evidence", "Source kind"],
    ["Norfolk Constabulary", "A2", "Yes", "attends all crimes", "letter"],
    ["MPS", "attend_all_crimes", "no", "call handlers decide", "press_summary"],
    ["Devon & Cornwall", "Mobile technology on patrol", "limited ", None, "press_summary"],
    ["GMP", "A5", "Partial", None, "press_summary"],
    ["dyfed powys", "P1", "Some crime types", None, "secondary"],
]


def test_long_form_messy_workbook(tmp_path, loader):
    rows = [["Core Business coding - DRAFT", None, None, None, None],
            ["Prepared by the analysis team", None, None, None, None],
            [None] * 5,
            *LONG_ROWS[:3], [None] * 5, *LONG_ROWS[3:],
            [None] * 5,
            ["Notes: values follow codebook.yaml", None, None, None, None]]
    path = _xlsx(tmp_path / "coded.xlsx", {"Findings": rows}, merge={"Findings": "A1:E1"})
    res = loader.load_file(path, "test_round")
    assert _key(res.findings) == [
        ("devon-and-cornwall", "F4", "limited", "negative"), ("dyfed-powys", "P1", "some_crime_types", "partial"),
        ("greater-manchester", "A5", "mixed", "partial"), ("metropolitan", "A2", "no", "negative"),
        ("norfolk", "A2", "yes", "positive")]
    # the note row under the table is kept, as a reject, with its cell reference
    assert len(res.rejects) == 1 and "note" in res.rejects[0]["reason"]
    assert res.rejects[0]["location"] == "Findings!row 12"
    assert res.records_read == res.used + len(res.rejects) == 6
    norfolk = next(f for f in res.findings if f["force_id"] == "norfolk")
    assert norfolk["source_ref"].endswith("Findings!C5") and norfolk["source_kind"] == "letter"


def test_wide_form_with_area_title_row_and_several_sheets(tmp_path, loader):
    readme = [["Read me"], ["This workbook holds the framework matrix."]]
    wide = [["Framework matrix (wide)", None, None, None],
            [None, "Attendance", None, "Freeing up time"],
            ["Police force", "A2 Attend-all-crimes policy", "A5", "mobile_technology"],
            ["Norfolk", "Y", None, "Limited"],
            [None, None, None, None],
            ["Met", "✗", "mixed", None],
            ["Greater Manchester Police", None, None, None]]
    path = _xlsx(tmp_path / "wide.xlsx", {"Read me": readme, "Matrix": wide}, merge={"Matrix": "B2:C2"})
    res = loader.load_file(path, "test_round")
    assert _key(res.findings) == [("metropolitan", "A2", "no", "negative"), ("metropolitan", "A5", "mixed", "partial"),
                                  ("norfolk", "A2", "yes", "positive"), ("norfolk", "F4", "limited", "negative")]
    # blank cells are not coded: GMP (all blank) produces nothing and is not a reject
    assert res.rejects == [] and res.records_read == 4
    assert any("Read me" in s for s in res.skipped_sheets)
    assert {f["source_ref"].split(":")[-1] for f in res.findings} >= {"Matrix!B4", "Matrix!D4"}


def test_wide_and_long_give_identical_findings(tmp_path, loader):
    codes = {("Norfolk", "A2"): "yes", ("Norfolk", "F4"): "limited", ("Suffolk", "A2"): "no",
             ("Suffolk", "P1"): "none", ("Kent", "A5"): "good"}
    long_rows = [["force", "criterion_id", "value"]] + [[f, c, v] for (f, c), v in codes.items()]
    crits = ["A2", "F4", "P1", "A5"]
    forces = ["Norfolk", "Suffolk", "Kent"]
    wide_rows = [["force", *crits]] + [[f, *[codes.get((f, c)) for c in crits]] for f in forces]
    a = loader.load_file(_xlsx(tmp_path / "long.xlsx", {"S": long_rows}), "r")
    b = loader.load_file(_xlsx(tmp_path / "wide.xlsx", {"S": wide_rows}), "r")
    csv = tmp_path / "long.csv"
    pd.DataFrame(long_rows[1:], columns=long_rows[0]).to_csv(csv, index=False)
    c = loader.load_file(csv, "r")

    def tidy(res):
        from analysis.coded import findings_frame
        df = findings_frame(res.findings).drop(columns=["source_ref"])
        return df.sort_values(["force_id", "criterion_id"], ignore_index=True)

    pd.testing.assert_frame_equal(tidy(a), tidy(b))
    pd.testing.assert_frame_equal(tidy(a), tidy(c))
    assert len(tidy(a)) == 5


def test_rejects_with_reasons_and_cells(tmp_path, loader):
    rows = [["Force", "Criterion", "Value", "Judgement", "Source kind", "Confidence"],
            ["Norfolk", "A2", "yes", None, "letter", "high"],            # ok
            ["Norfok", "A2", "yes", None, "letter", "high"],             # misspelt force
            ["Suffolk", "A12", "yes", None, "letter", "high"],           # unknown criterion
            ["Suffolk", "P2", "Yes", None, "letter", "high"],            # value not allowed
            ["Suffolk", "A2", None, None, "letter", "high"],             # blank value
            ["Suffolk", "A2", "yes", "negative", "letter", "high"],      # value/judgement disagree
            ["Suffolk", "F4", None, "negative", "letter", "high"],       # ambiguous judgement
            ["Kent", "A2", "yes", None, "blog", "high"],                 # unknown source kind
            ["Kent", "A2", "yes", None, "letter", "sure"],               # bad confidence
            ["Kent", "A2", dt.datetime(2014, 9, 3), None, "letter", "high"],  # a date where text was expected
            [None, "A2", "yes", None, "letter", "high"],                 # no force
            ["Norfolk", "A2", "yes", None, "letter", "high"]]            # duplicate of row 2
    res = loader.load_file(_xlsx(tmp_path / "bad.xlsx", {"Coding": rows}), "test_round")
    assert len(res.findings) == 1
    reasons = {r["location"]: r["reason"] for r in res.rejects}
    assert "did you mean 'Norfolk'" in reasons["Coding!A3"]
    assert "unknown criterion 'A12'" in reasons["Coding!row 4"]
    assert "not allowed for P2" in reasons["Coding!row 5"]
    assert "blank value" in reasons["Coding!row 6"]
    assert "judgement column says 'negative'" in reasons["Coding!row 7"]
    assert "ambiguous" in reasons["Coding!row 8"]
    assert "source_kind 'blog'" in reasons["Coding!row 9"]
    assert "confidence 'sure'" in reasons["Coding!row 10"]
    assert "2014-09-03" in reasons["Coding!row 11"]
    assert "no force" in reasons["Coding!row 12"]
    assert "duplicate of" in reasons["Coding!C13"]
    assert res.records_read == 12 == res.used + len(res.rejects)


def test_formula_cells_are_rejected_never_evaluated(tmp_path, loader):
    rows = [["Force", "A2", "A5"], ["Norfolk", "=IF(1,\"yes\",\"no\")", "good"]]
    res = loader.load_file(_xlsx(tmp_path / "f.xlsx", {"S": rows}), "r")
    assert _key(res.findings) == [("norfolk", "A5", "good", "positive")]
    assert "formula" in res.rejects[0]["reason"] and res.rejects[0]["location"] == "S!B2"


def test_csv_encodings(tmp_path, loader):
    text = "force,criterion,value,evidence\nNorfolk,A2,yes,Zoë’s letter – attends all\n"
    for enc in ("utf-8-sig", "cp1252", "utf-8"):
        p = tmp_path / f"{enc}.csv"
        p.write_bytes(text.encode(enc))
        res = loader.load_file(p, "r")
        assert res.findings[0]["evidence"] == "Zoë’s letter – attends all", enc
    # Excel's "Unicode Text": UTF-16 with a byte-order mark, tab-separated
    for enc in ("utf-16", "utf-16-be"):
        p = tmp_path / f"{enc}.csv"
        p.write_bytes(("\ufeff" if enc.endswith("be") else "").encode(enc) + text.replace(",", "\t").encode(enc))
        res = loader.load_file(p, "r")
        assert res.findings[0]["evidence"] == "Zoë’s letter – attends all", enc


def test_round_column_must_match_folder(tmp_path, loader):
    p = tmp_path / "r.csv"
    p.write_text("force,round,criterion,value\nNorfolk,peel_2014,A2,yes\nNorfolk,r,A5,good\n", encoding="utf-8")
    res = loader.load_file(p, "r")
    assert len(res.findings) == 1 and "differs from the folder's round" in res.rejects[0]["reason"]


def test_no_header_is_a_clear_error(tmp_path, loader):
    p = tmp_path / "nohead.csv"
    p.write_text("Norfolk,A2,yes\nSuffolk,A2,no\n", encoding="utf-8")
    with pytest.raises(InputError, match="no header row in the first 30 rows.*Fix: add a header row"):
        loader.load_file(p, "r")
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="empty"):
        loader.load_file(empty, "r")


def test_truncated_xlsx_is_a_clear_error(tmp_path, loader):
    good = _xlsx(tmp_path / "ok.xlsx", {"S": [["Force", "A2"], ["Norfolk", "yes"]]})
    bad = tmp_path / "truncated.xlsx"
    bad.write_bytes(good.read_bytes()[:300])
    with pytest.raises(InputError, match="truncated.xlsx.*Fix: re-save"):
        loader.load_file(bad, "r")


def test_password_protected_or_old_xls_workbook_says_so(tmp_path, loader):
    """An encrypted .xlsx (or an .xls renamed) is an OLE2 compound file, not a zip: say what it
    is and how to save it, rather than 'not a zip file'."""
    bad = tmp_path / "locked.xlsx"
    bad.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    with pytest.raises(InputError, match="locked.xlsx: an old-format .* or password-protected workbook.*"
                                         "Fix: open it in Excel and save it as .xlsx"):
        loader.load_file(bad, "r")


def test_build_reconciles_and_keeps_every_row(mini_raw):
    rows = [["Force", "Criterion", "Value", "Source kind"], ["Norfolk", "A2", "yes", "letter"],
            ["Nowhere", "A2", "yes", "letter"], ["Suffolk", "A2", "maybe", "letter"]]
    _xlsx(mini_raw / "test_round" / "coded" / "a.xlsx", {"S": rows})
    (mini_raw / "test_round" / "coded" / "b.csv").write_text(
        "force,A2,F4\nKent,no,some\nEssex,,\n", encoding="utf-8")
    tables = build_tables(load_inputs(Paths(raw=mini_raw)), log=lambda s: None)
    recon = tables["reconciliation"].set_index("file")
    assert recon.loc["test_round/coded/a.xlsx", ["records_read", "used", "rejected"]].tolist() == [3, 1, 2]
    assert recon.loc["test_round/coded/b.csv", ["records_read", "used", "rejected"]].tolist() == [2, 2, 0]
    m = tables["matrix"]
    assert len(m) == 43 * 19
    essex = m[(m.force_id == "essex") & (m.criterion_id == "A2")].iloc[0]
    assert essex["status"] == "not_reported" and essex["judgement"] == "not_reported"
    assert set(tables["rejects"]["file"]) == {"test_round/coded/a.xlsx"}
    f = tables["findings"]
    assert (f["source_kind"] == "secondary").sum() == 2  # b.csv names no source: weakest, and says so
    assert f.loc[f.source_kind == "secondary", "note"].str.contains("not given").all()


def test_hidden_rows_and_columns_are_rejected_not_silently_used(tmp_path, loader):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "M"
    for row in (["Force", "A2", "A5"], ["Norfolk", "yes", "good"], ["Suffolk", "no", "poor"]):
        ws.append(row)
    ws.row_dimensions[3].hidden = True
    ws.column_dimensions["C"].hidden = True
    wb.save(tmp_path / "h.xlsx")
    res = loader.load_file(tmp_path / "h.xlsx", "r")
    assert _key(res.findings) == [("norfolk", "A2", "yes", "positive")]
    reasons = sorted(r["reason"].split(";")[0] for r in res.rejects)
    assert any("hidden column" in r for r in reasons) and any("row is hidden" in r for r in reasons)
    assert res.records_read == 4 == res.used + len(res.rejects)


def test_force_merged_down_rows_applies_to_each_row(tmp_path, loader):
    rows = [["Force", "Criterion", "Value"], ["Norfolk", "A2", "yes"], [None, "A5", "good"], ["Kent", "A2", "no"]]
    path = _xlsx(tmp_path / "m.xlsx", {"S": rows}, merge={"S": "A2:A3"})
    res = loader.load_file(path, "r")
    assert _key(res.findings) == [("kent", "A2", "no", "negative"), ("norfolk", "A2", "yes", "positive"),
                                  ("norfolk", "A5", "good", "positive")]


def test_huge_cell_is_rejected(tmp_path, loader):
    p = tmp_path / "big.csv"
    p.write_text("force,criterion,value,evidence\nNorfolk,A2,yes," + "x" * 20_000 + "\n", encoding="utf-8")
    res = loader.load_file(p, "r")
    assert not res.findings and "longer than 10,000" in res.rejects[0]["reason"]


def test_judgement_symbols_are_read_as_typed_and_placeholders_refused(tmp_path, loader):
    """'+/-' is partial (it was read as '+', positive); a lone dash, 'N/A', 'TBC' and Excel's
    '#N/A' are refused with the fix (blank = not coded), never guessed."""
    rows = [["Force", "A5", "A2", "F4"],
            ["Norfolk", "+/-", "+", None],
            ["Suffolk", "±", None, "N/A"],
            ["Kent", "-", "TBC", "#N/A"],
            ["Essex", "~", "not reported", "limited"]]
    res = loader.load_file(_xlsx(tmp_path / "symbols.xlsx", {"S": rows}), "r")
    assert _key(res.findings) == [("essex", "A5", "mixed", "partial"), ("essex", "F4", "limited", "negative"),
                                  ("norfolk", "A2", "yes", "positive"), ("norfolk", "A5", "mixed", "partial"),
                                  ("suffolk", "A5", "mixed", "partial")]
    reasons = {r["location"]: r["reason"] for r in res.rejects}
    assert set(reasons) == {"S!D3", "S!B4", "S!C4", "S!D4", "S!C5"}
    assert "could mean negative or nothing" in reasons["S!B4"]
    for loc in ("S!D3", "S!C4", "S!C5"):
        assert "is not a value" in reasons[loc] and "leave the cell blank" in reasons[loc]
    assert "Excel error" in reasons["S!D4"]
    assert res.records_read == res.used + len(res.rejects) == 10
    # the same in a long sheet's judgement column
    long_rows = [["Force", "Criterion", "Judgement"], ["Norfolk", "A5", "+/-"], ["Kent", "A5", "-"],
                 ["Essex", "A5", "n/a"]]
    res = loader.load_file(_xlsx(tmp_path / "long.xlsx", {"S": long_rows}), "r")
    assert _key(res.findings) == [("norfolk", "A5", "mixed", "partial")]
    assert [r["reason"].split(":")[0] for r in res.rejects] == ["judgement '-' is not a judgement",
                                                                 "judgement 'n/a' is not a judgement"]
    assert all("leave the cell blank" in r["reason"] for r in res.rejects)


def test_total_and_unknown_force_rows_of_a_wide_sheet_reject_each_cell_at_its_address(tmp_path, loader):
    rows = [["Force", "A2", "A5", "F4"],
            ["Norfolk", "yes", "good", None],
            ["Norfok Constabulary", "no", None, "some"],
            [None, None, None, None],
            ["Total", 1, 1, 1],
            ["Count of yes", 1, None, None]]
    res = loader.load_file(_xlsx(tmp_path / "totals.xlsx", {"Matrix": rows}), "r")
    assert _key(res.findings) == [("norfolk", "A2", "yes", "positive"), ("norfolk", "A5", "good", "positive")]
    by_loc = {r["location"]: r for r in res.rejects}
    assert len(by_loc) == len(res.rejects) == 6  # one reject a cell, each at its own address
    assert {loc for loc, r in by_loc.items() if "total or summary row" in r["reason"]} == {
        "Matrix!B5", "Matrix!C5", "Matrix!D5", "Matrix!B6"}
    assert {loc for loc, r in by_loc.items() if "unknown force 'Norfok Constabulary'" in r["reason"]} == {
        "Matrix!B3", "Matrix!D3"}
    assert by_loc["Matrix!D3"]["raw"] == "Norfok Constabulary | no |  | some"
    assert res.records_read == res.used + len(res.rejects) == 8


def test_wide_sheet_with_each_criterions_own_evidence_note_and_source(tmp_path, loader):
    """'A2 evidence', 'Notes (F4)', 'F4 source kind' belong to their criterion: they override
    the row's evidence and source, notes are joined, and one with no code beside it is refused."""
    rows = [["Force", "A2", "A2 evidence", "F4 Mobile technology on patrol", "Notes (F4)",
             "F4 source kind", "Evidence", "Source kind", "Note"],
            ["Norfolk", "yes", "attends every crime", "limited", "few devices", "press_summary",
             "row evidence", "letter", "row note"],
            ["Suffolk", "no", None, None, None, None, "row evidence", "letter", None],
            ["Kent", None, "call handlers decide", "some", None, "blog", None, "letter", None]]
    res = loader.load_file(_xlsx(tmp_path / "own.xlsx", {"M": rows}), "r")
    got = {(f["force_id"], f["criterion_id"]): f for f in res.findings}
    assert set(got) == {("norfolk", "A2"), ("norfolk", "F4"), ("suffolk", "A2")}
    a2, f4 = got["norfolk", "A2"], got["norfolk", "F4"]
    assert (a2["evidence"], a2["source_kind"], a2["note"]) == ("attends every crime", "letter", "row note")
    assert (f4["evidence"], f4["source_kind"], f4["note"]) == ("row evidence", "press_summary", "row note; few devices")
    assert got["suffolk", "A2"]["evidence"] == "row evidence"
    reasons = {r["location"]: r["reason"] for r in res.rejects}
    assert set(reasons) == {"M!C4", "M!D4"}
    assert "evidence for A2 ('A2 evidence') but no A2 code in this row" in reasons["M!C4"]
    assert "F4's own columns: source_kind 'blog'" in reasons["M!D4"]
    assert res.records_read == res.used + len(res.rejects) == 5


def test_criterion_meta_headers():
    from analysis.coded import criterion_meta_header
    cb = Codebook.load(P.codebook)
    assert criterion_meta_header("A2 evidence", cb) == ("A2", "evidence")
    assert criterion_meta_header("A2 Attend-all-crimes policy - notes", cb) == ("A2", "note")
    assert criterion_meta_header("Source URL (mobile technology)", cb) == ("F4", "source_url")
    assert criterion_meta_header("F4 source", cb) == ("F4", "source_url")
    assert criterion_meta_header("Evidence: attend_all_crimes", cb) == ("A2", "evidence")
    for other in ("A2", "Evidence", "A12 evidence", "Region", "A2 score"):
        assert criterion_meta_header(other, cb) is None


def test_two_columns_for_one_criterion_are_read_and_noted(mini_raw, loader):
    rows = [["Force", "F4", "Mobile technology", "A2"],
            ["Norfolk", "limited", "limited", "yes"],
            ["Suffolk", "none", "some", None]]
    path = _xlsx(mini_raw / "test_round" / "coded" / "twice.xlsx", {"M": rows})
    res = loader.load_file(path, "r")
    assert res.notes == ["sheet M: columns B ('F4'), C ('Mobile technology') are all read as F4; "
                         "if one is not that criterion, rename its header"]
    # nothing dropped: the same code twice is kept once (the repeat a reject), two codes stay two
    assert _key(res.findings) == [("norfolk", "A2", "yes", "positive"), ("norfolk", "F4", "limited", "negative"),
                                  ("suffolk", "F4", "none", "negative"), ("suffolk", "F4", "some", "partial")]
    assert [r["location"] for r in res.rejects] == ["M!C2"] and "duplicate of" in res.rejects[0]["reason"]
    lines: list[str] = []
    build_tables(load_inputs(Paths(raw=mini_raw)), log=lines.append)
    assert f"  note: test_round/coded/twice.xlsx: {res.notes[0]}" in lines


def test_forces_across_criteria_down_is_read_like_the_wide_form(tmp_path, loader):
    """A transposed framework matrix: forces as column headers, criteria down the first column
    (a blank corner) with section headings, a note, a row-wide source kind and bad cells."""
    rows = [[None, "Norfolk", "Suffolk Constabulary", "Kent", "Source kind"],
            ["Preventing crime", None, None, None, None],
            ["A2", "yes", "no", None, "letter"],
            ["mobile technology", "limited", None, "banana", "press_summary"],
            ["A12", "yes", None, "no", None],
            ["A5", "good", None, None, "blog"],
            [None, None, "yes", None, None],
            ["Notes: coded from the letters", None, None, None, None]]
    res = loader.load_file(_xlsx(tmp_path / "across.xlsx", {"M": rows}), "r")
    got = {(f["force_id"], f["criterion_id"]): f for f in res.findings}
    assert _key(res.findings) == [("norfolk", "A2", "yes", "positive"), ("norfolk", "F4", "limited", "negative"),
                                  ("suffolk", "A2", "no", "negative")]
    assert got["norfolk", "F4"]["source_kind"] == "press_summary"
    assert got["suffolk", "A2"]["source_ref"].endswith("M!C3")
    reasons = {r["location"]: r["reason"] for r in res.rejects}
    assert reasons["M!row 2"].startswith("not data: a section heading")
    assert "value 'banana' is not allowed for F4" in reasons["M!D4"]
    assert "unknown criterion 'A12'" in reasons["M!B5"] and reasons["M!B5"] == reasons["M!D5"]
    assert "source_kind 'blog'" in reasons["M!B6"]
    assert reasons["M!C7"].startswith("no criterion named in this row")
    assert reasons["M!row 8"].startswith("not data: a note")
    assert len(reasons) == len(res.rejects) == 7
    assert res.records_read == res.used + len(res.rejects) == 10


def test_a_header_below_the_rows_searched_is_named_in_the_error(tmp_path, loader):
    rows = [[f"note line {i}"] for i in range(34)] + [["Force", "A2"], ["Norfolk", "yes"]]
    with pytest.raises(InputError, match="no header row in the first 30 rows"):
        loader.load_file(_xlsx(tmp_path / "deep.xlsx", {"Codes": rows}), "r")


@pytest.mark.parametrize("given,label,score", [
    ("high", "high", 0.9), ("Medium-high", "medium", 0.6), ("0.85", "high", 0.85), ("0,6", "medium", 0.6),
    ("45%", "low", 0.45), ("62,5%", "medium", 0.625)])
def test_confidence_words_numbers_percentages_and_decimal_commas(given, label, score):
    from analysis.coded import _confidence
    assert _confidence(given) == (label, pytest.approx(score), None)


@pytest.mark.parametrize("given", ["sure", "1,5", "1,000", "-0.1"])
def test_confidence_that_is_not_one_is_refused(given):
    from analysis.coded import _confidence
    label, score, why = _confidence(given)
    assert (label, score) == (None, None) and given in why
