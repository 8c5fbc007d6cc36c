"""Reading force letters: the seed (.txt), the same letter as PDF and Word (made here), a letter
with odd headings, bullets and page furniture, a PDF without a text layer, and the draft step.

Letters with made-up findings are addressed to a fictional force ('Testshire', known only to a
test resolver), so no findings are ever invented for a real force."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from analysis import schemas
from analysis.cli import main
from analysis.codebook import Codebook
from analysis.errors import InputError
from analysis.forces import FORCE_COLUMNS, ForceResolver
from analysis.letters import TABLE_COLUMNS, draft_findings, parse_letter, parse_letters
from analysis.paths import RAW

SEED = RAW / "core_business_2014" / "letters" / "norfolk_2014-09-03.txt"
ROUND = "core_business_2014"
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def resolver() -> ForceResolver:
    return ForceResolver.from_files(RAW / "reference" / "forces.csv", RAW / "reference" / "force_aliases.csv")


@pytest.fixture(scope="module")
def test_resolver() -> ForceResolver:
    """The real forces plus the fictional 'Testshire Constabulary'."""
    forces = pd.read_csv(RAW / "reference" / "forces.csv", dtype="string", keep_default_na=False, na_values=[""])
    extra = pd.DataFrame([{"force_id": "testshire", "force_name": "Testshire Constabulary",
                           "short_name": "Testshire", "ons_code": "X99000001", "country": "England"}])
    forces = pd.concat([forces[FORCE_COLUMNS], extra], ignore_index=True).astype("string")
    return ForceResolver(forces)


@pytest.fixture(scope="module")
def seed(resolver):
    return parse_letter(SEED, ROUND, resolver)


def _font() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def make_pdf(lines: list[str], path: Path, header: str | None = None) -> Path:
    """A letter PDF with a text layer: a running header and 'Page N of M' footers on every page."""
    from fpdf import FPDF

    class Letter(FPDF):
        def header(self):
            if header:
                self.set_font("DejaVu", size=8)
                self.cell(0, 5, header, new_x="LMARGIN", new_y="NEXT")
                self.ln(3)

        def footer(self):
            self.set_y(-15)
            self.set_font("DejaVu", size=8)
            self.cell(0, 10, f"Page {self.page_no()} of {{nb}}", align="C")

    pdf = Letter()
    pdf.add_font("DejaVu", "", str(_font()))
    pdf.add_page()
    for line in lines:
        pdf.set_font("DejaVu", size=11)
        if not line.strip():
            pdf.ln(4)
            continue
        pdf.multi_cell(0, 5.5, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def seed_lines(bullet: str = "• ") -> list[str]:
    return [bullet + t[2:] if t.startswith("- ") else t for t in SEED.read_text(encoding="utf-8").splitlines()]


# ---------------------------------------------------------------------------------------------
def test_seed_has_14_findings_in_three_areas_in_letter_order(seed):
    meta, df = seed
    assert list(df.columns) == [c for c, _, _ in TABLE_COLUMNS["letter_findings"]]
    assert len(df) == 14
    assert df["finding_no"].tolist() == list(range(1, 15))
    assert df["area"].value_counts().to_dict() == {"attendance": 6, "prevention": 4, "freeing_time": 4}
    assert df["area"].tolist() == ["prevention"] * 4 + ["attendance"] * 6 + ["freeing_time"] * 4
    assert df["finding_id"].iloc[0] == "core_business_2014:norfolk:01"
    assert df["finding_id"].iloc[-1] == "core_business_2014:norfolk:14"
    assert set(df["force_id"]) == {"norfolk"} and set(df["round"]) == {ROUND}
    assert df["text"].iloc[0].startswith("The force has a strong culture of preventative policing")
    assert df["text"].iloc[13].endswith("is limited at the moment.")
    assert df["source_ref"].iloc[0] == "norfolk_2014-09-03.txt:line 35"
    assert df["source_ref"].iloc[13] == "norfolk_2014-09-03.txt:line 55"


def test_seed_metadata(seed):
    meta, _ = seed
    assert meta["force_id"] == "norfolk"
    assert meta["date"] == "2014-09-03"
    assert meta["addressee"] == "Mr Simon Bailey"
    assert meta["hmi"] == "Zoë Billingham"
    assert meta["region"] == "Eastern"
    assert meta["title"].startswith("Core business: An inspection of crime prevention")


def test_intro_bullets_signature_and_alt_text_are_not_findings(seed):
    _, df = seed
    text = " ".join(df["text"])
    assert "how well forces are" not in text          # the letter's introductory bullets
    assert "handwritten signature" not in text        # image alt text
    assert "Yours sincerely" not in text and "Amie Abbs" not in text


def test_pdf_of_the_seed_gives_the_same_findings(tmp_path, resolver, seed):
    pdf = make_pdf(seed_lines(), tmp_path / "norfolk_2014-09-03.pdf",
                   header="Core business inspection – Norfolk Constabulary")
    meta, df = parse_letter(pdf, ROUND, resolver)
    _, want = seed
    assert df["text"].tolist() == want["text"].tolist()
    assert df["area"].tolist() == want["area"].tolist()
    assert {k: meta[k] for k in ("force_id", "date", "hmi", "region", "addressee")} == \
        {k: seed[0][k] for k in ("force_id", "date", "hmi", "region", "addressee")}
    assert df["source_ref"].str.match(r"norfolk_2014-09-03\.pdf:page \d line \d+$").all()
    assert not df["text"].str.contains("Page|Core business inspection –").any()


def test_docx_of_the_seed_gives_the_same_findings(tmp_path, resolver, seed):
    import docx

    d = docx.Document()
    d.sections[0].header.paragraphs[0].text = "Norfolk Constabulary – Core business letter"
    for line in SEED.read_text(encoding="utf-8").splitlines():
        if line.startswith("- "):
            d.add_paragraph(line[2:], style="List Bullet")
        elif line.strip():
            d.add_paragraph(line)
    path = tmp_path / "norfolk_2014-09-03.docx"
    d.save(str(path))
    meta, df = parse_letter(path, ROUND, resolver)
    _, want = seed
    assert df["text"].tolist() == want["text"].tolist()
    assert df["area"].tolist() == want["area"].tolist()
    assert meta["date"] == "2014-09-03" and meta["force_id"] == "norfolk"
    assert df["source_ref"].str.match(r"norfolk_2014-09-03\.docx:paragraph \d+$").all()


ODD_LETTER = """\
OFFICIAL
Testshire Constabulary – Core business letter

Jane Smith QPM
HM Inspector of Constabulary, Northern Region

12th September 2014

Ms A Example
Chief Constable, Testshire Constabulary

Dear Chief Constable

Core business: An inspection of crime prevention, police attendance and use of police time

This inspection assessed:
• how well forces are preventing crime and anti-social behaviour; and
• how forces respond to reports of crime.

Findings that specifically relate to your force are:

PREVENTING CRIME AND ANTI-SOCIAL BEHAVIOUR

• The force has a written prevention strategy that covers
  all types of crime and anti-
  social behaviour.
* Prevention is a clear priority for leaders.
  It is understood by officers and staff.
Page 2 of 3
Testshire Constabulary – Core business letter
An image of the HMIC logo
-  Daily management meetings direct officers to long-term problem solving.

Attendance at Crimes & Incidents

1. The force has a policy that an officer attends every reported crime.
2) Call takers do not consistently identify repeat victims
   of anti-social behaviour.

Freeing Up Officers' Time

•
The force has limited understanding of its demand.
   - Officers have no mobile devices.
OFFICIAL

Yours faithfully

Jane Smith
HM Inspector of Constabulary
"""


def test_odd_headings_wrapped_bullets_and_page_furniture(tmp_path, test_resolver):
    path = tmp_path / "testshire_2014-09-12.txt"
    path.write_text(ODD_LETTER, encoding="utf-8")
    meta, df = parse_letter(path, "test_round", test_resolver)
    assert meta == {**meta, "force_id": "testshire", "date": "2014-09-12", "hmi": "Jane Smith",
                    "region": "Northern", "addressee": "Ms A Example"}
    assert df["text"].tolist() == [
        "The force has a written prevention strategy that covers all types of crime and anti-social behaviour.",
        "Prevention is a clear priority for leaders. It is understood by officers and staff.",
        "Daily management meetings direct officers to long-term problem solving.",
        "The force has a policy that an officer attends every reported crime.",
        "Call takers do not consistently identify repeat victims of anti-social behaviour.",
        "The force has limited understanding of its demand.",
        "Officers have no mobile devices.",
    ]
    assert df["area"].tolist() == ["prevention"] * 3 + ["attendance"] * 2 + ["freeing_time"] * 2
    assert df["finding_no"].tolist() == list(range(1, 8))
    assert df["source_ref"].iloc[0] == "testshire_2014-09-12.txt:line 24"


def test_wrapped_pdf_lines_are_never_read_as_headings(tmp_path, test_resolver):
    # a bullet whose wrapped second line starts with heading-like words
    lines = ["Dear Chief Constable", "", "Findings that specifically relate to your force are:", "",
             "Preventing crime", "",
             "• " + "The force has trained some officers and staff. " * 3 + "Its approach to",
             "crime prevention is reviewed every year.", "", "Yours sincerely"]
    path = tmp_path / "testshire.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    _, df = parse_letter(path, "test_round", test_resolver)
    assert len(df) == 1 and df["text"].iloc[0].endswith("Its approach to crime prevention is reviewed every year.")


def test_paragraph_findings_without_bullets(tmp_path, test_resolver):
    text = ("Dear Chief Constable\n\nFindings that specifically relate to your force are:\n\nFreeing up time\n\n"
            "The force has a good understanding of demand.\n\nSupervisors have a clear process to assess\n"
            "the workload of their staff.\n\nYours sincerely\n")
    path = tmp_path / "testshire.txt"
    path.write_text(text, encoding="utf-8")
    _, df = parse_letter(path, "test_round", test_resolver)
    assert df["text"].tolist() == ["The force has a good understanding of demand.",
                                   "Supervisors have a clear process to assess the workload of their staff."]


def test_pdf_without_text_layer_is_a_clear_error(tmp_path, resolver):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 170, 120)
    pdf.line(20, 20, 190, 140)
    path = tmp_path / "norfolk_scan.pdf"
    pdf.output(str(path))
    with pytest.raises(InputError, match="no text layer"):
        parse_letter(path, ROUND, resolver)


def test_unreadable_files_and_unknown_force_are_errors(tmp_path, resolver):
    bad_pdf = tmp_path / "norfolk.pdf"
    bad_pdf.write_bytes(b"not a pdf at all")
    with pytest.raises(InputError, match="not a readable PDF"):
        parse_letter(bad_pdf, ROUND, resolver)
    bad_docx = tmp_path / "norfolk.docx"
    bad_docx.write_bytes(b"PK not really a zip")
    with pytest.raises(InputError, match="not a readable Word file"):
        parse_letter(bad_docx, ROUND, resolver)
    locked = tmp_path / "norfolk_locked.docx"  # a password-protected .docx (or a .doc renamed)
    locked.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    with pytest.raises(InputError, match="password-protected document.*Fix: open it in Word and save it as .docx"):
        parse_letter(locked, ROUND, resolver)
    unknown = tmp_path / "letter.txt"
    unknown.write_text(SEED.read_text(encoding="utf-8").replace("Norfolk Constabulary", "Narfolk Constabulry"),
                       encoding="utf-8")
    with pytest.raises(InputError, match="cannot tell which force"):
        parse_letter(unknown, ROUND, resolver)
    mismatch = tmp_path / "suffolk_2014-09-03.txt"
    mismatch.write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(InputError, match="file name says 'suffolk'"):
        parse_letter(mismatch, ROUND, resolver)
    empty = tmp_path / "norfolk_note.txt"
    empty.write_text("Dear Simon\n\nThank you for your time.\n", encoding="utf-8")
    with pytest.raises(InputError, match="no findings found"):
        parse_letter(empty, ROUND, resolver)


def test_parse_letters_reads_a_folder_sorted_and_rejects_two_letters_for_one_force(tmp_path, resolver):
    folder = tmp_path / "letters"
    folder.mkdir()
    (folder / "norfolk_2014-09-03.txt").write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "notes.md").write_text("not a letter", encoding="utf-8")
    (folder / "~$norfolk.docx").write_bytes(b"Word lock file")
    df = parse_letters(folder, ROUND, resolver)
    assert len(df) == 14
    make_pdf(seed_lines(), folder / "norfolk_copy.pdf")
    with pytest.raises(InputError, match="second letter for 'norfolk'"):
        parse_letters(folder, ROUND, resolver)


def test_draft_findings_codes_the_seed_exactly_to_the_gold(resolver):
    codebook = Codebook.load(RAW / "codebook.yaml")
    out = draft_findings(SEED.parent, ROUND, codebook, resolver, RAW)
    assert set(out) >= {"letter_findings", "draft_codes", "findings", "rejects"}
    gold = pd.read_csv(FIXTURES / "norfolk_2014_gold.csv")
    d = out["draft_codes"]
    got = sorted(zip(d["round"], d["force_id"], d["finding_no"].astype(int), d["criterion_id"], d["value"]))
    want = sorted(zip(gold["round"], ["norfolk"] * len(gold), gold["finding_no"], gold["criterion_id"], gold["value"]))
    assert len(want) == 17 and got == want
    f = schemas.validate("findings", out["findings"])
    assert len(f) == 17
    assert set(f["coder"]) == {"auto"} and set(f["source_kind"]) == {"letter"}
    assert not f["is_override"].any()
    assert f["source_ref"].str.startswith("core_business_2014/letters/norfolk_2014-09-03.txt:line ").all()
    assert set(f["source_url"]) == {"letter: norfolk_2014-09-03.txt"}
    assert (f["note"].str.startswith("rule ")).all() and f["evidence"].notna().all()
    labels = f["confidence_score"].map(lambda s: "high" if s >= 0.8 else "medium" if s >= 0.5 else "low")
    assert (f["confidence"] == labels).all()
    assert (f["area"] == f["criterion_id"].map(lambda c: codebook[c].area)).all()
    assert list(out["draft_codes"].columns) == [c for c, _, _ in TABLE_COLUMNS["draft_codes"]]
    assert out["rejects"].empty and list(out["rejects"].columns) == [c for c, _, _ in schemas.COLUMNS["rejects"]]


def test_cli_parse_letters_infers_the_round_from_the_folder(tmp_path, capsys):
    out = tmp_path / "findings.csv"
    assert main(["parse-letters", str(SEED.parent), "-o", str(out)]) == 0
    df = pd.read_csv(out)
    assert len(df) == 14 and set(df["round"]) == {ROUND}
    assert main(["parse-letters", str(tmp_path), "-o", str(tmp_path / "x.csv")]) == 1  # not a letters folder
    assert "pass --round" in capsys.readouterr().err
    # an existing output is not replaced without --force (nor is an output that is a folder)
    assert main(["parse-letters", str(SEED.parent), "-o", str(out)]) == 1
    assert "exists already" in capsys.readouterr().err
    assert main(["parse-letters", str(SEED.parent), "-o", str(out), "--force"]) == 0
    assert main(["parse-letters", str(SEED.parent), "-o", str(tmp_path)]) == 1
    assert f"{tmp_path}: is a folder" in capsys.readouterr().err


@pytest.mark.parametrize("line,area", [
    ("Preventing Crime", "prevention"),
    ("PREVENTING CRIME AND ANTI-SOCIAL BEHAVIOUR", "prevention"),
    ("1. Preventing crime", "prevention"),
    ("Attendance at crimes and incidents", "attendance"),
    ("Attendance at Crimes & Incidents", "attendance"),
    ("Part 2: Attendance at crimes and incidents (response, investigation, offenders)", "attendance"),
    ("Freeing up time", "freeing_time"),
    ("Freeing Up Officers' Time", "freeing_time"),
    ("iii) Freeing up police time", "freeing_time"),
    # not headings: wrapped fragments and sentences
    ("prevention strategy for some crime types including homicide and rape", None),
    ("response to calls for service from the public", None),
    ("Attendance at crimes and incidents was good.", None),
    ("freeing up time for officers is a priority for the force and its partners this year", None),
])
def test_heading_variants(line, area):
    from analysis.letters import _heading_area

    assert _heading_area(line) == area


def test_a_folder_is_the_letters_one_after_another_typed_once(tmp_path, resolver, test_resolver):
    """parse_letters builds one table for the folder: the same rows, values and types as
    parse_letter on each file in turn; an empty folder gives the empty typed table."""
    from analysis.letters import _parse_folder

    folder = tmp_path / "letters"
    folder.mkdir()
    text = SEED.read_text(encoding="utf-8")
    (folder / "norfolk_2014-09-03.txt").write_text(text, encoding="utf-8")
    (folder / "suffolk_2014-09-03.txt").write_text(
        text.replace("Norfolk Constabulary", "Suffolk Constabulary").replace("Norfolk", "Suffolk"), encoding="utf-8")
    metas, found = _parse_folder(folder, ROUND, resolver, ref_root=tmp_path)
    one_by_one = [parse_letter(p, ROUND, resolver, ref_root=tmp_path) for p in sorted(folder.iterdir())]
    expected = pd.concat([df for _, df in one_by_one], ignore_index=True)
    pd.testing.assert_frame_equal(found, expected)
    assert found["force_id"].unique().tolist() == ["norfolk", "suffolk"]
    assert metas["n_findings"].tolist() == [len(df) for _, df in one_by_one]
    assert metas["source_file"].tolist() == ["letters/norfolk_2014-09-03.txt", "letters/suffolk_2014-09-03.txt"]
    for table, df in (("letter_findings", found), ("letters", metas)):
        assert [str(t) for t in df.dtypes] == [t for _, t, _ in TABLE_COLUMNS[table]]
    empty = tmp_path / "empty"
    empty.mkdir()
    metas0, found0 = _parse_folder(empty, ROUND, resolver)
    assert len(found0) == 0 and len(metas0) == 0
    assert found0.dtypes.tolist() == found.dtypes.tolist() and metas0.dtypes.tolist() == metas.dtypes.tolist()


def _table_letter(path: Path, rows: list[list[str]], merge_last_row: bool = False) -> Path:
    """A Word letter to the fictional Testshire whose findings are in a table of ``rows``."""
    import docx

    d = docx.Document()
    for line in ["Testshire Constabulary", "Jane Smith QPM", "HM Inspector of Constabulary, Northern Region",
                 "12th September 2014", "Dear Chief Constable", "Findings that specifically relate to your force are:"]:
        d.add_paragraph(line)
    table = d.add_table(rows=len(rows), cols=max(map(len, rows)))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            cell = table.cell(r, c)
            for i, par in enumerate(text.split("\n")):
                if i == 0:
                    cell.paragraphs[0].text = par
                elif par.startswith("- "):
                    cell.add_paragraph(par[2:], style="List Bullet")
                else:
                    cell.add_paragraph(par)
    if merge_last_row:  # a finding written across both columns of the last row
        table.cell(len(rows) - 1, 0).merge(table.cell(len(rows) - 1, 1))
    d.add_paragraph("Yours sincerely")
    d.save(str(path))
    return path


def test_docx_findings_in_a_table_are_one_a_row_without_the_header(tmp_path, test_resolver):
    """A letter that lists its findings in a table: the header row ('Area | Finding') is not a
    finding nor glued to one; area cells set the area; a label cell leads its row's finding; a
    list inside a cell gives a finding an item; a cell merged across the row is read once.
    Each finding is located by table and row."""
    rows = [["Area", "Finding"],
            ["Preventing crime", "The force has a written prevention strategy."],
            ["", "Prevention is a clear priority\n- Leaders champion it.\n- Staff are trained."],
            ["Attendance at crimes and incidents", "The force has a policy that an officer attends every crime."],
            ["Mobile technology", "Officers have no mobile devices."],
            ["Freeing up time", "The force understands its demand well."],
            ["Overall the force is well placed.", ""]]
    path = _table_letter(tmp_path / "testshire_2014-09-12.docx", rows, merge_last_row=True)
    meta, df = parse_letter(path, ROUND, test_resolver)
    assert meta["force_id"] == "testshire" and meta["date"] == "2014-09-12"
    assert df["text"].tolist() == [
        "The force has a written prevention strategy.",
        "Prevention is a clear priority",
        "Leaders champion it.",
        "Staff are trained.",
        "The force has a policy that an officer attends every crime.",
        "Mobile technology: Officers have no mobile devices.",
        "The force understands its demand well.",
        "Overall the force is well placed.",
    ]
    assert df["area"].tolist() == ["prevention"] * 4 + ["attendance"] * 2 + ["freeing_time"] * 2
    assert df["source_ref"].str.replace(r"^.*\.docx:", "", regex=True).tolist() == [
        "table 1 row 2", "table 1 row 3", "table 1 row 3", "table 1 row 3", "table 1 row 4", "table 1 row 5",
        "table 1 row 6", "table 1 row 7"]
    assert not df["text"].str.contains("Finding|Area", regex=True).any()


def test_docx_table_without_a_header_keeps_its_first_row(tmp_path, test_resolver):
    """A table whose first row is already a finding (a sentence) has no header to drop."""
    rows = [["Preventing crime", "The force has a written prevention strategy."],
            ["", "Prevention is a clear priority for leaders."]]
    path = _table_letter(tmp_path / "testshire_2014-09-12.docx", rows)
    _, df = parse_letter(path, ROUND, test_resolver)
    assert df["text"].tolist() == ["The force has a written prevention strategy.",
                                   "Prevention is a clear priority for leaders."]
    assert df["area"].tolist() == ["prevention", "prevention"]


def test_docx_letterhead_laid_out_in_a_table_still_gives_force_and_date(tmp_path, test_resolver):
    """Letters often set the address and date side by side in a borderless table above the
    salutation: the force and date are still read from it, and none of it becomes a finding."""
    import docx

    d = docx.Document()
    head = d.add_table(rows=1, cols=2)
    head.cell(0, 0).paragraphs[0].text = "Ms A Example"
    head.cell(0, 0).add_paragraph("Chief Constable")
    head.cell(0, 0).add_paragraph("Testshire Constabulary")
    head.cell(0, 1).paragraphs[0].text = "12th September 2014"
    for line in ["Jane Smith QPM", "HM Inspector of Constabulary, Northern Region", "Dear Chief Constable",
                 "Findings that specifically relate to your force are:", "Preventing crime"]:
        d.add_paragraph(line)
    d.add_paragraph("The force has a written prevention strategy.", style="List Bullet")
    d.add_paragraph("Yours sincerely")
    path = tmp_path / "testshire_letter.docx"
    d.save(str(path))
    meta, df = parse_letter(path, ROUND, test_resolver)
    assert (meta["force_id"], meta["date"], meta["hmi"]) == ("testshire", "2014-09-12", "Jane Smith")
    assert df["text"].tolist() == ["The force has a written prevention strategy."]
    assert df["area"].tolist() == ["prevention"]
    # Two rows of labels: the first is taken for a header row, yet the force and the date, which
    # only it holds, are still read; the second row's labels are lines of their own.
    d = docx.Document()
    head = d.add_table(rows=2, cols=2)
    for (r, c), text in {(0, 0): "Testshire Constabulary", (0, 1): "12th September 2014",
                         (1, 0): "Chief Constable", (1, 1): "Our ref: CB/14"}.items():
        head.cell(r, c).paragraphs[0].text = text
    for line in ["Dear Chief Constable", "Preventing crime"]:
        d.add_paragraph(line)
    d.add_paragraph("The force has a written prevention strategy.", style="List Bullet")
    d.save(str(path))
    meta, df = parse_letter(path, ROUND, test_resolver)
    assert (meta["force_id"], meta["date"]) == ("testshire", "2014-09-12")
    assert df["text"].tolist() == ["The force has a written prevention strategy."]


def test_docx_table_nested_in_a_cell_is_read_not_passed_over(tmp_path, test_resolver):
    """A table inside a cell (a layout some templates use) gives its text to the cell's finding
    rather than being skipped."""
    rows = [["Area", "Finding"], ["Preventing crime", "The force has a written prevention strategy."]]
    path = _table_letter(tmp_path / "testshire_2014-09-12.docx", rows)
    import docx

    d = docx.Document(str(path))
    inner = d.tables[0].cell(1, 1).add_table(rows=1, cols=1)
    inner.cell(0, 0).paragraphs[0].text = "Leaders champion it."
    inner.cell(0, 0).paragraphs[0].style = d.styles["List Bullet"]
    d.save(str(path))
    _, df = parse_letter(path, ROUND, test_resolver)
    assert df["text"].tolist() == ["The force has a written prevention strategy.", "Leaders champion it."]
    assert df["area"].tolist() == ["prevention", "prevention"]


def test_docx_paragraphs_inside_content_controls_are_read(tmp_path, test_resolver):
    """Letter templates often wrap parts of the body in content controls (w:sdt); their paragraphs
    are read in place, not passed over."""
    import copy

    import docx
    from docx.oxml.ns import qn

    rows = [["Preventing crime", "The force has a written prevention strategy."]]
    path = _table_letter(tmp_path / "testshire_2014-09-12.docx", rows)
    d = docx.Document(str(path))
    body = d.element.body
    sign_off = [p for p in d.paragraphs if p.text == "Yours sincerely"][0]._p
    bullet = copy.deepcopy(sign_off)
    for run in bullet.findall(qn("w:r"))[1:]:
        bullet.remove(run)
    bullet.findall(qn("w:r"))[0].find(qn("w:t")).text = "- Leaders champion it."
    sdt, content = body.makeelement(qn("w:sdt"), {}), body.makeelement(qn("w:sdtContent"), {})
    content.append(bullet)
    sdt.append(content)
    sign_off.addprevious(sdt)
    d.save(str(path))
    _, df = parse_letter(path, ROUND, test_resolver)
    assert df["text"].tolist() == ["The force has a written prevention strategy.", "Leaders champion it."]


def test_docx_text_reads_as_with_tracked_changes_accepted(tmp_path, test_resolver):
    """Inside a paragraph, python-docx reads only its own runs and hyperlinks: tracked insertions,
    inline content controls (a template's filled-in fields), smart tags and fields were passed
    over. They are read now; tracked deletions, text moved away, field codes and text boxes are
    not."""
    import docx
    from docx.oxml import parse_xml

    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    mc = 'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"'

    def run(text, tag="w:t"):
        return f'<w:r><{tag} xml:space="preserve">{text}</{tag}></w:r>'

    bullets = [
        # tracked insertion and deletion
        run("The force attends ") + f'<w:del w:id="1" w:author="A">{run("no ", "w:delText")}</w:del>'
        + f'<w:ins w:id="2" w:author="A">{run("all ")}</w:ins>' + run("reported crimes."),
        # an inline content control holding a name, and a smart tag
        run("Leaders in ") + f'<w:sdt><w:sdtPr><w:alias w:val="Force"/></w:sdtPr><w:sdtContent>{run("Testshire")}'
        '</w:sdtContent></w:sdt>' + run(" champion ") + f'<w:smartTag w:element="place">{run("prevention")}</w:smartTag>'
        + run("."),
        # a simple field, a complex field (code skipped, result read), moved text, a text box
        run("Savings of ") + f'<w:fldSimple w:instr=" DOCPROPERTY Savings ">{run("£2m")}</w:fldSimple>'
        + run(" were found by ") + '<w:r><w:fldChar w:fldCharType="begin"/></w:r>'
        + run(" DOCPROPERTY Team ", "w:instrText") + '<w:r><w:fldChar w:fldCharType="separate"/></w:r>'
        + run("the review team") + '<w:r><w:fldChar w:fldCharType="end"/></w:r>'
        + f'<w:moveFrom w:id="3" w:author="A">{run(" early")}</w:moveFrom>'
        + f'<w:moveTo w:id="4" w:author="A">{run(" in 2014")}</w:moveTo>'
        + f'<w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing/></mc:Choice><mc:Fallback>'
        f'<w:pict><w:txbxContent><w:p>{run("SIDEBAR")}</w:p></w:txbxContent></w:pict></mc:Fallback>'
        '</mc:AlternateContent></w:r>' + run("."),
    ]
    d = docx.Document()
    for line in ["Testshire Constabulary", "Jane Smith QPM", "HM Inspector of Constabulary, Northern Region",
                 "12th September 2014", "Dear Chief Constable", "Preventing crime"]:
        d.add_paragraph(line)
    for xml in bullets:
        p = d.add_paragraph(style="List Bullet")
        for el in parse_xml(f"<w:p {w} {mc}>{xml}</w:p>"):
            p._p.append(el)
    d.add_paragraph("Yours sincerely")
    path = tmp_path / "testshire_2014-09-12.docx"
    d.save(str(path))
    _, df = parse_letter(path, ROUND, test_resolver)
    assert df["text"].tolist() == ["The force attends all reported crimes.", "Leaders in Testshire champion prevention.",
                                   "Savings of £2m were found by the review team in 2014."]


def test_cli_parse_letters_checks_the_round_it_writes_into_every_id(tmp_path, capsys):
    """'--round ../x' went into the finding ids, and a letters/ folder outside data/raw took its
    parent's name as the round."""
    assert main(["parse-letters", str(SEED.parent), "-o", str(tmp_path / "a.csv"), "--round", "../x"]) == 1
    assert "round id '../x' is not lower_snake_case" in capsys.readouterr().err
    elsewhere = tmp_path / "x" / "letters"
    elsewhere.mkdir(parents=True)
    shutil.copy(SEED, elsewhere / SEED.name)
    assert main(["parse-letters", str(elsewhere), "-o", str(tmp_path / "b.csv")]) == 1
    assert "its round cannot be told from the folder ('x' would be a guess)" in capsys.readouterr().err
    assert main(["parse-letters", str(elsewhere), "-o", str(tmp_path / "b.csv"), "--round", "core_business_2014"]) == 0
