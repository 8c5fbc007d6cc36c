"""Force letters in: metadata and findings from .txt, .pdf and .docx, then draft codes.

A letter is read into lines, each with its location (``line N`` in a text file, ``page P line N``
in a PDF, ``paragraph N`` or ``table T row R`` in a Word file). The findings are the bullets (or
paragraphs, or a Word table's rows) under the area headings ("Preventing crime", "Attendance at
crimes and incidents", "Freeing up time", in any case and common wording), after the line "Findings
that specifically relate to your force are:" when the letter has it, and before the sign-off
("Yours sincerely"). So the letter's introductory bullets, its signature block and image
descriptions are never findings. Wrapped lines are joined; page numbers, classification markings
and lines repeated as page headers or footers are dropped. Nothing is guessed silently: a letter
without findings, without a text layer or addressed to a force that cannot be told is an
:class:`InputError`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from pathlib import Path

import pandas as pd

from .errors import InputError
from .forces import ForceResolver, normalise_force_name, outside_the_43
from .io import not_data, relative_name

LETTER_SUFFIXES = (".txt", ".pdf", ".docx")
S, I, F, B = "string", "Int64", "Float64", "boolean"

TABLE_COLUMNS = {
    "letter_findings": [
        ("finding_id", S, "Finding id: <round>:<force_id>:<finding_no, two digits>"),
        ("round", S, "Round id"),
        ("force_id", S, "Force the letter is addressed to"),
        ("area", S, "Area heading the finding sits under: prevention / attendance / freeing_time"),
        ("finding_no", I, "Position of the finding in the letter (1..n across all areas)"),
        ("text", S, "The finding as written (wrapped lines joined)"),
        ("source_file", S, "Letter file, relative to data/raw/"),
        ("source_ref", S, "Letter file and the line (or page and line, or paragraph) where the finding starts"),
    ],
    "draft_codes": [
        ("finding_id", S, "Letter finding"),
        ("round", S, "Round id"),
        ("force_id", S, "Force"),
        ("area", S, "Area heading of the finding in the letter"),
        ("finding_no", I, "Position of the finding in the letter"),
        ("criterion_id", S, "Proposed criterion; blank = no rule recognised the finding (code it in review)"),
        ("value", S, "Proposed value"),
        ("judgement", S, "positive / partial / negative, from the codebook"),
        ("confidence", F, "Draft coder's confidence, 0-1"),
        ("confidence_label", S, "high (>= 0.8) / medium (>= 0.5) / low"),
        ("rule", S, "Rule that fired: <criterion>.<how>.<cue class> (see rules/coding_rules.yaml)"),
        ("evidence", S, "Words of the finding that triggered the code: topic | cue"),
        ("text", S, "The finding"),
        ("source_ref", S, "Letter file and line"),
    ],
    "letters": [
        ("round", S, "Round id"),
        ("force_id", S, "Force the letter is addressed to"),
        ("source_file", S, "Letter file, relative to data/raw/"),
        ("date", S, "Date of the letter (ISO)"),
        ("addressee", S, "Person the letter is addressed to"),
        ("hmi", S, "HM Inspector who signed it"),
        ("region", S, "HMIC region of the HM Inspector"),
        ("title", S, "Inspection title as given in the letter"),
        ("n_findings", I, "Number of findings read"),
    ],
}

AREAS = ("prevention", "attendance", "freeing_time")

# ----- line classes -------------------------------------------------------------------------
_BULLET = re.compile(
    r"^\s*(?:(?P<glyph>[-•*·▪◦‣–—●○■□➢➤►✓\uf0b7\uf0a7\uf0d8\uf076])"
    r"|(?P<num>\(?(?:\d{1,2}|[a-z]|[ivx]{1,4})[.)]))\s+(?P<text>\S.*)$")
_GLYPH_ONLY = re.compile(r"^\s*[-•*·▪◦‣–—●○■□➢➤►✓\uf0b7\uf0a7\uf0d8\uf076]\s*$")
# Whole-line heading forms (after lower-casing, '&' -> 'and', punctuation -> space); a few extra
# words may follow the canonical phrase ("... (response, investigation, offenders)").
_TAIL = r"(?: [a-z]+){0,4}$"
_HEADINGS = {
    "prevention": re.compile(r"^(?:(?:preventing|prevention of|tackling|reducing) crime"
                             r"(?: and (?:anti social|antisocial) behaviour| and asb)?"
                             r"|crime prevention)" + _TAIL + r"|^prevention$"),
    "attendance": re.compile(r"^(?:police )?(?:attendance|attending|responding|response) (?:at|to) "
                             r"(?:reports of )?crimes?(?: and (?:incidents?|anti social behaviour))?" + _TAIL
                             + r"|^(?:police )?attendance$"),
    "freeing_time": re.compile(r"^(?:freeing|free) up (?:[a-z]+ ){0,2}time" + _TAIL + r"|^freeing time$"
                               r"|^(?:making )?(?:the )?best use of (?:police |officers? )?time" + _TAIL
                               + r"|^(?:the )?use of (?:police |officers? )time" + _TAIL),
}
# "1. ", "2) ", "Part 3: ", "(b) ", "iv. " in front of a heading
_HEADING_NUMBER = re.compile(r"^\s*(?:(?:part|section|area)\s+)?\(?(?:\d{1,2}[.):]?|[a-z][.)]|[ivx]{1,4}[.)])\s+",
                             re.I)
# The line that introduces the findings ("Findings that specifically relate to your force are:").
# An earlier sentence such as "The findings that ... are included in this letter." is not it.
_START = re.compile(r"findings\s+that\s+(?:specifically\s+)?relate\s+to\s+(?:your|the)\s+force"
                    r"(?:\s+(?:are|is|include))?\s*:?\s*$", re.I)
_END = re.compile(r"^\s*(?:yours\s+(?:sincerely|faithfully|truly)|(?:kind|best|warm)\s+regards|"
                  r"with\s+(?:best|kind)\s+(?:wishes|regards)|(?:sincerely|regards|best\s+wishes)\s*,?\s*$|"
                  r"sincerely\s*,|copied\s+to\b|cc:)", re.I)
# A closing paragraph after the last finding: the inspector thanking or inviting, in the first
# person (findings are written about the force: 'The force has...', 'HMIC found...').
_CLOSING = re.compile(r"^\s*(?:i\s+(?:am|was|would|wish|look|should|hope|have\s+been)\b|i'm\b|thank\s+you\b|"
                      r"please\s+(?:do\s+not|don't|contact|let\s+me)\b)", re.I)
_SALUTATION = re.compile(r"^\s*dear\b", re.I)
_PAGE_NO = re.compile(r"^\s*(?:page\s+\d+(?:\s+of\s+\d+)?|[-–]?\s*\d{1,3}\s*[-–]?|\d{1,3}\s*/\s*\d{1,3})\s*$",
                      re.I)
_MARKING = re.compile(r"^\s*(?:official(?:[\s–-]+sensitive)?|protect|restricted|confidential|"
                      r"not protectively marked|embargoed\b.*|draft)\s*$", re.I)
_ALT_TEXT = re.compile(
    r"^\s*(?:\[?(?:image|picture|figure|photo(?:graph)?|logo|signature)\b"
    r"|an?\s+(?:\w+\s+){0,3}(?:signature|image|picture|photo(?:graph)?|logo|drawing)\b"
    r"|the\s+(?:\w+\s+){0,2}logo\b)", re.I)
_HMI = re.compile(r"^\s*(?:hm|her majesty'?s|his majesty'?s)\s+(?:chief\s+)?inspector\s+of\s+constabulary\b"
                  r"\s*[,–-]?\s*(?P<region>.*?)\s*$", re.I)
_MONTHS = {m: i for i, m in enumerate(["january", "february", "march", "april", "may", "june", "july",
                                        "august", "september", "october", "november", "december"], 1)}
_MONTHS.update({m[:3]: i for m, i in list(_MONTHS.items())} | {"sept": 9})  # 'Sep', 'Sept', 'Sept.'

_DATE_PATTERNS = (
    re.compile(r"\b(?P<d>\d{1,2})(?:st|nd|rd|th)?\s+(?P<m>[A-Za-z]+)\.?\s+(?P<y>\d{4})\b"),
    re.compile(r"\b(?P<m>[A-Za-z]+)\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>\d{4})\b"),
    re.compile(r"\b(?P<y>\d{4})-(?P<mn>\d{2})-(?P<d>\d{2})\b"),
    re.compile(r"\b(?P<d>\d{1,2})[/.](?P<mn>\d{1,2})[/.](?P<y>\d{4})\b"),  # UK order, '3/9/2014', '03.09.2014'
)
_SENTENCE_END = (".", "!", "?", ":", ";", ".”", ".\"", ".'", ")")


# ---------------------------------------------------------------------------------------------
# Reading files into located lines
# ---------------------------------------------------------------------------------------------
def read_lines(path: Path) -> list[tuple[str, str]]:
    """[(location, text)] of a letter: 'line N' (txt), 'page P line N' (pdf), 'paragraph N' or
    'table T row R' (docx)."""
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return _read_txt(path)
    if suffix == ".pdf":
        return _read_pdf(path)
    if suffix == ".docx":
        return _read_docx(path)
    raise InputError(path, None, f"letters must be .txt, .pdf or .docx, not {suffix or 'no suffix'}",
                     "save the letter in one of those formats")


def _read_txt(path: Path) -> list[tuple[str, str]]:
    from .sheets import decode_text

    # UTF-8, Notepad's 'Unicode' (UTF-16 with its mark) or Windows 'ANSI' (cp1252) exports
    text = decode_text(path, path.read_bytes(), "save the letter as plain text (UTF-8), or as .docx or .pdf",
                       lenient=True)
    return [(f"line {n}", line) for n, line in enumerate(text.splitlines(), start=1)]


def _read_pdf(path: Path) -> list[tuple[str, str]]:
    import pdfplumber

    out: list[tuple[str, str]] = []
    try:
        with pdfplumber.open(path) as pdf:
            for p, page in enumerate(pdf.pages, start=1):
                out += _pdf_page_lines(page, p)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - pdfminer raises many types for broken files
        raise InputError(path, None, f"not a readable PDF ({exc.__class__.__name__}: {exc})",
                         "open it in a PDF reader; re-save or re-export it, then build again") from exc
    if not any(line.strip() for _, line in out):
        raise InputError(path, None, "the PDF has no text layer (it is a scanned image or a drawing), "
                         "so no findings can be read", "run OCR on it (for example ocrmypdf) or save the "
                         "letter as text or Word, then build again")
    return out


def _pdf_page_lines(page, p: int) -> list[tuple[str, str]]:
    """Lines of one PDF page, in reading order: a part laid out in two columns is read column by
    column (pdfplumber reads across the page, which ran the columns' lines into each other)."""
    lines = page.extract_text_lines(return_chars=True)
    cols = _two_columns(lines, page.width, page.bbox[0])
    if cols is None:
        return _lines_of(lines, f"page {p} line")
    x0, y0, x1, y1 = page.bbox
    gutter, top, bottom = cols
    top, bottom = max(y0, min(top, y1)), max(y0, min(bottom, y1))  # (text set past the page's edge)
    parts = [(page.within_bbox((x0, y0, x1, top)), f"page {p} line"),
             (page.within_bbox((x0, top, gutter, bottom)), f"page {p} column 1 line"),
             (page.within_bbox((gutter, top, x1, bottom)), f"page {p} column 2 line"),
             (page.within_bbox((x0, bottom, x1, y1)), f"page {p} foot line")]
    out: list[tuple[str, str]] = []
    for part, label in parts:
        found = _lines_of(part.extract_text_lines(return_chars=False), label)
        if out and found:
            out.append((found[0][0], ""))  # (a column starts as a paragraph does)
        out += found
    return out


def _lines_of(lines: list[dict], label: str) -> list[tuple[str, str]]:
    """extract_text() has no blank lines, so a blank is put where the gap above a line is
    clearly wider than the usual line spacing (a paragraph break)."""
    if not lines:
        return []
    tops = [ln["top"] for ln in lines]
    steps = sorted(b - a for a, b in zip(tops, tops[1:]) if b > a)
    usual = steps[len(steps) // 2] if steps else 0
    out, n = [], 0
    for i, ln in enumerate(lines):
        if i and usual and ln["top"] - lines[i - 1]["top"] > 1.4 * usual:
            out.append((f"{label} {n}", ""))
        n += 1
        out.append((f"{label} {n}", ln["text"]))
    return out


def _two_columns(lines: list[dict], width: float, left: float = 0) -> tuple[float, float, float] | None:
    """(gutter x, top, bottom) of the part of a page set in two columns, or None. Such a part
    shows as lines with a wide gap in the middle third of the page whose right side starts at
    one x (the second column's left edge); at least three of them, with the second column's
    own lines starting at that x too."""
    starts = []
    for ln in lines:
        chars = ln.get("chars") or []
        for a, b in zip(chars, chars[1:]):
            if b["x0"] - a["x1"] >= 12 and width * 0.3 < b["x0"] - left < width * 0.7:
                starts.append(round(b["x0"]))
    if len(starts) < 3:
        return None
    gutter = max(set(starts), key=starts.count)
    if sum(abs(x - gutter) <= 2 for x in starts) < 3:
        return None
    in_cols = [ln for ln in lines if abs(ln["x0"] - gutter) <= 2 or any(
        abs(round(b["x0"]) - gutter) <= 2 and b["x0"] - a["x1"] >= 12
        for a, b in zip(ln["chars"], ln["chars"][1:]))]
    top, bottom = min(ln["top"] for ln in in_cols), max(ln["bottom"] for ln in in_cols)
    return gutter - 2, top - 0.5, bottom + 0.5


def _read_docx(path: Path) -> list[tuple[str, str]]:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    from .sheets import refuse_compound_file

    refuse_compound_file(path, "document", ".doc", "Word", ".docx (Word Document)", "Protect Document")
    try:
        document = docx.Document(str(path))
    except Exception as exc:  # noqa: BLE001 - python-docx raises several types for bad files
        raise InputError(path, None, f"not a readable Word file ({exc.__class__.__name__})",
                         "open it in Word and save it again as .docx") from exc
    out: list[tuple[str, str]] = []
    n = 0

    def add(par: Paragraph) -> None:
        nonlocal n
        n += 1
        is_list = _is_list_item(par)
        lines = _paragraph_text(par._p).split("\n")
        for i, line in enumerate(lines):
            # (a numbered list item that is an area heading, '1. Preventing crime' numbered by
            # Word, stays a heading)
            if i == 0 and is_list and line.strip() and not _BULLET.match(line) and not _heading_area(line):
                line = "- " + line.strip()
            out.append((f"paragraph {n}", line))
        out.append((f"paragraph {n}", ""))  # paragraphs are separated like blank lines

    tables = 0

    def read(parent) -> None:
        nonlocal tables, out
        for child in parent.iterchildren():
            tag = child.tag.rsplit("}", 1)[-1]
            if tag == "p":
                add(Paragraph(child, document))
            elif tag == "tbl":
                tables += 1
                out += _table_lines(Table(child, document), tables)
            elif tag in ("sdt", "sdtContent", "customXml"):  # content controls of a template: read
                read(child)                                  # what they hold, in place

    read(document.element.body)
    return out


TABLE_HEADER = " header"  # ends the location of a table's header row: read for metadata, not a finding


def _is_label(text: str) -> bool:
    """A table cell that names rather than states: short, no sentence ending, not an area heading
    ('Area', 'Finding', 'Mobile technology')."""
    return len(text.split()) <= 6 and not text.endswith(_SENTENCE_END) and not _heading_area(text)


def _table_lines(table, t: int) -> list[tuple[str, str]]:
    """A Word table as located lines, one finding a row: 'table T row R'.

    - A first row of labels only ('Area | Finding') is the header: located 'table T header', which
      the findings reader skips (metadata may still be read from it: a letterhead laid out in a
      table).
    - In the other rows, a cell holding an area heading sets the area; label cells ('Mobile
      technology') lead the row's finding ('Mobile technology: Officers have tablets.'), so
      nothing in the row is lost; the first paragraph of each other cell, and each list item
      in it, starts a finding; further plain paragraphs follow as in the body of a letter.
    - A cell merged across columns is read once; a table nested in a cell is read as part of it."""
    out: list[tuple[str, str]] = []
    for r, row in enumerate(table.rows, start=1):
        cells = [pars for pars in map(_cell_paragraphs, _row_cells(row)) if pars]
        if not cells:
            continue
        loc = f"table {t} row {r}"
        single = [c[0][0] for c in cells if len(c) == 1]
        if r == 1 and len(table.rows) > 1 and len(single) == len(cells) and all(map(_is_label, single)):
            out += [(f"table {t}{TABLE_HEADER}", text) for text in single] + [(loc, "")]
            continue
        labels = [c[0][0] for c in cells if len(c) == 1 and _is_label(c[0][0])]
        lead = "; ".join(labels) + ": " if labels else ""
        body = [c for c in cells if not (len(c) == 1 and _is_label(c[0][0]))]
        if not body:  # labels only (a letterhead laid out in a table): each a line of its own
            for text in labels:
                out += [(loc, ""), (loc, text)]
            out.append((loc, ""))
            continue
        for cell in body:
            if len(cell) == 1 and _heading_area(cell[0][0]):
                out += [(loc, ""), (loc, cell[0][0]), (loc, "")]
                continue
            for i, (text, li) in enumerate(cell):
                out += [(loc, ""), (loc, f"- {lead}{text}" if i == 0 or li else text)]
        out.append((loc, ""))
    return out


def _row_cells(row) -> list:
    """The row's cells, a cell merged across columns once (python-docx gives it for each column)."""
    out: list = []
    for cell in row.cells:
        if not any(cell._tc is kept._tc for kept in out):
            out.append(cell)
    return out


def _cell_paragraphs(cell) -> list[tuple[str, bool]]:
    """[(text, is a list item)] of a cell's non-blank paragraphs in order, those of a table
    nested in it included (row by row), so nothing in a cell is passed over."""
    from docx.text.paragraph import Paragraph

    out = []
    for item in cell.iter_inner_content():
        if isinstance(item, Paragraph):
            text = " ".join(_paragraph_text(item._p).split())
            if text:
                out.append((text, _is_list_item(item)))
        else:  # a nested table
            for row in item.rows:
                for inner in _row_cells(row):
                    out += _cell_paragraphs(inner)
    return out


# Word's paragraph content, read as the letter reads with its tracked changes accepted:
# python-docx's Paragraph.text takes only the paragraph's own runs and hyperlinks, so it passed
# over tracked insertions (w:ins), text moved here (w:moveTo), inline content controls (w:sdt, as
# templates fill in names and dates), smart tags, custom XML and simple fields. Deleted and
# moved-away text is left out, as are drawings and text boxes (their own paragraphs, which
# python-docx does not read either) and field codes (w:instrText: the field's result is read).
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_DOCX_TEXT = {_W + "t": None, _W + "tab": "\t", _W + "ptab": "\t", _W + "cr": "\n", _W + "noBreakHyphen": "-"}
_DOCX_SKIP = {_W + name for name in ("pPr", "rPr", "del", "moveFrom", "drawing", "pict", "object", "sdtPr",
                                     "sdtEndPr", "instrText", "delText", "fldData")} | {
    "{http://schemas.openxmlformats.org/markup-compatibility/2006}AlternateContent"}


def _paragraph_text(p) -> str:
    """The text of a w:p element (tabs as '\t', line breaks as '\n'; see above)."""
    parts: list[str] = []

    def walk(el) -> None:
        for child in el:
            tag = child.tag
            if not isinstance(tag, str) or tag in _DOCX_SKIP:
                continue  # (comments and processing instructions have no str tag)
            if tag in _DOCX_TEXT:
                parts.append(child.text or "" if _DOCX_TEXT[tag] is None else _DOCX_TEXT[tag])
            elif tag == _W + "br":  # a line break; page and column breaks are no text
                parts.append("" if child.get(_W + "type") in ("page", "column") else "\n")
            else:
                walk(child)

    walk(p)
    return "".join(parts)


def _is_list_item(par) -> bool:
    style = (par.style.name if par.style is not None else "") or ""
    ppr = par._p.pPr
    return style.lower().startswith("list") or (ppr is not None and ppr.numPr is not None)


# ---------------------------------------------------------------------------------------------
# Metadata
# ---------------------------------------------------------------------------------------------
def _iso_date(text: str) -> str | None:
    for rx in _DATE_PATTERNS:
        for m in rx.finditer(text):
            g = m.groupdict()
            try:
                month = int(g["mn"]) if g.get("mn") else _MONTHS.get(g["m"].lower())
                if not month:
                    continue
                return dt.date(int(g["y"]), month, int(g["d"])).isoformat()
            except (ValueError, KeyError):
                continue
    return None


def _strip_postnominals(name: str) -> str:
    """'Zoë Billingham BA Hons (Oxon)' -> 'Zoë Billingham'."""
    words = []
    for w in name.split():
        if w.startswith("(") or w.lower() in {"hons", "hon"} or (len(w) >= 2 and w.isupper() and w.isalpha()):
            break
        words.append(w)
    return " ".join(words).strip(" ,")


def _heading_area(line: str) -> str | None:
    """Area of a heading line, or None. Headings are short and are not sentences."""
    raw = line.strip()
    if not raw or len(raw) > 90 or raw.endswith((".", ";", ",")):
        return None
    s = _HEADING_NUMBER.sub("", raw, count=1).lower().replace("&", " and ").replace("’", "").replace("'", "")
    s = re.sub(r"[^a-z0-9]+", " ", s).strip()
    if not s or len(s.split()) > 12:
        return None
    for area, rx in _HEADINGS.items():
        if rx.match(s):
            return area
    return None


def _find_force(block: list[str], path: Path, resolver: ForceResolver) -> str | None:
    """Force named in the address block: whole lines, their parts, then known names inside them."""
    lookup = resolver.lookup
    for line in block:
        for cand in [line, *re.split(r"\s+[–—-]\s+|,\s*", line)]:
            fid = resolver.try_resolve(cand)
            if fid:
                return fid
            m = re.search(r"\b(?:for|of)\s+(.+)$", cand, re.I)
            if m and resolver.try_resolve(m.group(1)):
                return resolver.try_resolve(m.group(1))
    best: dict[str, str] = {}  # force_id -> the longest of its names found inside a line
    for line in block:
        norm = f" {normalise_force_name(line)} "
        for key, fid in lookup.items():
            if len(key) >= 4 and f" {key} " in norm and len(key) > len(best.get(fid, "")):
                best[fid] = key
    if len(best) > 1:  # ('Suffolk and Norfolk Constabularies': not a guess between them)
        named = ", ".join(repr(resolver.short_name(f)) for f in sorted(best))
        raise InputError(path, "address block", f"the address names more than one force ({named})",
                         "the build reads one letter per force: start the file name with the force it "
                         "is for (e.g. norfolk_2014-09-03.txt), or split the letter")
    return next(iter(best), None)


def _metadata(lines: list[tuple[str, str]], path: Path, resolver: ForceResolver) -> dict:
    texts = [t.strip() for _, t in lines]
    sal = next((i for i, t in enumerate(texts) if _SALUTATION.match(t)), None)
    head = texts[:sal] if sal is not None else texts[:25]
    date = next((d for d in map(_iso_date, head) if d), None) or next((d for d in map(_iso_date, texts) if d), None)
    hmi = region = None
    for i, t in enumerate(texts):
        m = _HMI.match(t)
        if m:
            prev = next((texts[j] for j in range(i - 1, -1, -1) if texts[j]), "")
            hmi = _strip_postnominals(prev) or None
            region = re.sub(r"\s+region$", "", m.group("region").strip(" ,."), flags=re.I) or None
            break
    # Address block: the lines after the date line and before "Dear ..."
    addr: list[str] = []
    if sal is not None:
        date_i = next((i for i in range(sal) if _iso_date(texts[i])), -1)
        addr = [t for t in texts[date_i + 1:sal] if t and not _HMI.match(t)]
    else:  # no "Dear ...": the block of lines right after the date
        date_i = next((i for i, t in enumerate(texts[:25]) if _iso_date(t)), None)
        if date_i is not None:
            j = date_i + 1
            while j < len(texts) and not texts[j]:
                j += 1
            while j < len(texts) and texts[j] and not _START.search(texts[j]):
                addr.append(texts[j])
                j += 1
    from_name = resolver.try_resolve(re.split(r"[_\s]", path.stem)[0]) or resolver.try_resolve(path.stem)
    try:
        force = _find_force(addr, path, resolver) if addr else None
    except InputError:
        if from_name is None:
            raise
        force = from_name  # (the file name says which of the forces named it is for)
    if force and from_name and force != from_name:
        raise InputError(path, None, f"the letter is addressed to {force!r} but the file name says {from_name!r}",
                         "rename the file after the force the letter is addressed to")
    force = force or from_name
    if force is None:
        outside = next((o for line in addr for p in [line, *re.split(r"\s+[–—-]\s+|,\s*", line)]
                        if (o := outside_the_43(p))), None)
        if outside:
            raise InputError(path, "address block", f"the letter is addressed to {outside}, which is not one "
                             "of the 43 forces of England and Wales", "this analysis covers those 43 only: "
                             "move the letter out of data/raw/")
        guess = addr[-1] if addr else path.stem
        sugg = resolver.suggest(guess)
        hint = f" (did you mean {' or '.join(repr(s) for s in sugg)}?)" if sugg else ""
        raise InputError(path, "address block", f"cannot tell which force the letter is for{hint}",
                         "name the force in the address block or start the file name with it, e.g. "
                         "norfolk_2014-09-03.txt; add new spellings to reference/force_aliases.csv")
    title = None
    if sal is not None:
        nxt = next((t for t in texts[sal + 1:sal + 6] if t), None)
        if nxt and len(nxt) <= 200 and not nxt.endswith("."):
            title = nxt
    return {"force_id": force, "date": date, "addressee": addr[0] if addr else None, "hmi": hmi,
            "region": region, "title": title}


# ---------------------------------------------------------------------------------------------
# Findings
# ---------------------------------------------------------------------------------------------
def _furniture(lines: list[tuple[str, str]]) -> set[str]:
    """Page headers and footers: in a PDF, the same text at the top or bottom of two or more pages;
    in text and Word files, a short line repeated that reads like a header (no sentence ending,
    not a bullet, heading or wrapped fragment starting in lower case)."""
    pages: dict[str, list[str]] = {}
    for loc, t in lines:
        m = re.match(r"page (\d+) ", loc)
        if m and t.strip():
            pages.setdefault(m.group(1), []).append(t.strip())
    if pages:
        counts = Counter(t for texts in pages.values() for t in set(texts[:2] + texts[-2:]))
        return {t for t, n in counts.items() if n > 1 and not _BULLET.match(t) and not _heading_area(t)}
    counts = Counter(t.strip() for _, t in lines if t.strip())
    return {t for t, n in counts.items()
            if n > 1 and len(t) <= 120 and not t.endswith(_SENTENCE_END) and not t[:1].islower()
            and not _BULLET.match(t) and not _heading_area(t)}


def _join(parts: list[str]) -> str:
    out = ""
    for p in parts:
        p = p.strip()
        if not out:
            out = p
        elif re.search(r"[A-Za-z]-$", out) and p[:1].islower():
            out += p  # 'anti-' + 'social'
        else:
            out += " " + p
    return " ".join(out.split())


def _findings(lines: list[tuple[str, str]], path: Path) -> list[dict]:
    texts = [t for _, t in lines]
    start = next((i + 1 for i, t in enumerate(texts) if _START.search(t)), None)
    if start is None:
        start = next((i for i, t in enumerate(texts) if _heading_area(t) and not _BULLET.match(t)), None)
    if start is None:
        raise InputError(path, None, "no findings found: neither the line 'Findings that specifically relate "
                         "to your force are:' nor an area heading ('Preventing crime', 'Attendance at crimes "
                         "and incidents', 'Freeing up time')", "check this is a force letter; add the area "
                         "headings above the findings")
    repeated = _furniture(lines)
    found: list[dict] = []
    cur: dict | None = None
    area = None
    blank_since = False
    pending_bullet = False
    for (loc, raw) in lines[start:]:
        t = raw.strip()
        if _END.match(t) or (found and blank_since and _CLOSING.match(t)):
            break
        if not t:
            blank_since = True
            continue
        if (_PAGE_NO.match(t) or _MARKING.match(t) or _ALT_TEXT.match(t) or t in repeated
                or loc.endswith(TABLE_HEADER)):
            continue  # page furniture: transparent, it does not end a bullet
        if _GLYPH_ONLY.match(t):
            pending_bullet = True
            continue
        b = _BULLET.match(raw)
        # A heading is a whole line in a heading form (a numbered one counts, "1. Freeing up time"),
        # standing after a blank line or a finished sentence: never a wrapped fragment of a bullet.
        head = None
        if not (b and b.group("glyph")):
            after_break = cur is None or blank_since or cur["parts"][-1].rstrip().endswith(_SENTENCE_END)
            head = _heading_area(b.group("text") if b else t) if after_break else None
        if head:
            area, cur, blank_since, pending_bullet = head, None, False, False
            continue
        if b or pending_bullet:
            cur = {"area": area, "loc": loc, "parts": [b.group("text") if b else t]}
            found.append(cur)
            blank_since = pending_bullet = False
            continue
        # A line that is neither heading nor bullet: a wrapped line of the current finding, or a
        # finding written as a paragraph (after a blank line, once the previous one ended).
        prev = cur["parts"][-1].rstrip() if cur else ""
        if cur is not None and not (blank_since and prev.endswith(_SENTENCE_END) and t[:1].isupper()):
            cur["parts"].append(t)
        else:
            cur = {"area": area, "loc": loc, "parts": [t]}
            found.append(cur)
        blank_since = False
    if not found:
        raise InputError(path, None, "no findings found under the area headings",
                         "check the letter has bullet points (or paragraphs) under 'Preventing crime', "
                         "'Attendance at crimes and incidents' and 'Freeing up time'")
    return [{"area": f["area"], "loc": f["loc"], "text": _join(f["parts"])} for f in found]


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------
def _frame(table: str, records: list[dict]) -> pd.DataFrame:
    """The typed table from records (built column by column, each cast once)."""
    return pd.DataFrame({c: pd.array([r.get(c) for r in records], dtype=t) for c, t, _ in TABLE_COLUMNS[table]})


def parse_letter(path: str | Path, round_id: str, resolver: ForceResolver,
                 ref_root: str | Path | None = None) -> tuple[dict, pd.DataFrame]:
    """(metadata, findings) of one letter. ``ref_root``: folder that source_file is relative to
    (default: just the file name)."""
    meta, records = _letter_records(path, round_id, resolver, ref_root)
    return meta, _frame("letter_findings", records)


def _letter_records(path: str | Path, round_id: str, resolver: ForceResolver,
                    ref_root: str | Path | None = None) -> tuple[dict, list[dict]]:
    """(metadata, finding records) of one letter: :func:`parse_letter` before the table is
    built (a folder's letters are collected and typed once, which was most of parsing)."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, None, "letter not found", "check the path")
    lines = read_lines(path)
    meta = _metadata(lines, path, resolver)
    items = _findings(lines, path)
    source = relative_name(path, ref_root)
    fid = meta["force_id"]
    records = [{
        "finding_id": f"{round_id}:{fid}:{n:02d}", "round": round_id, "force_id": fid,
        "area": it["area"], "finding_no": n, "text": it["text"], "source_file": source,
        "source_ref": f"{source}:{it['loc']}",
    } for n, it in enumerate(items, start=1)]
    meta = {**meta, "source_file": source, "n_findings": len(records), "round": round_id}
    return meta, records


def letter_files(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in LETTER_SUFFIXES
                  and not not_data(p))


def _parse_folder(folder, round_id, resolver, ref_root=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    metas, records, seen = [], [], {}
    for path in letter_files(folder):
        meta, recs = _letter_records(path, round_id, resolver, ref_root)
        if meta["force_id"] in seen:
            raise InputError(path, None, f"a second letter for {meta['force_id']!r} in this round "
                             f"(the first is {seen[meta['force_id']]})",
                             "keep one letter per force per round; put a later letter in its own round")
        seen[meta["force_id"]] = path.name
        metas.append(meta)
        records += recs
    return _frame("letters", metas), _frame("letter_findings", records)


def parse_letters(folder: str | Path, round_id: str, resolver: ForceResolver,
                  ref_root: str | Path | None = None) -> pd.DataFrame:
    """Findings of every .txt/.pdf/.docx letter in ``folder`` (sorted by file name)."""
    return _parse_folder(folder, round_id, resolver, ref_root)[1]


def confidence_label(score: float | None) -> str | None:
    if score is None or pd.isna(score):
        return None
    return "high" if score >= 0.8 else "medium" if score >= 0.5 else "low"


def draft_findings(letters_dir: str | Path, round_id: str, codebook, resolver: ForceResolver,
                   raw_root: str | Path) -> dict[str, pd.DataFrame]:
    """Parse and draft-code a round's letters. Returns the tables 'letter_findings', 'draft_codes',
    'findings' (tidy rows, coder 'auto', source_kind 'letter'), 'rejects' (empty: unreadable
    letters are errors; uncoded findings stay visible in draft_codes) and 'letters' (metadata)."""
    from . import schemas
    from .coding import code_findings

    letters, found = _parse_folder(letters_dir, round_id, resolver, ref_root=raw_root)
    codes = code_findings(found[["finding_id", "area", "text"]], codebook)
    info = found.set_index("finding_id")
    draft = codes.join(info[["round", "force_id", "area", "finding_no", "text", "source_ref"]], on="finding_id")
    draft["confidence_label"] = draft["confidence"].map(confidence_label, na_action="ignore").astype("string")
    draft = draft[[c for c, _, _ in TABLE_COLUMNS["draft_codes"]]].astype(
        {c: t for c, t, _ in TABLE_COLUMNS["draft_codes"]}).reset_index(drop=True)

    coded = draft[draft["criterion_id"].notna()]
    names = found.set_index("finding_id")["source_file"]
    tidy = pd.DataFrame({
        "round": coded["round"], "force_id": coded["force_id"],
        "area": coded["criterion_id"].map(lambda c: codebook[c].area),
        "criterion_id": coded["criterion_id"], "value": coded["value"], "judgement": coded["judgement"],
        "evidence": coded["evidence"], "source_kind": "letter", "source_ref": coded["source_ref"],
        "source_url": coded["finding_id"].map(lambda f: f"letter: {Path(names[f]).name}"),
        "coder": "auto", "confidence": coded["confidence_label"], "confidence_score": coded["confidence"],
        "is_override": False, "finding_id": coded["finding_id"],
        "note": "rule " + coded["rule"].astype("string"),
        "synthetic": round_id.startswith("synthetic_"),
    })
    return {
        "letter_findings": found,
        "draft_codes": draft,
        "findings": schemas.conform("findings", tidy),
        "rejects": schemas.empty("rejects"),
        "letters": letters,
    }


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------
def register(subparsers) -> None:
    from .cli import add_output_arg, add_path_args

    p = subparsers.add_parser("parse-letters", help="read force letters (.txt/.pdf/.docx) into findings",
                              description="Read every letter in DIR (or one letter file) and write one "
                              "row per finding: finding_id, round, force_id, area, finding_no, text, "
                              "source_file, source_ref.")
    p.add_argument("folder", type=Path, metavar="DIR", help="folder of letters, or one letter file")
    add_output_arg(p, "CSV")
    p.add_argument("--round", default=None,
                   help="round id (default: the folder above DIR when DIR is data/raw/<round>/letters)")
    add_path_args(p)
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    from .cli import check_output_file, paths_from_args
    from .io import neutralise_formula
    from .rounds import valid_round_id

    paths = paths_from_args(args)
    target = args.folder
    if not target.exists():
        raise InputError(target, None, "not found", "give a folder of letters or a letter file")
    check_output_file(args, target)
    round_id = args.round
    if round_id is None:
        folder = target if target.is_dir() else target.parent
        if folder.name != "letters":
            raise InputError(target, None, "cannot tell the round", "pass --round <round id>")
        round_id = folder.parent.name
        if folder.parent.parent.resolve() != Path(paths.raw).resolve():  # (a letters/ folder elsewhere)
            raise InputError(target, None, f"is not a round's letters folder under {paths.raw}, so its round "
                             f"cannot be told from the folder ({round_id!r} would be a guess)",
                             "pass --round <round id>")
    if not valid_round_id(round_id):  # (it goes into every finding id)
        raise InputError(None, "--round", f"round id {round_id!r} is not lower_snake_case",
                         "give the round's id as in rounds.yaml, e.g. core_business_2014")
    resolver = ForceResolver.from_files(paths.forces, paths.force_aliases)
    if target.is_dir():
        df = parse_letters(target, round_id, resolver, ref_root=paths.raw)
    else:
        df = parse_letter(target, round_id, resolver, ref_root=paths.raw)[1]
    out = df.copy()
    out["text"] = out["text"].map(neutralise_formula, na_action="ignore").astype("string")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(args.output, index=False, lineterminator="\n", encoding="utf-8")
    for (force, src), n in df.groupby(["force_id", "source_file"]).size().items():
        print(f"{src}: {force}, {n} findings")
    print(f"{len(df)} findings -> {args.output}")
    return 0
