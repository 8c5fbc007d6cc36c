"""io.records must give exactly what DataFrame.to_dict("records") gives (it replaces it where
speed matters): same keys, same values, same Python types, missing values alike."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.io import records


def _same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a is b or a == b


def _assert_like_to_dict(df: pd.DataFrame) -> None:
    expected, got = df.to_dict("records"), records(df)
    assert len(got) == len(expected)
    for e, g in zip(expected, got):
        assert list(e) == list(g)
        bad = {k: (e[k], g[k]) for k in e if not _same(e[k], g[k])}
        assert not bad, bad


def test_every_dtype_the_tables_use():
    df = pd.DataFrame({
        "s": pd.array(["a", None, "c"], dtype="string"),
        "i": pd.array([1, None, 3], dtype="Int64"),
        "f": pd.array([0.5, None, 1.5], dtype="Float64"),
        "b": pd.array([True, None, False], dtype="boolean"),
        "n_int": np.array([1, 2, 3], dtype="int64"),
        "n_float": np.array([1.0, np.nan, 3.0]),
        "obj": pd.Series(["x", None, np.nan], dtype=object),
        "when": pd.to_datetime(["2014-09-03", None, "2015-01-01"]),
        "cat": pd.Categorical(["p", None, "q"]),
        "default_str": pd.Series(["u", None, "w"]),
    })
    _assert_like_to_dict(df)


@pytest.mark.parametrize("df", [pd.DataFrame(), pd.DataFrame({"a": pd.array([], dtype="string")}),
                                pd.DataFrame(index=range(3))])
def test_empty_frames(df):
    _assert_like_to_dict(df)


def test_built_tables(shipped_tables):
    for name, df in shipped_tables.items():
        _assert_like_to_dict(df)
