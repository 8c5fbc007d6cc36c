"""A corpus of broken and hostile inputs, generated here. Each case asserts a clear error (file,
row/cell, what, how to fix) or a reject with its reason, and that nothing else was lost: the good
rows beside the bad one still reach the tidy tables."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
import yaml

from analysis.build import build, build_tables, load_inputs
from analysis.errors import InputError
from analysis.paths import Paths

GOOD = ["Suffolk", "A2", "no", "press_summary"]          # a good row kept beside every bad one
HEADER = ["Force", "Criterion", "Value", "Source kind"]


def _tables(raw: Path):
    return build_tables(load_inputs(Paths(raw=raw)), log=lambda s: None)


def _write_xlsx(path: Path, rows, sheet="Coding", hook=None):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for r in rows:
        ws.append(r)
    if hook:
        hook(wb, ws)
    wb.save(path)
    return path


def _write_csv(path: Path, rows, encoding="utf-8"):
    import csv
    import io

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def _assert_good_kept(tables):
    m = tables["matrix"]
    cell = m[(m.force_id == "suffolk") & (m.criterion_id == "A2")].iloc[0]
    assert cell["value"] == "no", "the good row beside the bad one was lost"
    recon = tables["reconciliation"]
    assert (recon["records_read"] == recon["used"] + recon["rejected"]).all()


# --- rows that must become rejects (file keeps loading) ----------------------------------------
REJECT_CASES = {
    "unknown_force": (["Atlantis", "A2", "yes", "letter"], "unknown force 'Atlantis'"),
    "misspelt_force": (["Norfok", "A2", "yes", "letter"], "did you mean 'Norfolk'"),
    "misspelt_force_2": (["Greater Manchestr", "A2", "yes", "letter"], "did you mean 'Greater Manchester'"),
    "date_for_force": (["2014-09-03", "A2", "yes", "letter"], "unknown force '2014-09-03'"),
    "unknown_criterion": (["Norfolk", "A99", "yes", "letter"], "unknown criterion 'A99'"),
    "unknown_criterion_label": (["Norfolk", "Use of drones", "yes", "letter"], "unknown criterion"),
    "unknown_value": (["Norfolk", "A2", "sometimes", "letter"], "not allowed for A2"),
    "value_of_other_criterion": (["Norfolk", "A2", "well_managed", "letter"], "not allowed for A2"),
    "blank_value": (["Norfolk", "A2", None, "letter"], "blank value"),
    "blank_force": ([None, "A2", "yes", "letter"], "no force named"),
    "bad_source_kind": (["Norfolk", "A2", "yes", "twitter"], "source_kind 'twitter'"),
    "date_for_value": (["Norfolk", "A2", "2014-09-03 00:00:00", "letter"], "2014-09-03"),
    "number_for_value": (["Norfolk", "P2", 3, "letter"], "'3' is not allowed for P2"),
    "formula_injection_value": (["Norfolk", "A2", "=cmd|' /C calc'!A0", "letter"], r"not allowed|formula in cell"),
    "note_row": (["Note: Kent to follow", None, None, None], "note or comment row"),
}


@pytest.mark.parametrize("case", sorted(REJECT_CASES))
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_bad_row_is_rejected_with_reason_and_nothing_else_lost(mini_raw, case, fmt):
    bad, fragment = REJECT_CASES[case]
    rows = [HEADER, GOOD, bad]
    folder = mini_raw / "test_round" / "coded"
    if fmt == "csv":
        _write_csv(folder / f"{case}.csv", [[("" if v is None else v) for v in r] for r in rows])
    else:
        _write_xlsx(folder / f"{case}.xlsx", rows)
    t = _tables(mini_raw)
    _assert_good_kept(t)
    rej = t["rejects"]
    assert len(rej) == 1, rej
    assert re.search(fragment, rej["reason"].iloc[0])
    assert rej["file"].iloc[0] == f"test_round/coded/{case}.{fmt}"
    assert "3" in rej["location"].iloc[0]  # the row (csv) or the cell/row (xlsx) of the bad record


def test_duplicate_rows_kept_once(mini_raw):
    _write_csv(mini_raw / "test_round" / "coded" / "d.csv", [HEADER, GOOD, GOOD])
    t = _tables(mini_raw)
    _assert_good_kept(t)
    assert len(t["findings"]) == 1 and "duplicate of" in t["rejects"]["reason"].iloc[0]


def test_conflicting_rows_same_strength_are_contested(mini_raw):
    _write_csv(mini_raw / "test_round" / "coded" / "c.csv",
               [HEADER, ["Norfolk", "A2", "yes", "press_summary"], ["Norfolk", "A2", "no", "press_summary"], GOOD])
    t = _tables(mini_raw)
    _assert_good_kept(t)
    cell = t["matrix"].query("force_id == 'norfolk' and criterion_id == 'A2'").iloc[0]
    assert cell["status"] == "contested"
    assert t["conflicts"]["resolution"].str.startswith("contested").all()


# --- files that must stop the build with a clear error -----------------------------------------
def _expect_error(raw: Path, *fragments: str):
    with pytest.raises(InputError) as exc:
        _tables(raw)
    msg = str(exc.value)
    for f in fragments:
        assert f in msg, msg
    assert "Fix:" in msg
    return msg


def test_empty_csv(mini_raw):
    (mini_raw / "test_round" / "coded" / "e.csv").write_text("", encoding="utf-8")
    _expect_error(mini_raw, "e.csv", "empty")


def test_header_only_csv(mini_raw):
    _write_csv(mini_raw / "test_round" / "coded" / "h.csv", [HEADER])
    _expect_error(mini_raw, "h.csv", "no data rows")


def test_header_only_xlsx(mini_raw):
    _write_xlsx(mini_raw / "test_round" / "coded" / "h.xlsx", [HEADER])
    _expect_error(mini_raw, "h.xlsx", "no data rows")


def test_wrong_sheet_no_header_anywhere(mini_raw):
    def add(wb, ws):
        other = wb.create_sheet("Pivot")
        other.append(["Region", "Count"])
        other.append(["Eastern", 3])
    _write_xlsx(mini_raw / "test_round" / "coded" / "w.xlsx", [["Summary of coding"], ["see other sheet"]], hook=add)
    _expect_error(mini_raw, "w.xlsx", "no sheet has a header row")


def test_truncated_xlsx(mini_raw, tmp_path):
    ok = _write_xlsx(tmp_path / "ok.xlsx", [HEADER, GOOD])
    (mini_raw / "test_round" / "coded" / "t.xlsx").write_bytes(ok.read_bytes()[: len(ok.read_bytes()) // 2])
    _expect_error(mini_raw, "t.xlsx", "not a readable Excel workbook")


def test_binary_renamed_to_csv(mini_raw):
    (mini_raw / "test_round" / "coded" / "b.csv").write_bytes(b"PK\x03\x04\x00\x00binary\x00junk")
    _expect_error(mini_raw, "b.csv", "NUL")


def test_unsupported_extension_is_not_read(mini_raw):
    _write_csv(mini_raw / "test_round" / "coded" / "ok.csv", [HEADER, GOOD])
    (mini_raw / "test_round" / "coded" / "coding.ods").write_bytes(b"not read")
    (mini_raw / "test_round" / "coded" / "~$lock.xlsx").write_bytes(b"excel lock file")
    t = _tables(mini_raw)
    _assert_good_kept(t)
    assert set(t["reconciliation"]["file"]) == {"test_round/coded/ok.csv"}


def test_encodings_cp1252_and_bom(mini_raw):
    folder = mini_raw / "test_round" / "coded"
    rows = [HEADER + ["Evidence"], GOOD + ["Zoë’s note – fine"]]
    _write_csv(folder / "a.csv", rows, encoding="cp1252")
    _write_csv(folder / "b.csv", [HEADER + ["Evidence"], ["Norfolk", "A2", "yes", "letter", "Zoë – ok"]],
               encoding="utf-8-sig")
    t = _tables(mini_raw)
    _assert_good_kept(t)
    assert set(t["findings"]["evidence"]) == {"Zoë’s note – fine", "Zoë – ok"}


def test_xlsm_macros_never_run_or_kept(mini_raw, tmp_path):
    src = _write_xlsx(tmp_path / "m.xlsx", [HEADER, GOOD])
    dest = mini_raw / "test_round" / "coded" / "macro.xlsm"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, zin.read(item.filename))
        zout.writestr("xl/vbaProject.bin", b"\xd0\xcf\x11\xe0 fake macro project: Shell(\"calc\")")
    t = _tables(mini_raw)
    _assert_good_kept(t)
    assert len(t["findings"]) == 1
    assert "vbaProject" not in t["findings"].to_csv() and "Shell" not in t["rejects"].to_csv()


def test_formula_cells_rejected(mini_raw):
    _write_xlsx(mini_raw / "test_round" / "coded" / "f.xlsx",
                [HEADER, GOOD, ["Norfolk", "A2", '=IF(TRUE,"yes","no")', "letter"]])
    t = _tables(mini_raw)
    _assert_good_kept(t)
    assert "formula" in t["rejects"]["reason"].iloc[0] and "Coding!C3" in t["rejects"]["reason"].iloc[0]


def test_merged_and_hidden_cells(mini_raw):
    def hook(wb, ws):
        ws.merge_cells("A2:A3")
        ws.row_dimensions[4].hidden = True
    _write_xlsx(mini_raw / "test_round" / "coded" / "mh.xlsx",
                [HEADER, GOOD, [None, "A5", "good", "press_summary"], ["Kent", "A2", "no", "letter"]], hook=hook)
    t = _tables(mini_raw)
    _assert_good_kept(t)
    f = t["findings"]
    assert set(zip(f.force_id, f.criterion_id)) == {("suffolk", "A2"), ("suffolk", "A5")}
    assert "hidden" in t["rejects"]["reason"].iloc[0]


def test_huge_cell(mini_raw):
    _write_csv(mini_raw / "test_round" / "coded" / "big.csv",
               [HEADER + ["Evidence"], GOOD + ["ok"], ["Norfolk", "A2", "yes", "letter", "y" * 50_000]])
    t = _tables(mini_raw)
    _assert_good_kept(t)
    assert "longer than" in t["rejects"]["reason"].iloc[0]


def test_codebook_duplicate_id(mini_raw):
    doc = yaml.safe_load((mini_raw / "codebook.yaml").read_text(encoding="utf-8"))
    doc["criteria"].append(dict(doc["criteria"][5], key="dup"))
    (mini_raw / "codebook.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    _expect_error(mini_raw, "codebook.yaml", "duplicate criterion id 'P6'")


@pytest.mark.parametrize("text,fragment", [
    ("rounds:\n  - id: test_round\n    kind: [coded]\n  - id: test_round\n    kind: [coded]\n", "used twice"),
    ("rounds:\n  - id: test_round\n    kind: [coded]\n    updates: nowhere\n", "updates unknown round"),
    ("rounds:\n  - id: test_round\n    kind: coded\n  - id: missing_round\n    kind: [coded]\n", "does not exist"),
    ("rounds:\n - id: [\n", "not valid YAML"),
    ("!!python/object/apply:os.system ['touch /tmp/pwned-core-business']\n", "not valid YAML"),
])
def test_rounds_yaml_errors(mini_raw, text, fragment):
    (mini_raw / "rounds.yaml").write_text(text, encoding="utf-8")
    _expect_error(mini_raw, "rounds.yaml", fragment)
    assert not Path("/tmp/pwned-core-business").exists()


def test_grades_outside_scale_name_file_and_row(mini_raw):
    (mini_raw / "rounds.yaml").write_text(
        "rounds:\n  - id: test_round\n    kind: [coded, grades]\n", encoding="utf-8")
    (mini_raw / "test_round" / "grades").mkdir()
    (mini_raw / "test_round" / "grades" / "g.csv").write_text(
        "force,question_id,grade\nNorfolk,effectiveness,Good\nKent,effectiveness,Excellent\nAtlantis,x,Good\n",
        encoding="utf-8")
    msg = _expect_error(mini_raw, "g.csv", "row 3", "'Excellent' is not on the PEEL scale", "row 4",
                        "unknown force 'Atlantis'")
    assert "2 problem(s)" in msg


def test_measures_non_numeric(mini_raw):
    (mini_raw / "rounds.yaml").write_text(
        "rounds:\n  - id: test_round\n    kind: [coded, measures]\n", encoding="utf-8")
    (mini_raw / "test_round" / "measures").mkdir()
    (mini_raw / "test_round" / "measures" / "m.csv").write_text(
        "force,measure,value\nNorfolk,crimes_attended_pct,about 98\n", encoding="utf-8")
    _expect_error(mini_raw, "m.csv", "row 2", "not a number", "qualifier")


def test_missing_forces_file(mini_raw):
    (mini_raw / "reference" / "forces.csv").unlink()
    _expect_error(mini_raw, "forces.csv", "not found")
