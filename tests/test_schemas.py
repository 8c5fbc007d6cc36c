"""The processed-table schemas: they catch wrong dtypes, bad enum values and missing required
values; the quick check that spares pandera a table never passes one pandera refuses; and
validating does not drag the test-only Hypothesis package into the build."""

import subprocess
import sys

import pandas as pd
import pandera.errors
import pytest

from analysis import schemas


def _forces(n=2):
    df = pd.DataFrame({
        "force_id": [f"f{i}" for i in range(n)], "force_name": [f"Force {i}" for i in range(n)],
        "short_name": [f"F{i}" for i in range(n)], "ons_code": ["E23000001"] * n,
        "country": ["England"] * n, "hmi_2014": [pd.NA] * n, "hmic_region_2014": ["Eastern"] * n})
    return schemas.conform("forces", df)


def test_good_table_passes_and_is_returned_unchanged():
    df = _forces()
    pd.testing.assert_frame_equal(schemas.validate("forces", df), df)


def test_text_column_of_the_wrong_dtype_fails_naming_the_column():
    df = _forces().assign(short_name=[1, 2])  # numbers where text is expected
    with pytest.raises(pandera.errors.SchemaErrors) as err:
        schemas.validate("forces", df)
    assert "short_name" in str(err.value) and "WRONG_DATATYPE" in str(err.value)


def test_object_column_is_not_taken_for_text():
    df = _forces().assign(force_name=pd.Series(["a", "b"], dtype=object))
    with pytest.raises(pandera.errors.SchemaErrors, match="force_name"):
        schemas.validate("forces", df)


def test_required_value_missing_and_unknown_enum_value_are_both_reported():
    m = schemas.conform("matrix", pd.DataFrame({
        "round": ["r1"], "force_id": [pd.NA], "criterion_id": ["A2"], "status": ["maybe"]}))
    with pytest.raises(pandera.errors.SchemaErrors) as err:
        schemas.validate("matrix", m)
    text = str(err.value)
    assert "force_id" in text and "status" in text


def test_schema_is_cached_per_column_list():
    assert schemas.schema("forces") is schemas.schema("forces")
    other = [c for c in schemas.COLUMNS["forces"]]
    other[1] = ("force_name", "string", "a different meaning")
    assert schemas.schema("forces", other) is not schemas.schema("forces")


def test_validation_does_not_import_hypothesis_in_a_build_process():
    code = ("import sys, analysis.schemas as s; s.pandera_validate('forces', s.empty('forces'));"
            "print('hypothesis' in sys.modules); import hypothesis; print('importable')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "importable"]


def test_absent_geopandas_is_remembered_not_searched_for_again():
    """pandera asks for GeoPandas at every dtype check; when it is not installed the answer is
    recorded once (same ImportError as before). Where it is installed nothing changes."""
    code = ("import sys, analysis.schemas as s; s.pandera_validate('forces', s.empty('forces'));"
            "rec = sys.modules.get('geopandas', 'unset');\n"
            "try:\n    import geopandas; ok = True\nexcept ImportError:\n    ok = False\n"
            "print(rec is None, ok)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    import importlib.util
    if importlib.util.find_spec("geopandas") is None:
        assert out.stdout.split() == ["True", "False"]
    else:
        assert out.stdout.split() == ["False", "True"]


# ----- the quick check: pandera is asked only when a table is not plainly valid ---------------------
def _pandera_passes(table, df, columns=None) -> bool:
    try:
        schemas.pandera_validate(table, df, columns)
    except pandera.errors.SchemaErrors:
        return False
    return True


def test_the_builds_tables_are_plainly_valid_and_pandera_agrees(shipped_tables):
    """Every table of a build on the shipped data passes the quick check (so the build does not
    ask pandera), and pandera passes each of them too."""
    from analysis.build import all_columns

    cols = all_columns()
    checked = [name for name in cols if name in shipped_tables]
    assert len(checked) >= 15
    for name in checked:
        assert schemas.plainly_valid(name, shipped_tables[name], cols[name]), name
        assert _pandera_passes(name, shipped_tables[name], cols[name]), name


def _breakages(table, df):
    """(what, broken copy of ``df``): each a way a table can fail its schema."""
    cols = [c for c, _, _ in schemas.COLUMNS[table]]
    first, dtype0 = schemas.COLUMNS[table][0][:2]
    yield "extra column", df.assign(extra=pd.array(["x"] * len(df), dtype="string"))
    yield "column missing", df.drop(columns=cols[-1])
    yield "columns swapped", df[[cols[1], cols[0], *cols[2:]]]
    yield "object strings", df.assign(**{first: df[first].astype(object)})
    yield "python string storage", df.assign(**{first: df[first].astype(pd.StringDtype("python"))})
    for col, dtype, _ in schemas.COLUMNS[table]:
        other = {"string": "Int64", "Int64": "Float64", "Float64": "string", "boolean": "string"}[dtype]
        yield f"{col} as {other}", df.assign(**{col: pd.array([pd.NA] * len(df), dtype=other)})
    for col in schemas._REQUIRED.get(table, ()):
        s = df[col].copy()
        s.iloc[0] = pd.NA
        yield f"{col} missing a value", df.assign(**{col: s})
    for (t, col), allowed in schemas._ENUMS.items():
        if t == table:
            s = df[col].copy()
            s.iloc[-1] = "no such value"
            yield f"{col} unknown value", df.assign(**{col: s})


def test_a_column_list_without_a_required_column_is_checked_as_pandera_checks_it():
    """A feature module's own column list may leave out a column the table's name marks as
    required or as an enum: neither check looks for it (as in the pandera schema made from the
    same list)."""
    cols = [c for c in schemas.COLUMNS["matrix"] if c[0] not in ("force_id", "status")]
    df = schemas.frame("matrix", [{"round": "r1", "criterion_id": "A2", "value": "yes", "judgement": "positive"}],
                       cols)
    assert schemas.plainly_valid("matrix", df, cols)
    assert _pandera_passes("matrix", df, cols)


@pytest.mark.parametrize("table", ["findings", "matrix", "grades", "forces", "measures", "criteria"])
def test_a_broken_table_is_never_plainly_valid(table, shipped_tables):
    """Each way of breaking a real table fails the quick check, so pandera is asked and reports it
    (every breakage here is one pandera refuses too)."""
    df = shipped_tables[table]
    if df.empty:
        pytest.skip(f"{table} is empty in the shipped data")
    n = 0
    for what, broken in _breakages(table, df):
        assert not schemas.plainly_valid(table, broken), what
        assert not _pandera_passes(table, broken), what
        with pytest.raises(pandera.errors.SchemaErrors):
            schemas.validate(table, broken)
        n += 1
    assert n >= 8


# ----- frame / tuples_frame: conform(pd.DataFrame(rows)) built in the final dtypes ------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_CELL = {
    "string": st.one_of(st.none(), st.just(pd.NA), st.text(max_size=5)),
    "Int64": st.one_of(st.none(), st.just(pd.NA), st.integers(-5, 5)),
    "Float64": st.one_of(st.none(), st.just(pd.NA), st.floats(-2, 2), st.integers(0, 3)),
    "boolean": st.one_of(st.none(), st.just(pd.NA), st.booleans()),
}


@st.composite
def _table_rows(draw):
    table = draw(st.sampled_from(sorted(schemas.COLUMNS)))
    cols = schemas.COLUMNS[table]
    rows = []
    for _ in range(draw(st.integers(1, 6))):
        # some keys left out of some rows: they become NA in both forms
        kept = [c for c in cols if draw(st.booleans()) or c is cols[0]]
        rows.append({c: draw(_CELL[t]) for c, t, _ in kept})
    return table, rows


@settings(max_examples=200, deadline=None)
@given(_table_rows())
def test_frame_equals_conform_of_the_rows(case):
    table, rows = case
    want = schemas.conform(table, pd.DataFrame(rows))
    pd.testing.assert_frame_equal(schemas.frame(table, rows), want, check_exact=True)
    names = [c for c, _, _ in schemas.COLUMNS[table]][::-1]  # any order of names
    tuples = [tuple(r.get(c) for c in names) for r in rows]
    pd.testing.assert_frame_equal(schemas.tuples_frame(table, tuples, names), want, check_exact=True)
    # a column the tuples do not name is NA, as conform makes a missing column
    dropped, names = names[0], names[1:]
    want = schemas.conform(table, pd.DataFrame([{k: v for k, v in r.items() if k != dropped} for r in rows]))
    tuples = [tuple(r.get(c) for c in names) for r in rows]
    pd.testing.assert_frame_equal(schemas.tuples_frame(table, tuples, names), want, check_exact=True)


@settings(max_examples=100, deadline=None)
@given(_table_rows(), st.data())
def test_plainly_valid_never_passes_what_pandera_refuses(case, data):
    """Tables of random cells (missing values in required columns included), enum columns filled
    with known, unknown and missing values, and up to two columns retyped or dropped: whenever
    the quick check says yes, pandera says yes; and on a table left in the build's dtypes the
    two always agree (the quick check is not needlessly strict)."""
    table, rows = case
    df = schemas.frame(table, rows)
    for (t, col), allowed in schemas._ENUMS.items():
        if t == table and data.draw(st.booleans()):
            cells = st.sampled_from([*allowed, None, "other"])
            df[col] = pd.array([data.draw(cells) for _ in range(len(df))], dtype="string")
    names = [c for c, _, _ in schemas.COLUMNS[table]]
    changes = data.draw(st.lists(st.tuples(st.sampled_from(names), st.sampled_from(["object", "drop", "Float64"])),
                                 max_size=2, unique_by=lambda x: x[0]))
    for col, change in changes:
        if change == "object":
            df[col] = df[col].astype(object)
        elif change == "drop":
            df = df.drop(columns=col)
        else:
            df[col] = pd.array([pd.NA] * len(df), dtype="Float64")
    quick, full = schemas.plainly_valid(table, df), _pandera_passes(table, df)
    if quick:
        assert full
    if not changes:
        assert quick == full
