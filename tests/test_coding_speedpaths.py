"""The coder's speed paths against the plain forms they stand for (analysis.coding).

Each trick must find exactly what the plain regex or the plain step finds:
  * space-led regexes plus the other leads tried one by one (other_leads) for the gate and the
    shared cue/neutral/clause-break pass, instead of a '[^\\w]'-led regex;
  * ASCII twins (ascii_compile) of the topic, gate and shared-pass regexes on normalised ASCII text;
  * topic hits left unsorted when they already come in rules order;
  * whole-word scanners led by a non-word character instead of a look-behind (_Scanner._led);
  * refer-back phrases searched in the text itself (Rules._refers_back);
  * clause breaks that start with punctuation skipped when none of their first characters occur.
The end-to-end test compares with tests/test_coding.py's reference rules, which switch all of
them off.
Texts: the labelled sets and the seed letter, and random variations of them with the characters
that make a word start follow something other than a space ('(', '-', '/', quotes), non-ASCII
letters and control characters."""

from __future__ import annotations

import copy
import random
import re

import pytest
from test_coding import _guard_texts, _reference_rules

from analysis.codebook import Codebook
from analysis.coding import (_SENT_END, RULES_PATH, Rules, ascii_compile, normalise_text,
                             other_leads, word_matches)
from analysis.paths import RAW

_LEADS = ["(", "-", "/", "'", '"', "[", "\u2019", "\u2014", "\x00", "&", "."]


@pytest.fixture(scope="module")
def codebook() -> Codebook:
    return Codebook.load(RAW / "codebook.yaml")


@pytest.fixture(scope="module")
def rules(codebook) -> Rules:
    return Rules.load(RULES_PATH, codebook)


def _vary(text: str, rng: random.Random) -> str:
    """``text`` with punctuation stuck to the front of some words, sometimes a non-ASCII letter,
    a control character or upper case."""
    words = text.split(" ")
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(words))
        words[i] = rng.choice(_LEADS) + words[i]
    out = " ".join(words)
    roll = rng.random()
    if roll < 0.15:
        out = out.replace("e", "\u00e9", 1)
    elif roll < 0.25:
        out = out.replace(" ", "\x1c", 1)   # str.split counts it as a space: normalised away
    elif roll < 0.3:
        out = out.upper()
    return out


# Second sentences and clauses that lend their cues to the topic before them (refer-back
# sentences, clause breaks that start with punctuation): they exercise the clause steps.
_FOLLOW_UPS = [" This is rarely done.", " It is not consistent.", " They are well used by officers.",
               " These are limited; some are good.", " Such work is developing: not all staff know it.",
               ", and it is rarely used.", "; however, it is not well understood.", ", which is good.",
               ": most officers do not use it.", " It is not. This is clear."]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    base = _guard_texts()
    rng = random.Random(7)
    varied = [_vary(rng.choice(base), rng) for _ in range(1500)]
    followed = [rng.choice(base).rstrip(". ") + rng.choice(_FOLLOW_UPS) for _ in range(600)]
    return base + varied + followed


def _spaced(text: str) -> str:
    return " " + normalise_text(text).lower()


def test_other_leads_are_the_word_starts_not_after_a_space(texts):
    def is_word(ch: str) -> bool:
        return ch.isalnum() or ch == "_"

    found_some = 0
    for t in texts:
        s = _spaced(t)
        want = [i for i in range(len(s) - 1) if not is_word(s[i]) and s[i] != " " and is_word(s[i + 1])]
        assert other_leads(s) == want, t
        assert other_leads(s, before_word_only=False) == [i for i, ch in enumerate(s)
                                                          if not is_word(ch) and ch != " "], t
        found_some += bool(want)
    assert found_some > 500


def test_normalised_text_has_none_of_the_characters_ascii_twins_see_differently():
    text = normalise_text("a\x1cb\x1dc\x1ed\x1fe\tf\u00a0g")
    assert text == "a b c d e f g"


def test_gate_words_are_those_of_the_plain_gate(rules, texts):
    for t in texts:
        s = _spaced(t)
        plain = sorted(rules._gate_re.findall(s))
        assert sorted(rules._gate_words(s)) == plain, t
        assert sorted(rules._gate_words(s, other_leads(s))) == plain, t
        if s.isascii():
            assert sorted(rules._gate_words(s, other_leads(s), ascii_text=True)) == plain, t


def test_the_shared_pass_finds_what_each_scanner_finds_alone(rules, texts):
    multi = rules._multi
    for t in texts:
        s = _spaced(t)
        alone = [sc.scan(s[1:]) for sc in multi.scanners]
        assert multi.scan(s) == alone, t
        if s.isascii():
            assert multi.scan(s, other_leads(s), ascii_text=True) == alone, t


def test_ascii_twins_of_the_topic_patterns_find_the_same_spans(rules, texts):
    ascii_texts = [s for s in map(_spaced, texts) if s.isascii()]
    assert len(ascii_texts) > 1000
    checked = 0
    for cr in rules.criteria:
        for e in cr.entries:
            for j in range(len(e.bodies)):
                fast, fast_a = e.fast[j], e.fast_ascii[j]
                rx, rx_a = e.regexes[j], e.regexes_ascii[j]
                assert rx_a.flags & re.ASCII
                for s in ascii_texts:
                    assert word_matches(rx, s[1:]) == word_matches(rx_a, s[1:]), (cr.cid, s)
                    if fast is not None:
                        assert [m.span() for m in fast.finditer(s)] == [m.span() for m in fast_a.finditer(s)]
                checked += 1
    assert checked > 100


def test_ascii_compile_keeps_patterns_it_cannot_twin():
    kelvin = "(?i)\u212a"   # matches 'k' case-insensitively in Unicode mode only
    assert ascii_compile(kelvin) == re.compile(kelvin) and ascii_compile(kelvin).match("k")
    assert ascii_compile("(?u)a") == re.compile("(?u)a")
    assert ascii_compile(r"\w+") == re.compile(r"\w+", re.ASCII)


def test_topic_hits_come_in_rules_order(rules, texts):
    """_hits sorts only when a criterion has hits from two entries: its list must equal the
    sorted one in every case."""
    order = rules._order
    sorted_anyway = 0
    for t in texts:
        low = normalise_text(t).lower()
        hits = rules._hits(low, normalise_text(t), " " + low)
        want = sorted(hits, key=lambda h: (order[h[0].cid], h[1]))
        assert hits == want, t
        sorted_anyway += len(hits) > 1
    assert sorted_anyway > 50


def test_speed_paths_never_change_a_code(codebook, rules, texts):
    """End to end, on the varied texts too: the same codes as the rules with every fast path off."""
    slow = _reference_rules(codebook)
    for t in texts:
        assert rules.code_text(t) == slow.code_text(t), t


def test_refer_back_is_asked_of_the_text_itself(rules, texts):
    """_refers_back searches the normalised text between the sentence break and the end of the
    sentence's first words: the same answer as searching those words cut out."""
    plain = copy.copy(rules)
    plain._refer_back_lead = None
    assert rules._refer_back_lead is not None
    rng = random.Random(5)
    yes = 0
    for t in texts + [f"The force has a database. {w} is rarely used." for w in ("This", "It", "Thistle", "These")]:
        low = normalise_text(t).lower()
        for m in _SENT_END.finditer(normalise_text(t)):
            s0 = m.end()
            for s1 in {len(low), rng.randint(s0, len(low)), min(len(low), s0 + 12)}:
                got = rules._refers_back(low, s0, s1)
                assert got == plain._refers_back(low, s0, s1), (t, s0, s1)
                yes += got
    assert yes > 50


def test_whole_word_scanners_led_by_a_non_word_character_find_the_same(rules, texts):
    """_Scanner.scan runs '[^\\w](phrases)(?!\\w)' on ' ' + text where that is allowed: the same
    matches as the plain '(?<!\\w)(phrases)(?!\\w)', also on text with spans blanked out."""
    scanners = [rules.cues, rules.neutral, *rules.clauses]
    scanners += [sc for cr in rules.criteria for sc in (cr.cues, cr.neutral) if sc is not None]
    led = [sc for sc in scanners if sc._led is not None]
    assert len(led) >= 8
    rng = random.Random(11)
    for t in texts:
        low = normalise_text(t).lower()
        a = rng.randrange(len(low) + 1)
        blanked = low[:a] + "\x00" * min(6, len(low) - a) + low[a + 6:]
        for text in (low, blanked):
            for sc in led:
                plain = [(m.start(), m.end(), sc.label(m.group())) for m in sc.rx.finditer(text)]
                assert sc.scan(text) == plain, (t, sc.body[:60])


@pytest.mark.parametrize("pattern,chars", [
    (r",(?:\s*and\b|\s*so\b)|;|:", {",", ";", ":"}),
    (r"[;:] ?|(?:\.\.\.)+", {";", ":", "."}),
    (r"(?:, )?but", {",", "b"}),          # the optional group may be skipped
    (r"a?", None),                         # may be empty
    (r"\s*;", None),                       # a class of any spaces
    (r"(?i)x", None),                      # case ignored
    (r"\bx", None),                        # tests its position
    (r".x", None),
])
def test_first_chars_of_a_pattern(pattern, chars):
    from analysis.pattern_facts import _first_chars, _parse

    got = _first_chars(_parse(pattern))
    assert got == (None if chars is None else frozenset(chars))
    if got is not None:   # every match begins with one of them
        for text in (", and", "; x", ":", "...", ", but", "but", "b"):
            for m in re.finditer(pattern, text):
                assert m.group() == "" or m.group()[0] in got


def test_other_breaks_are_only_skipped_when_none_can_begin(rules, texts):
    firsts = rules._other_break_firsts
    assert firsts and all(f is not None for f in firsts)
    skipped = 0
    for t in texts:
        low = normalise_text(t).lower()
        for sc, chars in zip(rules._other_breaks, firsts):
            found = [m.group() for m in sc.rx.finditer(low)]
            assert all(x[0] in chars for x in found), (t, found)
            skipped += not any(ch in low for ch in chars)
    assert skipped > 100


def test_coding_makes_no_reference_cycles(codebook, texts):
    """code_findings pauses the cyclic garbage collector while it codes (_collector_paused): only
    safe while coding leaves nothing for that collector. Fresh rules, so first-use work (pattern
    compiling, the gate's memo) is in the count too; then the collector is back as it was."""
    import gc

    import pandas as pd

    from analysis import coding

    rules = Rules.load(RULES_PATH, codebook)
    findings = pd.DataFrame({"finding_id": [f"f{i}" for i in range(len(texts))], "text": texts,
                             "area": ["attendance"] * len(texts)})
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with coding._collector_paused():
            assert not gc.isenabled()
            for text in texts:
                rules.code_text(text, "attendance")
        assert not gc.isenabled()  # a caller's choice is kept
        assert gc.collect() == 0   # nothing unreachable was left behind
    finally:
        if was_enabled:
            gc.enable()
    out = coding.code_findings(findings, codebook, rules)
    assert gc.isenabled() == was_enabled
    assert set(out["finding_id"]) == set(findings["finding_id"])
