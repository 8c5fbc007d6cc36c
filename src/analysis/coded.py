"""Analysts' coded findings: messy spreadsheets in, tidy ``findings`` rows and ``rejects`` out.

Accepts, in CSV or Excel, in any number of sheets:
- long form: one row per force x criterion (columns force, criterion, value and/or judgement,
  optionally evidence, source_kind, source_url, coder, confidence, note, round, area);
- wide form: one row per force, one column per criterion (a framework matrix), optionally with
  source_kind / source_url / coder / confidence / note columns for the whole row, and a
  criterion's own ones ('A2 evidence');
- across form: the wide form turned round, forces across the top and criteria down.
Title rows above the header, merged title cells, blank separator rows and notes under the table
are handled. A blank cell is "not coded" and never a judgement. Every record read (long: a row;
wide: a non-blank criterion cell) ends up either in ``findings`` or in ``rejects`` with a reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import schemas
from .codebook import Codebook, norm_token
from .forces import ForceResolver, UnknownForce
from .io import relative_name
from .sheets import UNQUOTED_COMMA_FIX, Cell, Grid, cell_text, read_grids
from .sources import ANALYST_CODER, CONFIDENCE_LABELS, DEFAULT_SOURCE_KIND, SOURCE_KINDS

# Header spellings -> canonical column. Compared after lower-casing and collapsing punctuation.
HEADER_ALIASES = {
    "force": ("force", "force name", "police force", "force id", "forces", "pfa", "police force area"),
    "criterion": ("criterion", "criterion id", "criteria", "code", "criterion key", "criterion label",
                  "indicator"),
    "value": ("value", "coded value", "code value", "coding", "answer", "rating", "response"),
    "judgement": ("judgement", "judgment", "assessment", "rag"),
    "evidence": ("evidence", "finding", "finding text", "text", "quote", "summary"),
    "source_kind": ("source kind", "source type", "kind of source", "source category"),
    "source_url": ("source url", "url", "source", "link", "reference", "source link"),
    "coder": ("coder", "coded by", "analyst", "reviewer"),
    "confidence": ("confidence", "certainty"),
    "note": ("note", "notes", "comment", "comments", "remarks"),
    "round": ("round", "round id", "inspection round"),
    "area": ("area", "theme", "section"),
    "finding_id": ("finding id",),
    "finding_no": ("finding no", "finding number", "bullet"),
    "action": ("action", "decision"),
    "override": ("override", "is override"),
    "source_ref": ("source ref", "source reference", "letter ref"),
}
_HEADER_LOOKUP = {alias: canon for canon, aliases in HEADER_ALIASES.items() for alias in aliases}
META_COLUMNS = ("source_kind", "source_url", "coder", "confidence", "note", "round", "evidence")
CRITERION_META_COLUMNS = ("evidence", "note", "source_kind", "source_url", "coder", "confidence")
_AREA_WORDS = {
    "prevention": ("prevention", "preventing crime", "preventing crime and anti social behaviour",
                   "crime prevention"),
    "attendance": ("attendance", "attendance at crimes and incidents", "police attendance", "response"),
    "freeing_time": ("freeing time", "freeing up time", "freeing up police time", "use of police time"),
}
_AREA_LOOKUP = {w: a for a, words in _AREA_WORDS.items() for w in words}
_CONFIDENCE_SCORE = {"high": 0.9, "medium": 0.6, "low": 0.3}
_CODE_COLUMNS = ("force", "criterion", "value", "judgement")  # the cells a row's code is read from
_TRUE = {"true", "yes", "y", "1", "x"}
_FALSE = {"false", "no", "n", "0"}
_NOTE_ROW = re.compile(r"^\s*(notes?|source|sources|\*|†|nb\b|n\.b\.|key\b|please|this sheet|prepared by)", re.I)
# first cell of a row of totals or counts under a table ('Total', 'Grand total', 'Count of yes')
_TOTAL_ROW = re.compile(r"^\s*(total|totals|grand total|sub-?total|sum|count|average|mean|number of)\b", re.I)
# meta columns whose texts are joined when a sheet has two columns for one (see _merge_repeats)
_JOINED_REPEATS = {"evidence": " | ", "note": "; ", "source_url": "; ", "coder": ", ", "source_ref": "; "}
_LOOKS_LIKE_CRITERION = re.compile(r"^\s*[PAFpaf]\d{1,2}\b")
HEADER_SCAN_ROWS = 30
_NO_HEADER = (f"no header row in the first {HEADER_SCAN_ROWS} rows (a 'Force' column and either a 'Criterion' "
              "column or criterion columns such as A2; or forces across the top, criteria down the first column)")
_HEADER_FIX = "add a header row, or delete the rows above it; see data/raw/README.md for the layouts"
MAX_CELL_CHARS = 10_000  # longer cells are pasted documents, not codes: rejected, not truncated


def _norm_header(text) -> str:
    return re.sub(r"[^a-z0-9]+", " ", str(text).lower()).strip()


def canonical_header(text) -> str | None:
    return _HEADER_LOOKUP.get(_norm_header(text)) if text is not None else None


def normalise_area(text) -> str | None:
    if text is None:
        return None
    t = _norm_header(text)
    return t.replace(" ", "_") if t.replace(" ", "_") in _AREA_WORDS else _AREA_LOOKUP.get(t)


def _confidence(text: str | None) -> tuple[str | None, float | None, str | None]:
    """(label, score, problem). Accepts high/medium/low, "medium-high" (-> the lower), a number 0-1
    (a decimal comma too: "0,6") or a percentage."""
    if text is None:
        return None, None, None
    t = norm_token(text)
    if t in _CONFIDENCE_SCORE:
        return t, _CONFIDENCE_SCORE[t], None
    parts = [p for p in re.split(r"[_]", t) if p in _CONFIDENCE_SCORE]
    if parts:  # e.g. "medium_high": be conservative, take the lower
        label = max(parts, key=lambda p: CONFIDENCE_LABELS.index(p))
        return label, _CONFIDENCE_SCORE[label], None
    number = str(text).strip()
    if re.fullmatch(r"0,\d+|\d{1,3},\d+%", number):  # a decimal comma ('0,6' from a semicolon-separated CSV)
        number = number.replace(",", ".")
    try:
        score = float(number.rstrip("%")) / (100 if number.endswith("%") else 1)
    except ValueError:
        return None, None, f"confidence {text!r} is not high/medium/low or a number 0-1"
    if not 0 <= score <= 1:
        return None, None, f"confidence {text!r} is outside 0-1"
    label = "high" if score >= 0.8 else "medium" if score >= 0.5 else "low"
    return label, score, None


@dataclass
class FileResult:
    """What one input file gave: findings, rejects, review decisions, and the tally."""

    findings: list[dict] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)
    suppress: list[dict] = field(default_factory=list)   # analyst 'reject' decisions on drafts
    records_read: int = 0
    data_rows: int = 0           # non-blank rows under a header (0 = a header-only file)
    skipped_sheets: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # for the build log: read, but worth a look

    @property
    def used(self) -> int:
        return len(self.findings) + len(self.suppress)


@dataclass
class _Layout:
    header_index: int
    columns: dict[int, str]          # column index -> canonical meta column (long or wide)
    criteria: dict[int, str]         # wide form: column index -> criterion id
    unknown_criteria: dict[int, str]  # wide form: header looks like a criterion id but is not one
    form: str                         # "long", "wide" or "across" (forces across, criteria down)
    # wide form: column index -> (criterion id, meta column) for one criterion's own evidence,
    # note, source... ('A2 evidence', 'Notes (F4)'); they override the row's for that criterion
    criterion_meta: dict[int, tuple[str, str]] = field(default_factory=dict)
    headers: dict[int, str] = field(default_factory=dict)  # wide form: column index -> header text
    forces: dict[int, str] = field(default_factory=dict)  # across form: column index -> force_id
    # a second (third...) column with the header of a meta column already found: column index ->
    # that meta column (merged into the first one row by row, see CodedLoader._merge_repeats)
    repeats: dict[int, str] = field(default_factory=dict)


def criterion_meta_header(text: str, codebook: Codebook) -> tuple[str, str] | None:
    """(criterion id, meta column) for a wide sheet's per-criterion column such as 'A2 evidence',
    'A2 Attend-all-crimes policy - notes', 'Source (F4)' or 'Evidence: mobile technology'; None
    for anything else. The meta word is one of the usual headers of a per-row meta column."""
    words = _norm_header(text).split()
    for n in (2, 1):  # 'source url' before 'source'
        if len(words) <= n:
            continue
        for meta, crit in ((" ".join(words[-n:]), words[:-n]), (" ".join(words[:n]), words[n:])):
            canon = _HEADER_LOOKUP.get(meta)
            if canon in CRITERION_META_COLUMNS:
                cid = codebook.resolve_criterion(" ".join(crit))
                if cid:
                    return cid, canon
    return None


def detect_layout(grid: Grid, codebook: Codebook, try_force=None) -> _Layout | None:
    """Find the header row: the first row (within the first 30) with a force column and either a
    criterion column (long form) or at least one criterion as a column header (wide form); or,
    given ``try_force`` (name -> force_id or None), forces as column headers with the criteria
    down a 'Criterion' column or the first column (across form: a transposed wide sheet)."""
    for i, row in enumerate(grid.rows[:HEADER_SCAN_ROWS]):
        columns, criteria, unknown, crit_meta, headers, repeats = {}, {}, {}, {}, {}, {}
        for j, cell in enumerate(row):
            text = cell_text(cell.value)
            if text is None:
                continue
            headers[j] = text
            canon = canonical_header(text)
            if canon and canon not in columns.values():
                columns[j] = canon
                continue
            cid = codebook.resolve_criterion(text)
            if cid:
                criteria[j] = cid
            elif (cm := criterion_meta_header(text, codebook)) is not None:
                crit_meta[j] = cm
            elif _LOOKS_LIKE_CRITERION.match(text):
                unknown[j] = text
            elif canon:
                repeats[j] = canon
        layout = None
        if "force" not in columns.values():
            if try_force is not None and len(headers) >= 2:
                layout = _across_layout(i, headers, columns, try_force)
        elif "criterion" in columns.values():
            layout = _Layout(i, columns, {}, {}, "long", headers=headers)
        elif criteria:
            layout = _Layout(i, columns, criteria, unknown, "wide", crit_meta, headers)
        if layout is not None:
            layout.repeats = {j: c for j, c in repeats.items() if c in layout.columns.values()}
            return layout
    return None


def _across_layout(i: int, headers: dict[int, str], columns: dict[int, str], try_force) -> _Layout | None:
    """The across form, if this header row has it: two or more forces as column headers (or one
    beside a 'Criterion' column), and the criteria in that column or, under a blank or
    unrecognised corner cell, the first column."""
    forces = {j: fid for j, text in headers.items() if j not in columns and (fid := try_force(text))}
    crit_col = next((j for j, c in columns.items() if c == "criterion"), None)
    if not forces or (crit_col is None and len(forces) < 2):
        return None
    if crit_col is None:
        if 0 in forces or 0 in columns:
            return None
        columns = {**columns, 0: "criterion"}
    return _Layout(i, columns, {}, {}, "across", headers=headers, forces=forces)


def _repeated_columns(grid: Grid, by_column: dict[int, str], headers: dict[int, str], what: str) -> list[str]:
    """Notes on a sheet with two columns for one criterion ('F4' and 'Mobile technology'), or for
    one force (across form): both are read (a row that fills both in differently becomes two
    codes, contested), but one of them is likely meant as something else."""
    from .sheets import _col_letter

    cols_of: dict[str, list[int]] = {}
    for j, key in by_column.items():
        cols_of.setdefault(key, []).append(j)
    where = f"sheet {grid.name}: " if grid.name else ""
    return [f"{where}columns {', '.join(f'{_col_letter(j + 1)} ({headers[j]!r})' for j in cols)} "
            f"are all read as {key}; if one is not that {what}, rename its header"
            for key, cols in cols_of.items() if len(cols) > 1]


def _is_review_sheet(grid: Grid) -> bool:
    """The Review sheet of a workbook review-export wrote (its header names the proposal and the
    analyst's Action)."""
    if not grid.rows or (grid.name or "").strip().lower() != "review":
        return False
    header = {_norm_header(c.value) for c in grid.rows[0] if c.value is not None}
    return {"proposed criterion", "action"} <= header


def _read_columns(layout: _Layout) -> set[int]:
    return {*layout.columns, *layout.criteria, *layout.unknown_criteria, *layout.criterion_meta,
            *layout.forces, *layout.repeats}


def _stray_rows(grid: Grid, layout: _Layout) -> dict[int, str]:
    """CSV rows with a cell past the header's last column: {row index: reject reason}. In a CSV
    that is nearly always a comma in an unquoted cell, which has moved the row's later cells
    into the wrong columns (a code under the next criterion), so the whole row is rejected."""
    if grid.name is not None:  # (a workbook's cells stay in their columns: see _unread_columns)
        return {}
    width = max(layout.headers, default=-1) + 1
    out = {}
    for i in range(layout.header_index + 1, len(grid.rows)):
        row = grid.rows[i]
        if len(row) > width:
            extra = [c for c in row[width:] if c.value is not None]
            if extra:
                out[i] = (f"{len(extra)} cell(s) past the header's last column ({extra[0].value!r}...): a comma "
                          f"in a cell without quotes splits it and moves the cells after it; {UNQUOTED_COMMA_FIX}")
    return out


def _unread_columns(grid: Grid, layout: _Layout, stray: dict[int, str]) -> dict[int, list[Cell]]:
    """{column index: its non-blank data cells} for the columns the layout does not read (a
    header it does not know, or none), rows in ``stray`` left out."""
    read = _read_columns(layout)
    out: dict[int, list[Cell]] = {}
    for i in range(layout.header_index + 1, len(grid.rows)):
        if i in stray:
            continue
        for j, c in enumerate(grid.rows[i]):
            if c.value is not None and j not in read:
                out.setdefault(j, []).append(c)
    return out


def _cell_problem(cell: Cell, hidden_in: str) -> str | None:
    """Why one code cell cannot be used (a formula, or hidden), or None."""
    if cell.formula:
        return "formula in cell (formulas are never evaluated); type the value itself"
    if cell.hidden:
        return f"cell is in a hidden {hidden_in}; unhide it to include it, or clear it"
    return None


def _nonblank(row: list[Cell], cols) -> list[tuple[int, Cell]]:
    return [(j, row[j]) for j in cols if j < len(row) and row[j].value is not None]


def _row_values(row: list[Cell], layout: _Layout) -> dict[str, Cell]:
    return {name: row[j] for j, name in layout.columns.items() if j < len(row)}


def _raw_text(row: list[Cell]) -> str:
    return " | ".join(cell_text(c.value) or "" for c in row).strip(" |")


class CodedLoader:
    """Turns coded-findings files of one round into tidy records."""

    def __init__(self, codebook: Codebook, resolver: ForceResolver, raw_root: Path):
        self.codebook = codebook
        self.resolver = resolver
        self.raw_root = Path(raw_root)
        # Memos of pure lookups: the same force names, criteria, values and source kinds repeat
        # on every row, and many rounds are loaded by one loader.
        self._force_memo: dict[str, str | None] = {}
        self._criterion_memo: dict[str | None, str | None] = {}
        self._value_memo: dict[tuple, tuple[str | None, str | None]] = {}
        self._token_memo: dict = {}
        self._confidence_memo: dict[str | None, tuple] = {}
        self._text_memo: dict[str, str | None] = {}

    def _text(self, value) -> str | None:
        """:func:`cell_text`, memoised for strings (force names, criteria, values, kinds and
        links repeat on every row)."""
        if type(value) is not str:
            return cell_text(value)
        memo = self._text_memo
        if value not in memo:
            if len(memo) > 200_000:  # evidence rarely repeats: keep the memo bounded
                memo.clear()
            memo[value] = cell_text(value)
        return memo[value]

    def _try_force(self, name: str) -> str | None:
        if name not in self._force_memo:
            self._force_memo[name] = self.resolver.try_resolve(name)
        return self._force_memo[name]

    def _merge_repeats(self, grid: Grid, layout: _Layout, path: Path) -> list[str]:
        """Two columns read as one meta column ('Criterion' and 'Criterion label', 'Finding' and
        'Evidence', 'Note' and 'Comments'): the first is the one read, so each row's cell of the
        other is merged into it rather than passed over. A blank first cell takes the other's;
        texts (evidence, notes, sources, coders) are joined; a force or criterion named both ways
        must be the same one, and any other pair must read the same, else an InputError names
        both cells. Returns the build-log notes."""
        from .errors import InputError
        from .sheets import _col_letter

        def same(canon: str, a: str, b: str) -> bool:
            if a.casefold() == b.casefold():
                return True
            if canon == "force":
                fa = self._try_force(a)
                return fa is not None and fa == self._try_force(b)
            if canon == "criterion":
                ca = self._criterion(a)
                return ca is not None and ca == self._criterion(b)
            return False

        first = {canon: j for j, canon in layout.columns.items()}
        groups: dict[str, list[int]] = {}
        for j, canon in sorted(layout.repeats.items()):
            groups.setdefault(canon, [first[canon]]).append(j)
        where = f"sheet {grid.name}: " if grid.name else ""
        rows = grid.rows[layout.header_index + 1:]
        lead = first.get("force", 0)  # (rows of notes or totals under the table are left as they are)
        rows = [r for r in rows if not (lead < len(r) and isinstance(r[lead].value, str)
                                        and (_NOTE_ROW.match(r[lead].value) or _TOTAL_ROW.match(r[lead].value)))]
        notes = []
        for canon, cols in groups.items():
            names = "columns " + " and ".join(f"{_col_letter(j + 1)} ({layout.headers[j]!r})" for j in cols)
            joined = _JOINED_REPEATS.get(canon)
            both = "both" if len(cols) == 2 else "all"
            for row in rows:
                cells = [row[j] for j in cols if j < len(row) and cell_text(row[j].value) is not None]
                if len(cells) < 2:
                    if cells:
                        row[cols[0]] = cells[0]  # (a blank first cell takes the other's)
                    continue
                texts = [cell_text(c.value) for c in cells]
                if joined:  # distinct texts in a fixed order, whatever the order of the columns
                    texts = sorted({t.casefold(): t for t in sorted(texts)}.values(), key=str.casefold)
                    row[cols[0]] = Cell(joined.join(texts), cells[0].ref, any(c.formula for c in cells),
                                        any(c.hidden for c in cells))
                    continue
                for c, t in zip(cells[1:], texts[1:]):
                    if not same(canon, texts[0], t):
                        loc = f"{cells[0].ref} and {c.ref}" if grid.name else c.ref
                        raise InputError(path, loc, f"{names} are {both} read as {canon} and disagree "
                                         f"({texts[0]!r}, {t!r})",
                                         "delete or rename all but one of those columns, or make them agree")
                row[cols[0]] = cells[0]
            how = "texts that differ are joined" if joined else "they agree on every row"
            notes.append(f"{where}{names} are {both} read as {canon}: merged row by row (a blank cell takes "
                         f"the other's; {how})")
        return notes

    def _looks_coded(self, rows) -> bool:
        """Do ``rows`` (a sheet without a recognised header) hold coded findings rather than notes
        or a drop-down list? A row names a force and a criterion (long form), or a row names two
        criteria and another row a force (wide form)."""
        def short(c):
            return isinstance(c.value, str) and len(c.value) <= 60
        forces = [any(short(c) and self._try_force(c.value) for c in r) for r in rows]
        crits = [sum(bool(short(c) and self._criterion(c.value)) for c in r) for r in rows]
        return (any(f and k for f, k in zip(forces, crits))
                or (any(k >= 2 for k in crits) and any(forces)))

    def _criterion(self, text: str | None) -> str | None:
        if text not in self._criterion_memo:
            self._criterion_memo[text] = self.codebook.resolve_criterion(text)
        return self._criterion_memo[text]

    def _value(self, cid: str, value: str | None, judgement: str | None = None) -> tuple[str | None, str | None]:
        key = (cid, value, judgement)
        if key not in self._value_memo:
            self._value_memo[key] = self.codebook.resolve_value(cid, value, judgement)
        return self._value_memo[key]

    def _token(self, text: str) -> str:
        if text not in self._token_memo:
            self._token_memo[text] = norm_token(text)
        return self._token_memo[text]

    def _area(self, text: str) -> str | None:
        key = ("area", text)
        if key not in self._token_memo:
            self._token_memo[key] = normalise_area(text)
        return self._token_memo[key]

    def _conf(self, text: str | None) -> tuple:
        if text not in self._confidence_memo:
            self._confidence_memo[text] = _confidence(text)
        return self._confidence_memo[text]

    def rel(self, path: Path) -> str:
        return relative_name(path, self.raw_root)

    # ------------------------------------------------------------------------------------------
    def load_file(self, path: Path, round_id: str, synthetic: bool = False) -> FileResult:
        path = Path(path)
        res = FileResult()
        rel = self.rel(path)
        grids = read_grids(path)
        if any(_is_review_sheet(g) for g in grids):  # (its 'Proposed' columns would read as analyst codes)
            res.records_read += 1
            self._reject(res, {"round_id": round_id, "rel": rel}, "whole file",
                         "a review workbook (review-export) saved among the coded sheets: its proposed "
                         "codes would be read as an analyst's; import it with `python -m analysis "
                         "review-import` and move it out of data/raw/", f"{sum(len(g.rows) for g in grids)} rows")
            return res
        found_any = False
        for grid in grids:
            layout = detect_layout(grid, self.codebook, self._try_force)
            if layout is None:
                # A read-me or notes sheet. Its non-blank rows are not coded data; a sheet that
                # looks like data but has no recognisable header is reported (not silently lost).
                nonblank = [r for r in grid.rows if any(c.value is not None for c in r)]
                if grid.name is not None and len(grids) > 1:
                    if self._looks_coded(nonblank):  # coded data under a header not recognised:
                        res.records_read += 1           # one record (the sheet), rejected
                        self._reject(res, {"round_id": round_id, "rel": rel}, f"sheet {grid.name}",
                                     f"not read: the sheet names forces but has {_NO_HEADER}; add a header "
                                     "row, or keep notes on a sheet without force names",
                                     f"{len(nonblank)} non-blank rows")
                    else:
                        res.skipped_sheets.append(f"{grid.name} ({len(nonblank)} non-blank rows, no header)")
                    continue
                if nonblank:
                    from .errors import InputError
                    raise InputError(path, grid.name and f"sheet {grid.name}",
                                     _NO_HEADER, _HEADER_FIX)
                continue
            found_any = True
            if layout.repeats:
                res.notes += self._merge_repeats(grid, layout, path)
            ctx = dict(path=path, rel=rel, round_id=round_id, synthetic=synthetic, grid=grid)
            self._rows_seen = 0
            self._stray_rows = _stray_rows(grid, layout)
            unread = _unread_columns(grid, layout, self._stray_rows)
            if layout.form == "long":
                self._long(grid, layout, res, ctx)
            elif layout.form == "across":
                res.notes += _repeated_columns(grid, layout.forces, layout.headers, "force")
                self._across(grid, layout, res, ctx)
            else:
                res.notes += _repeated_columns(grid, layout.criteria, layout.headers, "criterion")
                self._wide(grid, layout, res, ctx)
            for i, reason in self._stray_rows.items():  # (rows _data_rows passed over)
                self._rows_seen += 1
                res.records_read += 1
                self._reject(res, ctx, grid.row_ref(i), reason, _raw_text(grid.rows[i]))
            self._unread(grid, layout, unread, res, ctx)
            res.data_rows += self._rows_seen
        if not found_any:
            from .errors import InputError
            if all(not any(c.value is not None for r in g.rows for c in r) for g in grids):
                raise InputError(path, None, "file is empty", "remove it or add coded findings")
            raise InputError(path, None, f"no sheet has a header row: {_NO_HEADER}", _HEADER_FIX)
        if res.data_rows == 0:
            from .errors import InputError
            raise InputError(path, None, "has a header row but no data rows under it",
                             "fill in the coded findings, or remove the file")
        self._dedupe(res, rel)
        return res

    # ------------------------------------------------------------------------------------------
    def _reject(self, res: FileResult, ctx, location: str, reason: str, raw: str) -> None:
        res.rejects.append({"round": ctx["round_id"], "file": ctx["rel"], "location": location,
                            "reason": reason, "raw": raw})

    def _data_rows(self, grid: Grid, layout: _Layout):
        """Rows under the header that hold anything. Blank separator rows are skipped, and so are
        CSV rows with cells past the header (rejected whole by load_file, see _stray_rows)."""
        stray = self._stray_rows
        for i in range(layout.header_index + 1, len(grid.rows)):
            row = grid.rows[i]
            if any(c.value is not None for c in row) and i not in stray:
                self._rows_seen += 1
                yield i, row

    def _unread(self, grid: Grid, layout: _Layout, unread: dict[int, list[Cell]], res: FileResult, ctx) -> None:
        """Columns the layout does not read. In a wide or across sheet, one holding codes (under a
        header that is no criterion, or no force) is a column of records: each cell goes to
        rejects. Any other (a 'Region' column, side notes) is named in the build log."""
        from .sheets import _col_letter

        quiet = []
        for j, cells in unread.items():
            header = layout.headers.get(j)
            where = f"column {_col_letter(j + 1)}" + (f" ({header!r})" if header else "")
            if layout.form != "long" and any(self.codebook.looks_like_value(cell_text(c.value)) for c in cells):
                if header is None:
                    reason = f"{where} has no header but holds codes; head it with a " + (
                        "force name" if layout.form == "across" else "criterion id, key or label (e.g. A2)")
                elif layout.form == "across":
                    unknown = UnknownForce(header, self.resolver.suggest(header))
                    reason = f"not read: {where} is not a force: {unknown.what}; {unknown.fix}"
                else:
                    reason = (f"not read: {where} is not a criterion of codebook.yaml but holds codes; "
                              "head it with an id, key or label from codebook.yaml (e.g. A2)")
                for c in cells:
                    res.records_read += 1
                    self._reject(res, ctx, c.ref if grid.name else f"{c.ref}, column {j + 1}", reason,
                                 cell_text(c.value) or "")
            else:
                quiet.append(f"{where}: {len(cells)} cell(s)")
        if quiet:
            sheet = f"sheet {grid.name}: " if grid.name else ""
            res.notes.append(f"{sheet}not read (no column this loader knows): " + "; ".join(quiet))

    def _force(self, res, ctx, cells: dict[str, Cell], row, loc) -> str | None:
        force_cell = cells.get("force")
        name = cell_text(force_cell.value) if force_cell else None
        others = [c for c in row if c is not force_cell and c.value is not None]
        if name is None:
            self._reject(res, ctx, loc, "no force named in this row; fill in the force column",
                         _raw_text(row))
            return None
        fid = self._try_force(name)
        if fid is None:
            if _NOTE_ROW.match(name) or _TOTAL_ROW.match(name) or not others:
                self._reject(res, ctx, loc, self._not_data(name), _raw_text(row))
                return None
            unknown = UnknownForce(name, self.resolver.suggest(name))
            self._reject(res, ctx, force_cell.ref if ctx["grid"].name else loc,
                         f"{unknown.what}; {unknown.fix}", _raw_text(row))
            return None
        return fid

    @staticmethod
    def _not_data(name: str) -> str:
        """The reject reason of a row that is no force's: a total row, or a note."""
        what = ("a total or summary row" if _TOTAL_ROW.match(name) else
                "a section heading" if normalise_area(name) else "a note or comment row")
        return f"not data: {what} (kept here so nothing is lost)"

    def _meta(self, res, ctx, cells: dict[str, Cell], loc: str, row, text: dict | None = None) -> dict | None:
        """Row-level metadata shared by long and wide form; None (and a reject) when invalid.
        ``text``: the cells as text, when the caller has them already."""
        if text is None:
            text = {k: cell_text(c.value) for k, c in cells.items()}
        problems = []
        rnd = text.get("round")
        if rnd is not None and self._token(rnd) != ctx["round_id"]:
            problems.append(f"round {rnd!r} differs from the folder's round {ctx['round_id']!r}; "
                            "move the file to the right round folder or fix the round column")
        kind = text.get("source_kind")
        if kind is not None:
            kind = self._token(kind)
            if kind not in SOURCE_KINDS:
                problems.append(f"source_kind {text['source_kind']!r} is not one of {list(SOURCE_KINDS)}")
        label, score, why = self._conf(text.get("confidence"))
        if why:
            problems.append(why)
        grid = ctx["grid"]
        if grid.hidden:
            # Treated like hidden rows: codes nobody can see in Excel are not used silently.
            problems.append(f"sheet {grid.name!r} is hidden in Excel; unhide the sheet to "
                            "include its rows, or delete the sheet")
        elif grid.any_hidden_cells:
            hidden = [c for c in row if c.hidden and c.value is not None]
            if hidden and all(c.hidden for c in row if c.value is not None):
                problems.append("row is hidden in Excel; unhide it to include it, or delete it")
            elif hidden:  # a hidden column that decides the code (a hidden evidence column does not)
                deciding = [c.ref for k, c in cells.items() if k in _CODE_COLUMNS and c.hidden and c.value is not None]
                if deciding:
                    problems.append(f"cell(s) {', '.join(deciding)} in a hidden column; unhide it to "
                                    "include the row, or delete the row")
        if grid.longest_text > MAX_CELL_CHARS:
            huge = [c.ref for c in row if isinstance(c.value, str) and len(c.value) > MAX_CELL_CHARS]
            if huge:
                problems.append(f"cell(s) {', '.join(huge)} longer than {MAX_CELL_CHARS:,} characters; "
                                "shorten the evidence to the finding itself")
        if grid.any_formulas:
            formulas = [c.ref for c in cells.values() if c.formula]
            if formulas:
                problems.append(f"formula in cell(s) {', '.join(formulas)} (formulas are never evaluated); "
                                "type the value itself")
        override = norm_token(text["override"]) if text.get("override") else "false"
        if override not in _TRUE and override not in _FALSE:  # ('maybe' was read as no, without a word)
            problems.append(f"override {text['override']!r} is not yes or no; write TRUE or FALSE (or leave it blank)")
        if problems:
            self._reject(res, ctx, loc, "; ".join(problems), _raw_text(row))
            return None
        override = override in _TRUE
        return {
            "source_kind": kind or DEFAULT_SOURCE_KIND,
            "source_url": text.get("source_url"),
            "coder": text.get("coder") or ANALYST_CODER,
            "confidence": label, "confidence_score": score,
            "note": text.get("note"),
            "is_override": override,
            "finding_id": text.get("finding_id"),
            "source_ref_given": text.get("source_ref"),
            "_default_kind": kind is None,
        }

    def _finding(self, ctx, meta, cid, value, evidence, ref) -> dict:
        note = meta["note"]
        if meta["_default_kind"]:
            note = ("source_kind not given: treated as 'secondary'" + (f"; {note}" if note else ""))
        src_ref = f"{ctx['rel']}:{ref}"
        if meta.get("source_ref_given"):
            src_ref = f"{src_ref} (from {meta['source_ref_given']})"
        return {
            "round": ctx["round_id"], "force_id": meta["force_id"],
            "area": self.codebook[cid].area, "criterion_id": cid, "value": value,
            "judgement": self.codebook.judgement(cid, value), "evidence": evidence,
            "source_kind": meta["source_kind"], "source_ref": src_ref,
            "source_url": meta["source_url"], "coder": meta["coder"],
            "confidence": meta["confidence"], "confidence_score": meta["confidence_score"],
            "is_override": meta["is_override"], "finding_id": meta["finding_id"],
            "note": note, "synthetic": ctx["synthetic"],
        }

    # ------------------------------------------------------------------------------------------
    def _long(self, grid: Grid, layout: _Layout, res: FileResult, ctx) -> None:
        for i, row in self._data_rows(grid, layout):
            res.records_read += 1
            loc = grid.row_ref(i)
            cells = _row_values(row, layout)
            fid = self._force(res, ctx, cells, row, loc)
            if fid is None:
                continue
            text = {k: self._text(c.value) for k, c in cells.items()}
            meta = self._meta(res, ctx, cells, loc, row, text)
            if meta is None:
                continue
            meta["force_id"] = fid
            crit_text = text.get("criterion")
            cid = self._criterion(crit_text)
            if cid is None:
                reason = ("no criterion given" if crit_text is None else
                          f"unknown criterion {crit_text!r}; use an id, key or label from codebook.yaml "
                          f"(e.g. A2, attend_all_crimes)")
                self._reject(res, ctx, loc, reason, _raw_text(row))
                continue
            area_text = text.get("area")
            area = self._area(area_text) if area_text is not None else None
            if area_text is not None and area != self.codebook[cid].area:
                self._reject(res, ctx, loc, f"area {area_text!r} does not match {cid}'s area "
                             f"{self.codebook[cid].area!r}; check the criterion", _raw_text(row))
                continue
            action = self._token(text["action"]) if text.get("action") is not None else None
            if action == "reject":
                res.suppress.append({"round": ctx["round_id"], "force_id": fid, "criterion_id": cid,
                                     "finding_id": meta["finding_id"], "value": text.get("value"),
                                     "ref": f"{ctx['rel']}:{loc}", "raw": _raw_text(row)})
                continue
            if action is not None and action not in ("accept", "change", "add"):
                self._reject(res, ctx, loc, f"action {action!r} is not accept/change/reject/add", _raw_text(row))
                continue
            value_cell = cells.get("value")
            value, why = self._value(cid, text.get("value"), text.get("judgement"))
            if value is None:
                if why == "no value or judgement given":
                    why = "blank value: a blank cell means not coded; give a value or delete the row"
                self._reject(res, ctx, loc, why, _raw_text(row))
                continue
            ref = value_cell.ref if value_cell is not None and grid.name else loc
            res.findings.append(self._finding(ctx, meta, cid, value, text.get("evidence"), ref))

    def _wide(self, grid: Grid, layout: _Layout, res: FileResult, ctx) -> None:
        code_cols = list(layout.criteria) + list(layout.unknown_criteria)
        for row, loc, where, cells, crit_cells in self._rows_of_cells(grid, layout, code_cols):
            meta_cells = _nonblank(row, layout.criterion_meta)
            coded = {layout.criteria[j] for j, _ in crit_cells if j in layout.criteria}
            # a criterion's own evidence or note with no code for it is a record too, rejected
            orphans = [(j, c) for j, c in meta_cells if layout.criterion_meta[j][0] not in coded]
            if not crit_cells and not orphans:
                # A force with nothing coded (all blank): not a record, and not a judgement.
                # A row with text only in the force column may be a note: record it.
                name = cell_text(cells["force"].value) if "force" in cells else None
                if name and self.resolver.try_resolve(name) is None:
                    res.records_read += 1
                    self._reject(res, ctx, loc, self._not_data(name), _raw_text(row))
                continue
            res.records_read += len(crit_cells) + len(orphans)
            n_before = len(res.rejects)
            fid = self._force(res, ctx, cells, row, loc)
            meta = self._meta(res, ctx, cells, loc, row) if fid is not None else None
            if meta is None:  # (unknown force, a problem with its source...)
                self._spread_reject(res, n_before, [where(j) for j, _ in sorted(crit_cells + orphans)])
                continue
            meta["force_id"] = fid
            for j, cell in orphans:
                cid, what = layout.criterion_meta[j]
                self._reject(res, ctx, where(j), f"{what} for {cid} ({layout.headers[j]!r}) but no {cid} "
                             "code in this row; give the code, or clear the cell", cell_text(cell.value) or "")
            own: dict[str, dict[str, str]] = {}
            for j, cell in meta_cells:
                cid, what = layout.criterion_meta[j]
                own.setdefault(cid, {})[what] = cell_text(cell.value)
            for j, cell in crit_cells:
                text = cell_text(cell.value)
                if j in layout.unknown_criteria:
                    self._reject(res, ctx, where(j), f"unknown criterion column "
                                 f"{layout.unknown_criteria[j]!r}; use an id, key or label from "
                                 "codebook.yaml", text or "")
                    continue
                why = _cell_problem(cell, "column")
                if why:
                    self._reject(res, ctx, where(j), why, text or "")
                    continue
                cid = layout.criteria[j]
                value, why = self._value(cid, text)
                if value is None:
                    self._reject(res, ctx, where(j), why, text or "")
                    continue
                cell_meta, why = self._own_meta(meta, own.get(cid))
                if why:
                    self._reject(res, ctx, where(j), f"{cid}'s own columns: {why}", text or "")
                    continue
                evidence = cell_meta.pop("_evidence", None)
                if evidence is None and "evidence" in cells:
                    evidence = cell_text(cells["evidence"].value)
                res.findings.append(self._finding(ctx, cell_meta, cid, value, evidence, where(j)))

    def _across(self, grid: Grid, layout: _Layout, res: FileResult, ctx) -> None:
        """Forces across the top, criteria down (the wide form transposed): each non-blank force
        cell is a record; the row's evidence, source and note columns go with its codes."""
        for row, loc, where, cells, code_cells in self._rows_of_cells(grid, layout, list(layout.forces)):
            text = {k: self._text(c.value) for k, c in cells.items()}
            crit_text = text.get("criterion")
            cid = self._criterion(crit_text)
            if not code_cells:
                if crit_text is not None and cid is None:  # a note, or a section title
                    res.records_read += 1
                    self._reject(res, ctx, loc, self._not_data(crit_text), _raw_text(row))
                continue
            res.records_read += len(code_cells)
            n_before = len(res.rejects)
            if cid is None:
                if crit_text is None:
                    reason = "no criterion named in this row; fill in the criterion column"
                elif _NOTE_ROW.match(crit_text) or _TOTAL_ROW.match(crit_text):
                    reason = self._not_data(crit_text)
                else:
                    reason = (f"unknown criterion {crit_text!r}; use an id, key or label from codebook.yaml "
                              "(e.g. A2, attend_all_crimes)")
                self._reject(res, ctx, loc, reason, _raw_text(row))
            elif text.get("area") is not None and self._area(text["area"]) != self.codebook[cid].area:
                self._reject(res, ctx, loc, f"area {text['area']!r} does not match {cid}'s area "
                             f"{self.codebook[cid].area!r}; check the criterion", _raw_text(row))
            meta = self._meta(res, ctx, cells, loc, row, text) if len(res.rejects) == n_before else None
            if meta is None:
                self._spread_reject(res, n_before, [where(j) for j, _ in code_cells])
                continue
            for j, cell in code_cells:
                value_text = cell_text(cell.value)
                why = _cell_problem(cell, "row or column")
                if why is None:
                    value, why = self._value(cid, value_text)
                if why:
                    self._reject(res, ctx, where(j), why, value_text or "")
                    continue
                res.findings.append(self._finding(ctx, {**meta, "force_id": layout.forces[j]}, cid, value,
                                                  text.get("evidence"), where(j)))

    def _rows_of_cells(self, grid: Grid, layout: _Layout, code_cols: list[int]):
        """A wide or across sheet's data rows: (row, its location, where(j) -> the address of
        its cell in column j, its meta cells by name, its non-blank cells in ``code_cols``)."""
        for i, row in self._data_rows(grid, layout):
            loc = grid.row_ref(i)

            def where(j: int, row=row, loc=loc) -> str:
                return row[j].ref if grid.name else f"{loc}, column {j + 1}"

            yield row, loc, where, _row_values(row, layout), _nonblank(row, code_cols)

    @staticmethod
    def _spread_reject(res: FileResult, n_before: int, locations: list[str]) -> None:
        """A row that cannot be used (unknown force or criterion, a problem with its source...)
        has had its one reject recorded; make it one per record, each at its own cell, with the
        row's reason and the row."""
        first = res.rejects[n_before]
        del res.rejects[n_before:]
        res.rejects += [{**first, "location": loc} for loc in locations]

    def _own_meta(self, meta: dict, own: dict | None) -> tuple[dict, str | None]:
        """The row's metadata with one criterion's own columns ('A2 evidence', 'A2 source kind',
        'Notes (A2)') laid over it: the criterion's own win; notes are joined. (meta, problem)."""
        if not own:
            return meta, None
        out = dict(meta)
        if own.get("source_kind") is not None:
            kind = self._token(own["source_kind"])
            if kind not in SOURCE_KINDS:
                return out, f"source_kind {own['source_kind']!r} is not one of {list(SOURCE_KINDS)}"
            out["source_kind"], out["_default_kind"] = kind, False
        if own.get("confidence") is not None:
            label, score, why = self._conf(own["confidence"])
            if why:
                return out, why
            out["confidence"], out["confidence_score"] = label, score
        for what in ("source_url", "coder"):
            if own.get(what) is not None:
                out[what] = own[what]
        if own.get("note") is not None:
            out["note"] = "; ".join(filter(None, (meta["note"], own["note"])))
        out["_evidence"] = own.get("evidence")
        return out, None

    # ------------------------------------------------------------------------------------------
    @staticmethod
    def _dedupe(res: FileResult, rel: str) -> None:
        """The same code twice in one file (same force, criterion, value, source and evidence)
        is kept once; the repeat goes to rejects pointing at the first."""
        seen: dict[tuple, str] = {}
        kept = []
        for f in res.findings:
            key = (f["round"], f["force_id"], f["criterion_id"], f["value"], f["source_kind"],
                   f["source_url"], f["evidence"], f["finding_id"])
            if key in seen:
                res.rejects.append({"round": f["round"], "file": rel,
                                    "location": f["source_ref"].split(":", 1)[-1],
                                    "reason": f"duplicate of {seen[key]} (same force, criterion, value "
                                              "and source): kept once", "raw": f"{f['force_id']} "
                                              f"{f['criterion_id']}={f['value']}"})
                continue
            seen[key] = f["source_ref"]
            kept.append(f)
        res.findings = kept


def findings_frame(records: list[dict]) -> pd.DataFrame:
    return schemas.frame("findings", records) if records else schemas.empty("findings")
