"""Draft-coding of letter findings against the codebook, driven by rules kept as data.

The rules live in ``rules/coding_rules.yaml`` (beside this module, shipped as package data): for
each framed criterion the topic phrases that bring it up, the cue words that say how well the
force does it (negation, qualifiers, strong words) and the value each kind of cue means. The file's
header explains the method in plain words; this module only executes it. No criterion has its own
code path: adding or changing a criterion is an edit of the YAML.

Output of :func:`code_findings`: one row per proposed code (finding_id, criterion_id, value,
judgement, confidence 0-1, rule, evidence). A finding no rule recognises gets one row with a blank
criterion, so it lands in the review list and nothing is dropped.

Speed (the results are exactly those of running every pattern on every finding; tests guard it,
tests/test_coding.py and tests/test_coding_speedpaths.py): the rules are read once per file and
modification time (load_rules), parsed but not compiled (a build keeps what parsing them tells
in its pattern store, see _facts); a topic's pattern is compiled when the first finding that may
bring it up is coded. A gate derived from the patterns themselves (the word starts every match
must contain) finds, in one regex pass, the few topic entries that can match a finding; only
those run. Cues, neutral phrases and word clause breaks are found in one shared pass
(look-aheads at each word start). Alternatives that share first letters are grouped so fewer are
tried at each word (see pattern_facts.factored). The gate and the shared pass are led by a literal space, so
the engine jumps from word to word; the few word starts after other characters are tried one by
one (other_leads). On ASCII text (nearly all letters) the regexes run as ASCII twins, which test
characters against a table rather than Unicode's database (ascii_compile). Identical texts are coded
once per call. What is left is about half regex passes that each visit every word (gate, shared
pass, the topics the gate lets through, sentences) and half the per-finding Python that turns
their matches into codes. Measure with ``python benchmarks/coder_quality.py --speed``.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import gc
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import regex_store, safeyaml
from .codebook import Codebook
from .errors import InputError
# Reading the rules' pattern texts (kept in the pattern store; see pattern_facts)
from .pattern_facts import _entry_needs, _facts, _kept_body, _kept_bucketed, _kept_trie, _split_top, lower_pattern

RULES_PATH = Path(__file__).resolve().parent / "rules" / "coding_rules.yaml"
# Cue classes in priority order: when several occur for one topic, the first listed wins.
CUE_CLASSES = ("partial", "negation", "weak", "mostly", "strong")
_PRIORITY = {c: i for i, c in enumerate(CUE_CLASSES)}
VALUE_KEYS = (*CUE_CLASSES, "default")
OUTPUT_COLUMNS = ["finding_id", "criterion_id", "value", "judgement", "confidence", "rule", "evidence"]
OUTPUT_DTYPES = {"finding_id": "string", "criterion_id": "string", "value": "string",
                 "judgement": "string", "confidence": "Float64", "rule": "string", "evidence": "string"}
UNCODED_RULE = "none"
_ABBREVIATIONS = {"e.g", "i.e", "etc", "no", "mr", "mrs", "ms", "dr", "approx", "incl", "vs", "cf", "st"}
_SENT_END = re.compile(r"[.!?]+[\"')\]]*\s+(?=[A-Z0-9\"'(\[])")
_TRANSLATE = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-",
                            "\u2014": "-", "\u2011": "-", "\u00a0": " "})


def normalise_text(text: str) -> str:
    """One space between words, straight quotes, plain hyphens (so rules need one spelling)."""
    text = str(text)
    return " ".join((text if text.isascii() else text.translate(_TRANSLATE)).split())


def word_matches(rx: re.Pattern, text: str, first: re.Match | None = None) -> list[tuple[int, int]]:
    """Spans of ``rx`` that start at a word start (the regex itself has no look-behind, so
    the engine can use its fast literal-prefix scan). ``first``: ``rx.search(text)`` if the
    caller has already run it."""
    out, pos, n = [], 0, len(text)
    search = rx.search
    m = first
    while pos <= n:
        if m is None:
            m = search(text, pos)
            if m is None:
                break
        s, e = m.span()
        m = None
        if s > 0 and (text[s - 1].isalnum() or text[s - 1] == "_"):
            pos = s + 1
            continue
        out.append((s, e))
        pos = e if e > s else s + 1
    return out


# Word starts that follow a space, and those that follow another character ('(', '-', '/').
# Regexes that find phrases at word starts are run led by a literal space (" (?:phrase)"): the
# engine then jumps from space to space, where a '[^\w]' lead makes it test every character
# (the gate's pass about 40% quicker, the shared scan's a third). Word starts after others are
# few (one in two findings has one) and are tried one by one with the '[^\w]' form's ``match``;
# the matches are the same as the '[^\w]' form's ``finditer`` wherever a match consumes no
# character after its lead that another lead could be (see _MultiScan.scan and Rules._hits).
# (On ASCII text '[^a-zA-Z0-9_ ]' is the same class as '[^\w ]' and much quicker to test.)
_OTHER_LEAD = (re.compile(r"[^\w ](?=\w)"), re.compile(r"[^a-zA-Z0-9_ ](?=[a-zA-Z0-9_])"))
_OTHER_LEAD_ANY = (re.compile(r"[^\w ]"), re.compile(r"[^a-zA-Z0-9_ ]"))


def other_leads(spaced: str, before_word_only: bool = True) -> list[int]:
    """Offsets of the non-word characters other than a space in ``spaced`` (only those followed
    by a word character, if ``before_word_only``): the leads of word starts not after a space."""
    rx = (_OTHER_LEAD if before_word_only else _OTHER_LEAD_ANY)[spaced.isascii()]
    return [m.start() for m in rx.finditer(spaced)]


def ascii_compile(pattern: str) -> re.Pattern:
    r"""``pattern`` compiled with re.ASCII, for ASCII text that has been through normalise_text
    (its "ASCII twin"; compiled from the text, so the Unicode form is not compiled as well).

    On such text it finds exactly what the Unicode form finds: \w, \d, \b and the classes built
    from them mean the same on ASCII characters, and \s differs only on \x1c-\x1f, which
    normalise_text removes (str.split counts them as spaces). The engine then tests characters
    against a table instead of Unicode's database: topic search is about a fifth quicker. The
    Unicode form when the pattern has a non-ASCII character (case-insensitive matching could
    then differ) or does not compile so (an inline (?u))."""
    if not pattern.isascii():
        return regex_store.compile(pattern)
    try:
        return regex_store.compile(pattern, re.ASCII)
    except (re.error, ValueError):  # ValueError: "ASCII and UNICODE flags are incompatible"
        return regex_store.compile(pattern)


class _Scanner:
    """Non-overlapping, longest-first matches of many phrases, each tagged with its label."""

    def __init__(self, named: list[tuple[str, str]], word: bool = True):
        ordered = sorted(named, key=lambda x: -len(x[1]))  # longest phrase first
        self._ordered = ordered
        self.body = _kept_bucketed([p for _, p in ordered])
        self.word = word
        self._memo: dict[str, str] = {}

    @functools.cached_property
    def rx(self) -> re.Pattern:
        """The scanner on its own (compiled when first needed; the shared pass uses ``body``)."""
        lead, tail = (r"(?<!\w)", r"(?!\w)") if self.word else ("", "")
        return regex_store.compile(f"{lead}(?:{self.body}){tail}")

    @functools.cached_property
    def _which(self) -> re.Pattern:
        """Every phrase, longest first, each followed by an empty marker group: a full match's
        last group numbers the first phrase that matches the whole text, as trying the phrases
        one by one would (compiling one pattern is cheaper than one per phrase)."""
        return regex_store.compile("|".join(f"(?:{p})()" for _, p in self._ordered))

    @functools.cached_property
    def mask_sensitive(self) -> bool:
        """Could blanking text out (see _mask) let a phrase match where it did not before? Only
        if a phrase can match the blank itself, or start or end with a non-word character."""
        for _, pattern in self._ordered:  # the patterns as written: no need to compile them
            facts = _facts(pattern)
            if facts.may_match_nul or facts.edge_nonword:
                return True
        return False

    def label(self, text: str) -> str:
        lab = self._memo.get(text)
        if lab is None:
            m = self._which.fullmatch(text)
            lab = self._ordered[m.lastindex - 1 if m else 0][0]
            self._memo[text] = lab
        return lab

    @functools.cached_property
    def _led(self) -> re.Pattern | None:
        r"""The whole-word scanner as '[^\w]((?:phrases))(?!\w)' for the text behind one space:
        the engine jumps between non-word characters, where the look-behind '(?<!\w)' makes it
        try every character. The same matches (offset by the space) when no phrase can start
        or end with a non-word character (the lead a match consumes is then never the start of
        the next) or looks behind itself. None when that does not hold (or not word scanning)."""
        if not self.word or any(_facts(p).edge_nonword or _facts(p).looks_behind for _, p in self._ordered):
            return None
        return regex_store.compile(r"[^\w](" + self.body + r")(?!\w)")

    def scan(self, text: str) -> list[tuple[int, int, str]]:
        label = self.label
        led = self._led
        if led is None:
            return [(m.start(), m.end(), label(m.group())) for m in self.rx.finditer(text)]
        # m.start() is the lead's offset in " " + text: the phrase's offset in text
        return [(m.start(), m.end() - 1, label(m.group(1))) for m in led.finditer(" " + text)]


class _MultiScan:
    """Several whole-word scanners in one pass over the text.

    One regex visits each word start once (the text is given with a leading space, so every word
    start follows a non-word character) and tries every scanner's phrases there in look-aheads,
    so matches of different scanners may overlap. Each scanner's own non-overlapping matches are
    then picked out left to right, which is exactly what ``_Scanner.scan`` finds per scanner."""

    def __init__(self, scanners: list[_Scanner]):
        self.scanners = scanners
        # Alternative i: scanner i must match, scanners i+1.. may. The last group that matched
        # (m.lastindex) tells which alternative it was and so which groups to read. Phrases
        # have no groups of their own (made non-capturing when the rules are read).
        alts, groups, self.by_last = [], 0, {}
        for i in range(len(scanners)):
            part, mine = [], []
            for j in range(i, len(scanners)):
                look = f"(?=({scanners[j].body})(?!\\w))"
                part.append(look if j == i else f"(?:{look}|)")
                groups += 1
                mine.append((groups, j))
                self.by_last[groups] = tuple(mine)
            alts.append("".join(part))
        body = "|".join(alts)
        self._groups = groups
        # The regex only looks ahead of its lead: a match consumes nothing but the lead, so the
        # matches are those at every lead where a phrase matches, each found on its own. Leads
        # that are spaces are found by the space-led twin; the others are tried one by one (see
        # other_leads). A phrase that may start with a non-word character may follow any lead.
        self._body = body
        self._any_lead = any(_facts(p).edge_nonword for sc in scanners for _, p in sc._ordered)
        self._labels = tuple(sc.label for sc in scanners)

    @functools.cached_property
    def rx(self) -> re.Pattern:
        r"""The shared pass led by any non-word character ('[^\w]'), for any text."""
        return self._checked(regex_store.compile(r"[^\w](?:" + self._body + ")"))

    # (space-led regex, non-word-led regex) for any text, and for normalised ASCII text (see
    # ascii_compile); each pair compiled when first needed, so ASCII letters compile one pair only.
    @functools.cached_property
    def _forms_any(self) -> tuple[re.Pattern, re.Pattern]:
        return regex_store.compile(" (?:" + self._body + ")"), self.rx

    @functools.cached_property
    def _forms_ascii(self) -> tuple[re.Pattern, re.Pattern]:
        return (ascii_compile(" (?:" + self._body + ")"),
                self._checked(ascii_compile(r"[^\w](?:" + self._body + ")")))

    def _checked(self, rx: re.Pattern) -> re.Pattern:
        assert rx.groups == self._groups, "scanner phrases must not capture"
        return rx

    def scan(self, spaced: str, leads: list[int] | None = None,
             ascii_text: bool = False) -> list[list[tuple[int, int, str]]]:
        """Per scanner [(start, end, label)] in the text ``spaced[1:]`` (offsets of that text).
        ``leads``: other_leads(spaced) if the caller has it; ``ascii_text``: the text is ASCII
        and normalised (see ascii_compile)."""
        if leads is None or self._any_lead:
            leads = other_leads(spaced, not self._any_lead)
        rx_space, rx = self._forms_ascii if ascii_text else self._forms_any
        matches = rx_space.finditer(spaced)
        if leads:  # same matches as self.rx.finditer(spaced), in the same order
            match = rx.match
            extra = [m for m in (match(spaced, p) for p in leads) if m is not None]
            if extra:
                matches = sorted([*matches, *extra], key=_match_start)
        out: list[list] = [[] for _ in self._labels]
        ends = [0] * len(out)
        labels, by_last = self._labels, self.by_last  # (bound once: this runs per finding)
        for m in matches:
            p = m.start()  # the non-word character before the word = the word's offset in text
            for g, i in by_last[m.lastindex]:
                x = m.group(g)
                if x is not None and p >= ends[i]:
                    e = ends[i] = p + len(x)
                    out[i].append((p, e, labels[i](x)))
        return out


def _scanner_first_chars(sc: _Scanner) -> frozenset[str] | None:
    """The characters any phrase of ``sc`` can begin with (see pattern_facts._first_chars), None if unknown."""
    out: set = set()
    for _, pattern in sc._ordered:
        chars = _facts(pattern).first_chars
        if chars is None:
            return None
        out |= chars
    return frozenset(out)


def _match_start(m: re.Match) -> int:
    return m.start()


def _first_item(row: tuple):
    return row[0]


_NO_CUES: frozenset = frozenset()  # a criterion without cues of its own (shared, never changed)


# ---------------------------------------------------------------------------------------------
# Compiling the rules
# ---------------------------------------------------------------------------------------------
def _line_of(raw: str, needle: str) -> str | None:
    """'line N' of the first line of the YAML text holding ``needle`` (for error messages)."""
    needle = needle.strip()[:40]
    for n, line in enumerate(raw.splitlines(), start=1):
        if needle and needle in line.replace("\\\\", "\\"):
            return f"line {n}"
    return None


_FEW_ALTERNATIVES = 5  # see _Entry.fast (measured: 2-2.5x quicker with 1 alternative, about even at 6-7)


@dataclass(frozen=True)
class _Entry:
    bodies: tuple[str, ...]           # one phrase, or several (all within `within` chars)
    within: int
    needs: tuple[frozenset, ...]      # every match holds one string of each set, rarest set first
    fast_ok: tuple[bool, ...]         # per phrase: may it be searched as '[^\w](?:phrase)'?

    # Compiling is deferred to the first finding that needs the entry: a round's letters usually
    # bring up a fraction of the topics, and compiling every pattern was most of loading the rules.
    @functools.cached_property
    def _fast_patterns(self) -> tuple[str | None, ...]:
        r"""Per phrase: '[^\w](?:phrase)' for the spaced text (see _Facts.fast_ok), or None: search
        the phrase itself and keep the matches at word starts (word_matches). That is quicker
        for a phrase of a few alternatives: the engine jumps to its first letters, where the
        '[^\w]' form tests every character. Both find the same spans."""
        return tuple(r"[^\w](?:" + b + ")" if ok and len(_split_top(b)) > _FEW_ALTERNATIVES else None
                     for b, ok in zip(self.bodies, self.fast_ok))

    @functools.cached_property
    def fast(self) -> tuple:
        """``_fast_patterns`` compiled (None where a phrase has no fast form)."""
        return tuple(None if p is None else regex_store.compile(p) for p in self._fast_patterns)

    @functools.cached_property
    def regexes(self) -> tuple[re.Pattern, ...]:
        """The phrases compiled as written (for phrases without a fast form; compiled on first use)."""
        return tuple(regex_store.compile(b) for b in self.bodies)

    @functools.cached_property
    def fast_ascii(self) -> tuple:
        """``fast`` for normalised ASCII text (see ascii_compile)."""
        return tuple(None if p is None else ascii_compile(p) for p in self._fast_patterns)

    @functools.cached_property
    def regexes_ascii(self) -> tuple[re.Pattern, ...]:
        """``regexes`` for normalised ASCII text (see ascii_compile)."""
        return tuple(ascii_compile(b) for b in self.bodies)


@dataclass(frozen=True)
class _CriterionRule:
    cid: str
    area: str
    entries: tuple[_Entry, ...]
    cues: "_Scanner | None"           # criterion-specific cues
    neutral: "_Scanner | None"        # criterion-specific neutral phrases
    values: dict                      # class/default -> value
    judgements: dict                  # value -> judgement
    partial_value: str | None         # the value a mixed finding gets (None: no partial value)
    default_confidence: float
    passing: re.Pattern | None = None  # words just before a topic that make it a passing mention


class Rules:
    """Compiled coding rules. Build with :meth:`load` (a YAML file) or :meth:`from_dict`."""

    def __init__(self, criteria, cues, neutral, clauses, refer_back_re, refer_back_words,
                 contrast_openers, settings, source):
        self.criteria: tuple[_CriterionRule, ...] = criteria
        self.cues: _Scanner = cues
        self.neutral: _Scanner | None = neutral
        self.clauses: tuple[_Scanner, ...] = clauses
        self.refer_back_re = refer_back_re
        # "Does a sentence start by referring back?" is asked of most findings' second sentence:
        # answered in the text itself, without cutting its first words out (see _refers_back).
        self._refer_back_lead = self._first_words = None
        lookbehind = r"(?<!\w)"
        if refer_back_re is not None and refer_back_re.pattern.startswith(lookbehind) and refer_back_words >= 1:
            inner = refer_back_re.pattern[len(lookbehind):]
            if not _facts(inner).looks_behind:
                self._refer_back_lead = regex_store.compile(r"[^\w]" + inner)
                self._first_words = regex_store.compile(r"(?:[^ ]+ ){0,%d}[^ ]+" % (refer_back_words - 1))
        self.refer_back_words = refer_back_words
        self.contrast_openers = contrast_openers
        self.settings = settings
        self.source = source
        self._neg_gap = int(settings["negation_join_chars"])
        self._area_penalty = float(settings["area_mismatch_penalty"])
        conf = settings["confidence"]
        self._conf = {k: float(conf[k]) for k in ("cue", "linked", "mixed")}
        self._disagreement = float(conf["disagreement_penalty"])
        # Gate: every topic entry needs a word starting with one string of each of its `needs`
        # sets (derived from its patterns). One regex pass finds, at each word start, the longest
        # string of the entries' rarest sets (a literal trie); the other sets are checked with
        # `in`; only the entries that pass run their regexes.
        self._always: list[tuple[_CriterionRule, _Entry]] = []
        by_key: dict[str, list] = {}
        rank = 0
        for cr in criteria:
            for e in cr.entries:
                if not e.needs:
                    self._always.append((cr, e))
                    continue
                rank += 1
                gate_set, *others = e.needs  # rarest first
                for k in gate_set:
                    by_key.setdefault(k, []).append((rank, cr, e, tuple(tuple(o) for o in others)))
        # A word starting with key K also starts with every key that is a prefix of K.
        # (Order within a list does not matter: candidates are put in rules order.)
        self._gate_entries = {k: [x for i in range(1, len(k) + 1) for x in by_key.get(k[:i], ())] for k in by_key}
        # The gate regexes (compiled when first needed, see the properties below); None: no gate.
        self._gate_body = _kept_trie(by_key) if by_key else None
        self._gate_memo: dict[frozenset, tuple] = {}  # gate words found -> entries to check
        self._order = {cr.cid: i for i, cr in enumerate(criteria)}
        self._has_passing = any(cr.passing is not None for cr in criteria)
        # One pass finds the cues, the neutral phrases and the word clause breaks (see _MultiScan).
        word_breaks = next((sc for sc in clauses if sc.word), None)
        self._other_breaks = tuple(sc for sc in clauses if not sc.word)
        # The characters the other breaks can begin with (',' ';' ':'): most findings have
        # none of them, and then the scan is skipped (None: could begin with anything).
        self._other_break_firsts = tuple(_scanner_first_chars(sc) for sc in self._other_breaks)
        self._multi = _MultiScan([x for x in (cues, neutral, word_breaks) if x is not None])
        self._has_neutral, self._has_word_breaks = neutral is not None, word_breaks is not None

    # ----- loading -------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path | None, codebook: Codebook) -> "Rules":
        path = Path(path) if path else RULES_PATH
        if not path.exists():
            raise InputError(path, None, "coding rules file not found",
                             "point --rules at a coding_rules.yaml (the shipped one is "
                             "src/analysis/rules/coding_rules.yaml)")
        raw = safeyaml.read_text(path)
        try:
            doc = _rules_doc(raw)
        except safeyaml.YAMLError as exc:
            raise safeyaml.input_error(path, exc, "fix the YAML syntax; quote phrases that start with , ; : { "
                                       "or contain ': ', and the words yes/no/on/off") from exc
        return cls.from_dict(doc, codebook, source=str(path), raw=raw)

    @classmethod
    def from_dict(cls, doc, codebook: Codebook, source: str = "<rules>", raw: str = "") -> "Rules":
        if not isinstance(doc, dict) or not isinstance(doc.get("criteria"), dict):
            raise InputError(source, None, "rules need a top-level 'criteria' mapping",
                             "start from the shipped coding_rules.yaml")

        def where(key: str, text: str | None = None) -> str:
            line = _line_of(raw, text) if text else None
            return f"{key} ({line})" if line else key

        def as_list(value, key) -> list[str]:
            if value is None:
                return []
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list):
                raise InputError(source, where(key), "expected a list of phrases", "write one '- phrase' per line")
            out = []
            for i, v in enumerate(value):
                if isinstance(v, bool) or not isinstance(v, (str, int, float)):
                    raise InputError(source, where(f"{key}[{i}]"), f"phrase {v!r} is not text",
                                     "put quotes around it (YAML reads bare yes/no/on/off as true/false "
                                     "and 'a: b' as a mapping)")
                out.append(str(v))
            return out

        synonyms: dict[str, str] = {}
        for name, items in (doc.get("synonyms") or {}).items():
            synonyms[str(name)] = "(?:" + "|".join(as_list(items, f"synonyms.{name}")) + ")"

        def phrase(p: str, key: str) -> str:
            """Synonyms expanded, lower-cased, checked; the regex body."""
            def rep(m):
                name = m.group(1)
                if name not in synonyms:
                    raise InputError(source, where(key, p), f"unknown synonym list {{{name}}}",
                                     f"define it under 'synonyms:' (known: {sorted(synonyms)})")
                return synonyms[name]
            expanded = re.sub(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", rep, p)
            out = _kept_body(expanded)
            # Parsing finds every syntax error; only look-behinds are checked further by the
            # compiler. Full compiling waits until a finding needs the phrase. ('(?<' and
            # '(?P<' are in the body exactly when they are in ``out``, see _regex_body.)
            if not _facts(out).parses or "(?<" in out:
                body = lower_pattern(expanded)
                try:
                    re.compile(body)
                except re.error as exc:
                    raise InputError(source, where(key, p), f"phrase {p!r} is not a valid pattern ({exc})",
                                     "check brackets and backslashes; see the syntax notes at the top") from exc
            if "(?P<" in out:
                raise InputError(source, where(key, p), f"phrase {p!r} uses a named group",
                                 "use (?:...) instead of (?P<name>...)")
            return out

        def passing_regex(items: list[str], key: str) -> re.Pattern | None:
            """Phrases that end right where a topic starts (the topic is only the means or the
            object of another criterion's finding: 'time saved by using tablets')."""
            if not items:
                return None
            body = "|".join(phrase(p, key) for p in items)
            return regex_store.compile(r"(?<!\w)(?:" + body + r")\s*$")

        def scanner(named: list[tuple[str, str]], key: str, word: bool = True) -> _Scanner | None:
            if not named:
                return None
            return _Scanner([(label, phrase(p, key)) for label, p in named], word=word)

        def cue_list(cues: dict | None, key: str) -> list[tuple[str, str]]:
            out = []
            for cls_name, items in (cues or {}).items():
                if cls_name not in CUE_CLASSES:
                    raise InputError(source, where(f"{key}.{cls_name}"), f"unknown cue class {cls_name!r}",
                                     f"use one of {list(CUE_CLASSES)}")
                out += [(cls_name, p) for p in as_list(items, f"{key}.{cls_name}")]
            return out

        cues = scanner(cue_list(doc.get("cues"), "cues"), "cues")
        if cues is None:
            raise InputError(source, "cues", "no cue phrases", "list cue phrases per class")
        neutral = scanner([("neutral", p) for p in as_list(doc.get("neutral"), "neutral")], "neutral")

        clause_doc = doc.get("clauses") or {}
        breaks = [(kind, p) for kind in ("contrast", "additive")
                  for p in as_list(clause_doc.get(kind), f"clauses.{kind}")]
        # Breaks that start with a word (\bbut\b) and breaks that start with punctuation (;) are
        # scanned separately: each kind then gets the fast first-character dispatch.
        word_breaks = [(k, p[2:]) for k, p in breaks if p.startswith("\\b")]
        other_breaks = [(k, p) for k, p in breaks if not p.startswith("\\b")]
        clauses = tuple(x for x in (scanner(word_breaks, "clauses", word=True),
                                    scanner(other_breaks, "clauses", word=False)) if x is not None)
        rb = as_list(clause_doc.get("refer_back"), "clauses.refer_back")
        rb_body = "|".join(phrase(p, "clauses.refer_back") for p in rb)
        refer_back_re = regex_store.compile(r"(?<!\w)(?:" + rb_body + r")(?!\w)") if rb else None
        openers = [re.escape(o.lower())
                   for o in as_list(clause_doc.get("contrast_openers"), "clauses.contrast_openers")]
        openers = regex_store.compile(r"\s*(?:" + "|".join(openers) + r")[ ,]") if openers else None
        settings = {"negation_join_chars": 25, "area_mismatch_penalty": 0.3,
                    "confidence": {"cue": 0.9, "linked": 0.75, "mixed": 0.7, "default": 0.6,
                                   "disagreement_penalty": 0.15}}
        user = doc.get("settings") or {}
        settings.update({k: v for k, v in user.items() if k != "confidence"})
        settings["confidence"].update(user.get("confidence") or {})

        # Gate strings are chosen to be rare in letters; the codebook's own wording stands in for
        # the words every letter uses ("crime", "officers", "victims").
        reference = " ".join(f"{c.label} {c.question}" for c in codebook.criteria.values()).lower()
        criteria = []
        for cid, spec in doc["criteria"].items():
            cid = str(cid)
            key = f"criteria.{cid}"
            if cid not in codebook.criteria:
                raise InputError(source, where(key, f"{cid}:"), f"criterion {cid!r} is not in the codebook",
                                 f"use one of {codebook.ids}")
            crit = codebook[cid]
            if not isinstance(spec, dict) or "topic" not in spec or "values" not in spec:
                raise InputError(source, where(key, f"{cid}:"), "each criterion needs 'topic' and 'values'",
                                 "copy the layout of another criterion")
            entries = []
            for i, t in enumerate(spec["topic"] if isinstance(spec["topic"], list) else [spec["topic"]]):
                k = f"{key}.topic[{i}]"
                if isinstance(t, dict):
                    if "all" not in t:
                        raise InputError(source, where(k), f"topic entry {t!r} was read as a mapping, "
                                         "not a phrase (a phrase containing ': ' must be quoted)",
                                         "put the phrase in single quotes, or use 'all: [...]'")
                    atoms = [phrase(a, k) for a in as_list(t.get("all"), k + ".all")]
                    if not atoms:
                        raise InputError(source, where(k), "an 'all:' topic needs phrases", "list them")
                    entries.append(_Entry(tuple(_kept_bucketed([a]) for a in atoms), int(t.get("within", 120)),
                                          _entry_needs(atoms, reference),
                                          tuple(_facts(a).fast_ok for a in atoms)))
                else:
                    body = phrase(as_list(t, k)[0], k)
                    entries.append(_Entry((_kept_bucketed([body]),), 0, _entry_needs([body], reference),
                                          (_facts(body).fast_ok,)))
            values = spec["values"]
            if not isinstance(values, dict):
                raise InputError(source, where(key + ".values"), "values must map cue classes to values",
                                 f"e.g. {{{', '.join(f'{c}: ...' for c in VALUE_KEYS)}}}")
            missing = [c for c in VALUE_KEYS if c not in values]
            if missing:
                raise InputError(source, where(key + ".values", f"{cid}:"), f"no value for {missing}",
                                 f"give a value of {cid} for every one of {list(VALUE_KEYS)}")
            vals = {}
            for c_name, v in values.items():
                v = "yes" if v is True else "no" if v is False else str(v)
                if c_name not in VALUE_KEYS:
                    raise InputError(source, where(key + ".values"), f"unknown key {c_name!r}",
                                     f"use {list(VALUE_KEYS)}")
                if v not in crit.values:
                    raise InputError(source, where(key + ".values", f"{cid}:"),
                                     f"value {v!r} is not allowed for {cid} in the codebook",
                                     f"use one of {list(crit.values)}")
                vals[c_name] = v
            partial = next((v for v, j in crit.values.items() if j == "partial"), None)
            criteria.append(_CriterionRule(
                cid=cid, area=crit.area, entries=tuple(entries),
                cues=scanner(cue_list(spec.get("cues"), key + ".cues"), key + ".cues"),
                neutral=scanner([("neutral", p) for p in as_list(spec.get("neutral"), key + ".neutral")],
                                key + ".neutral"),
                values=vals, judgements=dict(crit.values), partial_value=partial,
                default_confidence=float(spec.get("default_confidence", settings["confidence"]["default"])),
                passing=passing_regex(as_list(spec.get("passing"), key + ".passing"), key + ".passing"),
            ))
        return cls(tuple(criteria), cues, neutral, clauses, refer_back_re,
                   int(clause_doc.get("refer_back_words", 8)), openers, settings, source)

    # ----- coding one text -------------------------------------------------------------------
    def code_text(self, text: str, area: str | None = None) -> list[tuple]:
        """Codes for one finding: [(criterion_id, value, judgement, confidence, rule, evidence)]."""
        t = normalise_text(text)
        low = t.lower()
        if len(low) != len(t):  # a character whose lower case is longer: keep offsets aligned
            low = "".join(c if len(c.lower()) != 1 else c.lower() for c in t)
        spaced = " " + low
        leads = other_leads(spaced)
        ascii_text = low.isascii()  # (normalised: see ascii_compile)
        hits = self._hits(low, t, spaced, leads, ascii_text)
        if not hits:
            return []
        scans = self._multi.scan(spaced, leads, ascii_text)
        base_cues = scans[0]
        neutral_spans = [c[:2] for c in scans[1]] if self._has_neutral else []
        clauses = self._clauses(t, low, scans[-1] if self._has_word_breaks else [])
        if self._has_passing and hits[0][0] is not hits[-1][0]:  # (hits come grouped by criterion;
            hits = self._drop_passing(hits, low, clauses)          # a passing mention needs two)
        starts = [c[0] for c in clauses]
        if len(starts) == 1:
            def clause_of(pos: int) -> int:
                return 0
        else:
            def clause_of(pos: int, _bisect=bisect.bisect_right) -> int:
                return _bisect(starts, pos) - 1

        # Topic hits grouped per criterion and clause: {cid: {clause: [spans]}}
        groups: dict[str, dict[int, list]] = {}
        rule_of: dict[str, _CriterionRule] = {}
        by_clause: dict[int, list[tuple[str, list]]] = {}
        if hits[0][0] is hits[-1][0]:  # one criterion (the usual case; hits come grouped by it)
            cr = hits[0][0]
            cl: dict[int, list] = {}
            for _, spans in hits:
                cl.setdefault(clause_of(spans[0][0]), []).extend(spans)
            groups[cr.cid], rule_of[cr.cid] = cl, cr
            for k, spans in cl.items():
                by_clause[k] = [(cr.cid, spans)]
        else:
            for cr, spans in hits:
                groups.setdefault(cr.cid, {}).setdefault(clause_of(spans[0][0]), []).extend(spans)
                rule_of[cr.cid] = cr
            for cid, cl in groups.items():
                for k, spans in cl.items():
                    by_clause.setdefault(k, []).append((cid, spans))

        # Cues are read with neutral phrases blanked out (same length, same offsets). Topic words
        # are not blanked: a cue may sit inside a topic phrase ("good practice is seldom shared");
        # cue-like words that belong to a topic ("failed to answer bail") are listed as neutral.
        masked = low
        if neutral_spans:
            masked = _mask(low, neutral_spans)
            # Blanking only changes the cues found when a cue overlaps a neutral phrase (or a
            # cue phrase could match the blank itself); then read them again.
            if self.cues.mask_sensitive or _overlap(base_cues, neutral_spans):
                base_cues = self.cues.scan(masked)

        out = []
        for cid, cl in groups.items():
            cr = rule_of[cid]
            cues, text_for_cues = base_cues, masked
            if cr.neutral is not None:
                extra = [c[:2] for c in cr.neutral.scan(masked)]
                if extra:
                    text_for_cues = _mask(masked, extra)
                    cues = self.cues.scan(text_for_cues)
            own_only: set | frozenset = _NO_CUES
            if cr.cues is not None:
                spec = cr.cues.scan(text_for_cues)
                if spec:
                    own_only = set(spec)
                    cues = _subsume(cues, spec)
            cues = self._join_negations(cues, clause_of)
            value, conf, rule, evidence, first = self._decide(cr, cl, cues, own_only, clauses, clause_of,
                                                              by_clause, t)
            if area and area != cr.area:
                conf -= self._area_penalty
            conf = round(min(0.99, max(0.05, conf)), 2)
            out.append((first, cid, value, cr.judgements[value], conf, rule, evidence))
        if len(out) > 1:
            out.sort(key=_first_item)
        return [r[1:] for r in out]

    def compile_all(self) -> None:
        """Compile every pattern these rules would otherwise compile lazily, whatever the text (for
        the shipped pattern store, analysis.regex_store.ship). A cached pattern property added to
        the coder belongs here too (tests/test_shipped_patterns.py notices when the seed letter or
        the labelled sets need one)."""
        scanners = [self.cues, self.neutral, *self.clauses]
        for cr in self.criteria:
            scanners += [cr.cues, cr.neutral]
            for e in cr.entries:
                e.fast, e.regexes, e.fast_ascii, e.regexes_ascii  # noqa: B018 - compiled when first read
        for sc in filter(None, scanners):
            sc.rx, sc._which, sc._led, sc.mask_sensitive  # noqa: B018
        self._multi.rx, self._multi._forms_any, self._multi._forms_ascii  # noqa: B018
        if self._gate_body is not None:
            self._gate_re, self._gate_space, self._gate_ascii  # noqa: B018

    # ----- steps ------------------------------------------------------------------------------
    def _candidates(self, keys: frozenset) -> tuple:
        """(criterion, entry, other needs) of the entries the gate words ``keys`` let through, in
        rules order (memoised: the same few gate words come back again and again)."""
        memo = self._gate_memo
        found = memo.get(keys)
        if found is None:
            gate, cand = self._gate_entries, {}
            for key in keys:
                for x in gate[key]:
                    cand[x[0]] = x
            found = tuple((cr, e, others) for _, cr, e, others in (cand[r] for r in sorted(cand)))
            if len(memo) >= 4096:
                memo.clear()
            memo[keys] = found
        return found

    @functools.cached_property
    def _gate_re(self) -> re.Pattern:
        r"""The gate: at every word start ('[^\w]' lead), the longest gate string there."""
        return regex_store.compile(r"[^\w](" + self._gate_body + ")")

    @functools.cached_property
    def _gate_space(self) -> re.Pattern:
        """Its space-led twin (see other_leads): the gate words are word characters only, so a
        match consumes no other lead and findall finds the word at every lead where one starts."""
        return regex_store.compile(r" (" + self._gate_body + ")")

    @functools.cached_property
    def _gate_ascii(self) -> tuple[re.Pattern, re.Pattern]:
        """Both, for normalised ASCII text (see ascii_compile)."""
        return ascii_compile(r" (" + self._gate_body + ")"), ascii_compile(r"[^\w](" + self._gate_body + ")")

    def _gate_words(self, spaced: str, leads: list[int] | None = None, ascii_text: bool = False) -> list[str]:
        """The gate words at the word starts of ``spaced``: those after a space, then those after
        other leads (the same words as ``self._gate_re.findall(spaced)``, see other_leads)."""
        gate_space, gate = self._gate_ascii if ascii_text else (self._gate_space, self._gate_re)
        keys = gate_space.findall(spaced)
        for p in (other_leads(spaced) if leads is None else leads):
            m = gate.match(spaced, p)
            if m is not None:
                keys.append(m.group(1))
        return keys

    def _hits(self, low: str, t: str, spaced: str | None = None, leads: list[int] | None = None,
              ascii_text: bool = False) -> list[tuple[_CriterionRule, tuple]]:
        """Topic matches [(criterion, spans)] in rules order. ``leads``: other_leads(spaced);
        ``ascii_text``: the text is ASCII and normalised (see ascii_compile)."""
        spaced = spaced if spaced is not None else " " + low
        active = self._always
        if self._gate_body is not None:
            keys = self._gate_words(spaced, leads, ascii_text)
            if keys:
                active = list(active)
                for cr, e, others in self._candidates(frozenset(keys)):
                    for need in others:      # one string of every other set must occur too
                        for k in need:
                            if k in low:
                                break
                        else:
                            break
                    else:
                        active.append((cr, e))
        hits = []
        # Hits come out in rules order (the gate's candidates are), each entry's in text order;
        # the final sort is only needed when one criterion has hits from two entries (or some
        # entries run whatever the gate says, _always).
        unsorted, last_cr = bool(self._always), None
        for cr, e in active:
            n_before = len(hits)
            fasts = e.fast_ascii if ascii_text else e.fast
            if len(fasts) == 1:
                fast = fasts[0]
                if fast is not None:
                    hits += [(cr, ((m.start(), m.end() - 1),)) for m in fast.finditer(spaced)]
                else:
                    rx = (e.regexes_ascii if ascii_text else e.regexes)[0]
                    m = rx.search(low)       # usually no match at all: one call
                    if m is not None:
                        hits += [(cr, (sp,)) for sp in word_matches(rx, low, m)]
            else:
                self._combined_hit(cr, e, fasts, e.regexes_ascii if ascii_text else e.regexes,
                                   low, t, spaced, hits)
            if len(hits) > n_before:
                if cr is last_cr:
                    unsorted = True
                last_cr = cr
        # keep criterion order stable (rules order) whatever order the gate found them in
        if unsorted and len(hits) > 1:
            order = self._order
            hits.sort(key=lambda h: (order[h[0].cid], h[1]))
        return hits

    @staticmethod
    def _combined_hit(cr, e, fasts, regexes, low, t, spaced, hits) -> None:
        """The hit of an 'all:' entry (every phrase within `within` characters in one sentence)."""
        found = []
        for j, fast in enumerate(fasts):
            if fast is not None:
                spans = [(m.start(), m.end() - 1) for m in fast.finditer(spaced)]
            else:
                spans = word_matches(regexes[j], low)
            if not spans:
                return
            found.append(spans)
        if all([len(o) == 1 for o in found]):  # one match per phrase: nothing to choose
            spans = [o[0] for o in found]
            lo, hi = min([s for s, _ in spans]), max([e2 for _, e2 in spans])
            if hi - lo <= e.within and not _SENT_END.search(t, lo, hi):
                hits.append((cr, tuple(sorted(set(spans)))))
            return
        best = None
        for anchor in found[0]:  # closest combination around each match of the first phrase
            spans = [anchor] + [min(o, key=lambda sp: abs(sp[0] - anchor[0])) for o in found[1:]]
            lo, hi = min(s for s, _ in spans), max(e2 for _, e2 in spans)
            if hi - lo <= e.within and not _SENT_END.search(t, lo, hi):  # same sentence
                if best is None or hi - lo < best[0]:
                    best = (hi - lo, tuple(sorted(set(spans))))
        if best:
            hits.append((cr, best[1]))

    def _drop_passing(self, hits, low: str, clauses) -> list:
        """Drop a topic named only in passing: its criterion's `passing` words end right where the
        topic starts, and another criterion's topic is in the same sentence (that finding is
        the subject; 'how much time officers save by using mobile devices' is about time saved,
        not about mobile devices)."""
        starts = [c[0] for c in clauses]

        def where(pos: int) -> tuple[int, int]:  # (sentence, start of its clause)
            k = bisect.bisect_right(starts, pos) - 1
            return clauses[k][1], clauses[k][0]

        out = []
        for cr, spans in hits:
            if cr.passing is not None:
                s0 = spans[0][0]
                sent, clause_start = where(s0)
                if cr.passing.search(low, max(clause_start, s0 - 80), s0) and any(
                        other.cid != cr.cid and where(sp[0][0])[0] == sent for other, sp in hits):
                    continue
            out.append((cr, spans))
        return out

    def _clauses(self, t: str, low: str, word_breaks=()) -> list[tuple[int, int, str]]:
        """[(start, sentence no, kind)], kind of the clause's start: sentence / contrast_sentence /
        refer_back / refer_back_contrast / contrast / additive. ``word_breaks``: the matches of
        the word clause-break scanner (found in the shared pass); other breaks are scanned here."""
        sents, pos = [], 0
        for m in _SENT_END.finditer(t):
            s = m.start()
            if _ends_abbreviation(t[max(0, s - 8):s]):
                continue
            sents.append((pos, m.end()))
            pos = m.end()
        sents.append((pos, len(t)))
        breaks = list(word_breaks)
        for sc, firsts in zip(self._other_breaks, self._other_break_firsts):
            if firsts is not None and not any([ch in low for ch in firsts]):
                continue  # no match can begin anywhere in the text
            label = sc.label
            breaks += [(m.start(), m.end(), label(m.group())) for m in sc.rx.finditer(low)]  # sc.scan
        if len(self.clauses) > 1 and len(breaks) > 1:
            breaks.sort()
        openers = self.contrast_openers
        if len(sents) == 1:  # one sentence (the usual case)
            kind = "contrast_sentence" if openers is not None and openers.match(low, 0) else "sentence"
            return [(0, 0, kind)] + [(b, 0, bkind) for b, _e, bkind in breaks if 0 < b]
        out = []
        for i, (s0, s1) in enumerate(sents):
            kind = "sentence"
            if i > 0 and self.refer_back_re is not None and self._refers_back(low, s0, s1):
                kind = "refer_back"
            if openers is not None and openers.match(low, s0):
                kind = "refer_back_contrast" if i > 0 else "contrast_sentence"
            out.append((s0, i, kind))
            for b, _e, bkind in breaks:
                if s0 < b < s1:
                    out.append((b, i, bkind))
        return out

    def _refers_back(self, low: str, s0: int, s1: int) -> bool:
        r"""Does a refer-back phrase occur in the first `refer_back_words` words of the sentence
        low[s0:s1] (s0 > 0: not the first sentence)?

        Plainly: search the words cut out and joined again. In the normalised text the words are
        already joined by single spaces and preceded by one (the sentence break), so the same
        question is a search of low itself, from that space to the end of the last word: the
        phrase led by a non-word character instead of the look-behind '(?<!\w)' (the same
        places, given the phrases do not look behind themselves), and the end as the end."""
        if self._refer_back_lead is None:
            first = " ".join(low[s0:s1].split()[: self.refer_back_words])
            return self.refer_back_re.search(first) is not None
        words = self._first_words.match(low, s0, s1)
        return words is not None and self._refer_back_lead.search(low, s0 - 1, words.end()) is not None

    def _join_negations(self, cues, clause_of):
        """'not' just before a strong word ('not clearly', 'no structured') is one negation cue."""
        if len(cues) < 2:
            return list(cues)
        cues = sorted(cues)
        for c in cues:
            if c[2] == "negation":
                break
        else:  # no negation: nothing to join
            return cues
        gap = self._neg_gap
        out, skip = [], False
        for i, c in enumerate(cues):
            if skip:
                skip = False
                continue
            nxt = cues[i + 1] if i + 1 < len(cues) else None
            if (c[2] == "negation" and nxt and nxt[2] in ("strong", "mostly")
                    and 0 <= nxt[0] - c[1] <= gap and clause_of(c[0]) == clause_of(nxt[0])):
                out.append((c[0], nxt[1], "negation"))
                skip = True
            else:
                out.append(c)
        return out

    def _decide(self, cr, groups, cues, own_only, clauses, clause_of, by_clause, t):
        """Value for one criterion from its topic groups (one per clause) and the cues."""
        cid = cr.cid
        # Route every cue once: to its own clause's group, or (a cue in a clause without topics)
        # to the group it qualifies, as additive or contrasting.
        routed = {k: ([], [], []) for k in groups}  # own, add, con
        values, judgements = cr.values, cr.judgements
        for c in cues:
            ck = clause_of(c[0])
            if ck in routed:
                here = by_clause[ck]
                if len(here) == 1 or (own_only and c in own_only) or self._nearest(c, here, cid):
                    routed[ck][0].append(c)
                continue
            target, link = self._float_target(ck, clauses, by_clause, c, cid, c in own_only)
            if target is not None and target in routed:
                routed[target][2 if link == "contrast" else 1].append(c)
        per_group = []  # (clause, kind, class, value, cue spans, topic spans)
        for k, spans in (groups.items() if len(groups) == 1 else sorted(groups.items())):
            own, add, con = routed[k]
            if not (own or add or con):
                per_group.append((k, "default", None, values["default"], [], spans))
                continue
            # (_best of no cues is None: skip the calls)
            best_own = _best(own) if own else None
            best_add = _best(add) if add else None
            best_con = _best(con) if con else None
            base, kind = (best_own, "cue") if best_own else (best_add, "linked") if best_add else (None, "default")
            if best_con:
                v_con = cr.values[best_con[0]]
                if base is None:
                    per_group.append((k, "linked", best_con[0], v_con, best_con[1], spans))
                    continue
                v_base = cr.values[base[0]]
                if cr.judgements[v_base] != cr.judgements[v_con]:
                    mixed = cr.partial_value or v_con
                    per_group.append((k, "mixed", None, mixed, base[1] + best_con[1], spans))
                    continue
            if base is None:
                per_group.append((k, "default", None, cr.values["default"], [], spans))
            else:
                per_group.append((k, kind, base[0], cr.values[base[0]], base[1], spans))

        penalty = 0.0
        explicit = [g for g in per_group if g[1] != "default"] if len(per_group) > 1 else ()
        if len(per_group) == 1:  # one topic group (the usual case): what it says
            chosen = per_group[0]
            kind = chosen[1]
            conf = cr.default_confidence if kind == "default" else self._conf[kind]
        elif not explicit:
            g = per_group[0]
            chosen, kind, conf = g, "default", cr.default_confidence
        else:
            values = {g[3] for g in explicit}
            if len(values) == 1:
                chosen = explicit[0]
                kind = chosen[1]
            else:
                first, last = explicit[0], explicit[-1]
                contrasted = any(clauses[j][2] in ("contrast", "refer_back_contrast", "contrast_sentence")
                                 for j in range(first[0] + 1, last[0] + 1))
                if contrasted:
                    judg = {cr.judgements[g[3]] for g in explicit}
                    value = cr.partial_value if (cr.partial_value and len(judg) > 1) else last[3]
                    chosen = (first[0], "mixed", None, value, [s for g in explicit for s in g[4]],
                              [s for g in explicit for s in g[5]])
                    kind = "mixed"
                else:
                    chosen, kind = first, first[1]
                    penalty = self._disagreement
            conf = self._conf[kind]
        value = chosen[3]
        rule = f"{cid}.{kind}.{chosen[2]}" if chosen[2] else f"{cid}.{kind}"
        topics = chosen[5]
        if len(topics) == 1:
            s0, e0 = topics[0]
            topic, first_pos = t[s0:e0], s0
        else:
            topic = " … ".join(t[s:e] for s, e in _merge_spans(topics))
            first_pos = min(s for s, _ in topics)
        cue_spans = chosen[4]
        if not cue_spans:
            evidence = topic
        elif len(cue_spans) == 1:
            evidence = f"{topic} | {t[cue_spans[0][0]:cue_spans[0][1]]}"
        else:
            evidence = topic + " | " + ", ".join(t[s:e] for s, e in _merge_spans([c[:2] for c in cue_spans]))
        return value, float(conf) - penalty, rule, evidence, first_pos

    @staticmethod
    def _nearest(cue, hits_in_clause, cid) -> bool:
        """Is criterion ``cid`` among the topics nearest to this cue (ties count for all)?"""
        if len(hits_in_clause) <= 1:
            return True
        dists = {c: min(_gap(cue, sp) for sp in spans) for c, spans in hits_in_clause}
        return dists.get(cid, 1e9) <= min(dists.values())

    def _float_target(self, ck, clauses, by_clause, cue, cid, own_only) -> tuple[int | None, str | None]:
        """For a cue in a clause without topics: the clause whose topic it qualifies, and how."""
        if ck in by_clause:
            return None, None
        sent = clauses[ck][1]
        # left within the sentence
        j = ck
        while j - 1 >= 0 and clauses[j - 1][1] == sent:
            j -= 1
            if j in by_clause:
                link = "contrast" if clauses[ck][2] == "contrast" or any(
                    clauses[x][2] == "contrast" for x in range(j + 1, ck + 1)) else "additive"
                return (j, link) if self._nearest(cue, by_clause[j], cid) or own_only else (None, None)
        # right within the sentence
        j = ck
        while j + 1 < len(clauses) and clauses[j + 1][1] == sent:
            j += 1
            if j in by_clause:
                link = "contrast" if any(clauses[x][2] == "contrast" for x in range(ck + 1, j + 1)) else "additive"
                return (j, link) if self._nearest(cue, by_clause[j], cid) or own_only else (None, None)
        # a whole sentence without topics that refers back to the previous sentence
        first = next(x for x in range(len(clauses)) if clauses[x][1] == sent)
        if clauses[first][2] in ("refer_back", "refer_back_contrast") and sent > 0:
            prev = [x for x in by_clause if clauses[x][1] == sent - 1]
            if prev:
                j = max(prev)
                link = "contrast" if clauses[first][2] == "refer_back_contrast" else "additive"
                return (j, link) if self._nearest(cue, by_clause[j], cid) or own_only else (None, None)
        return None, None


@functools.lru_cache(maxsize=4096)
def _ends_abbreviation(window: str) -> bool:
    """Does the word before a sentence-like end ('e.g.', 'no.') make it no sentence end? ``window``:
    the 8 characters before the full stop (memoised: the same few words end most sentences)."""
    word = window.split()[-1:] or [""]
    return word[0].lower().rstrip(".") in _ABBREVIATIONS


def _overlap(a, b) -> bool:
    """Does any span of ``a`` overlap any span of ``b`` (both sorted by start)?"""
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i][0] < b[j][1] and b[j][0] < a[i][1]:
            return True
        if a[i][1] <= b[j][1]:
            i += 1
        else:
            j += 1
    return False


def _merge_spans(spans) -> list[tuple[int, int]]:
    """The spans sorted, overlapping or touching ones joined."""
    spans = sorted(spans)
    if not spans:
        return []
    out = [spans[0]]
    for s, e in spans[1:]:
        s0, e0 = out[-1]
        if s <= e0:
            if e > e0:
                out[-1] = (s0, e)
        else:
            out.append((s, e))
    return out


def _gap(a, b) -> int:
    return max(0, max(a[0], b[0]) - min(a[1], b[1]))


def _mask(text: str, spans) -> str:
    """``text`` with the spans replaced by a non-word character (same length, same offsets)."""
    if not spans:
        return text
    chars = list(text)
    for s, e in spans:
        chars[s:e] = "\x00" * (e - s)
    return "".join(chars)


def _subsume(cues, specific=()):
    """Drop a cue lying inside a longer one (the longer, more specific phrase wins); of two cues
    on the same words, a criterion's own cue (in ``specific``) wins."""
    specific = set(specific)
    cues = sorted(set(cues) | specific,
                  key=lambda c: (c[0], -(c[1] - c[0]), c not in specific, _PRIORITY[c[2]]))
    out = []
    for c in cues:
        if any(o[0] <= c[0] and c[1] <= o[1] for o in out):
            continue
        out.append(c)
    return out


def _best(cues) -> tuple[str, list] | None:
    """(class, spans of that class) of the highest-priority class among ``cues``."""
    if not cues:
        return None
    if len(cues) == 1:
        return cues[0][2], list(cues)
    cls_name = min((c[2] for c in cues), key=_PRIORITY.__getitem__)
    return cls_name, [c for c in cues if c[2] == cls_name]


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------
_CACHE: dict = {}


def _rules_doc(raw: str):
    """``safeyaml.safe_load(raw)``, kept in the open pattern store under the text's sha256 as JSON
    text (a string, so the mappings keep their order: the store's own JSON sorts keys, and the
    rules' order is the coder's order) when the document comes back from JSON unchanged (plain
    strings, numbers, lists and mappings, as the rules are). A fresh clone's first build then
    reads the shipped rules' document from JSON instead of parsing the YAML (about 55 million
    instructions, 1.5% of that build)."""
    import hashlib
    import json

    def parse(_key: str) -> str | None:
        doc = safeyaml.safe_load(raw)
        try:
            text = json.dumps(doc, ensure_ascii=False)
            same = isinstance(doc, dict) and json.loads(text) == doc
        except (TypeError, ValueError):  # a date, a set, a key that is not a string...
            same = False
        return text if same else None  # (None: not kept; parsed afresh each time)

    key = hashlib.sha256(raw.encode("utf-8")).hexdigest()
    text = regex_store.derived(_RULES_DOC_KIND, key, parse, lambda v: v is None or isinstance(v, str))
    return safeyaml.safe_load(raw) if text is None else json.loads(text)


# the deriving code's version: PyYAML's, its loader, and this round trip's
_RULES_DOC_KIND = f"rulesdoc-2-{getattr(safeyaml.yaml, '__version__', '?')}-{safeyaml.SAFE_LOADER.__name__}"


def load_rules(codebook: Codebook, path: str | Path | None = None) -> Rules:
    """Compiled rules (cached per file, modification time and codebook)."""
    p = Path(path) if path else RULES_PATH
    try:
        mtime = p.stat().st_mtime_ns
    except OSError:
        mtime = None
    key = (str(p.resolve()), mtime, tuple((c.id, tuple(c.values.items())) for c in codebook.criteria.values()))
    if key not in _CACHE:
        _CACHE[key] = Rules.load(p, codebook)
    return _CACHE[key]


@contextlib.contextmanager
def _collector_paused():
    """Python's cyclic garbage collector off while findings are coded (as it was before, after).

    Coding keeps every result (the memo) and every row until the end, so the collector's full
    collections walked an ever larger heap: about 4% of coding 188,000 findings (10,000
    synthetic letters), 2% of 19,000. Coding makes no reference cycles
    (tests/test_coding_speedpaths.py checks), so nothing waits for the collector meanwhile;
    reference counting frees everything as before. The pause lasts until the results and the
    memo are freed, so the collector never walks them (pandas' own cycles, if any, wait for
    its next collection)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def code_findings(findings: pd.DataFrame, codebook: Codebook,
                  rules: Rules | str | Path | None = None) -> pd.DataFrame:
    """Draft codes for findings (columns finding_id, text, optional area).

    One row per code; a finding nothing recognises gets one row with criterion_id NA and rule
    'none'. Rows keep the order of the input, codes within a finding in text order."""
    missing = [c for c in ("finding_id", "text") if c not in findings.columns]
    if missing:
        raise InputError(None, "columns", f"findings lack column(s) {missing}",
                         "give finding_id and text (area optional)")
    if not isinstance(rules, Rules):
        rules = load_rules(codebook, rules)
    ids = findings["finding_id"].tolist()
    texts = findings["text"].tolist()
    areas = findings["area"].tolist() if "area" in findings.columns else [None] * len(ids)
    memo: dict = {}
    rows: list[tuple] = []  # one per code, in OUTPUT_COLUMNS order
    code_text = rules.code_text
    with _collector_paused():
        for fid, text, area in zip(ids, texts, areas):
            area = area if isinstance(area, str) and area else None
            if not isinstance(text, str) or not text.strip():
                codes = None
            else:
                key = (text, area)
                codes = memo.get(key)
                if codes is None:
                    codes = memo[key] = code_text(text, area)
            if codes:
                rows += [(fid, *code) for code in codes]
            else:
                rows.append((fid, None, None, None, 0.0, UNCODED_RULE, None))
        cols = [list(col) for col in zip(*rows)] if rows else [[] for _ in OUTPUT_COLUMNS]
        del rows, memo  # (freed by reference counting before the collector is back)
        return pd.DataFrame({c: pd.array(v, dtype=OUTPUT_DTYPES[c]) for c, v in zip(OUTPUT_COLUMNS, cols)})


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------
def register(subparsers) -> None:
    from .cli import add_output_arg, add_path_args

    p = subparsers.add_parser("code-findings", help="draft-code findings (CSV in: finding_id, area, text)",
                              description="Propose codebook codes for findings, one row per code. "
                              "A finding no rule recognises gets a row with a blank criterion.")
    p.add_argument("input", type=Path, help="CSV with columns finding_id, text (and optionally area)")
    add_output_arg(p, "CSV")
    p.add_argument("--rules", type=Path, default=None, help="coding rules YAML (default: the shipped rules)")
    add_path_args(p)
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    from .cli import check_output_file, paths_from_args
    from .io import neutralise_formula

    paths = paths_from_args(args)
    if not args.input.exists():
        raise InputError(args.input, None, "file not found", "check the path")
    check_output_file(args, args.input)
    from .sheets import read_reference_csv

    df = read_reference_csv(args.input, "findings table", keep_default_na=False, na_values=[""])
    missing = [c for c in ("finding_id", "text") if c not in df.columns]
    if missing:
        raise InputError(args.input, "header", f"missing column(s) {missing} (found {list(df.columns)})",
                         "give columns finding_id and text (area optional), comma-separated")
    ids = df["finding_id"].str.strip()
    blank = [i + 2 for i in ids.index[ids.isna() | (ids == "")]]
    twice = [i + 2 for i in ids.index[ids.duplicated(keep=False) & ids.notna() & (ids != "")]]
    if blank or twice:  # (each code row must trace back to one finding)
        raise InputError(args.input, f"line(s) {', '.join(map(str, (blank or twice)[:10]))}",
                         "blank finding_id" if blank else "finding_id used for more than one finding",
                         "give every finding its own id")
    codes = code_findings(df, Codebook.load(paths.codebook), args.rules)
    out = codes.copy()
    for c in ("evidence",):
        out[c] = out[c].map(neutralise_formula, na_action="ignore").astype("string")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(args.output, index=False, lineterminator="\n", encoding="utf-8")
    n_find = df["finding_id"].nunique()
    n_unc = int(codes["criterion_id"].isna().sum())
    print(f"{len(codes) - n_unc} codes for {n_find} findings; {n_unc} finding(s) uncoded -> {args.output}")
    return 0
