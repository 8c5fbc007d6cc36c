"""Draft-coding of letter findings against the codebook, driven by rules kept as data.

The rules live in ``rules/coding_rules.yaml`` (beside this module, shipped as package data): for
each framed criterion the topic phrases that bring it up, the cue words that say how well the
force does it (negation, qualifiers, strong words) and the value each kind of cue means. The file's
header explains the method in plain words; this module only executes it. No criterion has its own
code path: adding or changing a criterion is an edit of the YAML.

Output of :func:`code_findings`: one row per proposed code (finding_id, criterion_id, value,
judgement, confidence 0-1, rule, evidence). A finding no rule recognises gets one row with a blank
criterion, so it lands in the review list and nothing is dropped.

Speed: every pattern is compiled once per rules file; a criterion's patterns only run when one of
its required literal words occurs in the finding (derived from the patterns themselves); the cue
patterns form one combined regex run once per finding; identical texts are coded once per call.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from .codebook import Codebook
from .errors import InputError

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
        for q in expand_leading(p):
            if literal_led(q):
                buckets.setdefault(q[0], []).append(q[1:])
            else:
                rest.append(q)
    parts = []
    for ch, tails in buckets.items():
        esc = re.escape(ch)
        parts.append(esc + (f"(?:{'|'.join(tails)})" if len(tails) > 1 else tails[0]))
    return "|".join(parts + rest)


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


def word_matches(rx: re.Pattern, text: str) -> list[tuple[int, int]]:
    """Spans of ``rx`` that start at a word start (the regex itself has no look-behind, so
    the engine can use its fast literal-prefix scan)."""
    out, pos, n = [], 0, len(text)
    search = rx.search
    while pos <= n:
        m = search(text, pos)
        if m is None:
            break
        s, e = m.span()
        if s > 0 and (text[s - 1].isalnum() or text[s - 1] == "_"):
            pos = s + 1
            continue
        out.append((s, e))
        pos = e if e > s else s + 1
    return out


class _Scanner:
    """Non-overlapping, longest-first matches of many phrases, each tagged with its label."""

    def __init__(self, named: list[tuple[str, str]], word: bool = True):
        ordered = sorted(named, key=lambda x: -len(x[1]))  # longest phrase first
        self.labelled = [(label, re.compile(p)) for label, p in ordered]
        body = bucketed([p for _, p in ordered])
        lead, tail = (r"(?<!\w)", r"(?!\w)") if word else ("", "")
        self.rx = re.compile(f"{lead}(?:{body}){tail}")
        self._memo: dict[str, str] = {}

    def label(self, text: str) -> str:
        lab = self._memo.get(text)
        if lab is None:
            lab = next((label for label, r in self.labelled if r.fullmatch(text)), self.labelled[0][0])
            self._memo[text] = lab
        return lab

    def scan(self, text: str) -> list[tuple[int, int, str]]:
        label = self.label
        return [(m.start(), m.end(), label(m.group())) for m in self.rx.finditer(text)]


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


def _required_literals(pattern: str) -> set[str] | None:
    """Lower-case strings one of which occurs in every match of ``pattern`` (None: unknown).

    Used as a cheap gate (``substring in text``) before running a criterion's regexes."""
    from re import _constants as c
    from re import _parser

    try:
        parsed = _parser.parse(pattern, re.IGNORECASE)
    except Exception:  # noqa: BLE001 - any oddity just disables the gate
        return None

    def req(seq) -> set[str] | None:
        cands: list[set[str]] = []
        run = ""
        for op, av in seq:
            if op is c.LITERAL:
                run += chr(av).lower()
                continue
            if len(run) >= 3:
                cands.append({run})
            run = ""
            if op is c.SUBPATTERN:
                sub = req(av[-1])
                if sub:
                    cands.append(sub)
            elif op is c.BRANCH:
                alts = [req(b) for b in av[1]]
                if alts and all(alts):
                    cands.append(set().union(*alts))
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", c.MAX_REPEAT)):
                lo, _hi, sub = av
                if lo >= 1:
                    s = req(sub)
                    if s:
                        cands.append(s)
        if len(run) >= 3:
            cands.append({run})
        if not cands:
            return None
        return max(cands, key=lambda s: min(len(x) for x in s))

    return req(parsed)


@dataclass(frozen=True)
class _Entry:
    regexes: tuple[re.Pattern, ...]   # one (a phrase) or several (all within `within` chars)
    within: int
    keys: frozenset | None            # literal words one of which every match contains (None: unknown)


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


class Rules:
    """Compiled coding rules. Build with :meth:`load` (a YAML file) or :meth:`from_dict`."""

    def __init__(self, criteria, cues, neutral, clauses, refer_back_re, refer_back_words,
                 contrast_openers, settings, source):
        self.criteria: tuple[_CriterionRule, ...] = criteria
        self.cues: _Scanner = cues
        self.neutral: _Scanner | None = neutral
        self.clauses: tuple[_Scanner, ...] = clauses
        self.refer_back_re = refer_back_re
        self.refer_back_words = refer_back_words
        self.contrast_openers = contrast_openers
        self.settings = settings
        self.source = source
        # Gate: one pass of a literal trie finds which topic entries can match at all.
        self._always: list[tuple[_CriterionRule, _Entry]] = []
        by_key: dict[str, list] = {}
        for cr in criteria:
            for e in cr.entries:
                if e.keys is None:
                    self._always.append((cr, e))
                else:
                    for k in e.keys:
                        by_key.setdefault(k, []).append((cr, e))
        # A match of key K also means every key that is a prefix of K occurs there.
        self._gate_entries = {k: [x for p, xs in by_key.items() if k.startswith(p) for x in xs] for k in by_key}
        self._gate_re = re.compile(trie_regex(by_key)) if by_key else None
        self._order = {cr.cid: i for i, cr in enumerate(criteria)}

    # ----- loading -------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path | None, codebook: Codebook) -> "Rules":
        path = Path(path) if path else RULES_PATH
        if not path.exists():
            raise InputError(path, None, "coding rules file not found",
                             "point --rules at a coding_rules.yaml (the shipped one is "
                             "src/analysis/rules/coding_rules.yaml)")
        raw = path.read_text(encoding="utf-8")
        try:
            doc = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise InputError(path, f"line {mark.line + 1}" if mark else None, "not valid YAML",
                             "fix the YAML syntax; quote phrases that start with , ; : { or contain "
                             "': ', and the words yes/no/on/off") from exc
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
            body = lower_pattern(re.sub(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", rep, p))
            try:
                re.compile(body)
            except re.error as exc:
                raise InputError(source, where(key, p), f"phrase {p!r} is not a valid pattern ({exc})",
                                 "check brackets and backslashes; see the syntax notes at the top") from exc
            if "(?P<" in body:
                raise InputError(source, where(key, p), f"phrase {p!r} uses a named group",
                                 "use (?:...) instead of (?P<name>...)")
            return body

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
        refer_back_re = re.compile(r"(?<!\w)(?:" + rb_body + r")(?!\w)") if rb else None
        openers = [re.escape(o.lower())
                   for o in as_list(clause_doc.get("contrast_openers"), "clauses.contrast_openers")]
        openers = re.compile(r"\s*(?:" + "|".join(openers) + r")[ ,]") if openers else None
        settings = {"negation_join_chars": 25, "area_mismatch_penalty": 0.3,
                    "confidence": {"cue": 0.9, "linked": 0.75, "mixed": 0.7, "default": 0.6,
                                   "disagreement_penalty": 0.15}}
        user = doc.get("settings") or {}
        settings.update({k: v for k, v in user.items() if k != "confidence"})
        settings["confidence"].update(user.get("confidence") or {})

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
                    gates = [g for g in map(_required_literals, atoms) if g]
                    keys = frozenset(max(gates, key=lambda s: min(map(len, s)))) if gates else None
                    entries.append(_Entry(tuple(re.compile(bucketed([a])) for a in atoms),
                                          int(t.get("within", 120)), keys))
                else:
                    body = phrase(as_list(t, k)[0], k)
                    g = _required_literals(body)
                    entries.append(_Entry((re.compile(bucketed([body])),), 0, frozenset(g) if g else None))
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
        hits = self._hits(low, t)
        if not hits:
            return []
        clauses = self._clauses(t, low)
        starts = [c[0] for c in clauses]

        def clause_of(pos: int) -> int:
            return bisect.bisect_right(starts, pos) - 1

        # Topic hits grouped per criterion and clause: {cid: {clause: [spans]}}
        groups: dict[str, dict[int, list]] = {}
        rule_of: dict[str, _CriterionRule] = {}
        for cr, spans in hits:
            groups.setdefault(cr.cid, {}).setdefault(clause_of(spans[0][0]), []).extend(spans)
            rule_of[cr.cid] = cr
        by_clause: dict[int, list[tuple[str, list]]] = {}
        for cid, cl in groups.items():
            for k, spans in cl.items():
                by_clause.setdefault(k, []).append((cid, spans))

        # Cues are read with neutral phrases blanked out (same length, same offsets). Topic words
        # are not blanked: a cue may sit inside a topic phrase ("good practice is seldom shared");
        # cue-like words that belong to a topic ("failed to answer bail") are listed as neutral.
        masked = _mask(low, [c[:2] for c in self.neutral.scan(low)]) if self.neutral else low
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
            own_only: set = set()
            if cr.cues is not None:
                spec = cr.cues.scan(text_for_cues)
                if spec:
                    own_only = set(spec)
                    cues = _subsume(cues + spec)
            cues = self._join_negations(cues, clause_of)
            value, conf, rule, evidence, first = self._decide(cr, cl, cues, own_only, clauses, clause_of,
                                                              by_clause, t)
            if area and area != cr.area:
                conf -= float(self.settings["area_mismatch_penalty"])
            conf = round(min(0.99, max(0.05, conf)), 2)
            out.append((first, cid, value, cr.judgements[value], conf, rule, evidence))
        out.sort(key=lambda r: r[0])
        return [r[1:] for r in out]

    # ----- steps ------------------------------------------------------------------------------
    def _hits(self, low: str, t: str) -> list[tuple[_CriterionRule, tuple]]:
        active = list(self._always)
        if self._gate_re is not None:
            pos, search, gate, seen = 0, self._gate_re.search, self._gate_entries, set()
            while True:
                m = search(low, pos)
                if m is None:
                    break
                key = m.group()
                if key not in seen:
                    seen.add(key)
                    active += gate[key]
                pos = m.start() + 1
            if len(seen) > 1:
                active = list({id(x[1]): x for x in active}.values())
        hits = []
        for cr, e in active:
            if len(e.regexes) == 1:
                hits += [(cr, (sp,)) for sp in word_matches(e.regexes[0], low)]
                continue
            found = []
            for rx in e.regexes:
                spans = word_matches(rx, low)
                if not spans:
                    break
                found.append(spans)
            else:
                best = None
                for anchor in found[0]:  # closest combination around each match of the first phrase
                    spans = [anchor] + [min(o, key=lambda sp: abs(sp[0] - anchor[0])) for o in found[1:]]
                    lo, hi = min(s for s, _ in spans), max(e2 for _, e2 in spans)
                    if hi - lo <= e.within and not _SENT_END.search(t, lo, hi):  # same sentence
                        if best is None or hi - lo < best[0]:
                            best = (hi - lo, tuple(sorted(set(spans))))
                if best:
                    hits.append((cr, best[1]))
        # keep criterion order stable (rules order) whatever order the gate found them in
        order = self._order
        hits.sort(key=lambda h: (order[h[0].cid], h[1]))
        return hits

    def _clauses(self, t: str, low: str) -> list[tuple[int, int, str]]:
        """[(start, sentence no, kind)], kind of the clause's start: sentence / contrast_sentence /
        refer_back / refer_back_contrast / contrast / additive."""
        sents, pos = [], 0
        for m in _SENT_END.finditer(t):
            word = t[max(0, m.start() - 8):m.start()].split()[-1:] or [""]
            if word[0].lower().rstrip(".") in _ABBREVIATIONS:
                continue
            sents.append((pos, m.end()))
            pos = m.end()
        sents.append((pos, len(t)))
        breaks = sorted(b for sc in self.clauses for b in sc.scan(low)) if len(self.clauses) > 1 \
            else (self.clauses[0].scan(low) if self.clauses else [])
        out = []
        openers = self.contrast_openers
        for i, (s0, s1) in enumerate(sents):
            kind = "sentence"
            if i > 0 and self.refer_back_re is not None:
                first = " ".join(low[s0:s1].split()[: self.refer_back_words])
                if self.refer_back_re.search(first):
                    kind = "refer_back"
            if openers is not None and openers.match(low, s0):
                kind = "refer_back_contrast" if i > 0 else "contrast_sentence"
            out.append((s0, i, kind))
            for b, _e, bkind in breaks:
                if s0 < b < s1:
                    out.append((b, i, bkind))
        return out

    def _join_negations(self, cues, clause_of):
        """'not' just before a strong word ('not clearly', 'no structured') is one negation cue."""
        gap = int(self.settings["negation_join_chars"])
        cues = sorted(cues)
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
        conf_cfg = self.settings["confidence"]
        per_group = []  # (clause, kind, class, value, cue spans, topic spans)
        for k, spans in sorted(groups.items()):
            own, add, con = [], [], []
            for c in cues:
                ck = clause_of(c[0])
                if ck == k:
                    if c in own_only or self._nearest(c, by_clause.get(k, []), cr.cid):
                        own.append(c)
                    continue
                target, link = self._float_target(ck, clauses, by_clause, c, cr.cid, c in own_only)
                if target == k:
                    (con if link == "contrast" else add).append(c)
            best_own, best_add, best_con = _best(own), _best(add), _best(con)
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

        explicit = [g for g in per_group if g[1] != "default"]
        penalty = 0.0
        if not explicit:
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
                    penalty = float(conf_cfg["disagreement_penalty"])
            conf = {"cue": conf_cfg["cue"], "linked": conf_cfg["linked"], "mixed": conf_cfg["mixed"]}[kind]
        value = chosen[3]
        rule = f"{cr.cid}.{kind}" + (f".{chosen[2]}" if chosen[2] else "")
        topic = " … ".join(t[s:e] for s, e in _merge_spans(chosen[5]))
        cue_words = ", ".join(t[s:e] for s, e in _merge_spans([c[:2] for c in chosen[4]]))
        evidence = topic + (f" | {cue_words}" if cue_words else "")
        first_pos = min(s for s, _ in chosen[5])
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


def _merge_spans(spans) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


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


def _subsume(cues):
    """Drop a cue lying inside a longer one (the longer, more specific phrase wins)."""
    cues = sorted(set(cues), key=lambda c: (c[0], -(c[1] - c[0])))
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
    cls_name = min((c[2] for c in cues), key=_PRIORITY.__getitem__)
    return cls_name, [c for c in cues if c[2] == cls_name]


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------
_CACHE: dict = {}


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
    cols: dict[str, list] = {c: [] for c in OUTPUT_COLUMNS}
    for fid, text, area in zip(ids, texts, areas):
        area = area if isinstance(area, str) and area else None
        if not isinstance(text, str) or not text.strip():
            codes = []
        else:
            key = (text, area)
            codes = memo.get(key)
            if codes is None:
                codes = memo[key] = rules.code_text(text, area)
        if not codes:
            for c, v in zip(OUTPUT_COLUMNS, (fid, None, None, None, 0.0, UNCODED_RULE, None)):
                cols[c].append(v)
            continue
        for code in codes:
            cols["finding_id"].append(fid)
            for c, v in zip(OUTPUT_COLUMNS[1:], code):
                cols[c].append(v)
    return pd.DataFrame({c: pd.array(cols[c], dtype=OUTPUT_DTYPES[c]) for c in OUTPUT_COLUMNS})


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------
def register(subparsers) -> None:
    from .cli import add_path_args

    p = subparsers.add_parser("code-findings", help="draft-code findings (CSV in: finding_id, area, text)",
                              description="Propose codebook codes for findings, one row per code. "
                              "A finding no rule recognises gets a row with a blank criterion.")
    p.add_argument("input", type=Path, help="CSV with columns finding_id, text (and optionally area)")
    p.add_argument("-o", "--output", type=Path, required=True, help="CSV to write")
    p.add_argument("--rules", type=Path, default=None, help="coding rules YAML (default: the shipped rules)")
    add_path_args(p)
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    from .cli import paths_from_args
    from .io import neutralise_formula

    paths = paths_from_args(args)
    if not args.input.exists():
        raise InputError(args.input, None, "file not found", "check the path")
    df = pd.read_csv(args.input, dtype="string", keep_default_na=False, na_values=[""], encoding="utf-8-sig")
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
