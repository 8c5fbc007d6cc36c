"""Reading spreadsheets as plain grids of cells, with their addresses.

CSV (UTF-8, UTF-8 with BOM, Windows cp1252, or UTF-16 with BOM; comma-, semicolon- or
tab-separated, told apart by the first line that has any of them) and Excel workbooks (.xlsx/.xlsm via openpyxl).
Nothing in the file is executed: formulas are reported as formulas (never evaluated), macros in
.xlsm files are not loaded (openpyxl drops VBA unless asked to keep it), and cells are returned as
text or numbers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError

SPREADSHEET_SUFFIXES = (".csv", ".xlsx", ".xlsm")


@dataclass(slots=True)  # slots: a 100-round build reads about a million cells
class Cell:
    value: object            # str, int, float, date/datetime, or None
    ref: str                 # "row 12" (csv) or "Sheet1!D7" (xlsx)
    formula: bool = False    # the cell holds a formula (never evaluated)
    hidden: bool = False     # in a hidden row or column


@dataclass
class Grid:
    """One sheet (or the CSV) as rows of cells. ``rows[i]`` is the sheet's row ``row_numbers[i]``."""

    name: str | None
    rows: list[list[Cell]]
    row_numbers: list[int]
    merged_titles: list[str] = field(default_factory=list)
    hidden: bool = False  # an Excel sheet that is hidden or 'very hidden'
    # Whole-sheet facts found while reading, so per-row checks can be skipped when they cannot fire
    any_hidden_cells: bool = False
    any_formulas: bool = False
    longest_text: int = 0

    def row_ref(self, i: int) -> str:
        n = self.row_numbers[i]
        return f"{self.name}!row {n}" if self.name else f"row {n}"


def _col_letter(idx: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(idx)


_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")  # a multi-byte UTF-8 character


def _line_text(line: bytes) -> str:
    try:
        return line.decode("utf-8-sig")
    except UnicodeDecodeError:
        return line.decode("cp1252", errors="replace")


def decode_text(path: Path, raw: bytes, fix: str, lenient: bool = False) -> str:
    """The text of a text file: UTF-16 when it starts with a byte-order mark (what Excel's
    "Unicode Text" and Notepad's "Unicode" write), else UTF-8 (with or without a BOM), else
    Windows cp1252 (``lenient``: with any byte cp1252 leaves undefined replaced, not refused).
    A text with NUL characters is refused: a binary file, or UTF-16 without its mark."""
    encodings = ("utf-16",) if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig", "cp1252")
    for enc in encodings:
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            if enc == "utf-8-sig" and _UTF8_SEQUENCE.search(raw):
                # UTF-8 with a stray Windows-1252 byte (a line pasted from another file): read
                # line by line, or every 'ë' of the file would become 'Ã«'
                text = "".join(_line_text(line) for line in raw.splitlines(keepends=True))
                break
            continue
    else:  # (cp1252 decodes almost anything; a damaged UTF-16 file does not decode)
        if not lenient or len(encodings) == 1:
            raise InputError(path, None, f"not readable as {' or '.join(encodings)} text", fix)
        text = raw.decode("cp1252", errors="replace")
    if "\x00" in text:
        raise InputError(path, None, "contains NUL bytes: this is not a text file (or it is UTF-16 "
                         "text without its byte-order mark)", fix)
    return text


# The fix for a row with a cell past its header: nearly always a comma in a cell without quotes,
# which splits the cell and moves the cells after it one column on.
UNQUOTED_COMMA_FIX = ("put double quotes round a cell that holds a comma (Excel does when it saves CSV), "
                      "or give the column a name in row 1")

# Python's csv refuses a cell over 128 KiB with an error that reads like a quoting problem;
# a long cell is read, and the loaders say what is wrong with it (MAX_CELL_CHARS in coded.py).
_CSV_FIELD_LIMIT = 64 * 1024 * 1024
MAX_CSV_CELLS = 2_000_000  # (40,000 long-form rows of 50 columns; a round has a few thousand rows)


def _allow_long_cells() -> None:
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)


def read_csv_grid(path: Path) -> Grid:
    text = decode_text(path, path.read_bytes(), "save the file as CSV UTF-8 from Excel")
    _allow_long_cells()
    delimiter = _delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows, numbers = [], []
    longest = 0
    cells = 0
    try:
        for rec in reader:
            line = reader.line_num
            cells += len(rec)
            if cells > MAX_CSV_CELLS:  # (before the cells are made: a 6 MB line of 3 million took 30 s)
                raise InputError(path, f"line {line}", f"more than {MAX_CSV_CELLS:,} cells, far more than a "
                                 "table of coded findings or facts", "check this is the right file; split a "
                                 "genuine table of this size into one file per round")
            ref = f"row {line}"
            rows.append([Cell(v if v and not v.isspace() else None, ref) for v in rec])
            numbers.append(line)
            if rec:
                longest = max(longest, max(map(len, rec)))
    except csv.Error as exc:
        raise InputError(path, f"line {reader.line_num}", f"CSV cannot be parsed ({exc})",
                         "check quotes in that line") from exc
    if numbers:
        first_line = numbers[-2] + 1 if len(numbers) > 1 else 1  # the last record's first line
        if numbers[-1] > first_line:  # (rare: a cell over several lines in the last row)
            _check_closed(path, "".join(io.StringIO(text, newline="").readlines()[first_line - 1:]),
                          delimiter, first_line)
        else:
            last = text[text.rstrip("\r\n").rfind("\n") + 1:]
            if '"' in last:
                _check_closed(path, last, delimiter, first_line)
    # a CSV has no hidden cells and no formulas (text such as '=1+1' stays text; it is guarded
    # when written out)
    return Grid(None, rows, numbers, longest_text=longest)


def _check_closed(path: Path, tail: str, delimiter: str, first_line: int) -> None:
    """The last record runs over several lines, or its line has a quote: refuse it if that is a
    quoted cell never closed. Python's reader (as Excel) then reads every line to the end of the
    file into that one cell, so the rows after it would vanish into one text (or, on the last
    line, the cells after it). Only the last record can be such a cell, and a strict read of it
    alone (``tail``: the file from ``first_line`` on) says whether it is."""
    try:
        for _ in csv.reader(io.StringIO(tail, newline=""), delimiter=delimiter, strict=True):
            pass
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise InputError(path, f"line {first_line}", "a quoted cell on this line is never closed, so "
                             "the rest of the file would be read into that one cell",
                             'add the closing double quote (") where the cell\'s text ends, or remove '
                             "the opening one") from exc


def refuse_repeated_headers(path: Path, header: list) -> None:
    """An exact table (reference tables, grades, measures) is read by column name, so a name used
    twice (as trimmed, any case) would let one column win without a word: an InputError."""
    names = [str(h or "").strip().lower() for h in header]
    twice = sorted({h for h in names if h and names.count(h) > 1})
    if twice:
        cols = ", ".join(f"{h!r} (columns {' and '.join(_col_letter(i + 1) for i, x in enumerate(names) if x == h)})"
                         for h in twice)
        raise InputError(path, "row 1 (header)", f"column name(s) used twice: {cols}",
                         "delete or rename the extra column")


def read_reference_csv(path: Path, what: str, **read_csv_kw):
    """A reference table (forces, aliases, question map, national figures, review sheets) as a
    DataFrame of strings, decoded as :func:`decode_text` does; an empty, unparsable or
    unclosed-quote file is an :class:`InputError` naming the file and line."""
    import pandas as pd

    fix = f"save the {what} as CSV UTF-8 (comma-separated) from Excel"
    text = decode_text(path, path.read_bytes(), fix)
    if not text.strip():
        raise InputError(path, None, f"the {what} file is empty", f"{fix}, with its header row")
    read_csv_kw.setdefault("dtype", "string")
    comment = read_csv_kw.get("comment")
    first = next((line for line in text.splitlines() if line.strip()
                  and not (comment and line.lstrip().startswith(comment))), "")
    if not first:
        raise InputError(path, None, f"the {what} file has no header row (only comment lines)",
                         f"{fix}, with its header row")
    header = next(csv.reader([first]))
    refuse_repeated_headers(path, header)  # (pandas renames a repeat 'x.1')
    _refuse_cells_past_header(path, text, len(header), comment)
    try:
        return pd.read_csv(io.StringIO(text), **read_csv_kw)
    except pd.errors.ParserError as exc:
        message = " ".join(str(exc).split())
        unclosed = "EOF inside string" in message
        line = re.search(r"(?:line|row) (\d+)", message)
        where = f"line {int(line.group(1)) + unclosed}" if line else None  # ('row' counts from 0)
        raise InputError(path, where, "a quoted cell on this line is never closed" if unclosed
                         else f"CSV cannot be parsed ({message})",
                         'add the missing closing double quote (")' if unclosed
                         else "check that line has as many commas as the header") from exc


def _refuse_cells_past_header(path: Path, text: str, width: int, comment: str | None) -> None:
    """A row with a filled cell past the header's last column: pandas would make the first
    column the row names (every cell one column off) or drop the cell. Nearly always a comma
    in an unquoted cell: an InputError naming the line."""
    _allow_long_cells()
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for rec in reader:
            if len(rec) > width and any(v.strip() for v in rec[width:]):
                if comment and rec and rec[0].lstrip().startswith(comment):
                    continue
                raise InputError(path, f"line {reader.line_num}",
                                 f"{len(rec)} cells where the header has {width} ({rec[width]!r}...)",
                                 UNQUOTED_COMMA_FIX)
    except csv.Error:
        return  # (pandas, reading it next, names what is wrong)


def _delimiter(text: str) -> str:
    """The column separator: of ',', ';' and tab, the one that splits most of the first 30 lines
    into one and the same number of cells (two or more; quoted text aside), then the one giving
    more cells, commas winning ties. Excel in many European locales saves "CSV" with semicolons,
    and some tools export tab-separated text as .csv; a title line above the table ('Coded
    findings; draft 2') does not decide it."""
    lines = [re.sub(r'"[^"]*"', "", line) for line in text.splitlines()[:30]]
    best, best_key = ",", (0, 0, True)
    for sep in (",", ";", "\t"):
        widths: dict[int, int] = {}
        for line in lines:
            n = line.count(sep)
            if n:
                widths[n + 1] = widths.get(n + 1, 0) + 1
        if widths:
            width, lines_of_width = max(widths.items(), key=lambda kv: (kv[1], kv[0]))
            key = (lines_of_width, width, sep == ",")
            if key > best_key:
                best, best_key = sep, key
    return best


_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # compound file: .xls/.doc, or an encrypted .xlsx/.docx


def refuse_compound_file(path: Path, what: str, old_suffix: str, app: str, save_as: str, protect: str) -> None:
    """Office files that are not zip packages: the old binary formats (.xls, .doc) and any
    password-protected .xlsx/.docx look alike (an OLE2 compound file). Say so, with the fix,
    rather than the zip library's 'not a zip file'."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        return  # (the reader's own error names it)
    if head == _OLE2_MAGIC:
        raise InputError(path, None, f"an old-format ({old_suffix}) or password-protected {what}: both are "
                         "stored in the old compound format, which is not read",
                         f"open it in {app} and save it as {save_as} without a password "
                         f"(File > Info > {protect} > Encrypt with Password: clear it)")


# The sheets of a coded-findings workbook unpack to a few MB (43 forces x 30 criteria, or some
# thousands of long-form rows). Reading costs about 2 s and 40 MB a MB of sheet XML, so a file
# far past this (a stray export of a whole database, a 60 KB 'cell bomb' of a million cells)
# is refused at once rather than read for minutes.
MAX_SHEET_XML_BYTES = 16 * 1024 * 1024


def refuse_oversized_workbook(path: Path) -> None:
    """An InputError when the workbook's sheets unpack to more than MAX_SHEET_XML_BYTES (a file
    that is no zip package is left to the reader's own error)."""
    try:
        with zipfile.ZipFile(path) as zf:
            size = sum(i.file_size for i in zf.infolist() if i.filename.startswith("xl/worksheets/"))
    except (zipfile.BadZipFile, OSError, EOFError):
        return
    if size > MAX_SHEET_XML_BYTES:
        raise InputError(path, None, f"its sheets unpack to {size / 1e6:,.0f} MB of cells, far more than a "
                         f"coded-findings workbook (the limit is {MAX_SHEET_XML_BYTES / 1e6:.0f} MB, about half "
                         "a million cells)", "keep only the coded sheet(s) in the workbook, or save the coded "
                         "sheet as CSV")


def filled_cells(ws) -> dict[int, dict[int, object]]:
    """{row: {column: cell}} of a worksheet's cells that hold something (not blank text), from
    the cells the file stores rather than the rectangle up to the sheet's last used cell: a format
    applied far down or across (row 1,000,000, column XFD) makes Excel's used range, and
    openpyxl's iter_rows, millions of empty cells. (``_cells`` is openpyxl's own store of them;
    iter_rows gives the same cells where it is missing.)"""
    stored = getattr(ws, "_cells", None)
    if not isinstance(stored, dict):
        stored = {(c.row, c.column): c for row in ws.iter_rows() for c in row}
    by_row: dict[int, dict[int, object]] = {}
    for (r, c), cell in stored.items():
        v = cell.value
        if v is not None and not (isinstance(v, str) and not v.strip()):
            by_row.setdefault(r, {})[c] = cell
    return by_row


def read_xlsx_grids(path: Path) -> list[Grid]:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    refuse_compound_file(path, "workbook", ".xls", "Excel", ".xlsx (Excel Workbook)", "Protect Workbook")
    refuse_oversized_workbook(path)
    try:
        # keep_vba=False: macros in .xlsm are neither run nor kept. data_only=False so formulas
        # are seen as formulas (and rejected), not silently replaced by stale cached values.
        wb = openpyxl.load_workbook(path, data_only=False, keep_vba=False, read_only=False)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, EOFError) as exc:
        raise InputError(path, None, f"not a readable Excel workbook ({exc.__class__.__name__}: {exc})",
                         "re-save it from Excel as .xlsx, or export the sheet as CSV") from exc
    except Exception as exc:  # openpyxl raises assorted errors on damaged files
        raise InputError(path, None, f"Excel workbook is damaged ({exc.__class__.__name__})",
                         "re-save it from Excel as .xlsx") from exc
    grids = []
    for ws in wb.worksheets:
        hidden_rows = {r for r, d in ws.row_dimensions.items() if d.hidden}
        # (a group of hidden columns is one entry, keyed by its first column: min..max)
        hidden_cols = {i for d in ws.column_dimensions.values() if d.hidden and d.min and d.max
                       for i in range(d.min, min(d.max, 16384) + 1)}
        by_row = filled_cells(ws)  # (not ws.iter_rows(): see filled_cells)
        last_row = max(by_row, default=0)
        merged_titles = []
        fill_down: dict[tuple[int, int], object] = {}
        for rng in ws.merged_cells.ranges:
            v = ws.cell(rng.min_row, rng.min_col).value
            if v is not None:
                merged_titles.append(str(v))
            # A value merged down a column (e.g. one force name over several rows of a long
            # sheet) belongs to every row, down to the last row holding anything else. Merges
            # across columns (titles) stay in their first cell.
            if v is not None and rng.min_col == rng.max_col and rng.max_row > rng.min_row:
                for r in range(rng.min_row + 1, min(rng.max_row, last_row) + 1):
                    fill_down[(r, rng.min_col)] = v
                    by_row.setdefault(r, {}).setdefault(rng.min_col, None)
        rows, numbers = [], []
        for r_idx in range(1, last_row + 1):
            here = by_row.get(r_idx, {})
            cells = []
            for c_idx in range(1, max(here, default=0) + 1):
                c = here.get(c_idx)
                v = fill_down.get((r_idx, c_idx), c.value if c is not None else None)
                formula = (c is not None and c.data_type == "f") or (isinstance(v, str) and v.startswith("="))
                if isinstance(v, str) and not v.strip():
                    v = None
                col = _col_letter(c_idx)
                cells.append(Cell(v, f"{ws.title}!{col}{r_idx}", formula,
                                  r_idx in hidden_rows or c_idx in hidden_cols))
            rows.append(cells)
            numbers.append(r_idx)
        flat = [c for r in rows for c in r]
        grids.append(Grid(ws.title, rows, numbers, merged_titles, hidden=ws.sheet_state != "visible",
                          any_hidden_cells=any(c.hidden for c in flat), any_formulas=any(c.formula for c in flat),
                          longest_text=max((len(c.value) for c in flat if isinstance(c.value, str)), default=0)))
    return grids


def read_grids(path: Path) -> list[Grid]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return [read_csv_grid(path)]
    if suffix in (".xlsx", ".xlsm"):
        return read_xlsx_grids(path)
    raise InputError(path, None, f"unsupported file type {suffix!r}",
                     f"save coded findings as one of {list(SPREADSHEET_SUFFIXES)}")


# Control characters (C0, DEL, C1) that are not whitespace to str.split: pasted from terminals,
# old systems or PDFs ('\x1b', '\x07'), invisible in Excel, and carried into every table and CSV.
_CONTROLS = {c: " " for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}


def cell_text(value: object) -> str | None:
    """Cell content as trimmed text (None when blank): runs of whitespace and control
    characters become one space. Dates are written ISO so a date typed where text was expected
    is visible in the reject reason."""
    if value is None:
        return None
    if type(value) is not str:
        if isinstance(value, (dt.datetime, dt.date)):
            return value.isoformat()
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        value = str(value)
    s = " ".join(value.split())
    if not s.isprintable():  # (only spaces are left as whitespace, so this is rare)
        s = " ".join(s.translate(_CONTROLS).split())
    return s or None
