"""YAML from input files (codebook, rounds registry, coding rules): read with a safe loader only.

libyaml's C ``CSafeLoader`` is ten times faster than the pure-Python ``SafeLoader`` and builds
the same plain values (dicts, lists, strings, numbers, dates); neither can construct Python
objects, so a tag such as ``!!python/object`` in an input file is an error, never run. Every
YAML read in the package goes through :func:`safe_load` (a test checks it).

Anchors and aliases (``&name`` / ``*name``) are allowed, as YAML allows them, but a document
whose aliases would expand to more than :data:`MAX_NODES` values (the "billion laughs" file: a
few lines that turn into hundreds of millions of values once anything walks or prints them) or
that contains itself is refused with :class:`AliasError`.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import InputError

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # PyYAML without libyaml: pure Python
YAMLError = yaml.YAMLError
MAX_NODES = 1_000_000  # the shipped coding rules, the largest input YAML, hold about 10,000


class AliasError(yaml.YAMLError):
    """The document's aliases expand too far, or a node contains itself."""

    def __init__(self, what: str, fix: str):
        super().__init__(what)
        self.what, self.fix = what, fix


class _Loader(SAFE_LOADER):
    """The safe loader, refusing a key given twice in one mapping (PyYAML keeps the last one
    without a word: a second, blank ``embargo_until:`` lifted a round's embargo)."""


def _mapping_without_repeats(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:  # the mapping's own keys ('<<' merges may be overridden)
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.setdefault(key, key_node)
        except TypeError:  # an unhashable key: the constructor below says so
            continue
        if first is not key_node:
            raise yaml.constructor.ConstructorError(
                "in a mapping", node.start_mark,
                f"key {key!r} is given twice (first on line {first.start_mark.line + 1}); the second "
                "would silently replace the first", key_node.start_mark)
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor("tag:yaml.org,2002:map", _mapping_without_repeats)


def safe_load(text: str):
    """Parse one YAML document into plain Python values (see the module's note on aliases); a
    key given twice in one mapping is an error."""
    doc = yaml.load(text, Loader=_Loader)  # a safe loader, never yaml.Loader/FullLoader
    if "*" in text and isinstance(doc, (list, dict)):  # (no alias without a '*': plain documents skip the walk)
        _check_expansion(doc)
    return doc


def _check_expansion(doc) -> None:
    """Count the values ``doc`` holds with every alias written out, without writing them out:
    a list or mapping reached twice (through an alias) is the same object, so its count is
    worked out once (by ``id``) and added wherever it is used."""
    size: dict[int, int] = {}
    open_: set[int] = set()  # containers entered and not yet counted: meeting one again is a cycle
    stack: list[tuple[object, bool]] = [(doc, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        kids = node.values() if isinstance(node, dict) else node
        if children_done:
            n = 1 + sum(size.get(id(k), 1) for k in kids)
            if n > MAX_NODES:
                raise AliasError(f"its aliases (*name) expand to more than {MAX_NODES:,} values",
                                 "write the values out, or use fewer aliases of aliases")
            size[key] = n
            open_.discard(key)
        elif key in open_:
            raise AliasError("an alias (*name) is used inside the very node its anchor (&name) "
                             "marks, so the node contains itself", "remove that alias")
        elif key not in size:
            open_.add(key)
            stack.append((node, True))
            stack += [(k, False) for k in kids if isinstance(k, (list, dict))]


def input_error(path: str | Path, exc: yaml.YAMLError, fix: str) -> InputError:
    """The analyst's error for a YAML file that ``safe_load`` refused: where and why, and
    ``fix`` for a syntax error."""
    if isinstance(exc, AliasError):
        return InputError(path, None, exc.what, exc.fix)
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    what = "not valid YAML" + (f" ({problem})" if problem else "")
    if problem and "is given twice" in problem:
        fix = "delete one of the two, keeping the one you mean"
    return InputError(path, f"line {mark.line + 1}" if mark else None, what, fix)


def read_text(path: Path) -> str:
    """A YAML file's text, decoded as the CSV files are (UTF-8, or Windows-1252 or UTF-16 as
    Notepad and Excel save them; see sheets.decode_text)."""
    from .sheets import decode_text

    return decode_text(Path(path), Path(path).read_bytes(),
                       "save the file as UTF-8 text (Notepad: Save as, Encoding: UTF-8)")
