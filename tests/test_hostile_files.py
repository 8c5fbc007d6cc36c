"""Hostile files found by trying new kinds of breakage on a mini raw folder (beside
test_hostile.py and test_hostile_more.py): YAML whose aliases expand without end, YAML values of
the wrong type, broken reference tables, a quoted CSV cell that is never closed, letters saved as
UTF-16 or binary, and sheets formatted far beyond their data. Each gives a clear error naming the
file (and line or field) and the fix, or is read as the plain file would be; before, they gave a
traceback, a silent merge of rows, a 2 GB rounds table or a build of minutes."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from openpyxl.styles import Font

from analysis import safeyaml
from analysis.build import build_tables, load_inputs
from analysis.codebook import Codebook
from analysis.errors import InputError
from analysis.forces import ForceResolver
from analysis.letters import parse_letter
from analysis.paths import RAW, Paths
from analysis.rounds import Rounds
from analysis.sheets import read_xlsx_grids

SEED = RAW / "core_business_2014" / "letters" / "norfolk_2014-09-03.txt"
GOOD_CSV = "force,criterion_id,value,evidence\nSuffolk,A2,no,Not every crime is attended.\n"


def _tables(raw: Path):
    return build_tables(load_inputs(Paths(raw=raw)), log=lambda s: None)


def _only_file(raw: Path, kind: str, name: str, text: str) -> None:
    """Make the mini round a ``kind`` round (grades, measures) holding one file."""
    (raw / "rounds.yaml").write_text(f"rounds:\n  - id: test_round\n    kind: [{kind}]\n", encoding="utf-8")
    (raw / "test_round" / kind).mkdir()
    (raw / "test_round" / kind / name).write_text(text, encoding="utf-8")


def _resolver() -> ForceResolver:
    return ForceResolver.from_files(RAW / "reference" / "forces.csv", RAW / "reference" / "force_aliases.csv")


# ----- YAML -------------------------------------------------------------------------------------
def _alias_bomb(levels: int) -> str:
    """'Billion laughs': each anchor a list of nine aliases of the one before (9**levels values)."""
    names = "abcdefghij"
    lines = [f"{names[0]}: &{names[0]} [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"{names[i]}: &{names[i]} [" + ", ".join([f"*{names[i - 1]}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_rounds_yaml_whose_aliases_expand_without_end_is_refused(mini_raw):
    # 9**7 = 4.8 million values from eight lines; used as a title it was written out whole
    (mini_raw / "rounds.yaml").write_text(
        _alias_bomb(7) + "rounds:\n  - id: test_round\n    title: *g\n    kind: [coded]\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"aliases \(\*name\) expand to more than") as exc:
        _tables(mini_raw)
    assert "rounds.yaml" in str(exc.value) and "Fix:" in str(exc.value)


def test_yaml_that_contains_itself_is_refused():
    with pytest.raises(safeyaml.AliasError, match="contains itself"):
        safeyaml.safe_load("rounds:\n  - &r\n    id: test_round\n    notes: [*r]\n")


@pytest.mark.parametrize("text,want", [("# a '*' in a comment\n", None), ("'*'\n", "*"), ("x: '*'\n", {"x": "*"})])
def test_yaml_with_a_star_but_no_alias_reads_as_before(text, want):
    """(The alias walk starts on a '*' in the text; a document that is no list or mapping has none.)"""
    assert safeyaml.safe_load(text) == want


def test_yaml_with_a_few_aliases_reads_as_if_written_out(tmp_path):
    """Aliases are YAML: a codebook sharing one value list by an anchor is the same codebook."""
    shared = "values: {strength: positive, mixed: partial, weakness: negative}"
    text = (RAW / "codebook.yaml").read_text(encoding="utf-8")
    assert text.count(shared) == 3
    first = text.index(shared)
    aliased = (text[:first] + shared.replace("values: ", "values: &swm ")
               + text[first + len(shared):].replace(shared, "values: *swm"))
    (tmp_path / "codebook.yaml").write_text(aliased, encoding="utf-8")
    assert Codebook.load(tmp_path / "codebook.yaml").criteria == Codebook.load(RAW / "codebook.yaml").criteria
    assert safeyaml.safe_load(_alias_bomb(5))["e"][0][0][0][0] == ["x"] * 9  # 66,000 values: under the limit


@pytest.mark.parametrize("entry,field", [
    ("    title: [PEEL, 2014]\n", "title"),
    ("    notes: {read: all}\n", "notes"),
    ("    coverage: [full]\n", "coverage"),
    ("    updates: [test_round]\n", "updates"),
    ("    synthetic: 'no'\n", "synthetic"),
])
def test_rounds_fields_of_the_wrong_type_are_refused(mini_raw, entry, field):
    (mini_raw / "rounds.yaml").write_text(
        "rounds:\n  - id: test_round\n    kind: [coded]\n" + entry, encoding="utf-8")
    with pytest.raises(InputError, match=field) as exc:
        Rounds.load(mini_raw / "rounds.yaml")
    assert "line 2 (round test_round)" in str(exc.value) and "Fix:" in str(exc.value)


def test_rounds_kind_given_as_a_number_is_refused_not_a_crash(mini_raw):
    (mini_raw / "rounds.yaml").write_text("rounds:\n  - id: test_round\n    kind: 5\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"kind \[5\] is not a list drawn from"):
        Rounds.load(mini_raw / "rounds.yaml")


def test_rounds_text_fields_from_numbers_and_dates_are_kept_as_text(mini_raw):
    (mini_raw / "rounds.yaml").write_text(
        "rounds:\n  - id: test_round\n    title: 2014\n    notes: 2014-09-04\n    kind: coded\n"
        "    synthetic: true\n", encoding="utf-8")
    (r,) = Rounds.load(mini_raw / "rounds.yaml")
    assert (r.title, r.notes, r.kind, r.synthetic) == ("2014", "2014-09-04", ("coded",), True)


@pytest.mark.parametrize("old,new,where", [
    ("judgement_scale: [positive, partial, negative]", "judgement_scale: 5", "judgement_scale"),
    ("areas:\n  prevention:", "areas: [prevention]\nold_areas:\n  prevention:", "'areas' is not a mapping"),
    ("    label: Attend-all-crimes policy", "    label: [Attend, all]", "label is a list"),
    ("    values: {force_wide: positive, some_crime_types: partial, none: negative}", "    values: [force_wide, none]",
     "values is not a mapping"),
])
def test_codebook_fields_of_the_wrong_type_are_refused(mini_raw, old, new, where):
    path = mini_raw / "codebook.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(InputError, match=where) as exc:
        Codebook.load(path)
    assert "codebook.yaml" in str(exc.value) and "Fix:" in str(exc.value)


def test_codebook_label_that_reads_as_another_criterion_is_refused(mini_raw):
    """Sheets find a criterion by its id, key or label (as normalised); two criteria answering to
    one name sent that column to whichever came last."""
    path = mini_raw / "codebook.yaml"
    text = path.read_text(encoding="utf-8")
    assert "    label: Attend-all-crimes policy" in text
    path.write_text(text.replace("    label: Attend-all-crimes policy", "    label: P1"), encoding="utf-8")
    with pytest.raises(InputError, match=r"\(A2\): label 'P1' reads the same as P1's id") as exc:
        Codebook.load(path)
    assert "codebook.yaml" in str(exc.value) and "Fix:" in str(exc.value)


# ----- reference tables ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["forces.csv", "force_aliases.csv"])
@pytest.mark.parametrize("damage,message", [
    (lambda b: b"", "file is empty"),
    (lambda b: b.replace(b"\n", b'\n"', 1), "never closed"),
    (lambda b: b.replace(b",", b",\x00", 3), "NUL bytes"),
])
def test_broken_reference_table_names_the_file(mini_raw, name, damage, message):
    path = mini_raw / "reference" / name
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(InputError, match=message) as exc:
        _tables(mini_raw)
    assert name in str(exc.value) and "Fix:" in str(exc.value)
    if message == "never closed":
        assert ", line 2:" in str(exc.value)


@pytest.mark.parametrize("name", ["forces.csv", "force_aliases.csv"])
def test_reference_table_with_a_column_name_twice_is_refused(mini_raw, name):
    """pandas renames a repeated column 'x.1' and reads the first: the other was passed over (in
    the PEEL question map, 'Round' beside 'round' was an AttributeError traceback)."""
    path = mini_raw / "reference" / name
    lines = path.read_text(encoding="utf-8").splitlines()
    k = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    lines = lines[:k] + [lines[k] + ",Force_ID"] + [line + ",x" for line in lines[k + 1:]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"row 1 \(header\): column name\(s\) used twice: 'force_id'") as exc:
        _tables(mini_raw)
    assert name in str(exc.value)


def test_reference_tables_saved_as_windows_ansi_or_unicode_text_are_read(mini_raw):
    """Excel's 'CSV' on Windows (cp1252) and 'Unicode Text' (UTF-16): the same table, 'Zoë' intact."""
    path = mini_raw / "reference" / "forces.csv"
    text = path.read_text(encoding="utf-8")
    assert "Zoë" in text
    plain = _tables(mini_raw)["forces"]
    for encoding in ("cp1252", "utf-16"):
        path.write_bytes(text.encode(encoding))
        pd.testing.assert_frame_equal(_tables(mini_raw)["forces"], plain)


@pytest.mark.parametrize("rows,message", [
    ("Norfolk,suffolk\n", "alias 'Norfolk': points at 'suffolk' but names 'norfolk' in forces.csv"),
    ("Hants,hampshire\nHants.,kent\n", "alias 'Hants.': points at 'kent' but is already given to 'hampshire'"),
    ("Notts,\n", "alias 'Notts': a row with a blank alias or force_id"),
])
def test_force_alias_that_would_misdirect_a_force_is_refused(mini_raw, rows, message):
    """An alias taking another force's name sent every row of that force to the alias's force,
    without a word; the first of two aliases for one spelling was silently dropped."""
    path = mini_raw / "reference" / "force_aliases.csv"
    path.write_text(path.read_text(encoding="utf-8") + rows, encoding="utf-8")
    (mini_raw / "test_round" / "coded" / "a.csv").write_text(GOOD_CSV, encoding="utf-8")
    with pytest.raises(InputError, match=message) as exc:
        _tables(mini_raw)
    assert "force_aliases.csv" in str(exc.value) and "Fix:" in str(exc.value)


def test_forces_table_giving_two_forces_one_name_is_refused(mini_raw):
    """Suffolk's short name typed as 'Norfolk Police': names match as normalised, so one force
    would be unreachable by it (before, whichever row came last took it)."""
    path = mini_raw / "reference" / "forces.csv"
    text = path.read_text(encoding="utf-8")
    assert ",Suffolk Constabulary,Suffolk," in text
    path.write_text(text.replace(",Suffolk Constabulary,Suffolk,", ",Suffolk Constabulary,Norfolk Police,"),
                    encoding="utf-8")
    with pytest.raises(InputError, match=r"column short_name: 'Norfolk Police' matches row \d+'s") as exc:
        _tables(mini_raw)
    assert "forces.csv" in str(exc.value) and "another force's" in str(exc.value)


def test_force_aliases_with_the_wrong_header_name_the_file(mini_raw):
    (mini_raw / "reference" / "force_aliases.csv").write_text("name,force\nMet,metropolitan\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"header: missing column\(s\) \['alias', 'force_id'\]"):
        _tables(mini_raw)


# ----- coded sheets ---------------------------------------------------------------------------------
def test_quoted_cell_never_closed_names_its_line_instead_of_swallowing_the_rows_below(mini_raw):
    (mini_raw / "test_round" / "coded" / "a.csv").write_text(
        GOOD_CSV + 'Kent,A2,yes,"Attends most crimes.\nNorfolk,A3,yes,Clear priorities.\n', encoding="utf-8")
    with pytest.raises(InputError, match="never closed") as exc:
        _tables(mini_raw)
    assert "a.csv, line 3" in str(exc.value)


def test_quoted_cell_over_several_lines_in_the_last_row_is_one_cell(mini_raw):
    (mini_raw / "test_round" / "coded" / "a.csv").write_text(
        GOOD_CSV + 'Kent,A2,yes,"Attends most crimes.\nNot all."\n', encoding="utf-8")
    f = _tables(mini_raw)["findings"]
    assert f.loc[f.force_id == "kent", "evidence"].item() == "Attends most crimes. Not all."
    assert len(f) == 2


def test_quoted_cell_never_closed_on_the_last_line_names_that_line(mini_raw):
    """The cells after the open quote on the last line were read as one (here a grades row then
    failed for its grade, not for the quote)."""
    _only_file(mini_raw, "grades", "g.csv",
               'force,question_id,grade,note\nNorfolk,effectiveness,Good,\nKent,effectiveness,"Good,checked\n')
    with pytest.raises(InputError, match="never closed") as exc:
        _tables(mini_raw)
    assert "g.csv, line 3" in str(exc.value)


def test_grades_table_with_a_column_name_twice_is_refused(mini_raw):
    """Rows are read by column name, so the second 'grade' column won without a word."""
    _only_file(mini_raw, "grades", "g.csv",
               "force,question_id,grade,Grade\nNorfolk,effectiveness,Good,Inadequate\n")
    with pytest.raises(InputError, match=r"row 1 \(header\): column name\(s\) used twice: 'grade' \(columns C and D\)"):
        _tables(mini_raw)


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity", "1e999"])
def test_measure_that_is_not_a_finite_number_is_an_error(mini_raw, value):
    """float() reads these; 'nan' then failed the measures schema as a bug, 'inf' was kept."""
    _only_file(mini_raw, "measures", "m.csv",
               f"force,measure,value\nNorfolk,crimes_attended_pct,98\nKent,crimes_attended_pct,{value}\n")
    with pytest.raises(InputError, match=f"row 3: value '{value}' is not a number") as exc:
        _tables(mini_raw)
    assert "m.csv" in str(exc.value)


def test_override_that_is_neither_yes_nor_no_is_rejected_not_read_as_no(mini_raw):
    (mini_raw / "test_round" / "coded" / "a.csv").write_text(
        "force,criterion,value,override\nNorfolk,A2,yes,maybe\nKent,A2,yes,FALSE\nEssex,A2,no,x\n"
        "Suffolk,A2,no,\n", encoding="utf-8")
    t = _tables(mini_raw)
    assert dict(zip(t["findings"]["force_id"], t["findings"]["is_override"])) == {
        "kent": False, "essex": True, "suffolk": False}
    (reason,) = t["rejects"]["reason"]
    assert reason.startswith("override 'maybe' is not yes or no")


def test_sheet_formatted_far_beyond_its_data_is_read_as_its_data(mini_raw):
    """A format applied down to row 5,000 and across to column BH makes openpyxl's used range
    300,000 cells; only the cells holding something are read (a format at row 1,000,000 took
    the build 53 seconds). A force merged down its rows still fills each of them."""
    path = mini_raw / "test_round" / "coded" / "far.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in (["Force", "Criterion", "Value", "Evidence"], ["Suffolk", "A2", "no", "Not all."],
                [None, "A5", "good", "Good."], ["Kent", "A2", "yes", "All."]):
        ws.append(row)
    ws.merge_cells("A2:A3")
    ws.merge_cells("F1:F9000")  # an empty merge down far
    ws.cell(5000, 60).font = Font(bold=True)
    wb.save(path)
    (grid,) = read_xlsx_grids(path)
    assert grid.row_numbers == [1, 2, 3, 4]
    assert max(len(r) for r in grid.rows) == 4
    f = _tables(mini_raw)["findings"]
    assert set(zip(f.force_id, f.criterion_id)) == {("suffolk", "A2"), ("suffolk", "A5"), ("kent", "A2")}


# ----- letters ----------------------------------------------------------------------------------
def test_letter_saved_as_unicode_text_reads_as_the_utf8_letter(tmp_path):
    """Notepad's 'Unicode' is UTF-16 with a byte-order mark: it was read as cp1252 and gave
    'no findings found'."""
    copy = tmp_path / SEED.name
    copy.write_bytes(SEED.read_text(encoding="utf-8").encode("utf-16"))
    _, want = parse_letter(SEED, "core_business_2014", _resolver())
    _, got = parse_letter(copy, "core_business_2014", _resolver())
    cols = ["finding_id", "area", "text", "source_ref"]
    assert len(want) >= 10
    pd.testing.assert_frame_equal(got[cols], want[cols])


def test_binary_file_named_txt_is_not_a_letter(tmp_path):
    path = tmp_path / SEED.name
    path.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(InputError, match="NUL bytes") as exc:
        parse_letter(path, "core_business_2014", _resolver())
    assert SEED.name in str(exc.value) and "plain text" in str(exc.value)


# ----- two columns with one header --------------------------------------------------------------
def test_second_column_of_a_meta_header_is_merged_not_passed_over(mini_raw):
    """'Criterion' beside 'Criterion label', 'Finding' beside 'Evidence', 'Note' beside 'Notes':
    the second column of each was passed over, its texts lost. Now a blank first cell takes the
    second's, texts are joined, and a criterion named both ways must be the same criterion."""
    (mini_raw / "test_round" / "coded" / "a.csv").write_text(
        "Force,Criterion,Criterion label,Value,Finding,Evidence,Note,Notes\n"
        "Norfolk,A2,Attend-all-crimes policy,yes,Attends all crimes.,Every report attended.,first,second\n"
        "Kent,,Attend-all-crimes policy,no,,Only some crimes.,,\n", encoding="utf-8")
    logs: list[str] = []
    t = build_tables(load_inputs(Paths(raw=mini_raw)), log=logs.append)
    f = t["findings"].set_index("force_id")
    assert f.loc["norfolk", "evidence"] == "Attends all crimes. | Every report attended."
    assert f.loc["norfolk", "note"].endswith("; first; second")
    assert (f.loc["kent", "criterion_id"], f.loc["kent", "evidence"]) == ("A2", "Only some crimes.")
    merged = [line for line in logs if "are both read as" in line]
    assert len(merged) == 3 and any("'Finding') and F ('Evidence')" in line for line in merged)

    # the same sheet with its columns in the opposite order gives the same findings
    lines = (mini_raw / "test_round" / "coded" / "a.csv").read_text(encoding="utf-8").splitlines()
    (mini_raw / "test_round" / "coded" / "a.csv").write_text(
        "\n".join(",".join(line.split(",")[::-1]) for line in lines) + "\n", encoding="utf-8")
    again = _tables(mini_raw)["findings"]
    cols = ["force_id", "criterion_id", "value", "evidence", "note"]
    pd.testing.assert_frame_equal(again[cols].sort_values("force_id", ignore_index=True),
                                  t["findings"][cols].sort_values("force_id", ignore_index=True))


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_two_force_columns_that_disagree_name_both_cells(mini_raw, fmt):
    rows = [["Force", "Criterion", "Value", "Force ID"], ["Norfolk", "A2", "yes", "norfolk"],
            ["Kent", "A2", "no", "suffolk"]]
    path = mini_raw / "test_round" / "coded" / f"a.{fmt}"
    if fmt == "csv":
        path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
        cells = "a.csv, row 3: columns A ('Force') and D ('Force ID')"
    else:
        wb = openpyxl.Workbook()
        wb.active.title = "Codes"
        for r in rows:
            wb.active.append(r)
        wb.save(path)
        cells = "a.xlsx, Codes!A3 and Codes!D3: columns A ('Force') and D ('Force ID')"
    with pytest.raises(InputError, match="both read as force and disagree") as exc:
        _tables(mini_raw)
    assert cells in str(exc.value) and "'Kent', 'suffolk'" in str(exc.value)


def test_control_characters_in_cells_become_spaces_not_output(mini_raw):
    """Text pasted from a terminal or an old system can hold control characters (an escape, a
    bell, a C1 code) that Excel does not show. They were carried into findings.csv and the
    workbook; they are read as spaces, so a value cell 'yes' followed by a bell is still 'yes'."""
    (mini_raw / "test_round" / "coded" / "a.csv").write_text(
        "force,criterion_id,value,evidence\n"
        "Suffolk,A2,no\x07,Not every\x1b[0m crime\x9b is attended.\x7f\n"
        "Kent\x1b,A5,good,Clear priorities.\n", encoding="utf-8")
    t = _tables(mini_raw)
    f = t["findings"].set_index("force_id")
    assert f.loc["suffolk", "value"] == "no" and f.loc["kent", "value"] == "good"
    assert f.loc["suffolk", "evidence"] == "Not every [0m crime is attended."
    assert len(t["rejects"]) == 0
