"""Reading and writing processed tables: CSV (for Excel users) and Parquet (typed), deterministic.

Determinism: rows are sorted by the caller, CSV uses '\\n' line endings and UTF-8, Parquet is
written without pandas' index metadata timestamps varying (pyarrow writes none) and with fixed
compression; so two builds from the same inputs give byte-identical files.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from . import paths as _paths

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value):
    """Text that a spreadsheet would read as a formula gets a leading apostrophe-free guard:
    a single quote prefix, which Excel shows as text. Numbers are left alone."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


_SYSTEM_FILES = frozenset({"thumbs.db", "desktop.ini"})


def relative_name(path: str | Path, root: str | Path | None) -> str:
    """``path`` under ``root`` as the analyst sees it (a link stays where it is, even when its
    file lives elsewhere), else under root once links are followed, else the file's name."""
    if root is not None:
        for a, b in ((os.path.abspath(path), os.path.abspath(root)), (Path(path).resolve(), Path(root).resolve())):
            try:
                return Path(a).relative_to(b).as_posix()
            except ValueError:
                continue
    return Path(path).name


def not_data(path: str | Path) -> bool:
    """Files under data/raw/ that are never input: hidden and system files, Office lock files
    (~$...) and documentation (README*, *.md). The build reads none and lists none as unread."""
    path = Path(path)
    name = path.name.lower()
    return (name.startswith((".", "~$")) or name in _SYSTEM_FILES or name.startswith("readme")
            or path.suffix.lower() == ".md")


def safe_stem(name: str) -> str:
    """A file name made from input text (round, criterion or force ids in chart and notebook
    names) that cannot leave its folder: every character outside letters, digits, '_', '.' and
    '-' becomes '_' (so no '/', '\\' or ':'), and leading dots go (no '..', no hidden file)."""
    stem = _UNSAFE_NAME.sub("_", str(name)).lstrip(".")
    if not stem:
        raise ValueError(f"{name!r} gives an empty file name")
    return stem


def _formula_starts(text):
    """Per cell of the Arrow large_string array ``text``: does it start as a formula would
    (:data:`FORMULA_START`; missing -> False)? The first character of each cell looked up in the
    set: two Arrow passes, no regex."""
    import pyarrow as pa
    import pyarrow.compute as pc

    first = pc.utf8_slice_codeunits(text, 0, 1)
    return pc.fill_null(pc.is_in(first, value_set=pa.array(FORMULA_START, pa.large_string())), False)


def neutralise_column(col: pd.Series) -> pd.Series:
    """:func:`neutralise_formula` on a whole text column (vectorised; only the cells that need the
    guard are touched)."""
    import pyarrow as pa

    starts = _formula_starts(pa.array(col, type=pa.large_string())).to_numpy(zero_copy_only=False)
    if not starts.any():
        return col
    out = col.copy()
    out.loc[starts] = "'" + col[starts].astype(str)
    return out


def _csv_text(s: pd.Series):
    """One column as Arrow text, formatted as pandas' ``to_csv`` formats it (booleans True/False,
    floats as Python's repr; missing stays null), before quoting. None for a dtype not handled
    here."""
    import pyarrow as pa
    import pyarrow.compute as pc

    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return pc.if_else(pa.array(s.to_numpy(dtype=object, na_value=None), type=pa.bool_()), "True", "False")
    if pd.api.types.is_integer_dtype(dtype):
        return pc.cast(pa.array(s.to_numpy(dtype=object, na_value=None), type=pa.int64()), pa.string())
    if pd.api.types.is_float_dtype(dtype):
        return pa.array([None if v is None else repr(float(v)) for v in s.to_numpy(dtype=object, na_value=None)],
                        type=pa.string())
    if isinstance(dtype, pd.StringDtype):
        return pa.array(s)
    return None


def _one_array(parts: list, type_):
    """The parts (Arrow arrays or chunked arrays) end to end as one array of ``type_``."""
    import pyarrow as pa

    chunks = [c for part in parts
              for c in (part.chunks if isinstance(part, pa.ChunkedArray) else [part])]
    chunks = [c if c.type == type_ else c.cast(type_) for c in chunks]
    if len(chunks) == 1:  # (no copy: a large column alone in its batch stays as it is)
        return chunks[0]
    return pa.chunked_array(chunks, type_).combine_chunks()


# Columns are formatted together, up to this many values at a time (see csv_bytes).
CSV_BATCH_VALUES = 50_000


def _csv_fields(parts: list, guarded: list[bool] | None, n: int) -> list:
    """CSV fields of some columns (``parts``: their text from _csv_text, ``n`` values each), laid
    end to end so that each step is one kernel call for all of them; returned as one zero-copy
    slice per column. ``guarded``: per column, whether it gets the formula guard."""
    import pyarrow as pa
    import pyarrow.compute as pc

    big = pa.large_string()  # (the joins want every string argument of one type)
    q, apos, empty = (pa.scalar(v, big) for v in ('"', "'", ""))
    text = _one_array(parts, big)
    if guarded is not None and any(guarded):
        in_text = pa.array(np.repeat(np.array(guarded), n))
        starts = pc.and_(in_text, _formula_starts(text))
        if pc.any(starts).as_py():
            text = pc.if_else(starts, pc.binary_join_element_wise(apos, text, empty), text)
    needs = None
    for ch in (",", '"', "\n", "\r"):  # four memchr-like passes beat one regex pass
        hit = pc.match_substring(text, ch)
        needs = hit if needs is None else pc.or_(needs, hit)
    if pc.any(needs).as_py():
        quoted = pc.binary_join_element_wise(q, pc.replace_substring(text, '"', '""'), q, empty)
        text = pc.if_else(needs, quoted, text)
    text = pc.fill_null(text, empty)
    return [text.slice(i * n, n) for i in range(len(parts))]


def csv_bytes(df: pd.DataFrame, guard: bool = False) -> bytes | None:
    """The CSV pandas would write (``index=False``, LF line ends, UTF-8), byte for byte except that
    text holding a carriage return is quoted, built with Arrow's vectorised string kernels. None
    when a column's dtype is not one the processed tables use, or the table has fewer than two
    columns. ``guard``: text columns get the formula guard (:func:`neutralise_formula`).

    Quoting is the csv module's QUOTE_MINIMAL (a field holding a comma, a double quote or a line
    feed is quoted, inner quotes doubled), with one deliberate difference: a field holding a
    carriage return is quoted too (the csv module leaves a lone CR bare when lines end in LF, and
    Excel then splits the row).

    Speed: most processed tables are small, and their cost was the number of kernel calls, not
    the data; so columns are formatted in batches of up to CSV_BATCH_VALUES values (every column
    of a small table at once), which also bounds the memory a large table needs."""
    import csv
    import io as _io

    import pyarrow as pa
    import pyarrow.compute as pc

    head = _io.StringIO()
    csv.writer(head, lineterminator="\n").writerow(df.columns)
    header = head.getvalue().encode("utf-8")
    if len(df.columns) < 2:  # the csv module quotes a lone empty field; leave that to pandas
        return None
    if len(df) == 0:
        return header
    parts = [_csv_text(s) for _, s in df.items()]
    if any(p is None for p in parts):
        return None
    n = len(df)
    guarded = [isinstance(t, pd.StringDtype) for t in df.dtypes] if guard else None
    step = max(1, CSV_BATCH_VALUES // n)
    cols = []
    for i in range(0, len(parts), step):
        cols += _csv_fields(parts[i:i + step], guarded and guarded[i:i + step], n)
    big = pa.large_string()
    rows = pc.binary_join_element_wise(*cols, pa.scalar(",", big))
    body = pc.binary_join(pa.LargeListArray.from_arrays(pa.array([0, n], pa.int64()), rows), pa.scalar("\n", big))[0]
    return header + body.as_buffer().to_pybytes() + b"\n"


def write_table(df: pd.DataFrame, folder: Path, name: str, csv_safe: bool = True) -> None:
    """``<name>.csv`` (text that a spreadsheet would run as a formula is guarded, see
    :func:`neutralise_formula`) and ``<name>.parquet`` (values exactly as built)."""
    folder.mkdir(parents=True, exist_ok=True)
    name = safe_stem(name)
    data = csv_bytes(df, guard=csv_safe)
    if data is None:  # a dtype the fast writer does not know: pandas writes the same format
        out = df
        if csv_safe:
            str_cols = [c for c, t in df.dtypes.items() if pd.api.types.is_string_dtype(t)]
            guarded = {c: neutralise_column(df[c]) for c in str_cols}
            changed = {c: s for c, s in guarded.items() if s is not df[c]}
            if changed:
                out = df.assign(**changed)
        out.to_csv(folder / f"{name}.csv", index=False, lineterminator="\n", encoding="utf-8")
    else:
        (folder / f"{name}.csv").write_bytes(data)
    df.to_parquet(folder / f"{name}.parquet", index=False, engine="pyarrow", compression="zstd")


def read_table(name: str, processed: str | Path | None = None) -> pd.DataFrame:
    """One processed table (from Parquet, so dtypes survive)."""
    folder = Path(processed) if processed else _paths.PROCESSED
    path = folder / f"{name}.parquet"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `python -m analysis build` first")
    return pd.read_parquet(path)


def load_tables(processed: str | Path | None = None) -> dict[str, pd.DataFrame]:
    """Every processed table, by name."""
    folder = Path(processed) if processed else _paths.PROCESSED
    if not folder.exists():
        raise FileNotFoundError(f"{folder} not found: run `python -m analysis build` first")
    return {p.stem: pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"))}


def records(df: pd.DataFrame) -> list[dict]:
    """``df.to_dict("records")``, the same values (missing as None, numbers as Python numbers),
    built column by column: pandas 3 boxes every cell of an extension-dtype frame on its own,
    4-8x slower (tests/test_io_records.py compares the two)."""
    cols = list(df.columns)
    values = []
    for i in range(len(cols)):
        s = df.iloc[:, i]
        col = s.tolist()
        if s.hasnans:
            col = [None if v is pd.NA else v for v in col]
        values.append(col)
    return [dict(zip(cols, row)) for row in zip(*values)] if cols else [{} for _ in range(len(df))]


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ----- analysts' workbooks (review, coding template) --------------------------------------------
def new_workbook(readme: str, *sheets: str):
    """An openpyxl workbook whose first sheet is ``readme`` and then ``sheets``: (wb, [sheets])."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = readme
    return wb, [wb.active, *(wb.create_sheet(name) for name in sheets)]


def write_readme_sheet(ws, lines: list[tuple[str, bool]], width: int) -> None:
    """A read-me sheet: one wrapped paragraph a row; a heading (True) in bold, the first larger."""
    from openpyxl.styles import Alignment, Font

    ws.column_dimensions["A"].width = width
    for i, (text, is_head) in enumerate(lines, start=1):
        cell = ws.cell(i, 1, text)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        if is_head:
            cell.font = Font(bold=True, size=14 if i == 1 else 12)


def save_workbook(wb, out: str | Path) -> Path:
    """Save ``wb`` to ``out`` atomically (a temporary file beside it, then a rename)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    wb.save(tmp)
    os.replace(tmp, out)
    return out
