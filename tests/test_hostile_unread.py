"""Hostile input found by a fourteenth-session probe of a copy of the shipped raw folder: cells
that no column reads (a misspelt force across the top, a criterion header the codebook does not
know, a blank header, a cell past the header of a CSV), hidden columns, numbers that read as other
numbers, YAML keys given twice, reference tables with placeholders, and letters for a force
outside the 43 or for two forces. Before, each lost or moved data without a word, or gave a
traceback; now each is read, or rejected or refused naming the file, the cell or line, and the fix."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from analysis.build import build_tables, load_inputs
from analysis.codebook import Codebook
from analysis.errors import InputError
from analysis.forces import ForceResolver
from analysis.letters import parse_letter
from analysis.paths import RAW, Paths
from analysis.rounds import Rounds

SEED = RAW / "core_business_2014" / "letters" / "norfolk_2014-09-03.txt"


def _build(raw: Path) -> tuple[dict, list[str]]:
    said: list[str] = []
    return build_tables(load_inputs(Paths(raw=raw)), log=said.append), said


def _sheet(path: Path, rows: list[list], hide: str | None = None) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Matrix"
    for row in rows:
        ws.append(row)
    if hide:  # a group of columns hidden together is one entry in the file ('C:E')
        first, last = hide.split(":")
        ws.column_dimensions.group(first, last, hidden=True)
    wb.save(path)


def _codes(t: dict) -> set[tuple[str, str, str]]:
    f = t["findings"]
    return set(zip(f["force_id"], f["criterion_id"], f["value"]))


def _resolver(raw: Path = RAW) -> ForceResolver:
    return ForceResolver.from_files(raw / "reference" / "forces.csv", raw / "reference" / "force_aliases.csv")


# ----- cells no column reads -----------------------------------------------------------------------
def test_force_across_the_top_misspelt_is_rejected_with_a_suggestion(mini_raw):
    """A transposed sheet (forces across): the 'Sufolk' column was passed over, 2 codes gone,
    'records read 4 = 4 + 0'."""
    _sheet(mini_raw / "test_round" / "coded" / "across.xlsx",
           [["Criterion", "Norfolk", "Sufolk", "Essex"], ["P1", "none", "none", "none"], ["P2", "weak", "weak", "weak"]])
    t, _ = _build(mini_raw)
    assert {f for f, _, _ in _codes(t)} == {"norfolk", "essex"}
    rej = t["rejects"]
    assert list(rej["location"]) == ["Matrix!C2", "Matrix!C3"]
    assert all("'Sufolk'" in r and "did you mean 'Suffolk'" in r for r in rej["reason"])
    recon = t["reconciliation"].iloc[0]
    assert (recon.records_read, recon.used, recon.rejected) == (6, 4, 2)


@pytest.mark.parametrize("header", ["P.2", "P 2", "p-2", "Criterion P2", "\uff30\uff12", "P\u200b2", "P2\u00ad"])
def test_criterion_header_written_with_a_stop_gap_or_lookalike_is_read(mini_raw, header):
    _sheet(mini_raw / "test_round" / "coded" / "wide.xlsx", [["Force", "P1", header], ["Kent", "force_wide", "strong"]])
    t, _ = _build(mini_raw)
    assert _codes(t) == {("kent", "P1", "force_wide"), ("kent", "P2", "strong")} and t["rejects"].empty


@pytest.mark.parametrize("header,reason", [
    ("Culture of preventive policing", "not a criterion of codebook.yaml but holds codes"),
    ("Prevention culture (P2)", "not a criterion of codebook.yaml but holds codes"),
    (None, "column C has no header but holds codes")])
def test_codes_under_a_header_that_is_no_criterion_are_rejected_not_passed_over(mini_raw, header, reason):
    _sheet(mini_raw / "test_round" / "coded" / "wide.xlsx",
           [["Force", "P1", header], ["Kent", "force_wide", "strong"], ["Essex", "none", "weak"]])
    t, _ = _build(mini_raw)
    assert _codes(t) == {("kent", "P1", "force_wide"), ("essex", "P1", "none")}
    rej = t["rejects"]
    assert list(rej["location"]) == ["Matrix!C2", "Matrix!C3"] and list(rej["raw"]) == ["strong", "weak"]
    assert all(reason in r for r in rej["reason"])


def test_column_of_other_text_is_named_in_the_build_log(mini_raw):
    """A 'Region' column is not codes: its cells are not records, but the log says it was not read."""
    _sheet(mini_raw / "test_round" / "coded" / "wide.xlsx",
           [["Force", "Region", "P1"], ["Kent", "South East", "force_wide"], ["Essex", "Eastern", "none"]])
    t, said = _build(mini_raw)
    assert _codes(t) == {("kent", "P1", "force_wide"), ("essex", "P1", "none")} and t["rejects"].empty
    assert any("not read" in s and "column B ('Region'): 2 cell(s)" in s for s in said)


def test_csv_row_with_a_cell_past_the_header_is_rejected_whole(mini_raw):
    """An unquoted comma splits a cell and moves the row's later cells one column on: in a wide
    sheet 'yes' landed under A5 (a wrong code, used), in a long one a note's tail was dropped."""
    (mini_raw / "test_round" / "coded" / "wide.csv").write_text(
        "force,evidence,A2,A5\nKent,Attends all,yes,good\nEssex,Attends most, not all,no,poor\n", encoding="utf-8")
    (mini_raw / "test_round" / "coded" / "long.csv").write_text(
        "force,criterion,value,note\nSuffolk,A2,no,finding 3\nNorfolk,A2,yes,finding 1, para 2\n", encoding="utf-8")
    t, _ = _build(mini_raw)
    assert _codes(t) == {("kent", "A2", "yes"), ("kent", "A5", "good"), ("suffolk", "A2", "no")}
    rej = t["rejects"].set_index("file")["reason"]
    assert "a comma in a cell without quotes" in rej["test_round/coded/wide.csv"]
    assert "(' para 2'...)" in rej["test_round/coded/long.csv"]


# ----- hidden columns -------------------------------------------------------------------------------
def test_every_column_of_a_hidden_group_is_hidden(mini_raw):
    """Excel saves columns C:E hidden together as one entry; only C was taken as hidden."""
    _sheet(mini_raw / "test_round" / "coded" / "wide.xlsx",
           [["Force", "P1", "P2", "P3", "P4", "A2"], ["Kent", "force_wide", "strong", "good", "yes", "yes"]],
           hide="C:E")
    t, _ = _build(mini_raw)
    assert _codes(t) == {("kent", "P1", "force_wide"), ("kent", "A2", "yes")}
    assert list(t["rejects"]["location"]) == ["Matrix!C2", "Matrix!D2", "Matrix!E2"]


def test_long_sheet_with_its_value_column_hidden_is_rejected_but_a_hidden_evidence_column_is_not(mini_raw):
    rows = [["Force", "Criterion", "Value", "Evidence"], ["Kent", "A2", "yes", "All crimes."]]
    _sheet(mini_raw / "test_round" / "coded" / "value.xlsx", rows, hide="C:C")
    _sheet(mini_raw / "test_round" / "coded" / "evidence.xlsx", [rows[0], ["Essex", "A2", "no", "Not all."]], hide="D:D")
    t, _ = _build(mini_raw)
    assert _codes(t) == {("essex", "A2", "no")}
    (reason,) = t["rejects"]["reason"]
    assert reason.startswith("cell(s) Matrix!C2 in a hidden column; unhide it")


# ----- fact tables ---------------------------------------------------------------------------------
def _measures(raw: Path, rows: str) -> None:
    (raw / "rounds.yaml").write_text("rounds:\n  - id: test_round\n    kind: [measures]\n", encoding="utf-8")
    (raw / "test_round" / "measures").mkdir()
    (raw / "test_round" / "measures" / "m.csv").write_text(
        "force,measure,value,unit,source_kind,note\n" + rows, encoding="utf-8")


@pytest.mark.parametrize("row,message", [
    ("Kent,crimes_attended_pct,\"99,5\",percent,,", "row 2: value '99,5' is not a number"),   # read as 995
    ("Kent,files,1_00,count,,", "row 2: value '1_00' is not a number"),                      # read as 100
    ("Kent,crimes_attended_pct,390%,,,", "row 2: value '390%' is a percentage outside 0 to 100"),
    ("Kent,crimes_attended_pct,-4,percent,,", "row 2: value '-4' is a percentage outside 0 to 100"),
    ("Kent,crimes_attended_pct,90,percent,my cousin,", "row 2: source_kind 'my cousin' is not one of"),
    ("Kent,crimes_attended_pct,90,percent,press_summary,finding 1, para 2",
     "row 2: cell(s) with no column name above them: G (' para 2')"),
    # an unquoted thousands separator moved every later cell: unit '100', period 'percent'...
    ("Kent,files,1,100,count,press_summary,checked", "row 2: cell(s) with no column name above them: G ('checked')"),
])
def test_measure_that_would_be_read_as_another_number_or_shifted_is_an_error(mini_raw, row, message):
    _measures(mini_raw, row + "\n")
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")) as exc:
        _build(mini_raw)
    assert "m.csv" in str(exc.value) and "Fix:" in str(exc.value)


def test_measures_written_plainly_still_read(mini_raw):
    _measures(mini_raw, 'Kent,files,"1,234",count,Press Summary,\nEssex,crimes_attended_pct,45%,,,\n'
                        "Norfolk,change,-3.5,percentage_points,,\n")
    m = _build(mini_raw)[0]["measures"].set_index("force_id")
    assert m["value"].to_dict() == {"essex": 45.0, "kent": 1234.0, "norfolk": -3.5}
    assert m.loc["kent", "source_kind"] == "press_summary"


def test_grade_with_an_unknown_source_kind_is_an_error(mini_raw):
    (mini_raw / "rounds.yaml").write_text("rounds:\n  - id: test_round\n    kind: [grades]\n", encoding="utf-8")
    (mini_raw / "test_round" / "grades").mkdir()
    (mini_raw / "test_round" / "grades" / "g.csv").write_text(
        "force,question_id,grade,source_kind\nKent,effectiveness,Good,blog post\n", encoding="utf-8")
    with pytest.raises(InputError, match="row 2: source_kind 'blog post' is not one of"):
        _build(mini_raw)


# ----- YAML --------------------------------------------------------------------------------------------
def test_rounds_yaml_key_given_twice_is_refused_naming_its_line(mini_raw):
    """A second, blank 'embargo_until:' silently lifted the round's embargo."""
    (mini_raw / "rounds.yaml").write_text(
        "rounds:\n  - id: test_round\n    embargo_until: 2099-01-01\n    kind: [coded]\n    embargo_until:\n",
        encoding="utf-8")
    with pytest.raises(InputError, match=r"line 5: not valid YAML \(key 'embargo_until' is given twice "
                                         r"\(first on line 3\)") as exc:
        Rounds.load(mini_raw / "rounds.yaml")
    assert "Fix: delete one of the two" in str(exc.value)


def test_codebook_value_given_twice_is_refused(mini_raw):
    """'strong: negative' after 'strong: positive' made every strong P2 code negative."""
    path = mini_raw / "codebook.yaml"
    text = path.read_text(encoding="utf-8")
    old = "values: {strong: positive,"
    assert old in text
    path.write_text(text.replace(old, "values: {strong: negative, strong: positive,", 1), encoding="utf-8")
    with pytest.raises(InputError, match=r"key 'strong' is given twice"):
        Codebook.load(path)


def test_yaml_merge_key_may_be_overridden():
    """'<<: *base' then a key of the base is YAML's way to override, not a key given twice."""
    from analysis import safeyaml

    doc = safeyaml.safe_load("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 5\n")
    assert doc["c"] == {"x": 5, "y": 2}


@pytest.mark.parametrize("encoding", ["cp1252", "utf-16"])
def test_yaml_saved_as_windows_ansi_or_unicode_is_read(mini_raw, encoding):
    """Notepad's 'ANSI' and 'Unicode': a UnicodeDecodeError traceback before."""
    text = "rounds:\n  - id: test_round\n    title: Zoë's round – test\n    kind: [coded]\n"
    (mini_raw / "rounds.yaml").write_bytes(text.encode(encoding))
    assert Rounds.load(mini_raw / "rounds.yaml")["test_round"].title == "Zoë's round – test"
    book = (RAW / "codebook.yaml").read_text(encoding="utf-8")
    (mini_raw / "codebook.yaml").write_bytes(book.encode(encoding, errors="strict"))
    assert Codebook.load(mini_raw / "codebook.yaml").criteria == Codebook.load(RAW / "codebook.yaml").criteria


# ----- reference tables ----------------------------------------------------------------------------------
def test_aliases_file_of_comments_only_names_the_file(mini_raw):
    (mini_raw / "reference" / "force_aliases.csv").write_text("# aliases\n# none yet\n", encoding="utf-8")
    with pytest.raises(InputError, match="force_aliases.csv: the force aliases table file has no header row"):
        _resolver(mini_raw)


def test_reference_row_with_a_cell_past_its_header_names_the_line(mini_raw):
    """pandas made the first column the row names: every cell one column off."""
    path = mini_raw / "reference" / "force_aliases.csv"
    path.write_text(path.read_text(encoding="utf-8").rstrip("\n") + "\nNorfolk Police, Norfolk,norfolk\n",
                    encoding="utf-8")
    with pytest.raises(InputError, match=r"force_aliases.csv, line \d+: 3 cells where the header has 2"):
        _resolver(mini_raw)


def test_placeholder_in_forces_csv_names_no_force(mini_raw):
    """'-' as Cleveland's ons_code made a coded row with force '-' a Cleveland finding."""
    path = mini_raw / "reference" / "forces.csv"
    forces = pd.read_csv(path, dtype=str, keep_default_na=False)
    forces.loc[forces["force_id"] == "cleveland", "ons_code"] = "-"
    forces.to_csv(path, index=False)
    (mini_raw / "test_round" / "coded" / "a.csv").write_text(
        "force,criterion,value\n-,P1,none\nCleveland,A2,no\n", encoding="utf-8")
    t, _ = _build(mini_raw)
    assert _codes(t) == {("cleveland", "A2", "no")}
    (reason,) = t["rejects"]["reason"]
    assert reason.startswith("unknown force '-'")


# ----- letters -------------------------------------------------------------------------------------------
def _letter(tmp_path: Path, name: str, addressee: str) -> Path:
    text = SEED.read_text(encoding="utf-8").replace("Chief Constable – Norfolk Constabulary", addressee)
    assert text != SEED.read_text(encoding="utf-8")
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_letter_to_a_force_outside_the_43_says_so(tmp_path):
    path = _letter(tmp_path, "btp_2014-09-03.txt", "Chief Constable – British Transport Police")
    with pytest.raises(InputError, match="addressed to British Transport Police, which is not one of the 43"):
        parse_letter(path, "core_business_2014", _resolver())


def test_letter_addressed_to_two_forces_is_not_given_to_either_by_guess(tmp_path):
    """'Suffolk and Norfolk Constabularies' went to Norfolk, the first in the lookup's order."""
    joint = "Chief Constable – Suffolk and Norfolk Constabularies"
    with pytest.raises(InputError, match=r"address names more than one force \('Norfolk', 'Suffolk'\)"):
        parse_letter(_letter(tmp_path, "letter_2014-09-03.txt", joint), "core_business_2014", _resolver())
    meta, _ = parse_letter(_letter(tmp_path, "suffolk_2014-09-03.txt", joint), "core_business_2014", _resolver())
    assert meta["force_id"] == "suffolk"  # the file name says which


def test_csv_cell_over_the_csv_module_limit_is_a_reject_for_its_length(mini_raw):
    """Python's csv refused a 200,000-character cell with 'check quotes in that line'."""
    (mini_raw / "test_round" / "coded" / "a.csv").write_text(
        "force,criterion,value,evidence\nKent,A2,yes," + "x" * 200_000 + "\nEssex,A2,no,Not all.\n", encoding="utf-8")
    t, _ = _build(mini_raw)
    assert _codes(t) == {("essex", "A2", "no")}
    (reason,) = t["rejects"]["reason"]
    assert "longer than 10,000 characters" in reason


def test_workbook_whose_sheets_unpack_far_past_a_coded_sheet_is_refused_at_once(mini_raw, monkeypatch):
    """A 60 KB workbook of a million cells took the build 34 s and 740 MB (a larger one ran for
    minutes); the size its sheets unpack to is read from the zip directory first. (The limit is
    lowered here so the test needs no million cells.)"""
    from analysis import sheets

    path = mini_raw / "test_round" / "coded" / "big.xlsx"
    _sheet(path, [["Force", "Criterion", "Value"], ["Kent", "A2", "yes"]] + [["Note", f"n{i}", "x"] for i in range(400)])
    assert _build(mini_raw)[0]["findings"]["force_id"].tolist() == ["kent"]  # under the limit: read
    monkeypatch.setattr(sheets, "MAX_SHEET_XML_BYTES", 8_000)
    with pytest.raises(InputError, match=r"big.xlsx: its sheets unpack to .* MB of cells, far more than a coded"):
        _build(mini_raw)


def test_csv_of_millions_of_cells_is_refused_before_they_are_made(mini_raw, monkeypatch):
    """A 6 MB CSV of one line of 3 million cells took 30 s and 720 MB, then said 'no data rows'.
    (The limit is lowered here.)"""
    from analysis import sheets

    monkeypatch.setattr(sheets, "MAX_CSV_CELLS", 1_000)
    (mini_raw / "test_round" / "coded" / "a.csv").write_text(
        "force,criterion,value\nKent,A2,yes\n" + ",".join(["x"] * 2_000) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"a.csv, line 3: more than 1,000 cells"):
        _build(mini_raw)


# ----- letters written a little differently ----------------------------------------------------------
def _seed_as(tmp_path: Path, name: str, *replacements: tuple[str, str]) -> Path:
    text = SEED.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def seed_letter():
    return parse_letter(SEED, "core_business_2014", _resolver())


@pytest.mark.parametrize("replacements", [
    [("Freeing up time\n", "Use of police time\n")],  # the heading became a finding, its bullets attendance's
    [("Yours sincerely", "Sincerely,")],                # 'Sincerely, Zoë Billingham' became a finding
    [("Yours sincerely", "I am grateful to you and your staff for their help.\n\nYours sincerely")],
    [("Yours sincerely", "Thank you for your help with this inspection.\n\nKind regards")],
])
def test_letter_worded_a_little_differently_gives_the_same_findings(tmp_path, seed_letter, replacements):
    _, want = seed_letter
    _, got = parse_letter(_seed_as(tmp_path, "norfolk_2014-09-03.txt", *replacements), "core_business_2014",
                          _resolver())
    assert got["text"].tolist() == want["text"].tolist() and got["area"].tolist() == want["area"].tolist()


@pytest.mark.parametrize("date", ["3 Sept 2014", "3 Sep. 2014", "03.09.2014", "Sept 3, 2014"])
def test_letter_date_abbreviated_or_dotted_is_read_and_the_addressee_kept(tmp_path, seed_letter, date):
    """'3 Sept 2014' was not a date: the letter took 4 September from the body, and the address
    block (the lines after the date) gave the inspector as the addressee."""
    meta, _ = parse_letter(_seed_as(tmp_path, "letter.txt", ("3 September 2014", date)), "core_business_2014",
                           _resolver())
    assert (meta["date"], meta["addressee"], meta["force_id"]) == \
        (seed_letter[0]["date"], seed_letter[0]["addressee"], "norfolk")


def test_word_letter_with_numbered_area_headings_keeps_them_as_headings(tmp_path, seed_letter):
    """Word's own numbering ('List Number') made each heading a finding and left every area blank."""
    import docx

    d = docx.Document()
    heads = {"Preventing Crime", "Attendance at crimes and incidents", "Freeing up time"}
    for line in SEED.read_text(encoding="utf-8").splitlines():
        if line.startswith("- "):
            d.add_paragraph(line[2:], style="List Bullet")
        elif line in heads:
            d.add_paragraph(line, style="List Number")
        elif line.strip():
            d.add_paragraph(line)
    path = tmp_path / "norfolk_2014-09-03.docx"
    d.save(str(path))
    _, got = parse_letter(path, "core_business_2014", _resolver())
    _, want = seed_letter
    assert got["text"].tolist() == want["text"].tolist() and got["area"].tolist() == want["area"].tolist()


def test_utf8_file_with_one_windows_byte_is_not_read_all_as_windows_text(tmp_path, seed_letter):
    """One pasted cp1252 line made the whole letter cp1252: 'Zoë' became 'ZoÃ«'."""
    raw = SEED.read_bytes().replace("Dear Simon".encode(), "Dear Simon \u2013 thank you".encode("cp1252"))
    path = tmp_path / SEED.name
    path.write_bytes(raw)
    meta, got = parse_letter(path, "core_business_2014", _resolver())
    assert meta["hmi"] == seed_letter[0]["hmi"] == "Zoë Billingham"
    assert got["text"].tolist() == seed_letter[1]["text"].tolist()


def test_csv_with_a_title_line_of_other_separators_is_split_by_its_table(mini_raw):
    """The first line with any separator decided it: a title 'Coded findings; draft 2' made a
    comma file semicolon-separated ('no header row in the first 30 rows')."""
    (mini_raw / "test_round" / "coded" / "a.csv").write_text(
        "Coded findings; draft 2\nforce,criterion,value,evidence\nKent,A2,yes,All; every one.\nEssex,A2,no,Not all.\n",
        encoding="utf-8")
    t, _ = _build(mini_raw)
    assert _codes(t) == {("kent", "A2", "yes"), ("essex", "A2", "no")}
    assert t["findings"].set_index("force_id").loc["kent", "evidence"] == "All; every one."


# ----- links --------------------------------------------------------------------------------------------------
def test_broken_link_is_listed_not_passed_over(mini_raw):
    """A link whose file was moved (or a link to itself) is no file: it vanished without a word."""
    coded = mini_raw / "test_round" / "coded"
    (coded / "a.csv").write_text("force,criterion,value\nKent,A2,yes\n", encoding="utf-8")
    (coded / "moved.csv").symlink_to(mini_raw / "nowhere.csv")
    (coded / "self.csv").symlink_to(coded / "self.csv")
    t, _ = _build(mini_raw)
    rej = t["rejects"]
    assert sorted(rej["file"]) == ["test_round/coded/moved.csv", "test_round/coded/self.csv"]
    assert set(rej["round"]) == {"test_round"} and rej["reason"].str.contains("link to a file that does not exist").all()
    assert _codes(t) == {("kent", "A2", "yes")}


def test_link_to_a_file_outside_raw_is_named_where_the_link_is(mini_raw, tmp_path):
    """Its findings said 'extra.csv:row 2', a file no analyst could find under data/raw/."""
    elsewhere = tmp_path / "shared_drive"
    elsewhere.mkdir()
    (elsewhere / "extra.csv").write_text("force,criterion,value\nKent,A2,yes\n", encoding="utf-8")
    (mini_raw / "test_round" / "coded" / "from_drive.csv").symlink_to(elsewhere / "extra.csv")
    t, _ = _build(mini_raw)
    assert t["findings"]["source_ref"].tolist() == ["test_round/coded/from_drive.csv:row 2"]
    assert t["reconciliation"]["file"].tolist() == ["test_round/coded/from_drive.csv"]


def test_pdf_letter_set_in_two_columns_is_read_column_by_column(tmp_path, seed_letter):
    """pdfplumber reads across the page: the two columns' lines ran into each other (11 findings
    instead of 14, texts merged across columns, 7 without an area)."""
    import matplotlib
    from fpdf import FPDF

    lines = SEED.read_text(encoding="utf-8").splitlines()
    start, end = lines.index("Preventing Crime"), lines.index("Yours sincerely")
    body = lines[start:end]
    split = body.index("Attendance at crimes and incidents")
    pdf = FPDF()
    pdf.add_font("DejaVu", "", str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"))
    pdf.set_font("DejaVu", size=8)
    pdf.set_auto_page_break(False)
    pdf.add_page()

    def put(part: list[str], x: float, w: float) -> None:
        for line in part:
            if not line.strip():
                pdf.ln(3)
                continue
            pdf.set_x(x)
            pdf.multi_cell(w, 4, line, new_x="LEFT", new_y="NEXT")

    put(lines[:8] + ["Findings that specifically relate to your force are:", ""], 10, 0)
    y = pdf.get_y()
    put(body[:split], 10, 90)  # prevention down the left column,
    pdf.set_y(y)
    put(body[split:], 110, 90)  # attendance and freeing up time down the right
    pdf.set_y(265)
    put(["Yours sincerely", "", "Zoë Billingham"], 10, 0)
    path = tmp_path / "norfolk_2014-09-03.pdf"
    pdf.output(str(path))
    meta, got = parse_letter(path, "core_business_2014", _resolver())
    _, want = seed_letter
    assert got["text"].tolist() == want["text"].tolist() and got["area"].tolist() == want["area"].tolist()
    assert got["source_ref"].str.contains("page 1 column 2 line").sum() == 10
    assert meta["addressee"] == seed_letter[0]["addressee"]
