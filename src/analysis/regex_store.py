"""Compiled regular expressions kept on disk between runs (the coder's patterns, for the build).

Python's ``re`` compiles a pattern in pure Python (a parser, then a code generator) and hands the
result, a list of integers, to its C engine. The draft coder's rules make about 90 patterns for a
letter, some of 11,000 characters, and compiling them was about a third of drafting the first
letter in a fresh process. A :class:`RegexStore` keeps that integer code per exact pattern text
and flags; a later process gives it straight to the engine. A pattern the store lacks is compiled
by the same steps as ``re.compile`` (no extra cost), keeping the code for the store.

The store also keeps facts the coder derives from its pattern texts by parsing them (see
:func:`derived`; reading the rules was mostly that parsing): plain JSON values, each under a kind
and the exact text it was derived from. The kind names the deriving code's version
(analysis.pattern_facts puts a hash of its own source in it), so facts derived by other code are
never looked up; a value that fails the caller's check is derived again.

Two files are read:

- the build's own store, ``data/.processed-draft-cache/compiled-patterns.json``: read on first
  use, rewritten when a build compiled, derived or took from the shipped file something it
  lacked (only what that build used is kept, so entries of old rules do not pile up);
- the package's read-only store, ``compiled/patterns-<python>-<engine hash>.json.gz``, made by
  ``python -m analysis.regex_store --ship`` (``make patterns``): every pattern and fact the
  shipped rules can ask for (every topic in both forms and as ASCII twins, every scanner's forms;
  not only what the seed letter needs), so a fresh clone's first build compiles and derives
  nothing, as pip byte-compiles a package. It is read only when the build's store lacks an entry:
  a build that compiles nothing never opens it.

After editing the rules or analysis/pattern_facts.py, run ``make patterns`` and commit the file
(tests/test_shipped_patterns.py fails until then); ``make patterns-all`` writes the files of the
other Pythons shipped for too (3.12 and 3.13: the tests check each holds what the running
Python's holds, and, where this machine has that Python, that its patterns equal its
``re.compile``'s). A stale or missing file only costs compiling again; the codes are the same.

Exactness: an entry is used only for the same pattern text and flags on the same regex engine
(:func:`engine`: a hash of the sources of ``re``'s parser and compiler and the tables they read,
``_sre``'s magic number, code size and limits, the Unicode database's version and the Python
minor version; a patch release that leaves ``re`` alone keeps its files). A Pattern made from an
entry compares equal to what ``re.compile`` makes (``re``'s own equality compares pattern, flags
and code; the tests check every shipped pattern), and the C engine validates the code before it
accepts it. This leans on three private parts of CPython's ``re`` (``re._parser.parse``,
``re._compiler._code``, ``_sre.compile``); if any is missing or behaves otherwise, or a file is
damaged (each holds a CRC-32 of its entries), edited or from another engine, it is ignored and
every pattern goes through ``re.compile``. Nothing from input data is stored: only patterns the
package itself compiles.

The engine code is kept as base64 of 32-bit little-endian words, decoded per entry when used:
parsing the 380,000 integers of the shipped patterns from JSON took 25 ms.
"""

from __future__ import annotations

import array
import base64
import functools
import gzip
import hashlib
import json
import os
import re
import sys
import zlib
from pathlib import Path
from typing import Any, Callable

try:  # CPython's regex internals; any other Python just compiles as usual
    import _sre
    from re import _compiler as _re_compiler, _parser as _re_parser

    _AVAILABLE = (all(callable(getattr(m, n, None)) for m, n in
                      ((_re_parser, "parse"), (_re_compiler, "_code"), (_sre, "compile")))
                  and _sre.CODESIZE == array.array("I").itemsize == 4)
except (ImportError, AttributeError):  # pragma: no cover - not CPython
    _AVAILABLE = False

_FORMAT = 3  # 3: the header's checksum is a CRC-32 (the sha256 was 62 M instructions, 1.7% of a fresh clone's build)
_MISSING = object()
SHIPPED_DIR = Path(__file__).resolve().parent / "compiled"


@functools.cache
def engine() -> str:
    """The regex engine's identity: the key of a store file ("" if the store is not usable).

    What makes a pattern's code: ``re``'s parser and compiler (Python sources, hashed with the
    constants and case tables they read), ``_sre``'s code format and limits, and the Unicode
    database (case folding). Without readable sources the full Python version stands in."""
    if not _AVAILABLE:
        return ""
    from re import _casefix, _constants
    import unicodedata

    try:
        digest = hashlib.sha256()
        for module in (_re_parser, _re_compiler, _constants, _casefix):
            digest.update(Path(module.__file__).read_bytes())
        source = digest.hexdigest()[:16]
    except (OSError, TypeError):  # pragma: no cover - no sources (a frozen stdlib)
        source = ".".join(map(str, sys.version_info[:3]))
    return (f"{sys.implementation.name}-{sys.version_info[0]}.{sys.version_info[1]}-re{source}"
            f"-{_sre.MAGIC}-{_sre.CODESIZE}-{_sre.MAXREPEAT}-{_sre.MAXGROUPS}-ucd{unicodedata.unidata_version}")


def shipped_path(engine_key: str | None = None) -> Path:
    """The package's read-only store for an engine (default: the running one)."""
    engine_key = engine() if engine_key is None else engine_key
    minor = engine_key.split("-re", 1)[0]  # e.g. cpython-3.11: readable names
    return SHIPPED_DIR / f"patterns-{minor}-{hashlib.sha256(engine_key.encode()).hexdigest()[:12]}.json.gz"


class RegexStore:
    """Patterns compiled through :meth:`compile` (and facts derived through :meth:`derived`) are
    kept; :meth:`save` writes the new ones. ``shipped``: the read-only store consulted on a miss
    (default: the package's file for this engine; None: none)."""

    def __init__(self, path: str | Path | None = None, shipped: Any = _MISSING):
        self.path = Path(path) if path else None
        self._shipped_path = shipped if shipped is _MISSING else Path(shipped) if shipped else None
        self._loaded: dict[str, Any] | None = None  # read on first use (a build may compile nothing)
        self._shipped_loaded: dict[str, Any] | None = None  # read on the first miss in the file above
        self._patterns: dict[str, re.Pattern] = {}
        self._facts: dict[str, Any] = {}  # derived facts asked for in this process (JSON values)
        self._new: dict[str, Any] = {}  # entries the file at ``path`` lacks (made afresh or shipped), not yet saved
        self.hits = self.misses = 0  # patterns made from a store / compiled afresh
        self.fact_hits = self.fact_misses = 0  # facts read from a store / derived afresh
        self.shipped_hits = 0  # patterns and facts of the hits that came from the shipped file

    @property
    def dirty(self) -> bool:
        """Does the file lack patterns compiled (or facts derived) in this process?"""
        return bool(self._new)

    @property
    def _entries(self) -> dict[str, Any]:
        if self._loaded is None:
            self._loaded = read_store(self.path) if self.path is not None and _AVAILABLE else {}
        return self._loaded

    @property
    def shipped(self) -> Path | None:
        """The read-only store consulted on a miss."""
        if self._shipped_path is _MISSING:  # (resolved when needed: naming it hashes re's sources)
            self._shipped_path = shipped_path() if _AVAILABLE else None
        return self._shipped_path

    @property
    def _shipped(self) -> dict[str, Any]:
        if self._shipped_loaded is None:
            path = self.shipped
            self._shipped_loaded = read_store(path, gzipped=True) if path is not None and _AVAILABLE else {}
        return self._shipped_loaded

    def compile(self, pattern: str, flags: int = 0) -> re.Pattern:
        """``re.compile(pattern, flags)``, from a store when one holds the pattern."""
        key = f"{int(flags)}:{pattern}"
        rx = self._patterns.get(key)
        if rx is not None:
            return rx
        if isinstance(pattern, str):
            for shipped in (False, True):  # the shipped file is read only when the other lacks the key
                entries = self._shipped if shipped else self._entries
                entry = entries.get(key)
                if entry is None:
                    continue
                try:
                    rx = _from_entry(pattern, entry)
                except Exception:  # noqa: BLE001 - a bad entry: try the next store, or compile
                    del entries[key]
                    continue
                self.hits += 1
                if shipped:
                    self.shipped_hits += 1
                    self._new[key] = entry
                break
        if rx is None:
            rx, entry = _compile(pattern, int(flags))
            self.misses += 1
            if entry is not None:
                self._new[key] = entry
        self._patterns[key] = rx
        return rx

    def derived(self, kind: str, text: str, derive: Callable[[str], Any], valid: Callable[[Any], bool]) -> Any:
        """``derive(text)``, a JSON value, from a store when one holds a value for this kind and
        text that ``valid`` accepts (read from a file, tuples come back as lists). ``kind`` must
        start with a letter (compiled patterns are kept under their flags, a number) and name the
        deriving code's version."""
        key = f"{kind}:{text}"
        value = self._facts.get(key, _MISSING)
        if value is not _MISSING:
            return value
        for shipped in (False, True):
            value = (self._shipped if shipped else self._entries).get(key, _MISSING)
            try:
                ok = value is not _MISSING and valid(value)
            except Exception:  # noqa: BLE001 - a value of another shape: look further, or derive
                ok = False
            if ok:
                self.fact_hits += 1
                if shipped:
                    self.shipped_hits += 1
                    self._new[key] = value
                break
        else:
            value = self._new[key] = derive(text)
            self.fact_misses += 1
        self._facts[key] = value
        return value

    def entries_used(self) -> dict[str, Any]:
        """The entries of the patterns compiled and facts derived in this process (as kept)."""
        out = {}
        for key in (*self._patterns, *self._facts):
            if key in self._new:
                out[key] = self._new[key]
            elif key in self._entries:
                out[key] = self._entries[key]
        return out

    def save(self) -> None:
        """Write the store (atomically) if this process compiled patterns or derived facts it did
        not hold. Kept: those asked for in this process (so those of old rules do not pile up)."""
        if self.path is None or not self.dirty or not _AVAILABLE:
            return
        keep = self.entries_used()
        self._loaded = keep
        tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(store_bytes(keep))
            os.replace(tmp, self.path)
            self._new = {}
        except OSError:  # a read-only or full disk only costs speed
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass


def store_bytes(entries: dict[str, Any], **note) -> bytes:
    """A store file's content: a header line (format, engine, CRC-32 of the rest, and ``note``,
    which readers ignore), then the entries as JSON (sorted: the same entries, the same bytes).
    The checksum catches a damaged or hand-edited file, as the sha256 before it did, at a tenth
    of the cost; it is no seal against a deliberate change (nor was the sha256, stored beside
    the entries it covers)."""
    body = json.dumps(entries, separators=(",", ":"), sort_keys=True).encode()
    head = json.dumps({"format": _FORMAT, "engine": engine(), "crc32": zlib.crc32(body), **note})
    return head.encode() + b"\n" + body


def read_store(path: Path, gzipped: bool = False) -> dict[str, Any]:
    """The entries of a store file (see :func:`store_bytes`; ``gzipped``: the shipped kind).
    Missing, damaged, edited or from another engine: no entries."""
    try:
        data = path.read_bytes()
        if gzipped:  # (zlib's own gzip reader: a third quicker than the gzip module's; checks the CRC)
            data = zlib.decompress(data, wbits=31)
        head, _, body = data.partition(b"\n")
        doc = json.loads(head)
        if (not isinstance(doc, dict) or doc.get("format") != _FORMAT or doc.get("engine") != engine()
                or zlib.crc32(body) != doc.get("crc32")):
            return {}
        entries = json.loads(body)
    except (OSError, ValueError, zlib.error):
        return {}
    return entries if isinstance(entries, dict) else {}


def _compile(pattern, flags: int) -> tuple[re.Pattern, list | None]:
    """Compile as ``re._compiler.compile`` does (the same steps, so the same Pattern; the tests
    compare every pattern of the shipped rules with ``re.compile``'s), keeping the engine code
    as a store entry. Anything else, or any surprise from ``re``'s internals: ``re.compile``
    and no entry."""
    if _AVAILABLE and isinstance(pattern, str):
        try:
            tree = _re_parser.parse(pattern, flags)
            words = array.array("I", _re_compiler._code(tree, flags))
            if sys.byteorder != "little":  # pragma: no cover
                words.byteswap()
            entry = [flags | tree.state.flags, tree.state.groups, dict(tree.state.groupdict),
                     base64.b64encode(words.tobytes()).decode("ascii")]
            return _from_entry(pattern, entry), entry
        except re.error:
            raise
        except Exception:  # noqa: BLE001 - internals differ: compile as usual
            pass
    return re.compile(pattern, flags), None


def _from_entry(pattern: str, entry: list) -> re.Pattern:
    all_flags, groups, groupindex, code = entry
    words = array.array("I", base64.b64decode(code, validate=True))
    if sys.byteorder != "little":  # pragma: no cover
        words.byteswap()
    indexgroup = [None] * groups
    for name, i in groupindex.items():
        indexgroup[i] = name
    return _sre.compile(pattern, all_flags, words.tolist(), groups - 1, groupindex, tuple(indexgroup))


# The store the coder compiles through: none (plain re.compile) unless a build opens one.
_ACTIVE: RegexStore | None = None


def compile(pattern: str, flags: int = 0) -> re.Pattern:  # noqa: A001 - mirrors re.compile
    """Compile through the open store, or with ``re.compile`` when none is open."""
    store = _ACTIVE
    return store.compile(pattern, flags) if store is not None else re.compile(pattern, flags)


def derived(kind: str, text: str, derive: Callable[[str], Any], valid: Callable[[Any], bool]) -> Any:
    """``derive(text)``, kept in the open store (see :meth:`RegexStore.derived`); derived afresh
    when none is open."""
    store = _ACTIVE
    return store.derived(kind, text, derive, valid) if store is not None else derive(text)


class opened:
    """``with regex_store.opened(path):`` compiles through a store kept at ``path`` (and the
    shipped one, see :class:`RegexStore`) and saves it at the end (also after an error: the
    patterns compiled so far are good); with ``save=False`` the store is only read."""

    def __init__(self, path: str | Path | None, save: bool = True, shipped: Any = _MISSING):
        self.store = RegexStore(path, shipped)
        self.save = save

    def __enter__(self) -> RegexStore:
        global _ACTIVE
        self._previous, _ACTIVE = _ACTIVE, self.store
        return self.store

    def __exit__(self, *exc) -> bool:
        global _ACTIVE
        _ACTIVE = self._previous
        if self.save:
            self.store.save()
        return False


# ----- the shipped store ---------------------------------------------------------------------
def ship(codebook_path: str | Path | None = None, folder: Path = SHIPPED_DIR) -> Path:
    """Write the package's store for the running engine: every pattern the shipped rules can
    compile (each topic's pattern in both forms, the ASCII twins, every scanner's forms) and
    every fact reading them derives (for the codebook's wording, the shipped one by default).
    The same rules, coder and engine give the same bytes. Returns the file written."""
    from . import coding
    from .codebook import Codebook
    from .paths import RAW

    if not _AVAILABLE:
        raise SystemExit("this Python's re internals are not the ones the store knows: nothing to ship")
    codebook = Codebook.load(Path(codebook_path) if codebook_path else RAW / "codebook.yaml")
    with opened(None, save=False, shipped=None) as store:
        rules = coding.Rules.load(None, codebook)
        rules.compile_all()
    path = folder / shipped_path().name
    folder.mkdir(parents=True, exist_ok=True)
    made_by = f"{sys.implementation.name} {'.'.join(map(str, sys.version_info[:3]))}"
    path.write_bytes(gzip.compress(store_bytes(store.entries_used(), python=made_by), compresslevel=9, mtime=0))
    _write_index(folder)
    return path


def _write_index(folder: Path) -> None:
    """``index.json``: which Python made each shipped file (the tests insist on a current file
    for those Pythons, and only skip on others)."""
    index = {}
    for path in sorted(folder.glob("patterns-*.json.gz")):
        try:
            doc = json.loads(gzip.decompress(path.read_bytes()).partition(b"\n")[0])
        except (OSError, ValueError, EOFError):
            continue
        index[path.name] = {"engine": doc.get("engine"), "python": doc.get("python")}
    (folder / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m analysis.regex_store",
                                     description="Write the package's compiled-pattern store for this Python.")
    parser.add_argument("--ship", action="store_true", required=True,
                        help="write src/analysis/compiled/patterns-<engine>.json.gz (commit it)")
    parser.add_argument("--codebook", type=Path, default=None, help="codebook.yaml (default: data/raw's)")
    args = parser.parse_args(argv)
    path = ship(args.codebook)
    print(f"{path} ({path.stat().st_size:,} bytes) for {engine()}")
    return 0


if __name__ == "__main__":  # (run through the package's module: the coder compiles through that one)
    from analysis import regex_store

    sys.exit(regex_store.main())
