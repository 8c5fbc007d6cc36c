"""The house style of every chart: afcharts (Analysis Function) style and palette, fixed judgement
colours, and the frame around a chart (title that states the finding, subtitle saying what is
plotted, source note, SYNTHETIC / EMBARGOED marks).

Decisions:
- The afcharts Matplotlib style sheet (``afcharts.afcharts``) is applied through a context manager,
  never globally, so importing this module changes nothing for other code.
- Judgement colours are fixed across all charts. Positive / partial / negative run dark blue ->
  light blue -> orange (AF palette colours; they differ in lightness as well as hue, so they
  survive the common colour-vision deficiencies and greyscale printing). ``not_reported`` is a pale
  grey with diagonal hatching and ``contested`` dark pink with cross-hatching: the two states that
  are *not* findings never rely on colour alone. Heatmap cells also carry a symbol.
- Figures are built with :class:`matplotlib.figure.Figure` (not pyplot), so nothing is kept in a
  global figure registry and notebooks still display them.
- Determinism: a fixed ``svg.hashsalt`` and no date in the SVG/PNG metadata.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import textwrap
from dataclasses import dataclass

from .errors import InputError

# ----- palette ------------------------------------------------------------------------------
# afcharts categorical palette (afcharts.af_colours.get_af_colours("categorical")); repeated here
# as data so that picking a colour needs no import, and checked against afcharts by the tests.
AF_CATEGORICAL = ("#12436D", "#28A197", "#801650", "#F46A25", "#3D3D3D", "#A285D1")
AF_SEQUENTIAL = ("#092135", "#12436D", "#2073BC", "#6BACE6", "#ADD1F1", "#F2F2F2")
AF_FOCUS = ("#12436D", "#BFBFBF")
TEXT = "#0B0C0C"
MUTED_TEXT = "#505A5F"

JUDGEMENT_ORDER = ("positive", "partial", "negative", "contested", "not_reported")


@dataclass(frozen=True)
class Look:
    """How one category is drawn: fill, hatch, edge, the symbol put in heatmap cells, label."""

    colour: str
    hatch: str | None
    symbol: str
    label: str
    text_colour: str = "white"
    hatch_colour: str = "white"


JUDGEMENT_LOOK: dict[str, Look] = {
    "positive": Look("#12436D", None, "+", "Positive (strength)"),
    "partial": Look("#6BACE6", None, "±", "Partial (mixed)", text_colour=TEXT),
    "negative": Look("#F46A25", None, "−", "Negative (weakness)", text_colour=TEXT),
    "contested": Look("#801650", "xx", "?", "Contested (sources disagree)", hatch_colour="#D9A3C3"),
    "not_reported": Look("#F2F2F2", "///", "", "Not reported (no finding)", text_colour=TEXT,
                         hatch_colour="#9A9A9A"),
}
JUDGEMENT_COLOURS = {k: v.colour for k, v in JUDGEMENT_LOOK.items()}
JUDGEMENT_LABELS = {k: v.label for k, v in JUDGEMENT_LOOK.items()}

# Source strength tiers for coverage charts: strongest first, darkest first (AF sequential blues).
STRENGTH_TIERS = ("Force letter", "HMIC web page", "Press or national report via press",
                  "Force or PCC statement", "Secondary source")
SOURCE_TIER = {
    "letter": "Force letter",
    "hmic_page": "HMIC web page",
    "press_summary": "Press or national report via press",
    "national_report_via_press": "Press or national report via press",
    "pcc_statement": "Force or PCC statement",
    "force_statement": "Force or PCC statement",
    "secondary": "Secondary source",
}
TIER_LOOK: dict[str, Look] = {
    "Force letter": Look("#092135", None, "", "Force letter"),
    "HMIC web page": Look("#12436D", None, "", "HMIC web page"),
    "Press or national report via press": Look("#2073BC", None, "", "Press or national report via press"),
    "Force or PCC statement": Look("#6BACE6", None, "", "Force or PCC statement", text_colour=TEXT),
    "Secondary source": Look("#ADD1F1", None, "", "Secondary source", text_colour=TEXT),
    "Contested": JUDGEMENT_LOOK["contested"],
    "Not reported": JUDGEMENT_LOOK["not_reported"],
}
COVERAGE_ORDER = (*STRENGTH_TIERS, "Contested", "Not reported")

UNKNOWN = "Unknown"  # label of a blank region / country

# ----- Matplotlib settings on top of afcharts ---------------------------------------------------
SVG_HASHSALT = "core-business"
HOUSE_RC = {
    "svg.hashsalt": SVG_HASHSALT,   # fixed ids in SVG output -> byte-identical files
    # Text as <text> elements, not glyph outlines: selectable, searchable and read by screen
    # readers, and several times cheaper to write. Each element names the afcharts font list
    # ending in the generic sans-serif, so a viewer without the first fonts falls back; the
    # layout was measured with the font Matplotlib found (DejaVu Sans where Arial is absent,
    # which is wider than Arial, so text never runs longer than it was laid out).
    "svg.fonttype": "none",
    "font.size": 11,                # afcharts uses 14; report charts carry more labels
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "hatch.linewidth": 0.8,
    "figure.dpi": 100,
    "savefig.dpi": 300,
    "path.simplify": False,         # never drop vertices differently between runs
    # No glyph hinting: hinting snaps outlines to the pixel grid, which helps small text on a
    # ~100 dpi screen but is invisible at the 300 dpi of the report PNGs, and it is a tenth of
    # the export time (FreeType runs each glyph's hinting program). Unhinted metrics are also
    # the ones the SVG text is measured with, so PNG and SVG lay text out alike.
    "text.hinting": "no_hinting",
    # Labels come from input (codebook labels, force names, round titles): a '$' in them is a
    # dollar sign, not the start of mathtext ('costing $5m or $10m' drew as '5mor10m' in italics).
    "text.parse_math": False,
}
SAVE_METADATA = {
    "svg": {"Date": None, "Creator": "core-business (matplotlib)"},
    "png": {"Software": "core-business (matplotlib)"},
}
TITLE_SIZE, SUBTITLE_SIZE, SOURCE_SIZE = 14, 11, 9


@functools.cache
def _afcharts_rc() -> dict:
    """The afcharts style sheet's settings, read once (as ``matplotlib.style`` reads the
    package style "afcharts.afcharts"; reading the file each time was most of the cost of
    entering the house style, which every chart does twice)."""
    import importlib.resources

    import matplotlib

    rc = matplotlib.rc_params_from_file(importlib.resources.files("afcharts") / "afcharts.mplstyle",
                                        use_default_template=False)
    return {k: rc[k] for k in rc}


@contextlib.contextmanager
def house_style():
    """Apply the afcharts style sheet plus the house settings for the duration of the block."""
    import matplotlib.style

    with matplotlib.style.context([_afcharts_rc(), HOUSE_RC]):
        yield


def af_palette(name: str = "categorical", n: int | None = None) -> list[str]:
    """The afcharts palette (from afcharts itself)."""
    from afcharts.af_colours import get_af_colours

    return list(get_af_colours(name, number_of_colours=n))


# ----- marks ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Marks:
    """What must be stamped on a chart: synthetic data, and/or an embargo end."""

    synthetic: bool = False
    embargo_until: dt.datetime | None = None

    @property
    def embargoed(self) -> bool:
        return self.embargo_until is not None and dt.datetime.now() < self.embargo_until

    @property
    def embargo_label(self) -> str | None:
        """'EMBARGOED until 09:30 on 1 January 2099' while embargoed (on charts, and in a column
        of the data written with them), else None."""
        return f"EMBARGOED until {format_embargo(self.embargo_until)}" if self.embargoed else None

    @property
    def labels(self) -> list[str]:
        out = []
        if self.synthetic:
            out.append("SYNTHETIC DATA: not real findings")
        if self.embargoed:
            out.append(self.embargo_label)
        return out


def n_forces(k: int) -> str:
    """'1 force', '3 forces' (chart titles and alt text read as plain English)."""
    return f"{k} force" if k == 1 else f"{k} forces"


def were(k: int) -> str:
    return "was" if k == 1 else "were"


def format_embargo(when: dt.datetime) -> str:
    day = f"{when.day} {when:%B %Y}"
    return day if when.time() == dt.time() else f"{when:%H:%M} on {day}"


def marks_for(rounds_table, round_ids) -> Marks:
    """Marks for charts drawn from the given rounds (``rounds`` processed table)."""
    ids = [r for r in ([round_ids] if isinstance(round_ids, str) else list(round_ids)) if r]
    sub = rounds_table[rounds_table["round"].isin(ids)]
    synthetic = bool(sub["synthetic"].fillna(False).any()) or any(r.startswith("synthetic_") for r in ids)
    ends = []
    for value in sub["embargo_until"].dropna():
        try:
            ends.append(dt.datetime.fromisoformat(str(value)).replace(tzinfo=None))
        except ValueError:
            continue
    now = dt.datetime.now()
    future = [e for e in ends if e > now]
    return Marks(synthetic=synthetic, embargo_until=max(future) if future else None)


class EmbargoError(InputError):
    """Refusal to export outputs of a round still under embargo."""

    def __init__(self, round_id: str, until: dt.datetime):
        super().__init__("rounds.yaml", f"round {round_id}",
                         f"round is EMBARGOED until {format_embargo(until)}",
                         "wait until then, or pass allow_embargoed=True / --allow-embargoed "
                         "(outputs stay marked EMBARGOED)")


# ----- the frame around a chart -------------------------------------------------------------------
LEFT_MARGIN_IN = 0.25  # inches from the figure's left edge to the title, subtitle and source note


def _wrap(text: str, width_in: float, size: float, bold: bool = False) -> list[str]:
    """Wrap to the figure width (DejaVu Sans: a character is about 0.56 em wide, bold 0.64)."""
    if not text:
        return []
    chars = max(20, int(width_in * 72 / (size * (0.64 if bold else 0.56))))
    # (not at hyphens: 'core-business' and 'force-criterion' stay whole on one line)
    return textwrap.wrap(text, chars, break_on_hyphens=False) or [text]


def new_figure(width: float, height: float, *, title: str, subtitle: str = "", source: str = "",
               marks: Marks = Marks()):
    """A Figure with the house frame: title (the finding), subtitle (what is shown), source note at
    the foot, and SYNTHETIC / EMBARGOED marks. Add axes with ``fig.add_subplot`` or
    ``fig.subplots``; constrained layout keeps them inside the frame."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    # The figure's label is the title a reader is told first: the exported SVG's <title>.
    fig.set_label(". ".join([*marks.labels, title]))
    left = LEFT_MARGIN_IN / width
    line = 1 / 72 * 1.3  # inches per point of type, with line spacing
    y = height - 0.15
    title_lines = _wrap(title, width - 0.5, TITLE_SIZE, bold=True)
    fig.text(left, y / height, "\n".join(title_lines), ha="left", va="top", fontsize=TITLE_SIZE,
             fontweight="bold", color=TEXT)
    y -= len(title_lines) * TITLE_SIZE * line + 0.08
    sub_lines = _wrap(subtitle, width - 0.5, SUBTITLE_SIZE)
    if sub_lines:
        fig.text(left, y / height, "\n".join(sub_lines), ha="left", va="top", fontsize=SUBTITLE_SIZE,
                 color=MUTED_TEXT)
        y -= len(sub_lines) * SUBTITLE_SIZE * line
    labels = marks.labels
    if labels:
        y -= 0.08
        fig.text(left, y / height, "   ".join(labels), ha="left", va="top", fontsize=SUBTITLE_SIZE,
                 fontweight="bold", color="white",
                 bbox={"boxstyle": "square,pad=0.3", "facecolor": "#801650", "edgecolor": "none"})
        y -= SUBTITLE_SIZE * line + 0.1
    top = y - 0.12
    src_lines = _wrap(source, width - 0.5, SOURCE_SIZE)
    bottom = 0.12 + len(src_lines) * SOURCE_SIZE * line
    if src_lines:
        fig.text(left, 0.1 / height, "\n".join(src_lines), ha="left", va="bottom", fontsize=SOURCE_SIZE,
                 color=MUTED_TEXT)
    if marks.synthetic:  # a watermark across the plot area as well as the label
        fig.text(0.5, 0.5, "SYNTHETIC", ha="center", va="center", rotation=30, fontsize=72,
                 fontweight="bold", color="#801650", alpha=0.12, zorder=0)
    fig.get_layout_engine().set(rect=(0, bottom / height, 1, (top - bottom) / height),
                                h_pad=0.04, w_pad=0.04)
    return fig


def judgement_handles(states=JUDGEMENT_ORDER, with_symbols: bool = True):
    """Legend handles for the judgement scale (colour + hatch + symbol in the label)."""
    from matplotlib.patches import Patch

    out = []
    for s in states:
        look = JUDGEMENT_LOOK[s]
        label = f"{look.symbol}  {look.label}" if with_symbols and look.symbol else look.label
        out.append(Patch(facecolor=look.colour, hatch=look.hatch, edgecolor="#6F777B", linewidth=0.5,
                         label=label))
    return out


def patch_kwargs(look: Look) -> dict:
    """Keyword arguments for a bar/rectangle drawn in a category's look."""
    kw = {"facecolor": look.colour, "edgecolor": "white", "linewidth": 0.6}
    if look.hatch:
        kw.update(hatch=look.hatch, hatchcolor=look.hatch_colour)
    return kw
