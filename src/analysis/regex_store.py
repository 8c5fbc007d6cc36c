"""Compiled regular expressions kept on disk between runs (the coder's patterns, for the build).

Python's ``re`` compiles a pattern in pure Python (a parser, then a code generator) and hands the
result, a list of integers, to its C engine. The draft coder's rules make about 90 patterns, some
of 10,000 characters, and compiling them was about a third of drafting the first letter in a fresh
process. A :class:`RegexStore` keeps that integer code per exact pattern text and flags in a JSON
file; a later process gives it straight to the engine. A pattern the store lacks is compiled by
the same steps as ``re.compile`` (no extra cost), keeping the code for the store.

Exactness: an entry is used only for the same pattern text and flags, on the same Python release
and regex engine (``_sre.MAGIC`` and code size); a Pattern made from it compares equal to what
``re.compile`` makes (``re``'s own equality compares pattern, flags and code; the tests check it),
and the C engine validates the code before it accepts it. This leans on three private parts of
CPython's ``re`` (``re._parser.parse``, ``re._compiler._code``, ``_sre.compile``); if any is
missing or behaves otherwise, or the file is damaged or from another engine, the store is simply
empty and every pattern goes through ``re.compile``. Nothing from input data is stored: only
patterns the package itself compiles.

The same file keeps facts the coder derives from its pattern texts by parsing them (see
:func:`derived`; reading the rules was mostly that parsing): plain JSON values, each under a kind
and the exact text it was derived from. The kind names the deriving code's version (the coder
puts a hash of its source in it), so facts derived by other code are never looked up; a value that
fails the caller's check is derived again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable

try:  # CPython's regex internals; any other Python just compiles as usual
    import _sre
    from re import _compiler as _re_compiler, _parser as _re_parser

    ENGINE = (f"{sys.implementation.name}-{'.'.join(map(str, sys.version_info[:3]))}"
              f"-{_sre.MAGIC}-{_sre.CODESIZE}")
    _AVAILABLE = all(callable(getattr(m, n, None)) for m, n in
                     ((_re_parser, "parse"), (_re_compiler, "_code"), (_sre, "compile")))
except (ImportError, AttributeError):  # pragma: no cover - not CPython
    ENGINE, _AVAILABLE = "", False

_FORMAT = 1
_MISSING = object()


class RegexStore:
    """Patterns compiled through :meth:`compile` (and facts derived through :meth:`derived`) are
    kept; :meth:`save` writes the new ones."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else None
        self._loaded: dict[str, list] | None = None  # read on first use (a build may compile nothing)
        self._patterns: dict[str, re.Pattern] = {}
        self._facts: dict[str, Any] = {}  # derived facts asked for in this process (JSON values)
        self._new: dict[str, Any] = {}  # entries made afresh (patterns compiled, facts derived), not yet saved
        self.hits = self.misses = 0  # patterns compiled from the store / afresh
        self.fact_hits = self.fact_misses = 0  # facts read from the store / derived afresh

    @property
    def dirty(self) -> bool:
        """Does the file lack patterns compiled (or facts derived) in this process?"""
        return bool(self._new)

    @property
    def _entries(self) -> dict[str, list]:
        if self._loaded is None:
            self._loaded = self._read(self.path) if self.path is not None and _AVAILABLE else {}
        return self._loaded

    @staticmethod
    def _read(path: Path) -> dict[str, list]:
        """The entries of a store file: a header line (format, engine, sha256 of the rest), then
        the entries as JSON. Missing, damaged, edited or from another engine: no entries."""
        try:
            head, _, body = path.read_bytes().partition(b"\n")
            doc = json.loads(head)
            if (not isinstance(doc, dict) or doc.get("format") != _FORMAT or doc.get("engine") != ENGINE
                    or hashlib.sha256(body).hexdigest() != doc.get("sha256")):
                return {}
            entries = json.loads(body)
        except (OSError, ValueError):
            return {}
        return entries if isinstance(entries, dict) else {}

    def compile(self, pattern: str, flags: int = 0) -> re.Pattern:
        """``re.compile(pattern, flags)``, from the store when it holds the pattern."""
        key = f"{int(flags)}:{pattern}"
        rx = self._patterns.get(key)
        if rx is not None:
            return rx
        entry = self._entries.get(key) if isinstance(pattern, str) else None
        if entry is not None:
            try:
                rx = _from_entry(pattern, entry)
                self.hits += 1
            except Exception:  # noqa: BLE001 - a bad entry: compile as usual (and store anew)
                del self._entries[key]
        if rx is None:
            rx, entry = _compile(pattern, int(flags))
            self.misses += 1
            if entry is not None:
                self._new[key] = entry
        self._patterns[key] = rx
        return rx

    def derived(self, kind: str, text: str, derive: Callable[[str], Any], valid: Callable[[Any], bool]) -> Any:
        """``derive(text)``, a JSON value, from the store when it holds one for this kind and text
        that ``valid`` accepts (read from the file, tuples come back as lists). ``kind`` must
        start with a letter (compiled patterns are kept under their flags, a number) and name the
        deriving code's version."""
        key = f"{kind}:{text}"
        value = self._facts.get(key, _MISSING)
        if value is _MISSING:
            value = self._entries.get(key, _MISSING)
            try:
                ok = value is not _MISSING and valid(value)
            except Exception:  # noqa: BLE001 - a value of another shape: derive it again
                ok = False
            if ok:
                self.fact_hits += 1
            else:
                value = self._new[key] = derive(text)
                self.fact_misses += 1
            self._facts[key] = value
        return value

    def save(self) -> None:
        """Write the store (atomically) if this process compiled patterns or derived facts it did
        not hold. Kept: those asked for in this process (so those of old rules do not pile up)."""
        if self.path is None or not self.dirty or not _AVAILABLE:
            return
        keep = {}
        for key in (*self._patterns, *self._facts):
            if key in self._new:
                keep[key] = self._new[key]
            elif key in self._entries:
                keep[key] = self._entries[key]
        self._loaded = keep
        body = json.dumps(keep, separators=(",", ":"), sort_keys=True).encode()
        head = json.dumps({"format": _FORMAT, "engine": ENGINE, "sha256": hashlib.sha256(body).hexdigest()})
        tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(head.encode() + b"\n" + body)
            os.replace(tmp, self.path)
            self._new = {}
        except OSError:  # a read-only or full disk only costs speed
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass


def _compile(pattern, flags: int) -> tuple[re.Pattern, list | None]:
    """Compile as ``re._compiler.compile`` does (the same steps, so the same Pattern; the tests
    compare every pattern of the shipped rules with ``re.compile``'s), keeping the engine code
    as a store entry. Anything else, or any surprise from ``re``'s internals: ``re.compile``
    and no entry."""
    if _AVAILABLE and isinstance(pattern, str):
        try:
            tree = _re_parser.parse(pattern, flags)
            entry = [flags | tree.state.flags, tree.state.groups, dict(tree.state.groupdict),
                     _re_compiler._code(tree, flags)]
            return _from_entry(pattern, entry), entry
        except re.error:
            raise
        except Exception:  # noqa: BLE001 - internals differ: compile as usual
            pass
    return re.compile(pattern, flags), None


def _from_entry(pattern: str, entry: list) -> re.Pattern:
    all_flags, groups, groupindex, code = entry
    indexgroup = [None] * groups
    for name, i in groupindex.items():
        indexgroup[i] = name
    return _sre.compile(pattern, all_flags, code, groups - 1, groupindex, tuple(indexgroup))


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
    """``with regex_store.opened(path):`` compiles through a store kept at ``path`` and saves it
    at the end (also after an error: the patterns compiled so far are good); with ``save=False``
    the store is only read."""

    def __init__(self, path: str | Path, save: bool = True):
        self.store = RegexStore(path)
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
