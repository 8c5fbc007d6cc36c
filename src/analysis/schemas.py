"""Column definitions of every processed table (the data dictionary) and their pandera schemas.

One list per table: (column, pandas dtype, meaning). The build writes the dictionary to
``data/processed/data_dictionary.csv`` and validates each table against the schema made from it,
lazily, so every problem is reported at once.
"""

from __future__ import annotations

import functools
import importlib.util
import sys

import pandas as pd
import pandera.pandas as pa
from pandera.engines import pandas_engine

from .codebook import JUDGEMENTS, JUDGEMENT_STATES
from .sources import CONFIDENCE_LABELS, SOURCE_KINDS

S, B, F, I = "string", "boolean", "Float64", "Int64"

COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "forces": [
        ("force_id", S, "Stable id of the force (lower-case, hyphenated)"),
        ("force_name", S, "Official name"),
        ("short_name", S, "Short name used in charts and tables"),
        ("ons_code", S, "ONS police force area code"),
        ("country", S, "England or Wales"),
        ("hmi_2014", S, "HM Inspector responsible in 2014; blank = not known"),
        ("hmic_region_2014", S, "HMIC region in 2014; blank = not known (shown as 'Unknown')"),
    ],
    "criteria": [
        ("criterion_id", S, "Codebook id (P1..P6, A1..A9, F1..F4; P0/A0/F0 = other findings)"),
        ("key", S, "Codebook key"),
        ("area", S, "prevention, attendance or freeing_time"),
        ("area_label", S, "Area heading"),
        ("label", S, "Short label"),
        ("question", S, "The question the criterion answers"),
        ("values", S, "Allowed values in codebook order, '|'-separated"),
        ("value_judgements", S, "value=judgement pairs, '|'-separated"),
        ("framed", B, "True for criteria compared across forces (not P0/A0/F0)"),
        ("order", I, "Codebook order"),
    ],
    "rounds": [
        ("round", S, "Round id (folder under data/raw/)"),
        ("title", S, "What the round is"),
        ("label", S, "Short name used in charts and tables (rounds.yaml 'label'; the round id if none)"),
        ("published", S, "Publication date (ISO)"),
        ("embargo_until", S, "Embargo end (ISO); blank = none"),
        ("kind", S, "What the round holds: coded|letters|grades|measures"),
        ("updates", S, "Round whose evidence this round revisits; blank = baseline"),
        ("coverage", S, "partial (default) or full: whether the round read every force's evidence"),
        ("synthetic", B, "True for generated (SYNTHETIC) rounds"),
        ("notes", S, "Notes from rounds.yaml"),
        ("order", I, "Order in rounds.yaml"),
    ],
    "findings": [
        ("round", S, "Round id"),
        ("force_id", S, "Force"),
        ("area", S, "Codebook area of the criterion"),
        ("criterion_id", S, "Codebook criterion"),
        ("value", S, "Coded value (codebook value name)"),
        ("judgement", S, "positive / partial / negative, from the codebook"),
        ("evidence", S, "Evidence for the code, in the coder's words or the letter's"),
        ("source_kind", S, "Kind of source (letter > hmic_page > press_summary > ...)"),
        ("source_ref", S, "Where the code came from: file and sheet!cell, or file:line"),
        ("source_url", S, "Publication the code rests on (URL or citation)"),
        ("coder", S, "Who coded it: auto (draft coder), analyst, or the name in the sheet"),
        ("confidence", S, "high / medium / low"),
        ("confidence_score", F, "0-1; the draft coder's score, or high=0.9 medium=0.6 low=0.3"),
        ("is_override", B, "True for an analyst override from review-import (beats every source)"),
        ("finding_id", S, "Letter finding the code belongs to (letters and review only)"),
        ("note", S, "Coder's note"),
        ("synthetic", B, "True for generated (SYNTHETIC) data"),
    ],
    "matrix": [
        ("round", S, "Round id"),
        ("force_id", S, "Force"),
        ("area", S, "Codebook area"),
        ("criterion_id", S, "Framed codebook criterion"),
        ("status", S, "reported / not_reported / contested"),
        ("value", S, "Resolved value; 'not_reported' or 'contested' otherwise"),
        ("judgement", S, "positive / partial / negative / not_reported / contested"),
        ("n_sources", I, "Number of codes (all sources) for this cell"),
        ("n_values", I, "Number of distinct values among them"),
        ("winning_source_kind", S, "source_kind of the code(s) that decided the cell"),
        ("winning_source_ref", S, "source_ref of the deciding code(s), ';'-separated"),
        ("resolution", S, "single / agreement / precedence / contested / not_reported"),
        ("synthetic", B, "True for generated (SYNTHETIC) data"),
    ],
    "conflicts": [
        ("round", S, "Round id"),
        ("force_id", S, "Force"),
        ("criterion_id", S, "Criterion"),
        ("values", S, "Distinct values among the candidates, '|'-separated"),
        ("n_candidates", I, "Number of candidate codes"),
        ("candidates", S, "Every candidate: value [source_kind, coder, confidence] source_ref"),
        ("resolved_value", S, "The matrix value (or 'contested')"),
        ("resolution", S, "precedence (and which source won) or contested"),
    ],
    "grades": [
        ("round", S, "Round id"),
        ("force_id", S, "Force"),
        ("question_id", S, "PEEL question id"),
        ("question", S, "Question wording"),
        ("grade", S, "outstanding > good > requires_improvement > inadequate"),
        ("grade_rank", I, "1 = outstanding ... 4 = inadequate"),
        ("published", S, "Publication date as given"),
        ("source_kind", S, "Kind of source"),
        ("source_ref", S, "File and line"),
        ("source_url", S, "Publication"),
        ("note", S, "Note from the source table"),
    ],
    "measures": [
        ("round", S, "Round id"),
        ("force_id", S, "Force"),
        ("measure", S, "Measure name, e.g. crimes_attended_pct"),
        ("value", F, "Number as published"),
        ("qualifier", S, "about / under / almost when the figure is approximate; blank = exact"),
        ("unit", S, "percent, posts, files ..."),
        ("period", S, "Period the figure covers"),
        ("source_kind", S, "Kind of source"),
        ("source_ref", S, "File and line"),
        ("source_url", S, "Publication"),
        ("note", S, "Note"),
    ],
    "rejects": [
        ("round", S, "Round id (blank if it could not be told)"),
        ("file", S, "Input file, relative to data/raw/"),
        ("location", S, "Row, or sheet!cell"),
        ("reason", S, "Why the row could not be used, and how to fix it"),
        ("raw", S, "The row's content as read"),
    ],
    "reconciliation": [
        ("round", S, "Round id"),
        ("file", S, "Input file, relative to data/raw/"),
        ("table", S, "Which table the file feeds"),
        ("records_read", I, "Rows (long form) or non-blank cells (wide form) read"),
        ("used", I, "Records that became table rows"),
        ("rejected", I, "Records in rejects"),
    ],
    "inputs": [
        ("file", S, "File under data/raw/ (posix path), or the analysis code itself"),
        ("round", S, "Round whose folder holds the file; blank = shared by all rounds"),
        ("role", S, "codebook, rounds, reference, coded, letters, grades, measures; "
                    "not_read (listed in rejects with the fix); code (the analysis package)"),
        ("bytes", I, "File size; blank for the code"),
        ("sha256", S, "SHA-256 of the file's bytes (of the package's source and rule files for the code)"),
        ("records_read", I, "From reconciliation: records read from the file; blank = not a records file"),
        ("used", I, "From reconciliation: records that became table rows"),
        ("rejected", I, "From reconciliation: records in rejects"),
    ],
}

_ENUMS = {
    ("findings", "judgement"): JUDGEMENTS,
    ("findings", "source_kind"): SOURCE_KINDS,
    ("findings", "confidence"): CONFIDENCE_LABELS,
    ("matrix", "judgement"): JUDGEMENT_STATES,
    ("matrix", "status"): ("reported", "not_reported", "contested"),
    ("grades", "grade"): ("outstanding", "good", "requires_improvement", "inadequate"),
}
_REQUIRED = {
    "findings": ("round", "force_id", "criterion_id", "value", "judgement", "source_kind", "source_ref", "coder"),
    "matrix": ("round", "force_id", "criterion_id", "status", "value", "judgement"),
    "grades": ("round", "force_id", "question_id", "grade"),
    "measures": ("round", "force_id", "measure", "value"),
    "rejects": ("file", "reason"),
    "forces": ("force_id", "force_name", "short_name"),
}


def empty(table: str, columns: list[tuple[str, str, str]] | None = None) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t, _ in (columns or COLUMNS[table])})


def conform(table: str, df: pd.DataFrame, columns: list[tuple[str, str, str]] | None = None) -> pd.DataFrame:
    """Exactly the table's columns, in order, with their dtypes (missing columns become NA).
    ``columns`` lets feature modules use their own ``TABLE_COLUMNS`` lists."""
    out = {}
    for col, dtype, _ in (columns or COLUMNS[table]):
        s = df[col] if col in df.columns else pd.Series(pd.NA, index=df.index)
        want = _dtype(dtype)
        out[col] = s if s.dtype == want else s.astype(want)  # astype costs even when nothing changes
    # copy=False: the columns are Series, so copy-on-write keeps the result apart from ``df``; a
    # copy only duplicated every column (about 25 million instructions a build).
    return pd.DataFrame(out, index=df.index, copy=False).reset_index(drop=True)


def frame(table: str, rows: list[dict], columns: list[tuple[str, str, str]] | None = None) -> pd.DataFrame:
    """``conform(table, pd.DataFrame(rows))`` for rows given as dicts (a key missing from a row
    is NA), built column by column in the final dtypes: no dtype inference and no second
    conversion, about 3x cheaper on the build's small tables."""
    columns = columns or COLUMNS[table]
    return _typed(columns, {col: [r.get(col) for r in rows] for col, _, _ in columns}, len(rows))


def tuples_frame(table: str, rows: list[tuple], names: list[str]) -> pd.DataFrame:
    """:func:`frame` for rows given as tuples of the columns ``names``."""
    return _typed(COLUMNS[table], dict(zip(names, (list(v) for v in zip(*rows)))), len(rows))


def _typed(columns: list[tuple[str, str, str]], values: dict[str, list], n: int) -> pd.DataFrame:
    """The table of ``columns`` from lists of ``n`` values by column name (absent: NA)."""
    return pd.DataFrame({col: pd.array(values.get(col, [None] * n), dtype=_dtype(dtype))
                         for col, dtype, _ in columns}, copy=False)


@functools.cache
def _dtype(name: str):
    """The pandas dtype object for a dtype name (e.g. "string" -> StringDtype with pyarrow storage
    and NA); equal only to exactly that dtype, so a column of other storage is still converted."""
    return pd.api.types.pandas_dtype(name)


class _WholeColumnString(pandas_engine.STRING):
    """pandera's string dtype, checked once per column rather than cell by cell.

    pandera 0.35 answers a string-dtype check with one boolean per cell and then formats an
    (empty) failure table for every passing column: 4x the cost of the rest of validation. A
    column's dtype is one fact, so this asks the same question without the data; a column of
    the wrong dtype still fails with pandera's usual WRONG_DATATYPE error. Stricter than
    pandera on one point: an object column of Python strings is not accepted, because it would
    be written to Parquet with another type."""

    def __deepcopy__(self, memo):
        # Immutable (a frozen dataclass, as all pandera dtypes); pandera deep-copies every column
        # it puts in a schema, and copying this dtype was 40% of that.
        return self

    def check(self, pandera_dtype, data_container=None):
        try:
            return pandas_engine.Engine.dtype(pandera_dtype).type == self.type
        except TypeError:
            return False


_STRING = _WholeColumnString(storage=pandas_engine.Engine.dtype(S).storage)


@functools.cache
def _prepare_pandera() -> None:
    """Spare the build two costs of pandera's optional imports; what pandera checks is unchanged.

    - pandera imports its data-synthesis strategies (and with them Hypothesis, 0.3-0.4 s) the
      first time a schema is validated, when Hypothesis happens to be installed (it is a test
      tool here, not a dependency of the build). The build never synthesises data with pandera,
      so the import is blocked while the check backend loads; in a process that already
      imported Hypothesis (the test suite) nothing changes.
    - pandera tries `import geopandas` at every dtype check; when GeoPandas is not installed each
      failed attempt searches sys.path again (about 80 ms a build). Recording the absence once
      makes the same ImportError immediate."""
    if "geopandas" not in sys.modules and importlib.util.find_spec("geopandas") is None:
        sys.modules["geopandas"] = None
    if "hypothesis" in sys.modules:
        return
    sys.modules["hypothesis"] = None  # makes `import hypothesis` raise ImportError
    try:
        import pandera.backends.pandas.builtin_checks  # noqa: F401
    finally:
        del sys.modules["hypothesis"]


@functools.lru_cache(maxsize=256)
def _schema(table: str, columns: tuple[tuple[str, str, str], ...]) -> pa.DataFrameSchema:
    cols = {}
    for col, dtype, meaning in columns:
        checks = []
        if (table, col) in _ENUMS:
            checks.append(pa.Check.isin(list(_ENUMS[(table, col)])))
        cols[col] = pa.Column(_STRING if dtype == S else dtype, checks=checks,
                              nullable=col not in _REQUIRED.get(table, ()), description=meaning)
    return pa.DataFrameSchema(cols, strict=True, ordered=True, name=table)


def schema(table: str, columns: list[tuple[str, str, str]] | None = None) -> pa.DataFrameSchema:
    """Strict, ordered pandera schema from a column list (default: this module's COLUMNS)."""
    return _schema(table, tuple(tuple(c) for c in (columns or COLUMNS[table])))


def validate(table: str, df: pd.DataFrame, columns=None) -> pd.DataFrame:
    """``df`` if it meets the table's schema; otherwise pandera's SchemaErrors, every failure
    listed (:func:`pandera_validate`). A table that plainly meets it (:func:`plainly_valid`)
    is not handed to pandera: pandera's per-column bookkeeping was 5-6% of a tables-only
    build's instructions (0.19-0.23 G), for a yes already known."""
    if plainly_valid(table, df, columns):
        return df
    return pandera_validate(table, df, columns)


def pandera_validate(table: str, df: pd.DataFrame, columns=None) -> pd.DataFrame:
    """The table's pandera schema, validated lazily (every failure reported at once)."""
    _prepare_pandera()
    return schema(table, columns).validate(df, lazy=True)


def plainly_valid(table: str, df: pd.DataFrame, columns=None) -> bool:
    """True only if pandera would pass ``df`` (tests/test_schemas.py checks this on the build's
    tables and on broken ones): exactly the columns, in order, each of exactly the dtype the
    build gives it, no missing value where one is required, and every enum value known. Never
    looser than the pandera schema; stricter in places (exact string storage), where pandera
    is then asked."""
    columns = columns or COLUMNS[table]
    if type(df) is not pd.DataFrame or list(df.columns) != [c for c, _, _ in columns]:
        return False
    if any(have != _dtype(want) for have, (_, want, _) in zip(df.dtypes.tolist(), columns)):
        return False
    names = set(df.columns)  # (a column list of its own may leave out a required or enum column)
    for col in _REQUIRED.get(table, ()):
        if col in names and df[col].hasnans:
            return False
    for (t, col), allowed in _ENUMS.items():
        if t == table and col in names and not df[col].dropna().isin(allowed).all():
            return False
    return True


def dictionary() -> pd.DataFrame:
    return pd.DataFrame([
        {"table": t, "column": c, "dtype": d, "meaning": m}
        for t, cols in COLUMNS.items() for c, d, m in cols
    ])
