"""More broken and hostile inputs (beside test_hostile.py): wide-form sheets with hidden, unknown
or formula columns, a real Excel date where a force name belongs, semicolon- and tab-separated
"CSV", bad reference tables and codebooks, and a letter with no recognisable headings. Each gives
a clear error or a reject with its reason, and the good records beside it are kept."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import yaml

from analysis.build import build_tables, load_inputs
from analysis.errors import InputError
from analysis.paths import Paths


def _tables(raw: Path):
    return build_tables(load_inputs(Paths(raw=raw)), log=lambda s: None)


def _xlsx(path: Path, rows, hook=None) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Matrix"
    for r in rows:
        ws.append(r)
    if hook:
        hook(ws)
    wb.save(path)
    return path


def _kept(tables, force="suffolk", cid="A2", value="no"):
    m = tables["matrix"]
    assert m[(m.force_id == force) & (m.criterion_id == cid)]["value"].iloc[0] == value
    recon = tables["reconciliation"]
    assert (recon["records_read"] == recon["used"] + recon["rejected"]).all()


WIDE_HEADER = ["Force", "A2", "F4", "Source kind"]


def test_wide_form_hidden_column_is_rejected_not_used(mini_raw):
    def hide(ws):
        ws.column_dimensions["C"].hidden = True
    _xlsx(mini_raw / "test_round" / "coded" / "wide.xlsx",
          [WIDE_HEADER, ["Suffolk", "no", "limited", "press_summary"]], hook=hide)
    t = _tables(mini_raw)
    _kept(t)
    assert set(t["findings"]["criterion_id"]) == {"A2"}
    rej = t["rejects"]
    assert len(rej) == 1 and "hidden column" in rej["reason"].iloc[0] and rej["location"].iloc[0] == "Matrix!C2"


def test_wide_form_unknown_criterion_column_rejects_each_cell(mini_raw):
    _xlsx(mini_raw / "test_round" / "coded" / "wide.xlsx",
          [["Force", "A2", "A99 Drones", "Source kind"], ["Suffolk", "no", "yes", "press_summary"],
           ["Kent", "yes", "no", "press_summary"]])
    t = _tables(mini_raw)
    _kept(t)
    rej = t["rejects"]
    assert len(rej) == 2 and rej["reason"].str.contains("unknown criterion column 'A99 Drones'").all()


def test_wide_form_formula_cell_is_rejected(mini_raw):
    _xlsx(mini_raw / "test_round" / "coded" / "wide.xlsx",
          [WIDE_HEADER, ["Suffolk", "no", '=IF(1,"limited","none")', "press_summary"]])
    t = _tables(mini_raw)
    _kept(t)
    rej = t["rejects"]
    assert len(rej) == 1 and "formula" in rej["reason"].iloc[0] and rej["location"].iloc[0] == "Matrix!C2"


def test_excel_date_where_a_force_name_belongs(mini_raw):
    _xlsx(mini_raw / "test_round" / "coded" / "long.xlsx",
          [["Force", "Criterion", "Value", "Source kind"], ["Suffolk", "A2", "no", "press_summary"],
           [dt.datetime(2014, 9, 3), "A2", "yes", "letter"]])
    t = _tables(mini_raw)
    _kept(t)
    assert "unknown force '2014-09-03T00:00:00'" in t["rejects"]["reason"].iloc[0]


@pytest.mark.parametrize("sep", [";", "\t"])
def test_semicolon_and_tab_separated_csv_read_like_comma_csv(mini_raw, sep):
    rows = [["Force", "Criterion", "Value", "Source kind", "Evidence"],
            ["Suffolk", "A2", "no", "press_summary", "Attendance is decided by risk, not policy"],
            ["Kent", "F4", "limited", "letter", "Some officers have tablets"]]
    text = "\n".join(sep.join(r) for r in rows) + "\n"  # as Excel writes it: commas in text unquoted
    (mini_raw / "test_round" / "coded" / "euro.csv").write_text(text, encoding="utf-8-sig")
    t = _tables(mini_raw)
    _kept(t)
    f = t["findings"].set_index("force_id")
    assert f.loc["suffolk", "evidence"] == "Attendance is decided by risk, not policy"
    assert f.loc["kent", "value"] == "limited" and len(t["rejects"]) == 0


def test_forces_table_with_a_duplicate_id(mini_raw):
    path = mini_raw / "reference" / "forces.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines + [lines[1]]) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="duplicate force_id") as exc:
        _tables(mini_raw)
    assert "forces.csv" in str(exc.value) and "Fix:" in str(exc.value)


def test_codebook_value_with_an_unknown_judgement(mini_raw):
    doc = yaml.safe_load((mini_raw / "codebook.yaml").read_text(encoding="utf-8"))
    first = doc["criteria"][0]
    first["values"][next(iter(first["values"]))] = "excellent"
    (mini_raw / "codebook.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(InputError, match="unknown judgements") as exc:
        _tables(mini_raw)
    assert "codebook.yaml" in str(exc.value) and first["id"] in str(exc.value)


def test_letter_with_no_recognisable_headings_names_the_file(mini_raw):
    (mini_raw / "rounds.yaml").write_text(
        "rounds:\n  - id: test_round\n    kind: [coded, letters]\n", encoding="utf-8")
    (mini_raw / "test_round" / "letters").mkdir()
    (mini_raw / "test_round" / "letters" / "suffolk_2014-09-03.txt").write_text(
        "Chief Constable, Suffolk Constabulary\n\nDear Chief Constable\n\nThank you for hosting the "
        "inspection team last month.\n\nYours sincerely\n", encoding="utf-8")
    with pytest.raises(InputError, match="no findings found") as exc:
        _tables(mini_raw)
    assert "suffolk_2014-09-03.txt" in str(exc.value) and "Fix:" in str(exc.value)


@pytest.mark.parametrize("state", ["hidden", "veryHidden"])
@pytest.mark.parametrize("form", ["long", "wide"])
def test_codes_on_a_hidden_sheet_are_rejected_like_hidden_rows(mini_raw, state, form):
    """A visible sheet is used; every code on a hidden (or 'very hidden') sheet goes to rejects,
    naming the sheet and how to include it; a hidden sheet without a header (a drop-down list)
    is skipped as any notes sheet is."""
    path = mini_raw / "test_round" / "coded" / "two_sheets.xlsx"
    wb = openpyxl.Workbook()
    vis = wb.active
    vis.title = "Visible"
    for r in ([["Force", "Criterion", "Value", "Source kind"], ["Suffolk", "A2", "no", "press_summary"]]):
        vis.append(r)
    old = wb.create_sheet("Old draft")
    rows = ([["Force", "Criterion", "Value", "Source kind"], ["Kent", "A2", "yes", "press_summary"],
             ["Kent", "F4", "limited", "press_summary"]] if form == "long"
            else [WIDE_HEADER, ["Kent", "yes", "limited", "press_summary"]])
    for r in rows:
        old.append(r)
    old.sheet_state = state
    lists = wb.create_sheet("Lists")
    for v in ("yes", "no", "limited"):
        lists.append([v])
    lists.sheet_state = "hidden"
    wb.save(path)
    t = _tables(mini_raw)
    _kept(t)
    assert not (t["findings"]["force_id"] == "kent").any()
    rej = t["rejects"][t["rejects"]["file"].str.endswith("two_sheets.xlsx")]
    assert len(rej) == 2
    assert rej["reason"].str.contains("sheet 'Old draft' is hidden in Excel; unhide the sheet").all()
    assert rej["location"].str.startswith("Old draft!").all()


# ----- files the build would not read ------------------------------------------------------------
def test_files_the_build_does_not_read_are_listed_with_the_fix(mini_raw):
    """A round folder without its rounds.yaml entry, grades saved as .xlsx, a letter beside letters/
    instead of in it...: each file is a reject (whole file, reason, fix), never passed over."""
    rounds_yaml = mini_raw / "rounds.yaml"
    rounds_yaml.write_text(rounds_yaml.read_text(encoding="utf-8").replace(
        "kind: [coded]", "kind: [coded, letters, grades]"), encoding="utf-8")
    (mini_raw / "test_round" / "coded" / "codes.csv").write_text(
        "force,criterion,value,source_kind\nSuffolk,A2,no,press_summary\n", encoding="utf-8")
    unread = {
        "peel_2017/coded/codes.csv": "is not a round in rounds.yaml; add an entry",
        "stray.csv": "move the file into a round's folder",
        "reference/forces_2016.csv": "reference/ is read for",
        "test_round/norfolk_letter.txt": "at the top of the round's folder",
        "test_round/Coded/more.csv": "in Coded/ are not read",
        "test_round/coded/old/codes_v1.csv": "folders inside coded/",
        "test_round/coded/codes.ods": "coded/ reads .csv, .xlsx, .xlsm files",
        "test_round/grades/grades.xlsx": "grades/ reads .csv files",
        "test_round/letters/letter.doc": "letters/ reads .txt, .pdf, .docx files",
    }
    not_data = ["README.md", "test_round/notes.md", "test_round/coded/~$codes.xlsx", "test_round/coded/.DS_Store",
                ".git/config", "reference/README.txt", "test_round/letters/Thumbs.db",
                "test_round/letters/README.txt"]  # (not parsed as a letter either)
    for rel in [*unread, *not_data]:
        path = mini_raw / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x,y\n1,2\n", encoding="utf-8")
    t = _tables(mini_raw)
    _kept(t)
    rej = t["rejects"]
    assert (rej["location"] == "whole file").all()
    got = dict(zip(rej["file"], rej["reason"]))
    assert set(got) == set(unread)
    for rel, fix in unread.items():
        assert got[rel].startswith("not read: ") and fix in got[rel], (rel, got[rel])
    rounds = dict(zip(rej["file"], rej["round"]))
    assert rounds["test_round/grades/grades.xlsx"] == "test_round" and rounds["peel_2017/coded/codes.csv"] is pd.NA
    # the inputs table lists every data file once, these as not read; documentation is not an input
    inputs = t["inputs"].set_index("file")
    assert set(unread) <= set(inputs.index) and not set(not_data) & set(inputs.index)
    assert (inputs.loc[list(unread), "role"] == "not_read").all()
    assert inputs.loc["test_round/coded/codes.csv", ["role", "round", "records_read", "used"]].tolist() == [
        "coded", "test_round", 1, 1]


def test_a_sub_folder_the_rounds_kind_does_not_list_is_not_read(mini_raw):
    """rounds.yaml says what a round holds. Coded files in a round registered as grades only
    used to reach the findings table and nothing else (no matrix is made for such a round, so
    no chart, workbook sheet or comparison showed them): now they are listed as not read, with
    the fix, and the round's grades are read as before."""
    (mini_raw / "rounds.yaml").write_text(
        (mini_raw / "rounds.yaml").read_text(encoding="utf-8")
        + "  - id: grades_round\n    title: Grades only\n    published: 2015-01-01\n    kind: [grades]\n",
        encoding="utf-8")
    (mini_raw / "test_round" / "coded" / "codes.csv").write_text(
        "force,criterion,value,source_kind\nSuffolk,A2,no,press_summary\n", encoding="utf-8")
    (mini_raw / "grades_round" / "coded").mkdir(parents=True)
    (mini_raw / "grades_round" / "coded" / "codes.csv").write_text(
        "force,criterion,value,source_kind\nSuffolk,F4,extensive,press_summary\n", encoding="utf-8")
    (mini_raw / "grades_round" / "grades").mkdir()
    (mini_raw / "grades_round" / "grades" / "g.csv").write_text(
        "force,question_id,question,grade,source_kind\nSuffolk,effectiveness,How effective?,good,hmic_page\n",
        encoding="utf-8")
    log: list[str] = []
    t = build_tables(load_inputs(Paths(raw=mini_raw)), log=log.append)
    _kept(t)
    rej = t["rejects"]
    assert rej["file"].tolist() == ["grades_round/coded/codes.csv"]
    assert not [line for line in log if "has no such files" in line]
    (mini_raw / "grades_round" / "grades" / "g.csv").unlink()
    log.clear()
    build_tables(load_inputs(Paths(raw=mini_raw)), log=log.append)
    assert "  note: grades_round: rounds.yaml lists grades but grades_round/ has no such files" in log
    assert "kind in rounds.yaml is [grades], without coded; add coded to its kind" in rej["reason"].iloc[0]
    assert "grades_round" not in set(t["findings"]["round"]) and "grades_round" in set(t["grades"]["round"])
    inputs = t["inputs"].set_index("file")
    assert inputs.loc["grades_round/coded/codes.csv", "role"] == "not_read"
    assert inputs.loc["grades_round/grades/g.csv", "role"] == "grades"


def test_strict_build_stops_on_a_file_it_does_not_read(mini_raw, tmp_path, capsys):
    from analysis.cli import main

    (mini_raw / "test_round" / "coded" / "codes.csv").write_text(
        "force,criterion,value,source_kind\nSuffolk,A2,no,press_summary\n", encoding="utf-8")
    (mini_raw / "peel_2017").mkdir()
    (mini_raw / "peel_2017" / "codes.csv").write_text("force\nSuffolk\n", encoding="utf-8")
    args = ["build", "--tables-only", "--raw", str(mini_raw), "--out", str(tmp_path / "p"),
            "--reports", str(tmp_path / "r")]
    assert main(args) == 0
    assert "peel_2017/codes.csv: not read: data/raw/peel_2017/ is not a round in rounds.yaml" in capsys.readouterr().out
    assert main([*args, "--strict"]) != 0


def test_a_folder_spelt_in_other_case_is_what_a_case_insensitive_system_opens(tmp_path):
    """On Windows and macOS data/raw/PEEL_2014/Coded/ is read as peel_2014/coded/, so it must
    not be listed as unread there (simulated here by a link: the same folder under both names)."""
    from analysis.inventory import ROUND_PARTS, _as_named

    (tmp_path / "Coded").mkdir()
    assert _as_named(tmp_path / "Coded", ROUND_PARTS) is None  # (no 'coded' here: not read)
    (tmp_path / "coded").symlink_to(tmp_path / "Coded", target_is_directory=True)
    assert _as_named(tmp_path / "Coded", ROUND_PARTS) == "coded"
    assert _as_named(tmp_path / "coded", ROUND_PARTS) == "coded"


def test_a_sheet_of_codes_under_an_unrecognised_header_is_a_reject_not_a_note(mini_raw):
    """Beside a readable sheet, a sheet whose header is not recognised is passed over as notes
    only when it does not look like codes: one naming forces with criteria is rejected (file,
    sheet, reason, fix); a read-me and a drop-down list of forces are still just skipped."""
    path = mini_raw / "test_round" / "coded" / "sheets.xlsx"
    wb = openpyxl.Workbook()
    ok = wb.active
    ok.title = "Codes"
    for r in (["Force", "Criterion", "Value", "Source kind"], ["Suffolk", "A2", "no", "press_summary"]):
        ok.append(r)
    sheets = {
        "Long, bad header": [["Police", "Measure", "Code"], ["Kent", "A2", "yes"]],
        "Wide, bad header": [["Area of force", "A2", "F4"], ["Kent", "yes", "limited"]],
        "Read me": [["How to fill this in"], ["One row per force and criterion."]],
        "Force list": [["Kent"], ["Essex"], ["Suffolk"]],
    }
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    wb.save(path)
    t = _tables(mini_raw)
    _kept(t)  # (reconciliation adds up: each rejected sheet is one record read)
    rej = t["rejects"]
    assert sorted(rej["location"]) == ["sheet Long, bad header", "sheet Wide, bad header"]
    assert rej["reason"].str.contains("has no header row").all() and rej["reason"].str.contains("add a header").all()
    assert not (t["findings"]["force_id"] == "kent").any()
