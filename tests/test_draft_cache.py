"""The cache of drafted letters: a rebuild reuses the drafts of unchanged letters and gives
byte-identical tables; any change to a letter, the codebook or the code drafts afresh; a damaged
entry is redrafted; stale entries are removed."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from analysis import draft_cache
from analysis.build import build, cache_dir
from analysis.paths import Paths
from analysis.synthetic import make_synthetic_raw


def _build(raw: Path, out: Path, use_cache: bool = True) -> list[str]:
    logs: list[str] = []
    build(Paths(raw=raw, processed=out, reports=out.parent / "reports"), tables_only=True,
          log=logs.append, use_cache=use_cache)
    return logs


def _same_folders(a: Path, b: Path) -> None:
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    _, mismatch, errors = filecmp.cmpfiles(a, b, names, shallow=False)
    assert not mismatch and not errors, mismatch


def _reused(logs: list[str]) -> bool:
    return any("drafts reused" in line for line in logs)


@pytest.fixture(scope="module")
def synth_raw(tmp_path_factory) -> Path:
    return make_synthetic_raw(tmp_path_factory.mktemp("synth") / "raw", n_rounds=1, seed=3, n_letters=12).raw


def test_rebuild_reuses_drafts_and_gives_identical_tables(synth_raw, tmp_path):
    first = _build(synth_raw, tmp_path / "p")
    assert not _reused(first)
    second = _build(synth_raw, tmp_path / "p")
    assert _reused(second)
    _build(synth_raw, tmp_path / "fresh" / "p", use_cache=False)
    _same_folders(tmp_path / "p", tmp_path / "fresh" / "p")
    assert not cache_dir(Paths(processed=tmp_path / "fresh" / "p")).exists()  # --no-cache writes none


def test_a_changed_letter_is_drafted_again(synth_raw, tmp_path):
    import shutil

    raw = tmp_path / "raw"
    shutil.copytree(synth_raw, raw)
    _build(raw, tmp_path / "p")
    letter = sorted((raw / "synthetic_round_1" / "letters").glob("*.txt"))[0]
    letter.write_text(letter.read_text(encoding="utf-8").replace("SYNTHETIC", "SYNTHETIC (edited)", 1),
                      encoding="utf-8")
    logs = _build(raw, tmp_path / "p")
    assert not _reused(logs)
    _build(raw, tmp_path / "fresh" / "p", use_cache=False)
    _same_folders(tmp_path / "p", tmp_path / "fresh" / "p")
    # only the entry for the current letters is kept
    assert len([p for p in cache_dir(Paths(processed=tmp_path / "p")).iterdir() if p.is_dir()]) == 1


def test_a_damaged_entry_is_redrafted(synth_raw, tmp_path):
    _build(synth_raw, tmp_path / "p")
    entry = next(cache_dir(Paths(processed=tmp_path / "p")).iterdir())
    (entry / "draft_codes.parquet").write_bytes(b"not parquet")
    logs = _build(synth_raw, tmp_path / "p")
    assert not _reused(logs)
    _build(synth_raw, tmp_path / "fresh" / "p", use_cache=False)
    _same_folders(tmp_path / "p", tmp_path / "fresh" / "p")
    assert _reused(_build(synth_raw, tmp_path / "p"))  # and the entry was rewritten


def test_key_depends_on_letters_inputs_round_and_code(tmp_path, monkeypatch):
    letters = tmp_path / "letters"
    letters.mkdir()
    (letters / "a.txt").write_text("one", encoding="utf-8")
    codebook = tmp_path / "codebook.yaml"
    codebook.write_text("criteria: {}", encoding="utf-8")
    cache = draft_cache.DraftCache(tmp_path / "cache")
    files = sorted(letters.iterdir())
    base = cache.key(files, "r1", [codebook])
    assert cache.key(files, "r1", [codebook]) == base
    assert cache.key(files, "r2", [codebook]) != base
    codebook.write_text("criteria: {x: 1}", encoding="utf-8")
    assert cache.key(files, "r1", [codebook]) != base
    codebook.write_text("criteria: {}", encoding="utf-8")
    (letters / "a.txt").write_text("two", encoding="utf-8")
    assert cache.key(files, "r1", [codebook]) != base
    (letters / "a.txt").write_text("one", encoding="utf-8")
    monkeypatch.setattr(draft_cache, "code_fingerprint", lambda: "another version of the code")
    assert cache.key(files, "r1", [codebook]) != base


def test_code_fingerprint_covers_the_coder_and_its_rules():
    pkg = Path(draft_cache.__file__).parent
    assert (pkg / "coding.py").exists() and list((pkg / "rules").glob("*.yaml"))
    assert len(draft_cache.code_fingerprint()) == 64


def test_compiled_patterns_are_kept_and_no_cache_only_reads_them(synth_raw, tmp_path, monkeypatch):
    from analysis import coding
    from analysis.build import PATTERN_STORE
    from analysis.regex_store import RegexStore

    monkeypatch.setattr(coding, "_CACHE", {})  # rules compiled by earlier tests would compile nothing
    _build(synth_raw, tmp_path / "p")
    store = cache_dir(Paths(processed=tmp_path / "p")) / PATTERN_STORE
    assert store.exists() and len(RegexStore(store)._entries) > 20  # the coder's patterns
    before = store.read_bytes()
    _build(synth_raw, tmp_path / "p", use_cache=False)  # drafts afresh, patterns from the store
    assert store.read_bytes() == before
    _build(synth_raw, tmp_path / "fresh" / "p", use_cache=False)  # no store at all
    _same_folders(tmp_path / "p", tmp_path / "fresh" / "p")
