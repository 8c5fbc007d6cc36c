"""Shared fixtures. Nothing here reads ../shared/: tests use the project's own data/raw/ copy and
files they generate."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

from analysis.paths import RAW, Paths  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def shipped_tables(tmp_path_factory):
    """The shipped data built once (tables only) into a temp folder; returns the tables dict."""
    from analysis.build import build

    out = tmp_path_factory.mktemp("shipped")
    paths = Paths(raw=RAW, processed=out / "processed", reports=out / "reports")
    result = build(paths, tables_only=True, log=lambda s: None)
    return result.tables


@pytest.fixture(scope="session")
def shipped_paths(tmp_path_factory, shipped_tables):
    """Paths of a shipped tables-only build (processed folder filled)."""
    from analysis.build import write_tables

    out = tmp_path_factory.mktemp("shipped_paths")
    paths = Paths(raw=RAW, processed=out / "processed", reports=out / "reports")
    write_tables(shipped_tables, paths.processed)
    return paths


@pytest.fixture
def raw_copy(tmp_path) -> Path:
    """A writable copy of the shipped data/raw (tests may add or break files in it)."""
    dest = tmp_path / "raw"
    shutil.copytree(RAW, dest)
    return dest


@pytest.fixture
def mini_raw(tmp_path) -> Path:
    """A minimal raw folder: the real codebook and forces, one empty coded round."""
    dest = tmp_path / "raw"
    (dest / "reference").mkdir(parents=True)
    shutil.copy(RAW / "codebook.yaml", dest / "codebook.yaml")
    shutil.copy(RAW / "reference" / "forces.csv", dest / "reference" / "forces.csv")
    shutil.copy(RAW / "reference" / "force_aliases.csv", dest / "reference" / "force_aliases.csv")
    (dest / "rounds.yaml").write_text(
        "rounds:\n  - id: test_round\n    title: Test round\n    published: 2014-09-04\n    kind: [coded]\n",
        encoding="utf-8")
    (dest / "test_round" / "coded").mkdir(parents=True)
    return dest


@pytest.fixture(scope="session")
def coder_sets() -> dict:
    """Texts to code, by set: the seed letter's findings and each labelled set's items
    (finding_id, area, text), for tests that compare codes made in different ways."""
    import pandas as pd

    from analysis.forces import ForceResolver
    from analysis.letters import parse_letter

    resolver = ForceResolver.from_files(RAW / "reference" / "forces.csv", RAW / "reference" / "force_aliases.csv")
    _, seed = parse_letter(RAW / "core_business_2014" / "letters" / "norfolk_2014-09-03.txt",
                           "core_business_2014", resolver)
    out = {"seed": seed[["finding_id", "area", "text"]]}
    for path in sorted(FIXTURES.glob("rephrasings_*.csv")):
        df = pd.read_csv(path, dtype="string").drop_duplicates("item_id")
        out[path.stem] = df[["item_id", "area", "text"]].rename(columns={"item_id": "finding_id"})
    assert len(out) >= 8
    return out
