"""The SYNTHETIC data generator: complete, plausible, always marked, seeded, never in data/raw/."""

from __future__ import annotations

import csv
import filecmp

import pandas as pd
import pytest
import yaml

from analysis import paths as project_paths
from analysis.codebook import Codebook
from analysis.errors import InputError
from analysis.forces import load_forces
from analysis.synthetic import (CODED_COLUMNS, make_synthetic_raw, synthetic_findings,
                                synthetic_letter_text)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from analysis.build import build

    paths = make_synthetic_raw(tmp_path_factory.mktemp("synthetic") / "raw", seed=11)
    return paths, build(paths, tables_only=True, log=lambda s: None).tables


def test_layout_and_marks(tmp_path):
    p = make_synthetic_raw(tmp_path / "raw", n_rounds=2, seed=1)
    raw = p.raw
    assert (raw / "codebook.yaml").read_bytes() == (project_paths.RAW / "codebook.yaml").read_bytes()
    assert (raw / "reference" / "forces.csv").exists() and (raw / "reference" / "force_aliases.csv").exists()
    doc = yaml.safe_load((raw / "rounds.yaml").read_text(encoding="utf-8"))
    ids = [r["id"] for r in doc["rounds"]]
    assert ids == ["synthetic_round_1", "synthetic_round_2", "synthetic_peel"]
    assert all(r["synthetic"] is True for r in doc["rounds"])
    assert doc["rounds"][1]["updates"] == "synthetic_round_1"
    for rid in ids[:2]:
        with open(raw / rid / "coded" / "synthetic_coded.csv", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        assert list(rows[0]) == CODED_COLUMNS
        assert all(r["evidence"].startswith("SYNTHETIC") for r in rows)
        assert all(".invalid/" in r["source_url"] for r in rows)
        assert {r["round"] for r in rows} == {rid}
    assert (raw / "synthetic_round_1" / "measures" / "synthetic_measures.csv").exists()
    assert (raw / "synthetic_peel" / "grades" / "synthetic_grades.csv").exists()
    assert p.processed == tmp_path / "processed" and p.reports == tmp_path / "reports"


def test_refuses_to_write_into_project_raw(tmp_path):
    target = project_paths.DATA / "raw" / "synthetic_should_not_exist"
    with pytest.raises(InputError, match="never be written into"):
        make_synthetic_raw(target)
    assert not target.exists()
    with pytest.raises(InputError):
        make_synthetic_raw(project_paths.RAW)


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    a = make_synthetic_raw(tmp_path / "a" / "raw", seed=4, n_letters=2).raw
    b = make_synthetic_raw(tmp_path / "b" / "raw", seed=4, n_letters=2).raw
    c = make_synthetic_raw(tmp_path / "c" / "raw", seed=5, n_letters=2).raw
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files:
        assert filecmp.cmp(a / rel, b / rel, shallow=False), rel
    coded = "synthetic_round_1/coded/synthetic_coded.csv"
    assert (a / coded).read_bytes() != (c / coded).read_bytes()


def test_build_gives_a_complete_marked_43_force_data_set(built):
    _, t = built
    m = t["matrix"]
    assert m["force_id"].nunique() == 43 and m["criterion_id"].nunique() == 19
    assert len(m) == 43 * 19
    assert m["synthetic"].all() and t["findings"]["synthetic"].all()
    assert t["rounds"]["synthetic"].all() and t["rounds"]["round"].str.startswith("synthetic_").all()
    status = m["status"].value_counts()
    # mostly known, with some not reported and some contested cells: every chart state is exercised
    assert status["reported"] > 0.8 * len(m)
    assert status.get("not_reported", 0) > 0 and status.get("contested", 0) > 0
    assert len(t["conflicts"]) > status["contested"]  # some conflicts were settled by precedence
    assert t["rejects"].empty
    assert set(t["findings"]["criterion_id"]) >= {"P0", "A0", "F0"}
    for j in ("positive", "partial", "negative"):
        assert (m["judgement"] == j).sum() > 20
    # attend-all is rare, as in 2014
    a2 = m[(m["criterion_id"] == "A2") & (m["value"] == "yes")]
    assert 1 <= len(a2) <= 15
    assert len(t["grades"]) == 43 * 4 and len(t["measures"]) >= 15
    assert t["measures"]["value"].between(0, 100).all()


def test_embargo_is_written_to_round_one(tmp_path):
    raw = make_synthetic_raw(tmp_path / "raw", embargo_until="2999-01-01T00:01").raw
    doc = yaml.safe_load((raw / "rounds.yaml").read_text(encoding="utf-8"))
    assert doc["rounds"][0]["embargo_until"] == "2999-01-01T00:01"
    from analysis.rounds import Rounds

    assert Rounds.load(raw / "rounds.yaml")["synthetic_round_1"].embargoed()


def test_findings_and_letters_for_benchmarks(tmp_path):
    cb = Codebook.load(project_paths.RAW / "codebook.yaml")
    forces = load_forces(project_paths.RAW / "reference" / "forces.csv")
    with pytest.raises(ValueError, match="synthetic_"):
        synthetic_findings(forces, cb, round_id="core_business_2014")
    f = synthetic_findings(forces, cb, "synthetic_x", seed=2, letter_forces=frozenset({"norfolk"}))
    norfolk = f[f["force_id"] == "norfolk"]
    # a force with a letter is coded on every framed criterion, from the letter
    assert set(cb.framed_ids) <= set(norfolk["criterion_id"]) and set(norfolk["source_kind"]) == {"letter"}
    for r in f.itertuples():
        assert cb.criteria[r.criterion_id].values[r.value] == r.judgement
    text = synthetic_letter_text("Norfolk Constabulary", norfolk)
    assert text.splitlines()[0].startswith("SYNTHETIC")
    assert "Preventing Crime" in text and "Freeing up time" in text
    bullets = [line for line in text.splitlines() if line.startswith("- ")]
    assert len(bullets) == norfolk["finding_no"].nunique()

    raw = make_synthetic_raw(tmp_path / "raw", n_letters=3, seed=9).raw
    letters = sorted((raw / "synthetic_round_1" / "letters").glob("*.txt"))
    assert len(letters) == 3
    gold = pd.read_csv(raw / "synthetic_round_1" / "letters_gold.csv")
    assert gold["force"].nunique() == 3 and list(gold.columns)[:4] == ["force", "round", "area", "finding_no"]
    doc = yaml.safe_load((raw / "rounds.yaml").read_text(encoding="utf-8"))
    assert "letters" in doc["rounds"][0]["kind"]


def test_cli_writes_a_folder(tmp_path, capsys):
    from analysis.cli import main

    assert main(["synthetic", str(tmp_path / "raw"), "--seed", "3", "--no-grades"]) == 0
    assert "SYNTHETIC raw data written" in capsys.readouterr().out
    doc = yaml.safe_load((tmp_path / "raw" / "rounds.yaml").read_text(encoding="utf-8"))
    assert [r["id"] for r in doc["rounds"]] == ["synthetic_round_1"]
    assert main(["synthetic", str(project_paths.DATA / "raw" / "nope")]) == 1


def test_synthetic_data_never_replace_a_folder_of_other_data(tmp_path):
    """Written over a copy of the real raw data, it replaced rounds.yaml: every real round was
    then 'not read'. A synthetic folder written before may be written again."""
    import shutil

    from analysis.errors import InputError
    from analysis.paths import RAW
    from analysis.synthetic import make_synthetic_raw

    copy = tmp_path / "raw_copy"
    shutil.copytree(RAW, copy)
    before = (copy / "rounds.yaml").read_bytes()
    with pytest.raises(InputError, match="is not empty and is not a synthetic raw folder"):
        make_synthetic_raw(copy)
    assert (copy / "rounds.yaml").read_bytes() == before
    make_synthetic_raw(tmp_path / "synth", seed=1)
    make_synthetic_raw(tmp_path / "synth", seed=2)  # (its own folder: written again)
