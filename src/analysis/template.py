"""A blank coding workbook for analysts: ``python -m analysis coding-template -o coding.xlsx``.

One row per force and one column per framed criterion (the wide form the build reads), each
criterion followed by its own evidence column, with in-cell dropdowns of the values the codebook
allows, so what goes in is what the build accepts. A read-me sheet says how to fill it in and a
codebook sheet lists every value and its judgement. Saved into ``data/raw/<round>/coded/`` and
filled in, it loads with no rejects; the read-me and codebook sheets are passed over as notes.
"""

from __future__ import annotations

from pathlib import Path

from .codebook import Codebook
from .forces import load_forces
from .io import new_workbook, save_workbook, write_readme_sheet
from .sources import SOURCE_KINDS

SHEET = "Codes"
CONFIDENCES = ("high", "medium", "low")


def template_columns(codebook: Codebook) -> list[tuple[str, str | None, tuple[str, ...] | None]]:
    """(header, criterion id or None, allowed values or None), in sheet order after Force."""
    cols: list[tuple[str, str | None, tuple[str, ...] | None]] = []
    for c in codebook.criteria.values():
        if c.framed:
            cols.append((f"{c.id} {c.label}", c.id, tuple(c.values)))
            cols.append((f"{c.id} evidence", None, None))
    cols += [("Source kind", None, SOURCE_KINDS), ("Source URL", None, None), ("Coder", None, None),
             ("Confidence", None, CONFIDENCES), ("Note", None, None)]
    return cols


def write_template(codebook_path: str | Path, forces_csv: str | Path, out_xlsx: str | Path) -> Path:
    """Write the blank coding workbook (atomically) and return its path."""
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    codebook = Codebook.load(codebook_path)
    forces = load_forces(forces_csv).sort_values("short_name", ignore_index=True)
    cols = template_columns(codebook)
    wb, (readme, ws, book) = new_workbook("Read me", SHEET, "Codebook")

    bold, top = Font(bold=True), Alignment(wrap_text=True, vertical="top")
    code_fill = PatternFill("solid", start_color="DDEBF7", end_color="DDEBF7")
    ws.cell(1, 1, "Force").font = bold
    ws.column_dimensions["A"].width = 22
    for i, name in enumerate(forces["short_name"], start=2):
        ws.cell(i, 1, name)
    last = len(forces) + 1
    for j, (header, cid, allowed) in enumerate(cols, start=2):
        cell = ws.cell(1, j, header)
        cell.font, cell.alignment = bold, top
        letter = get_column_letter(j)
        ws.column_dimensions[letter].width = 18 if cid else 30
        if cid:
            cell.fill = code_fill
        if allowed:
            what = f"a value of {cid}" if cid else header.lower()
            dv = DataValidation(type="list", formula1='"' + ",".join(allowed) + '"', allow_blank=True,
                                showErrorMessage=True, errorTitle=header[:32],
                                error=f"Pick {what} from the list, or leave the cell blank (not coded).",
                                showInputMessage=True, promptTitle=header[:32],
                                prompt=f"{', '.join(allowed)}; blank = not coded"[:255])
            dv.add(f"{letter}2:{letter}{last}")
            ws.add_data_validation(dv)
    ws.row_dimensions[1].height = 60
    ws.freeze_panes = "B2"

    book.append(["Criterion", "Area", "Label", "Question", "Value", "Judgement"])
    for c in codebook.criteria.values():
        for value, judgement in c.values.items():
            book.append([c.id, codebook.areas[c.area], c.label, c.question, value, judgement])
    for cell in book[1]:
        cell.font = bold
    for letter, width in zip("ABCDEF", (10, 34, 34, 60, 22, 12)):
        book.column_dimensions[letter].width = width

    _write_readme(readme, codebook)
    return save_workbook(wb, out_xlsx)


def _write_readme(ws, codebook: Codebook) -> None:
    other = ", ".join(c.id for c in codebook.criteria.values() if not c.framed)
    lines = [
        ("Coding workbook: Core Business criteria, one row per force", True),
        ("", False),
        ("How to fill it in", True),
        ("On the Codes sheet, pick a value from the dropdown in a criterion's (blue) column where the "
         "source speaks to it, and put the words that support it in the evidence column beside it.", False),
        ("Leave a cell blank where the source says nothing: blank means not coded, and the force is "
         "then 'not reported' on that criterion. Do not type N/A, TBC, '-' or 'not reported': they are "
         "refused when the workbook is read.", False),
        ("Source kind, Source URL, Coder, Confidence and Note apply to the whole row. Where one "
         "criterion's source differs, add a column headed, for example, 'A2 source kind' or "
         "'A2 source URL'. A row whose source kind is left blank is read as 'secondary', the weakest.",
         False),
        (f"Findings outside the frame ({other}) have no column here: code them in long form (one row per "
         "force and criterion; see data/raw/README.md).", False),
        ("Do not hide rows, columns or sheets, or type formulas: hidden cells and formulas are refused.",
         False),
        ("", False),
        ("Bringing it in", True),
        ("Save the workbook in data/raw/<round id>/coded/ (the round listed in data/raw/rounds.yaml), then "
         "run: python -m analysis build. Every cell it cannot use is listed in data/processed/rejects.csv "
         "with its cell address and the fix.", False),
        ("", False),
        ("Source kinds, strongest first", True),
        (", ".join(SOURCE_KINDS), False),
        ("", False),
        ("The values of each criterion and their judgements are on the Codebook sheet.", False),
    ]
    write_readme_sheet(ws, lines, width=110)


def register(subparsers) -> None:
    from .cli import add_output_arg, add_path_args

    p = subparsers.add_parser("coding-template", help="write a blank coding workbook (Excel) with dropdowns",
                              description="One row per force, one column per criterion with the codebook's "
                              "values as dropdowns, and an evidence column beside each. Fill it in and save "
                              "it in data/raw/<round>/coded/.")
    add_output_arg(p, "workbook (.xlsx)")
    add_path_args(p)
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    from .cli import check_output_file, paths_from_args

    paths = paths_from_args(args)
    check_output_file(args)
    out = write_template(paths.codebook, paths.forces, args.output)
    print(f"coding workbook -> {out}")
    return 0
