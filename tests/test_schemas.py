"""The processed-table schemas: they catch wrong dtypes, bad enum values and missing required
values, and validating does not drag the test-only Hypothesis package into the build."""

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
    code = ("import sys, analysis.schemas as s; s.validate('forces', s.empty('forces'));"
            "print('hypothesis' in sys.modules); import hypothesis; print('importable')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "importable"]


def test_absent_geopandas_is_remembered_not_searched_for_again():
    """pandera asks for GeoPandas at every dtype check; when it is not installed the answer is
    recorded once (same ImportError as before). Where it is installed nothing changes."""
    code = ("import sys, analysis.schemas as s; s.validate('forces', s.empty('forces'));"
            "rec = sys.modules.get('geopandas', 'unset');\n"
            "try:\n    import geopandas; ok = True\nexcept ImportError:\n    ok = False\n"
            "print(rec is None, ok)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    import importlib.util
    if importlib.util.find_spec("geopandas") is None:
        assert out.stdout.split() == ["True", "False"]
    else:
        assert out.stdout.split() == ["False", "True"]


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
