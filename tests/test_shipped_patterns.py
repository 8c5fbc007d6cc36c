"""The package's shipped pattern store (src/analysis/compiled/, made by `make patterns`): current
for the shipped rules, exact, ignored when damaged or foreign, and not read by a build that finds
everything in its own store.

When a test here says the shipped store is stale: run `make patterns` and commit the file it
writes (editing the rules or analysis/pattern_facts.py makes it stale; a stale file only costs
compiling again, the codes are the same)."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import tomllib
import zlib
from pathlib import Path

import pandas as pd
import pytest

from analysis import coding, regex_store
from analysis.codebook import Codebook
from analysis.paths import RAW, ROOT

SHIPPED = regex_store.shipped_path() if regex_store._AVAILABLE else None
STALE = ("the shipped pattern store is stale: run `make patterns` (`make patterns-all` for every Python "
         "shipped for) and commit src/analysis/compiled/")


def _require_shipped() -> Path:
    """The shipped file for the running engine. Missing: a failure on an engine the generator
    has made a file for (compiled/index.json lists it), else a skip (another Python)."""
    if SHIPPED is None:
        pytest.skip("this Python's re internals are not the ones the pattern store knows")
    if not SHIPPED.exists():
        index = json.loads((regex_store.SHIPPED_DIR / "index.json").read_text(encoding="utf-8"))
        if any(v.get("engine") == regex_store.engine() for v in index.values()):
            pytest.fail(f"{SHIPPED.name} is listed in compiled/index.json but missing: run `make patterns`")
        pytest.skip(f"no shipped pattern store for this regex engine ({regex_store.engine()}); "
                    "`make patterns` on this Python would add one")
    return SHIPPED


@pytest.fixture(scope="module")
def codebook() -> Codebook:
    return Codebook.load(RAW / "codebook.yaml")


def _code_all(coder_sets, codebook) -> dict[str, pd.DataFrame]:
    """Read the rules and code every set (through whatever store is open)."""
    rules = coding.Rules.load(None, codebook)
    return {name: coding.code_findings(df, codebook, rules) for name, df in coder_sets.items()}


@pytest.fixture(scope="module")
def fresh_codes(coder_sets, codebook) -> dict[str, pd.DataFrame]:
    return _code_all(coder_sets, codebook)  # no store open: plain re.compile, facts derived


def _same_codes(got, want) -> None:
    for name, codes in want.items():
        assert len(codes) and got[name].equals(codes), name


def test_the_shipped_store_holds_everything_the_rules_ask_for(tmp_path, codebook, coder_sets, fresh_codes):
    """A fresh clone (no store of its own) reading the rules and coding the seed letter and the
    labelled sets compiles no pattern and derives no fact; nor does compiling every pattern the
    rules can make (topics in both forms, ASCII twins: letters of other forces need them)."""
    shipped = _require_shipped()
    with regex_store.opened(tmp_path / "store.json", shipped=shipped) as store:
        got = _code_all(coder_sets, codebook)
        coding.Rules.load(None, codebook).compile_all()
    assert (store.misses, store.fact_misses) == (0, 0), \
        f"{STALE} ({store.misses} patterns compiled, {store.fact_misses} facts derived afresh)"
    assert store.hits > 300 and store.fact_hits > 1000 and store.shipped_hits == store.hits + store.fact_hits
    _same_codes(got, fresh_codes)
    # the entries used are copied into the build's own store: the next build needs only that one
    assert set(regex_store.read_store(tmp_path / "store.json")) == set(store.entries_used())


def test_the_shipped_store_is_what_the_generator_makes_now(tmp_path):
    """Nothing stale or left over in it (compared decompressed: zlib builds may differ), and the
    generator gives the same bytes twice."""
    shipped = _require_shipped()
    (tmp_path / "a").mkdir()
    made = regex_store.ship(folder=tmp_path / "a")
    assert made.name == shipped.name
    want = gzip.decompress(shipped.read_bytes()).partition(b"\n")
    got = gzip.decompress(made.read_bytes()).partition(b"\n")
    assert json.loads(got[0])["engine"] == json.loads(want[0])["engine"]
    assert got[2] == want[2], STALE
    assert regex_store.ship(folder=tmp_path / "a").read_bytes() == made.read_bytes()


def test_patterns_from_the_shipped_store_equal_re_compile():
    shipped = _require_shipped()
    entries = regex_store.read_store(shipped, gzipped=True)
    patterns = [k for k in entries if k[0].isdigit()]
    assert len(patterns) > 300
    for key in patterns:
        flags, _, pattern = key.partition(":")
        rx, want = regex_store._from_entry(pattern, entries[key]), re.compile(pattern, int(flags))
        assert rx == want  # re's equality: pattern, flags and engine code
        assert (rx.flags, rx.groups, rx.groupindex) == (want.flags, want.groups, want.groupindex)


def _rewritten(data: bytes, engine: str | None = None, body_change=None) -> bytes:
    """A shipped file's bytes with its header's engine or its entries changed (checksum correct)."""
    head, _, body = gzip.decompress(data).partition(b"\n")
    doc = json.loads(head)
    if body_change is not None:
        entries = json.loads(body)
        body_change(entries)
        body = json.dumps(entries).encode()
        doc["crc32"] = zlib.crc32(body)
    if engine is not None:
        doc["engine"] = engine
    return gzip.compress(json.dumps(doc).encode() + b"\n" + body, mtime=0)


def _garble(entries):
    for key, value in entries.items():
        if key[0].isdigit():
            value[3] = "AAAA" + value[3][4:]  # another first code word: the engine refuses it
        else:
            entries[key] = {"not": "a fact"}


@pytest.mark.parametrize("damage", ["truncated", "flipped byte", "edited", "another engine", "bad entries",
                                    "not gzip"])
def test_a_damaged_or_foreign_shipped_store_is_ignored(tmp_path, codebook, coder_sets, fresh_codes, damage):
    data = _require_shipped().read_bytes()
    path = tmp_path / "patterns.json.gz"
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "flipped byte":  # gzip's checksum no longer matches
        data = data[:1000] + bytes([data[1000] ^ 0x40]) + data[1001:]
    elif damage == "edited":  # well-formed gzip, an entry changed, the header's checksum not updated
        head, _, body = gzip.decompress(data).partition(b"\n")
        data = gzip.compress(head + b"\n" + body.replace(b"[true,false,", b"[false,true,", 1), mtime=0)
    elif damage == "another engine":
        data = _rewritten(data, engine="cpython-3.99-re0000000000000000-20990101-4-4294967295-1073741823-ucd99.0.0")
    elif damage == "bad entries":  # a consistent file whose entries are not the engine's or coder's
        data = _rewritten(data, body_change=_garble)
    else:
        data = gzip.decompress(data)
    path.write_bytes(data)
    with regex_store.opened(tmp_path / "store.json", save=False, shipped=path) as store:
        got = _code_all(coder_sets, codebook)
    assert store.shipped_hits == 0 and store.misses > 50 and store.fact_misses > 1000
    _same_codes(got, fresh_codes)


def test_a_build_that_finds_everything_in_its_own_store_does_not_read_the_shipped_one(
        tmp_path, codebook, coder_sets, monkeypatch):
    shipped = tmp_path / "patterns.json.gz"
    shutil.copy(_require_shipped(), shipped)
    store_path = tmp_path / "store.json"
    with regex_store.opened(store_path, shipped=shipped) as first:  # a fresh clone's first build
        _code_all(coder_sets, codebook)
    assert first.misses == 0 and first.shipped_hits > 0 and store_path.exists()
    read = []
    real = regex_store.read_store
    monkeypatch.setattr(regex_store, "read_store", lambda path, gzipped=False: read.append(path) or real(path, gzipped))
    with regex_store.opened(store_path, shipped=shipped) as again:  # the next build
        _code_all(coder_sets, codebook)
    assert read == [store_path] and again._shipped_loaded is None
    assert again.misses == again.fact_misses == again.shipped_hits == 0 and not again.dirty


def test_the_shipped_stores_are_installed_with_the_package():
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
        "package-data"]["analysis"]
    assert "compiled/*.json.gz" in package_data
    assert regex_store.SHIPPED_DIR == Path(regex_store.__file__).resolve().parent / "compiled"


# ----- the stores shipped for other Pythons (3.12, 3.13: made with `make patterns-all`) -------------
def _index() -> dict:
    return json.loads((regex_store.SHIPPED_DIR / "index.json").read_text(encoding="utf-8"))


def _entries(path: Path) -> tuple[dict, dict]:
    head, _, body = gzip.decompress(path.read_bytes()).partition(b"\n")
    return json.loads(head), json.loads(body)


def test_every_shipped_store_holds_what_this_pythons_store_holds():
    """Each Python's store asks the engine for the same patterns and facts, so a store whose
    entries are those of the running Python's (checked current above) is current too; one left
    behind by an edit of the rules fails here, on any Python. Each is listed in index.json under
    the engine its header names."""
    _, want = _entries(_require_shipped())
    index = _index()
    assert set(index) == {p.name for p in regex_store.SHIPPED_DIR.glob("patterns-*.json.gz")}
    assert len(index) >= 3
    for name, listed in index.items():
        head, entries = _entries(regex_store.SHIPPED_DIR / name)
        assert head["engine"] == listed["engine"] and name.startswith(f"patterns-{head['engine'][:12]}")
        assert set(entries) == set(want), f"{name}: {STALE}"


def _interpreter(version: str) -> str | None:
    """A working python<version> (PATH, then pyenv's versions folder), or None."""
    import glob
    import os
    import subprocess

    found = [shutil.which(f"python{version}")]
    root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    found += sorted(glob.glob(f"{root}/versions/{version}.*/bin/python{version}"), reverse=True)
    for exe in filter(None, found):
        ok = subprocess.run([exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                            capture_output=True, text=True)
        if ok.returncode == 0 and ok.stdout.strip() == version:
            return exe
    return None


_CHECK = """
import json, re, sys
from pathlib import Path
from analysis import regex_store
path = Path(sys.argv[1])
head = json.loads(__import__("gzip").decompress(path.read_bytes()).partition(b"\\n")[0])
if head["engine"] != regex_store.engine():
    print("other engine", regex_store.engine()); sys.exit(0)
entries = regex_store.read_store(path, gzipped=True)
patterns = [k for k in entries if k[0].isdigit()]
for key in patterns:
    flags, _, pattern = key.partition(":")
    rx, want = regex_store._from_entry(pattern, entries[key]), re.compile(pattern, int(flags))
    assert rx == want and (rx.flags, rx.groups, rx.groupindex) == (want.flags, want.groups, want.groupindex), key[:80]
print("checked", len(patterns))
"""


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_another_pythons_store_equals_its_re_compile(version):
    """On the Python a store was made for (when this machine has it), every pattern in it equals
    what that Python's re.compile makes: the check above, run there (it needs only the standard
    library and analysis.regex_store)."""
    import subprocess

    names = [n for n, v in _index().items() if v["engine"].startswith(f"cpython-{version}-")]
    assert names, f"no store shipped for Python {version}"
    exe = _interpreter(version)
    if exe is None:
        pytest.skip(f"no Python {version} on this machine to check its store with")
    out = subprocess.run([exe, "-I", "-c", f"import sys; sys.path.insert(0, {str(ROOT / 'src')!r})\n" + _CHECK,
                          str(regex_store.SHIPPED_DIR / names[0])], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    if out.stdout.startswith("other engine"):
        pytest.skip(f"this machine's Python {version} has another regex engine ({out.stdout.split()[-1]})")
    assert out.stdout.startswith("checked ") and int(out.stdout.split()[1]) > 300
