"""What the coder reads from its rules' pattern texts, and how it is kept between processes.

Pure functions of the phrases as written: the regex body of a phrase, the regrouped alternations
(bucketed, factored), the gate's literal trie, and facts read from ``re``'s parse of a phrase
(edges, first characters, look-arounds, the word starts every match contains). Reading the rules
is mostly this work, so its results are kept in the open pattern store (see regex_store.derived)
under a kind that names a hash of this module's source: editing this module derives them all
again, while the rest of the coder (coding.py) can change without making a kept fact, or the
package's shipped store, stale (regex_store.py; `make patterns` after editing this module).
Keep here everything that decides a kept value or how it is read back (the kinds, the checks,
the conversions): coding.py gets kept values only through ``_kept_body``, ``_kept_bucketed``,
``_kept_trie``, ``_facts`` and ``_entry_needs``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from pathlib import Path
from typing import NamedTuple

from . import regex_store

# ----- fast regex building ---------------------------------------------------------------
# Python's re engine skips an alternative cheaply only when it starts with a plain literal (no
# IGNORECASE, no group in front). So phrases are lower-cased and matched against lower-cased text,
# leading optional groups are expanded, and alternatives are grouped by their first character.
_QUANT = set("?*+{")
_SPECIAL = set("\\()[].^$|?*+{}")


def lower_pattern(p: str) -> str:
    out, i = [], 0
    while i < len(p):
        ch = p[i]
        if ch == "\\" and i + 1 < len(p):
            out.append(p[i:i + 2]); i += 2; continue
        out.append(ch.lower()); i += 1
    return "".join(out)


def _group_end(p: str, start: int) -> int | None:
    depth, i = 0, start
    while i < len(p):
        ch = p[i]
        if ch == "\\":
            i += 2; continue
        if ch == "[":
            j = p.find("]", i + 2)
            if j < 0: return None
            i = j + 1; continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def _split_top(body: str) -> list[str]:
    parts, depth, cur, i = [], 0, [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            cur.append(body[i:i + 2]); i += 2; continue
        if ch == "[":
            j = body.find("]", i + 2); cur.append(body[i:j + 1]); i = j + 1; continue
        if ch == "(": depth += 1
        elif ch == ")": depth -= 1
        if ch == "|" and depth == 0:
            parts.append("".join(cur)); cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def expand_leading(p: str, limit: int = 64) -> list[str]:
    """Equivalent alternatives of ``p`` that start with a literal character where possible:
    '(?:a|b)?c' -> ['ac', 'bc', 'c']."""
    out, todo = [], [p]
    while todo:
        q = todo.pop(0)
        if len(out) + len(todo) > limit:
            return [p]
        if q.startswith("(") and not q.startswith(("(?=", "(?!", "(?<", "(?P")):
            end = _group_end(q, 0)
            if end is None:
                return [p]
            inner = q[3:end] if q.startswith("(?:") else q[1:end]
            rest = q[end + 1:]
            optional = rest.startswith("?") and not rest.startswith("??")
            if rest[:1] in _QUANT and not optional:
                out.append(q); continue
            if optional:
                rest = rest[1:]
                if rest.startswith("+"): out.append(q); continue
            alts = [a + rest for a in _split_top(inner)]
            if optional:
                alts.append(rest)
            todo = alts + todo
            continue
        out.append(q)
    return out


def literal_led(q: str) -> bool:
    return bool(q) and q[0] not in _SPECIAL and (len(q) < 2 or q[1] not in _QUANT)


def bucketed(patterns: list[str]) -> str:
    """One group-free alternation; alternatives sharing a first character are grouped under it."""
    buckets: dict[str, list[str]] = {}
    rest: list[str] = []
    for p in patterns:
        # split at the top-level '|' first: 'a|b' is two alternatives, each expanded on its own
        # (expanding '(?:x|y) z|w' as a whole would put w under the first character of x)
        for q in (q for alt in _split_top(p) for q in expand_leading(alt)):
            if literal_led(q):
                buckets.setdefault(q[0], []).append(q[1:])
            else:
                rest.append(q)
    parts = []
    for ch, tails in buckets.items():
        esc = re.escape(ch)
        parts.append(esc + (f"(?:{factored(tails)})" if len(tails) > 1 else tails[0]))
    return "|".join(parts + rest)


def factored(alts: list[str]) -> str:
    """``'|'.join(alts)`` with neighbouring alternatives that start with the same literal
    character sharing it: ['ab', 'ac', 'd', '', 'ae'] -> 'a(?:b|c)|d||ae'. The first alternative
    that matches is the same as before: two alternatives are only brought together when no
    alternative between them could match where they do (one that does not start with a plain
    character, or is empty, keeps its place), and alternatives starting with different
    characters never match at the same place. Fewer alternatives are tried at each word."""
    return "|".join(_factored(alts))


def _factored(alts: list[str]) -> list[str]:
    """The alternatives of :func:`factored` (each ``alts`` item has no top-level '|')."""
    out: list[str] = []
    run: dict[str, list[str]] = {}

    def flush() -> None:
        for ch, tails in run.items():
            if len(tails) == 1:
                out.append(re.escape(ch) + tails[0])
                continue
            inner = _factored(tails)
            out.append(re.escape(ch) + (inner[0] if len(inner) == 1 else f"(?:{'|'.join(inner)})"))
        run.clear()

    for a in alts:
        if literal_led(a):
            run.setdefault(a[0], []).append(a[1:])
        else:
            flush()
            out.append(a)
    flush()
    return out


def trie_regex(words) -> str:
    """Regex matching any of the literal ``words``, longest first at each position."""
    trie: dict = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node) -> str:
        alts = [re.escape(ch) + build(node[ch]) for ch in sorted(k for k in node if k)]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(trie)


@functools.lru_cache(maxsize=4096)
def _parse(pattern: str):
    """The parsed form of a pattern (``re``'s own parser), or None if it cannot be parsed.
    Cached: loading the rules parses each phrase and the coder asks again later (read only)."""
    from re import _parser

    try:
        return _parser.parse(pattern)
    except Exception:  # noqa: BLE001 - any oddity just disables the fast path it was for
        return None


# ----- facts of the rules' patterns, kept between processes -------------------------------
# Reading the rules is mostly deriving facts from their patterns' texts: re's parse of each
# phrase, and from it the gate words, edges and first characters; the regrouped (bucketed)
# bodies. They are plain data, so an open pattern store (a build's, see regex_store.derived)
# keeps them: a fresh process reading unchanged rules parses no phrase. Each fact is kept under
# the exact text it comes from, in a kind that names this module's source (any edit of this module
# derives them all again; the store's header ties them to the regex engine, whose parser they
# come from). Edited rules derive the facts of the phrases that changed; the gate words also
# depend on the codebook's wording (see _entry_needs). Without a store they are derived as before.
try:
    # (line ends normalised: a checkout with CRLF line ends keeps the shipped store's facts)
    _SOURCE: str | None = hashlib.sha256(Path(__file__).read_bytes().replace(b"\r\n", b"\n")).hexdigest()[:16]
except OSError:  # pragma: no cover - no source file (a frozen build): nothing is kept
    _SOURCE = None


def _kept(kind: str, text: str, derive, valid):
    """``derive(text)``, a JSON value, through the open pattern store (see the note above)."""
    if _SOURCE is None:
        return derive(text)
    return regex_store.derived(f"{kind}-{_SOURCE}", text, derive, valid)


def _is_str(value) -> bool:
    return isinstance(value, str)


def _kept_body(expanded: str) -> str:
    """:func:`_regex_body`, kept."""
    return _kept("body", expanded, _regex_body, _is_str)


def _regex_body(expanded: str) -> str:
    """A phrase (synonyms expanded) as the regex body the coder uses: lower-cased, no capturing
    group. (Only these two change '(', and never where it begins '(?<' or '(?P<'.)"""
    return _non_capturing(lower_pattern(expanded))


def _kept_bucketed(patterns: list[str]) -> str:
    """:func:`bucketed`, kept (a long alternation takes a while to regroup)."""
    return _kept("bucketed", json.dumps(patterns), lambda _: bucketed(patterns), _is_str)


def _kept_trie(words) -> str:
    """:func:`trie_regex`, kept (the gate's hundreds of words)."""
    words = sorted(words)  # (the regex does not depend on their order)
    return _kept("trie", json.dumps(words), lambda _: trie_regex(words), _is_str)


@functools.lru_cache(maxsize=8)
def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class _Facts(NamedTuple):
    """What loading the rules and scanning need to know of a phrase body, read from its parsed
    form (see the functions named on each line; all but first_chars are True, the safe answer,
    when it does not parse)."""
    parses: bool                        # _parse(body) is not None
    edge_nonword: bool                  # _edge_may_be_nonword
    looks_behind: bool                  # _looks_behind
    lookaround: bool                    # _has_lookaround
    may_match_nul: bool                 # _may_match_nul
    first_chars: frozenset[str] | None  # _first_chars (kept as a string of them)

    @property
    def fast_ok(self) -> bool:
        """May the phrase be searched as ``[^\\w](?:phrase)``? Run with finditer on the text with
        a leading space, that gives the same spans as :func:`word_matches` (offset by the lead
        character) in one call - provided a match cannot begin or end with a non-word character
        or look around itself. (The regrouped form of the phrase that is compiled matches the
        same strings, so the phrase as written decides.)"""
        return self.parses and not (self.edge_nonword or self.lookaround)


@functools.lru_cache(maxsize=4096)
def _derive_facts(body: str) -> tuple:
    """The facts of ``body`` in the JSON form kept in the store."""
    tree = _parse(body)
    first = _first_chars(tree)
    lookaround = tree is None or _has_lookaround(tree)
    # (what _looks_behind looks for is a kind of look-around: no need to walk the tree again)
    return (tree is not None, _edge_may_be_nonword(tree), lookaround and _looks_behind(tree),
            lookaround, _may_match_nul(tree), None if first is None else "".join(sorted(first)))


def _facts_valid(value) -> bool:
    return (type(value) is list and len(value) == 6 and all(type(x) is bool for x in value[:5])
            and (value[5] is None or type(value[5]) is str))


def _facts(body: str) -> _Facts:
    """The facts of a phrase body (kept in the open store)."""
    value = _kept("facts", body, _derive_facts, _facts_valid)
    return _Facts(*value[:5], None if value[5] is None else frozenset(value[5]))


def _entry_needs(bodies: list[str], reference: str) -> tuple[frozenset[str], ...]:
    """A topic entry's gate: the word starts every match of its phrase (or, for an 'all:' entry,
    of its phrases together) contains, as sets of choices, rarest set first (rarity in the
    codebook wording ``reference``, see _rarity_in). From the phrases as written: regrouping by
    first letter would hide words all alternatives share. Kept per phrases and wording."""
    def derive(_) -> list[list[str]]:
        rarity = _rarity_in(reference)
        needs = _minimal_sets([n for b in bodies for n in _required_sets(_parse(b), rarity)])
        return [sorted(n) for n in sorted(needs, key=lambda n: (rarity(n), sorted(n)))]

    def valid(value) -> bool:
        return isinstance(value, list) and all(
            isinstance(n, list) and n and all(isinstance(x, str) for x in n) for n in value)

    return tuple(frozenset(n) for n in _kept(f"needs-{_digest(reference)}", json.dumps(bodies), derive, valid))


def _non_capturing(pattern: str) -> str:
    """``pattern`` with every plain group '(...)' made non-capturing '(?:...)' (same matches)."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            if ch == "]" and not (pattern[i - 1] == "[" or pattern[i - 2:i] == "[^"):
                in_class = False
        elif ch == "[":
            in_class = True
        elif ch == "(" and not pattern.startswith("?", i + 1):
            out.append("(?:")
            i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _may_match_nul(tree) -> bool:
    """Could the parsed pattern match a NUL character (any '.', negated class, \\W, \\S ...)?"""
    from re import _constants as c

    if tree is None:
        return True
    safe_cats = {c.CATEGORY_WORD, c.CATEGORY_DIGIT, c.CATEGORY_SPACE}

    def walk(seq) -> bool:
        for op, av in seq:
            if op in (c.ANY, c.NOT_LITERAL):
                return True
            if op is c.LITERAL and av == 0:
                return True
            if op is c.IN:
                for iop, iav in av:
                    if iop is c.NEGATE or (iop is c.CATEGORY and iav not in safe_cats) or \
                            (iop is c.RANGE and iav[0] == 0) or (iop is c.LITERAL and iav == 0):
                        return True
            elif op is c.SUBPATTERN:
                if walk(av[-1]):
                    return True
            elif op is c.BRANCH:
                if any(walk(b) for b in av[1]):
                    return True
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", c.MAX_REPEAT)):
                if walk(av[2]):
                    return True
            elif op in (c.ASSERT, c.ASSERT_NOT):
                if walk(av[1]):
                    return True
        return False

    return walk(tree)


def _any_node(tree, hit) -> bool:
    """Is ``hit(op, av)`` true for a node of the parsed pattern, or for one inside a group,
    branch, repeat or look-around of it?"""
    from re import _constants as c

    repeats = (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", c.MAX_REPEAT))

    def walk(seq) -> bool:
        for op, av in seq:
            if hit(op, av):
                return True
            if op is c.SUBPATTERN:
                inner = (av[-1],)
            elif op is c.BRANCH:
                inner = av[1]
            elif op in repeats:
                inner = (av[2],)
            elif op in (c.ASSERT, c.ASSERT_NOT):
                inner = (av[1],)
            else:
                continue
            if any(walk(x) for x in inner):
                return True
        return False

    return walk(tree)


def _has_lookaround(tree) -> bool:
    """Does the parsed pattern look around itself (look-ahead/behind, \\b, ^, $, back-references)?"""
    from re import _constants as c

    kinds = (c.AT, c.ASSERT, c.ASSERT_NOT, c.GROUPREF, c.GROUPREF_EXISTS)
    return _any_node(tree, lambda op, av: op in kinds)


def _looks_behind(tree) -> bool:
    r"""Could the parsed pattern look at what comes before it (a look-behind, ^, \b or another
    position test, a back-reference)? True if it cannot be parsed."""
    from re import _constants as c

    if tree is None:
        return True
    kinds = (c.AT, c.GROUPREF, c.GROUPREF_EXISTS)
    return _any_node(tree, lambda op, av: op in kinds or (op in (c.ASSERT, c.ASSERT_NOT) and av[0] < 0))


def _first_chars(tree) -> frozenset[str] | None:
    """The characters a match of the parsed pattern can begin with, when they are a few known
    characters (literals, or a class of literals); None when it could begin with anything else,
    be empty, or the pattern tests its position or ignores case (cannot tell)."""
    from re import _constants as c

    if tree is None or tree.state.flags & re.IGNORECASE:
        return None
    repeats = (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", c.MAX_REPEAT))

    def first(seq) -> tuple[set | None, bool]:
        """(characters the sequence can begin with or None, whether it can be empty)"""
        out: set = set()
        for op, av in seq:
            if op is c.LITERAL:
                return out | {chr(av)}, False
            if op is c.IN:
                if not all(iop is c.LITERAL for iop, _ in av):
                    return None, False
                return out | {chr(x) for _, x in av}, False
            if op is c.SUBPATTERN and not (av[1] or av[2]):
                sub, empty = first(av[-1])
            elif op is c.BRANCH:
                parts = [first(b) for b in av[1]]
                if any(s is None for s, _ in parts):
                    return None, False
                sub, empty = set().union(*(s for s, _ in parts)), any(e for _, e in parts)
            elif op in repeats:
                sub, empty = first(av[2])
                empty = empty or av[0] == 0
            else:
                return None, False
            if sub is None:
                return None, False
            out |= sub
            if not empty:
                return out, False
        return out, True

    chars, may_be_empty = first(tree)
    return None if chars is None or may_be_empty else frozenset(chars)


def _edge_may_be_nonword(tree) -> bool:
    """Could a match of the parsed pattern begin or end with a non-word character (or be empty)?"""
    from re import _constants as c

    if tree is None:
        return True
    repeats = (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", c.MAX_REPEAT))
    word_cats = {c.CATEGORY_WORD, c.CATEGORY_DIGIT}

    def edge(seq, last: bool) -> tuple[bool, bool]:
        """(the edge character may be non-word, the sequence may be empty)"""
        for op, av in (reversed(list(seq)) if last else seq):
            if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
                continue
            if op is c.LITERAL:
                return not _is_word_char(chr(av)), False
            if op is c.IN:
                ok = all((iop is c.LITERAL and _is_word_char(chr(iav))) or
                         (iop is c.CATEGORY and iav in word_cats) for iop, iav in av)
                return not ok, False
            if op is c.SUBPATTERN:
                nonword, empty = edge(av[-1], last)
            elif op is c.BRANCH:
                res = [edge(b, last) for b in av[1]]
                nonword, empty = any(r[0] for r in res), any(r[1] for r in res)
            elif op in repeats:
                nonword, empty = edge(av[2], last)
                empty = empty or av[0] == 0
            else:
                return True, False
            if nonword:
                return True, False
            if not empty:
                return False, False
        return False, True

    first, last = edge(tree, False), edge(tree, True)
    return first[0] or last[0] or first[1]


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _required_sets(tree, rarity=None) -> list[frozenset[str]]:
    """Word starts every match of ``pattern`` contains, as a conjunction of choices: each returned
    set holds strings one of which begins a word of every matching text (empty list: unknown).

    ``tree``: the parsed pattern (see :func:`_parse`). The pattern is assumed to match at a word
    start (topics always do). A literal run is used from a point known to begin a word (the
    pattern start, or after a non-word character such as a space) up to the end of that word:
    'crime prevention (?:strateg...)' needs a word starting 'crime', one starting 'prevention' and
    one starting 'strateg'. Used as a cheap gate before a topic's regexes run. ``rarity(set)``
    picks among choices where a branch forces one (lower = rarer, a better gate); by default the
    set whose shortest string is longest."""
    from re import _constants as c

    if tree is None:  # cannot tell: no gate for this pattern (it always runs)
        return []
    rarity = rarity or (lambda s: -min(len(x) for x in s))
    repeats = (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", c.MAX_REPEAT))
    nonword_cats = {c.CATEGORY_SPACE, c.CATEGORY_NOT_WORD, c.CATEGORY_NOT_DIGIT}

    def words_of(run: str, aligned: bool) -> list[frozenset[str]]:
        """Every word start inside a literal run (``aligned``: the run begins a word), each one
        required on its own."""
        out = []
        for i, ch in enumerate(run):
            if _is_word_char(ch) and (aligned if i == 0 else not _is_word_char(run[i - 1])):
                j = i
                while j < len(run) and _is_word_char(run[j]):
                    j += 1
                if j - i >= 3:
                    out.append(frozenset({run[i:j]}))
        return out

    def nonword_set(items) -> bool:
        for op, av in items:
            if op is c.LITERAL and not _is_word_char(chr(av)):
                continue
            if op is c.CATEGORY and av in nonword_cats - {c.CATEGORY_NOT_DIGIT}:
                continue
            return False
        return True

    def req(seq, aligned: bool, run: str = "", run_aligned: bool = True) -> tuple[list[frozenset[str]], bool]:
        """(required sets, whether the point after ``seq`` begins a word). ``run``: literal
        characters just before ``seq`` that its first literals continue (the parser moves a
        prefix shared by all alternatives out of a branch: 'p(?:revent|roblem)')."""
        cands: list[frozenset[str]] = []
        for op, av in seq:
            if op is c.LITERAL:
                ch = chr(av).lower()
                if not run:
                    run_aligned = aligned
                run += ch
                aligned = not _is_word_char(ch)
                continue
            lead, lead_aligned = run, run_aligned
            run = ""
            cands += words_of(lead, lead_aligned)   # needed whatever follows
            if op is c.SUBPATTERN:
                sub, aligned = req(av[-1], aligned, lead, lead_aligned)
                cands += sub
            elif op is c.BRANCH:
                outs = [req(b, aligned, lead, lead_aligned) for b in av[1]]
                if outs and all(o[0] for o in outs):  # one alternative holds: union of each one's best
                    cands.append(frozenset().union(*(min(o[0], key=rarity) for o in outs)))
                aligned = bool(outs) and all(o[1] for o in outs)
            else:
                if op in repeats:
                    lo, hi, sub = av
                    found, out = req(sub, aligned)
                    if hi != 1 and not out:       # a second pass does not start at a word start
                        found, out = req(sub, False)
                    if lo >= 1:
                        cands += found
                        aligned = out
                    else:
                        aligned = aligned and out
                elif op is c.IN:
                    aligned = nonword_set(av)
                elif op is c.AT:
                    pass                          # \b and friends take no characters
                else:
                    aligned = False
        cands += words_of(run, run_aligned)
        return cands, aligned

    return _minimal_sets(req(tree, True)[0])


def _minimal_sets(sets) -> list[frozenset[str]]:
    """Drop duplicate sets and supersets of another set (implied by it)."""
    out: list[frozenset[str]] = []
    for s in sorted(set(sets), key=lambda x: (len(x), sorted(x))):  # a fixed order, not set order
        if not any(o <= s for o in out):
            out.append(s)
    return out


def _rarity_in(reference: str):
    """Rarity of a set of gate strings in ``reference`` text (codebook wording stands in for the
    words every letter uses): how often its most frequent string occurs, then shorter = worse."""
    def rarity(s) -> tuple:
        return (max(reference.count(x) for x in s), -min(len(x) for x in s))
    return rarity
