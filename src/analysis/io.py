"""Reading and writing processed tables: CSV (for Excel users) and Parquet (typed), deterministic.

Determinism: rows are sorted by the caller, CSV uses '\\n' line endings and UTF-8, Parquet is
written without pandas' index metadata timestamps varying (pyarrow writes none) and with fixed
compression; so two builds from the same inputs give byte-identical files.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from . import paths as _paths

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_START_RE = r"^[=+\-@\t\r]"  # the same characters, as one regex class


def neutralise_formula(value):
    """Text that a spreadsheet would read as a formula gets a leading apostrophe-free guard:
    a single quote prefix, which Excel shows as text. Numbers are left alone."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_stem(name: str) -> str:
    """A file name made from input text (round, criterion or force ids in chart and notebook
    names) that cannot leave its folder: every character outside letters, digits, '_', '.' and
    '-' becomes '_' (so no '/', '\\' or ':'), and leading dots go (no '..', no hidden file)."""
    stem = _UNSAFE_NAME.sub("_", str(name)).lstrip(".")
    if not stem:
        raise ValueError(f"{name!r} gives an empty file name")
    return stem


def neutralise_column(col: pd.Series) -> pd.Series:
    """:func:`neutralise_formula` on a whole text column (vectorised; only the cells that need the
    guard are touched)."""
    # one regex pass in Arrow (startswith with a tuple makes a pass per prefix)
    starts = col.str.contains(_FORMULA_START_RE, regex=True, na=False).to_numpy(dtype=bool, na_value=False)
    if not starts.any():
        return col
    out = col.copy()
    out.loc[starts] = "'" + col[starts].astype(str)
    return out


def write_table(df: pd.DataFrame, folder: Path, name: str, csv_safe: bool = True) -> None:
    """``<name>.csv`` (text that a spreadsheet would run as a formula is guarded, see
    :func:`neutralise_formula`) and ``<name>.parquet`` (values exactly as built)."""
    folder.mkdir(parents=True, exist_ok=True)
    name = safe_stem(name)
    out = df
    if csv_safe:
        str_cols = [c for c, t in df.dtypes.items() if pd.api.types.is_string_dtype(t)]
        guarded = {c: neutralise_column(df[c]) for c in str_cols}
        changed = {c: s for c, s in guarded.items() if s is not df[c]}
        if changed:
            out = df.assign(**changed)
    out.to_csv(folder / f"{name}.csv", index=False, lineterminator="\n", encoding="utf-8")
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
