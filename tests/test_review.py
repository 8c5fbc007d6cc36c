"""Review round-trip: export the draft codes to Excel, edit with openpyxl as an analyst would,
import, rebuild, and see the overrides win; invalid edits are refused cell by cell."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from analysis.build import build, write_tables
from analysis.cli import main
from analysis.errors import InputError
from analysis.io import write_table
from analysis.paths import RAW, Paths
from analysis.review import OUTPUT_COLUMNS, REVIEW_FILE, export_review, import_review

ROUND = "core_business_2014"
FID = "core_business_2014:norfolk:{:02d}"


def _build(paths: Paths) -> dict:
    tables = build(paths, tables_only=True, log=lambda s: None).tables
    write_tables(tables, paths.processed)
    return tables


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A raw copy and its processed tables, built once; tests copy it."""
    base = tmp_path_factory.mktemp("review_base")
    shutil.copytree(RAW, base / "raw")
    _build(Paths(raw=base / "raw", processed=base / "processed", reports=base / "reports"))
    return base


@pytest.fixture
def paths(built, tmp_path) -> Paths:
    shutil.copytree(built / "raw", tmp_path / "raw")
    shutil.copytree(built / "processed", tmp_path / "processed")
    return Paths(raw=tmp_path / "raw", processed=tmp_path / "processed", reports=tmp_path / "reports")


class Sheet:
    """The Review sheet of a workbook, addressed by header and by (finding, proposed criterion)."""

    def __init__(self, path: Path):
        self.path = path
        self.wb = load_workbook(path)
        self.ws = self.wb["Review"]
        self.col = {c.value: c.column_letter for c in self.ws[1]}

    def row(self, finding_no: int, criterion: str | None) -> int:
        for r in range(2, self.ws.max_row + 1):
            if (self.ws[f"{self.col['Finding ID']}{r}"].value == FID.format(finding_no)
                    and self.ws[f"{self.col['Proposed criterion']}{r}"].value == criterion):
                return r
        raise KeyError((finding_no, criterion))

    def set(self, r: int, **values) -> None:
        names = {"action": "Action", "criterion": "Criterion", "value": "Value", "note": "Note",
                 "finding": "Finding ID", "confidence": "Your confidence"}
        for k, v in values.items():
            self.ws[f"{self.col[names[k]]}{r}"] = v

    def get(self, r: int, header: str):
        return self.ws[f"{self.col[header]}{r}"].value

    def save(self) -> Path:
        self.wb.save(self.path)
        return self.path


# ---------------------------------------------------------------------------------------------
def test_export_has_readme_dropdowns_frozen_header_filter_and_flags_without_colour_only(paths, tmp_path):
    # one low-confidence draft, one finding with no proposal and a text that looks like a formula
    draft = pd.read_parquet(paths.processed / "draft_codes.parquet")
    draft.loc[draft["criterion_id"] == "A4", "confidence"] = 0.3
    extra = draft[draft["criterion_id"] == "A5"].copy()
    extra[["criterion_id", "value", "judgement", "rule", "evidence", "confidence_label"]] = pd.NA
    extra["confidence"] = 0.0
    extra["text"] = "=HYPERLINK(\"http://example.org\")"
    write_table(pd.concat([draft, extra], ignore_index=True), paths.processed, "draft_codes")

    s = Sheet(export_review(paths, tmp_path / "review.xlsx"))
    assert s.wb.sheetnames == ["Read me", "Review", "Lists"]
    assert "Actions" in [c.value for c in s.wb["Read me"]["A"]]
    ws = s.ws
    assert ws.freeze_panes == "B2"
    assert ws.auto_filter.ref == f"A1:T{ws.max_row}"
    assert ws.max_row == 1 + 17 + 1
    assert ws[f"{s.col['Finding']}2"].alignment.wrap_text
    dv = {d.formula1: str(d.sqref) for d in ws.data_validations.dataValidation}
    assert dv['"accept,change,reject,add"'].startswith(f"{s.col['Action']}2:")
    assert any(f.endswith("!$A$2:$A$23") for f in dv)                       # criterion ids
    assert f'INDIRECT("vals_"&${s.col["Criterion"]}2)' in dv                 # values of that criterion
    a2 = next(c.column_letter for c in s.wb["Lists"][1] if c.value == "A2")
    assert str(s.wb.defined_names["vals_A2"].attr_text) == f"'Lists'!${a2}$2:${a2}$3"
    assert [c.value for c in s.wb["Lists"][a2][1:3]] == ["yes", "no"]

    low, none, plain = s.row(7, "A4"), s.row(8, None), s.row(8, "A5")
    assert s.get(low, "Check").startswith("LOW CONFIDENCE")
    assert s.get(none, "Check").startswith("NO CODE PROPOSED")
    assert not s.get(plain, "Check")
    fill = lambda r: ws[f"{s.col['Finding']}{r}"].fill.start_color.rgb  # noqa: E731
    assert fill(low) == fill(none) != fill(plain)
    assert ws[f"{s.col['Finding']}{none}"].data_type == "s"                 # text, not a formula
    assert s.get(plain, "Criterion") == "A5" and s.get(plain, "Value") == "good"  # pre-filled
    assert s.get(plain, "Action") is None


def test_round_trip_overrides_win_in_the_build(paths, tmp_path):
    s = Sheet(export_review(paths, tmp_path / "review.xlsx"))
    s.set(s.row(1, "P2"), action="accept")
    s.set(s.row(1, "P1"), action="change", value="force_wide", note="strategy is force-wide per the annex")
    s.set(s.row(13, "F3"), action="change", criterion="F0", value="strength")
    s.set(s.row(14, "F4"), action="reject", confidence="medium")
    new = s.ws.max_row + 1
    s.set(new, finding=FID.format(5), action="add", criterion="A9", value="no")
    out = import_review(s.save(), paths)

    assert out == paths.raw / ROUND / "coded" / REVIEW_FILE
    rev = pd.read_csv(out, dtype="string")
    assert list(rev.columns) == OUTPUT_COLUMNS
    assert set(rev["coder"]) == {"analyst"} and set(rev["override"]) == {"TRUE"}
    assert set(rev["source_kind"]) == {"letter"}
    got = set(zip(rev["finding_id"].str[-2:], rev["criterion_id"], rev["value"], rev["action"]))
    assert got == {("01", "P2", "strong", "accept"), ("01", "P1", "force_wide", "change"),
                   ("13", "F3", "good", "reject"), ("13", "F0", "strength", "change"),
                   ("14", "F4", "limited", "reject"), ("05", "A9", "no", "add")}
    assert rev.loc[rev["criterion_id"] == "F4", "confidence"].item() == "medium"
    assert rev["source_ref"].str.startswith("core_business_2014/letters/norfolk_2014-09-03.txt:line ").all()

    tables = _build(paths)
    f = tables["findings"]
    over = f[f["is_override"]]
    assert set(over["coder"]) == {"analyst"}
    assert set(zip(over["criterion_id"], over["value"])) == {("P2", "strong"), ("P1", "force_wide"),
                                                            ("F0", "strength"), ("A9", "no")}
    auto = f[f["coder"] == "auto"]
    assert not ((auto["criterion_id"] == "F4") | (auto["criterion_id"] == "F3")).any()  # rejected drafts
    rej = tables["rejects"]
    rejected = rej[rej["reason"].str.contains("rejected in analyst review")]
    assert set(rejected["raw"]) == {"norfolk F3=good", "norfolk F4=limited"}
    m = tables["matrix"]
    nm = m[(m["round"] == ROUND) & (m["force_id"] == "norfolk")].set_index("criterion_id")
    assert nm.loc["P1", "value"] == "force_wide"          # the override beats the analyst's sheet
    assert nm.loc["A9", "value"] == "no"                  # ... and the press report
    assert nm.loc["A9", "winning_source_kind"] == "letter"


def test_reexport_shows_earlier_decisions_and_reimport_changes_nothing(paths, tmp_path):
    s = Sheet(export_review(paths, tmp_path / "one.xlsx"))
    s.set(s.row(1, "P1"), action="change", value="force_wide", note="checked")
    s.set(s.row(13, "F3"), action="change", criterion="F0", value="strength")
    s.set(s.row(14, "F4"), action="reject")
    s.set(s.ws.max_row + 1, finding=FID.format(5), action="add", criterion="A9", value="no")
    first = import_review(s.save(), paths).read_text(encoding="utf-8")
    _build(paths)
    again = Sheet(export_review(paths, tmp_path / "two.xlsx"))
    r = again.row(1, "P1")
    assert (again.get(r, "Action"), again.get(r, "Value"), again.get(r, "Note")) == ("change", "force_wide", "checked")
    r = again.row(13, "F3")
    assert (again.get(r, "Action"), again.get(r, "Criterion")) == ("change", "F0")
    assert again.get(again.row(14, "F4"), "Action") == "reject"
    assert again.get(again.row(5, None), "Action") == "add"
    assert import_review(again.path, paths).read_text(encoding="utf-8") == first


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp1252"])
def test_review_file_resaved_by_excel_keeps_its_decisions(paths, tmp_path, encoding):
    """Opened and saved again in Excel, review.csv is 'CSV UTF-8' (a byte-order mark) or, as
    'CSV (Comma delimited)' on Windows, cp1252, with CRLF line ends: the next export still shows
    the decisions in it, '£' and 'é' intact (cp1252 was a UnicodeDecodeError)."""
    s = Sheet(export_review(paths, tmp_path / "one.xlsx"))
    s.set(s.row(1, "P1"), action="change", value="force_wide", note="checked: café, £0 cost")
    out = import_review(s.save(), paths)
    out.write_bytes(out.read_text(encoding="utf-8").replace("\n", "\r\n").encode(encoding))
    _build(paths)
    again = Sheet(export_review(paths, tmp_path / "two.xlsx"))
    r = again.row(1, "P1")
    assert (again.get(r, "Action"), again.get(r, "Value"), again.get(r, "Note")) == (
        "change", "force_wide", "checked: café, £0 cost")


def test_review_sheet_formatted_far_down_reads_only_its_rows(paths, tmp_path, monkeypatch):
    """A format pasted down to row 1,048,576 makes ws.max_row a million; the import reads the
    rows that hold something (each cell it asks for beyond them would be made, millions of them)."""
    from openpyxl.styles import Font

    from analysis import review

    s = Sheet(export_review(paths, tmp_path / "review.xlsx"))
    s.set(s.row(1, "P1"), action="change", value="force_wide")
    last = s.ws.max_row
    s.ws.cell(1_048_576, 1).font = Font(bold=True)
    asked: list[int] = []
    filled = review.filled_cells
    monkeypatch.setattr(review, "filled_cells", lambda ws: asked.append(ws.max_row) or filled(ws))
    out = import_review(s.save(), paths)
    assert asked == [1_048_576]
    rev = pd.read_csv(out, dtype="string")
    assert list(zip(rev["criterion_id"], rev["value"], rev["action"])) == [("P1", "force_wide", "change")]
    assert max(filled(load_workbook(s.path)["Review"])) == last


def test_invalid_edits_are_listed_by_cell_and_nothing_is_written(paths, tmp_path):
    s = Sheet(export_review(paths, tmp_path / "review.xlsx"))
    r1, r2, r3 = s.row(1, "P2"), s.row(5, "A2"), s.row(6, "A3")
    s.set(r1, action="approve")
    s.set(r2, action="change", value="maybe")
    s.set(r3, action="change", criterion="P9")
    s.set(s.row(7, "A4"), action="accept")                   # a valid row: still nothing written
    new = s.ws.max_row + 1
    s.set(new, finding="core_business_2014:norfolk:99", action="add", criterion="A9", value="no")
    with pytest.raises(InputError) as exc:
        import_review(s.save(), paths)
    msg = str(exc.value)
    assert "4 problem(s)" in msg
    assert f"Review!{s.col['Action']}{r1}" in msg and "unknown action 'approve'" in msg
    assert f"Review!{s.col['Value']}{r2}" in msg and "'maybe' is not allowed for A2" in msg
    assert f"Review!{s.col['Criterion']}{r3}" in msg and "unknown criterion 'P9'" in msg
    assert f"Review!{s.col['Finding ID']}{new}" in msg and "unknown finding id" in msg
    assert not (paths.raw / ROUND / "coded" / REVIEW_FILE).exists()


def test_a_workbook_without_decisions_is_refused(paths, tmp_path):
    x = export_review(paths, tmp_path / "review.xlsx")
    with pytest.raises(InputError, match="no decisions"):
        import_review(x, paths)


def test_cli_review_export_and_import(paths, tmp_path, capsys):
    x = tmp_path / "review.xlsx"
    common = ["--raw", str(paths.raw), "--out", str(paths.processed)]
    assert main(["review-export", "-o", str(x), *common]) == 0
    s = Sheet(x)
    s.set(s.row(2, "P3"), action="reject")
    s.save()
    assert main(["review-import", str(x), *common]) == 0
    assert "review.csv" in capsys.readouterr().out
    s.set(s.row(2, "P3"), action="maybe")
    s.save()
    assert main(["review-import", str(x), *common]) == 1
    assert "unknown action 'maybe'" in capsys.readouterr().err
    # a workbook that may hold decisions not imported yet is not written over without --force
    assert main(["review-export", "-o", str(x), *common]) == 1
    assert "exists already and may hold work" in capsys.readouterr().err
    assert s.get(s.row(2, "P3"), "Action") == "maybe"
    assert main(["review-export", "-o", str(x), "--force", *common]) == 0
    empty = tmp_path / "empty"
    assert main(["review-export", "-o", str(tmp_path / "y.xlsx"), "--raw", str(paths.raw), "--out", str(empty)]) == 1
    assert "build" in capsys.readouterr().err


def _add_first_bullet(paths: Paths) -> None:
    """The letter gains a bullet at the top of 'Preventing Crime': every later finding's number moves."""
    letter = paths.raw / ROUND / "letters" / "norfolk_2014-09-03.txt"
    text = letter.read_text(encoding="utf-8")
    head = "Preventing Crime\n\n"
    assert head in text
    letter.write_text(text.replace(head, head + "- The force has a written strategy that covers all crime "
                                   "types, with a named lead for each.\n", 1), encoding="utf-8")


def test_workbook_exported_before_the_letter_changed_is_refused_by_cell(paths, tmp_path):
    """Its finding ids now name other findings: a reject of 01's P1=some_crime_types was applied to
    the new 01's P1=force_wide, and an accept of 01's P2 became an override on the new bullet."""
    s = Sheet(export_review(paths, tmp_path / "review.xlsx"))
    s.set(s.row(1, "P1"), action="reject")
    r2 = s.row(1, "P2")
    s.set(r2, action="accept")
    s.save()
    _add_first_bullet(paths)
    _build(paths)
    with pytest.raises(InputError, match=r"finding core_business_2014:norfolk:01 has changed since this workbook "
                                         r"was exported") as exc:
        import_review(s.path, paths)
    assert f"Review!G{r2}" in str(exc.value) and "export a new review workbook" in str(exc.value)
    assert not (paths.raw / ROUND / "coded" / REVIEW_FILE).exists()


def test_review_reject_of_a_draft_no_longer_made_is_listed_not_applied_to_another(paths, tmp_path):
    """A review.csv imported before the letter changed: its reject of 01's P1=some_crime_types
    matched the new 01's P1=force_wide by finding and criterion alone."""
    s = Sheet(export_review(paths, tmp_path / "review.xlsx"))
    s.set(s.row(1, "P1"), action="reject")
    import_review(s.save(), paths)
    _add_first_bullet(paths)
    tables = _build(paths)
    auto = tables["findings"].query("coder == 'auto' and criterion_id == 'P1'")
    # the draft the analyst rejected is now finding 02's; nothing is taken away without a word
    assert (FID.format(2), "some_crime_types") in set(zip(auto["finding_id"], auto["value"]))
    rej = tables["rejects"]
    (reason,) = rej.loc[rej["file"].str.endswith(REVIEW_FILE), "reason"]
    assert reason.startswith("review decision 'reject' matches no draft code now")


def test_code_typed_over_the_proposal_with_no_action_is_an_error_not_lost(paths, tmp_path):
    s = Sheet(export_review(paths, tmp_path / "review.xlsx"))
    r = s.row(1, "P1")
    s.set(r, value="force_wide")  # Action left blank
    s.set(s.row(1, "P2"), action="accept")
    with pytest.raises(InputError, match=rf"Review!P{r}: the code was changed to P1=force_wide but Action is blank"):
        import_review(s.save(), paths)
    assert not (paths.raw / ROUND / "coded" / REVIEW_FILE).exists()


def test_reimport_says_which_earlier_decisions_it_removes(paths, tmp_path):
    """A force's decisions are replaced whole by the workbook's rows: 17 became 1 without a word."""
    s = Sheet(export_review(paths, tmp_path / "review.xlsx"))
    s.set(s.row(1, "P2"), action="accept")
    s.set(s.row(2, "P3"), action="accept")
    import_review(s.save(), paths)
    s2 = Sheet(export_review(paths, tmp_path / "again.xlsx"))
    for r in range(2, s2.ws.max_row + 1):  # the analyst deletes every row but one
        if s2.get(r, "Finding ID") != FID.format(1) or s2.get(r, "Proposed criterion") != "P2":
            for c in s2.ws[r]:
                c.value = None
    said: list[str] = []
    from analysis.review import import_review_all

    import_review_all(s2.save(), paths, log=said.append)
    assert len(said) == 1 and said[0].startswith("note: 1 earlier decision(s) in review.csv for norfolk")
    assert f"{FID.format(2)} P3 accept" in said[0]


def test_review_import_into_a_round_that_does_not_read_coded_files_is_refused(paths, tmp_path):
    s = Sheet(export_review(paths, tmp_path / "review.xlsx"))
    s.set(s.row(1, "P2"), action="accept")
    registry = paths.raw / "rounds.yaml"
    text = registry.read_text(encoding="utf-8")
    assert "kind: [coded, letters, measures]" in text
    registry.write_text(text.replace("kind: [coded, letters, measures]", "kind: [letters, measures]"), encoding="utf-8")
    with pytest.raises(InputError, match="round core_business_2014: its kind does not list coded"):
        import_review(s.save(), paths)


def test_review_workbook_saved_among_the_coded_sheets_is_rejected_whole(paths, tmp_path):
    """Saved in coded/ before review-import, its 17 proposals became 17 analyst codes."""
    export_review(paths, paths.raw / ROUND / "coded" / "review_todo.xlsx")
    tables = _build(paths)
    rej = tables["rejects"]
    (reason,) = rej.loc[rej["file"].str.endswith("review_todo.xlsx"), "reason"]
    assert reason.startswith("a review workbook (review-export) saved among the coded sheets")
    f = tables["findings"]
    assert not f["source_ref"].str.contains("review_todo").any()
