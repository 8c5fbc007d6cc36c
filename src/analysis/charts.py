"""The report charts, and their export to reports/figures/ (PNG 300 dpi, SVG, CSV of the plotted
data, alt text).

Each chart function takes the processed tables and returns a :class:`Chart`: the Figure, the exact
data plotted, the title (which states the finding, computed from the data), the subtitle, the
source note and the alt text. ``fig, data = charts.framework_matrix(tables)`` also works.

Charts: 1 framework matrix (forces x criteria); 2 one per framed criterion (forces per value, and
which forces); 3 coverage by source strength (per criterion, per force); 4 regional / country
comparison; 5 share of crimes attended with the national average.

Determinism: PNG, SVG and CSV are byte-identical for the same inputs (fixed svg.hashsalt, no
dates, sorted data, '\\n' line endings, a PNG writer of our own). SVG text is text, not glyph
outlines (selectable and read by screen readers). In a notebook a Chart shows itself (a PNG at
screen resolution with the alt text), so a cell can end with the chart rather than its figure.

Synthetic rounds carry a SYNTHETIC mark (on the chart, in the alt text, in the CSV's
``synthetic`` column and in the file name); a round under embargo carries "EMBARGOED until ..."
and :func:`export_all` refuses it unless ``allow_embargoed=True``.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import functools
import io
import textwrap
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import compare_forces as cf
from .io import neutralise_formula
from .style import (COVERAGE_ORDER, JUDGEMENT_LOOK, JUDGEMENT_ORDER, SAVE_METADATA, SOURCE_TIER,
                    TIER_LOOK, UNKNOWN, EmbargoError, Marks, house_style, judgement_handles,
                    marks_for, n_forces, new_figure, patch_kwargs)

# Titles for the headline criteria, filled with counts per value ({yes}, {extensive} ...) and {of_n}.
# Any other criterion gets a generic title naming its most common reported value.
TITLE_TEMPLATES = {  # {of_n}: "of 43 forces", or "of 5 forces with a settled finding" (see criterion_title)
    "A2": "{yes} {of_n} had an attend-all-crimes policy",
    "A3": "{consistent} {of_n} consistently identified vulnerable and repeat victims",
    "A4": "{yes} {of_n} could say how many crimes they attend",
    "A9": "{yes} {of_n} had PCSOs investigating crimes beyond their role",
    "F4": "{extensive} {of_n} gave officers extensive mobile technology on patrol",
}
AVERAGE_LABEL_Y = -0.7  # crimes attended: where the national average's label sits (bars at 0, 1, ...)
MAX_NAMES = 12  # list force names beside a bar up to this many; beyond, the CSV has them


@dataclass
class Chart:
    name: str
    figure: object
    data: pd.DataFrame
    title: str
    subtitle: str
    source: str
    summary: str
    rounds: tuple[str, ...]
    marks: Marks = field(default_factory=Marks)

    def __iter__(self):  # fig, data = chart
        yield self.figure
        yield self.data

    @property
    def alt_text(self) -> str:
        prefix = " ".join(f"{label}." for label in self.marks.labels)
        parts = [prefix, f"Chart: {self.title}.", self.subtitle, self.summary, self.source,
                 f"The data plotted are in {self.name}.csv."]
        return "\n".join(textwrap.fill(p, 100) for p in parts if p) + "\n"

    def _repr_mimebundle_(self, include=None, exclude=None):
        """How a notebook shows a chart (the cell's value is the Chart, not its figure): a PNG at
        screen resolution, drawn once as the export draws it, whatever Matplotlib backend the
        kernel has (the build runs notebooks with Agg, where a bare Figure shows as text only);
        as HTML, an <img> carrying the alt text; as plain text, the alt text."""
        return display_bundle(self.figure, self.alt_text, NOTEBOOK_DPI)


def display_bundle(fig, alt_text: str, dpi: float) -> tuple[dict, dict]:
    """(data, metadata) showing ``fig`` in a notebook: a PNG at ``dpi`` drawn as the export draws
    it; as HTML, an <img> carrying the alt text (nbconvert's HTML gives a plain PNG output the alt
    "No description has been provided for this image", whatever its metadata says); as plain
    text, the alt text. Without alt text the figure's label (its title) stands in."""
    import base64
    import html

    alt = alt_text.strip() or fig.get_label()
    png = render_png(fig, dpi, alt)
    width, height = (round(x * dpi) for x in fig.get_size_inches())
    img = (f'<img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" '
           f'width="{width}" alt="{html.escape(" ".join(alt.split()), quote=True)}">')
    return {"image/png": png, "text/html": img, "text/plain": alt}, {"image/png": {"width": width, "height": height}}


# ----- shared helpers ---------------------------------------------------------------------------
def _pct(x: float) -> str:
    return f"{round(100 * x):d}%"


# While report_charts draws a round's charts, what every chart of the round reads again (the
# source note, the round's title and marks, a criterion's codebook entry, the cells settled by
# precedence) is worked out once (a fifth of building a criterion chart). Outside that loop
# nothing is kept.
_ROUND_MEMO: contextvars.ContextVar[dict | None] = contextvars.ContextVar("charts_round_memo", default=None)


def _memo(key: tuple, frames: tuple, make):
    """``make()``, once per ``key`` and set of ``frames`` (the tables it reads) while
    report_charts runs. The frames are kept with the result, so their ids are not reused."""
    store = _ROUND_MEMO.get()
    if store is None:
        return make()
    full = (*key, *map(id, frames))
    hit = store.get(full)
    if hit is not None and all(a is b for a, b in zip(hit[0], frames)):
        return hit[1]
    value = make()
    store[full] = (frames, value)
    return value


def _marks(tables: dict, rid: str) -> Marks:
    return _memo(("marks", rid), (tables["rounds"],), lambda: marks_for(tables["rounds"], rid))


def _criterion_info(tables: dict, criterion_id: str) -> dict:
    return _memo(("criterion_info", criterion_id), (tables["criteria"],),
                 lambda: cf.criterion_info(tables, criterion_id))


def _settled_by_precedence(tables: dict, rid: str) -> dict[str, list[str]]:
    """criterion_id -> the forces (in matrix order) whose cell was settled between conflicting
    sources by source precedence, in round ``rid``."""
    def make():
        m = tables["matrix"]
        sel = m[(m["round"] == rid) & (m["resolution"] == "precedence")]
        out: dict[str, list[str]] = {}
        for cid, fid in zip(sel["criterion_id"].tolist(), sel["force_id"].tolist()):
            out.setdefault(cid, []).append(fid)
        return out

    return _memo(("settled", rid), (tables["matrix"],), make)


def _round_title(tables: dict, rid: str) -> str:
    return _memo(("round_title", rid), (tables["rounds"],), lambda: _make_round_title(tables, rid))


def _make_round_title(tables: dict, rid: str) -> str:
    r = tables["rounds"]
    row = r[r["round"] == rid]
    if row.empty:
        return rid
    title, pub = row["title"].iloc[0], row["published"].iloc[0]
    return f"{title} ({rid}, published {pub})" if pd.notna(pub) else f"{title} ({rid})"


_TIER_PHRASE = {"Force letter": "force letters", "HMIC web page": "HMIC web pages",
                "Press or national report via press": "the press or the national report via press",
                "Force or PCC statement": "force or PCC statements", "Secondary source": "secondary sources"}


def source_note(tables: dict, rid: str, extra: str = "") -> str:
    """Round(s) and provenance: how many codes of each source strength the round's findings rest on."""
    return _memo(("source_note", rid, extra), (tables["findings"], tables["rounds"]),
                 lambda: _make_source_note(tables, rid, extra))


def _make_source_note(tables: dict, rid: str, extra: str) -> str:
    f = tables["findings"]
    kinds = f.loc[f["round"] == rid, "source_kind"]  # the one column needed, not every column
    tiers = kinds.map(SOURCE_TIER).value_counts()
    parts = [f"{int(n)} from {_TIER_PHRASE.get(t, t)}" for t, n in tiers.items()]
    prov = (f"{len(kinds)} coded findings ({', '.join(parts)})" if len(kinds) else "no coded findings")
    synth = "SYNTHETIC data generated by analysis.synthetic, not real findings. " \
        if cf.is_synthetic(tables, rid) else ""
    return (f"Source: {synth}{_round_title(tables, rid)}; {prov}; matrix resolved by source precedence "
            f"(core-business build).{(' ' + extra) if extra else ''}")


def _finish(name: str, fig, data: pd.DataFrame, title: str, subtitle: str, source: str, summary: str,
            tables: dict, rounds: tuple[str, ...], marks: Marks) -> Chart:
    synthetic = marks.synthetic
    data = data.reset_index(drop=True).copy()
    data.insert(0, "synthetic", synthetic)
    if marks.embargoed:  # the plotted data carry the mark too (only then: other CSVs unchanged)
        data.insert(0, "embargoed", marks.embargo_label)
    if "round" not in data.columns:
        data.insert(0, "round", ";".join(rounds))
    if synthetic and "synthetic" not in name:
        name = f"synthetic_{name}"
    return Chart(name, fig, data, title, subtitle, source, summary, rounds, marks)


def _legend_below(fig, handles, ncol=3, fontsize=9, ax=None, drop_in: float = 0.6):
    """Legend under the plot: anchored ``drop_in`` inches below the axes (clear of tick labels and
    axis title); constrained layout then makes room for it inside the house frame."""
    from matplotlib.transforms import ScaledTranslation

    ax = ax or fig.axes[0]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0, 0),
              bbox_transform=ax.transAxes + ScaledTranslation(0, -drop_in, fig.dpi_scale_trans),
              ncol=ncol, frameon=False, handlelength=1.6, handleheight=1.1, fontsize=fontsize,
              borderaxespad=0)


def _integer_ticks(ax):
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


# ----- 1 framework matrix --------------------------------------------------------------------------
def framework_matrix(tables: dict, round_id: str | None = None, order_by: str = "region") -> Chart:
    """Forces (rows, grouped by region / country / profile) x framed criteria (columns, grouped by
    area), each cell coloured by judgement, with a symbol; not reported hatched grey."""
    rid = round_id or cf.primary_round(tables)
    marks = _marks(tables, rid)
    with cf.reuse_round_frames():  # (ordering by profile builds the round's frame again)
        m = cf.matrix_for(tables, rid)
        forces = cf.force_order(tables, rid, order_by)
    crit = cf.criteria_frame(tables)
    # positions: gaps between groups of forces and between areas
    ypos, n_rows = _block_positions(forces["force_id"], forces["group"], GROUP_GAP)
    xpos, n_cols = _block_positions(crit["criterion_id"], crit["area"], 0.5)
    data = (m.merge(forces[["force_id", "group"]], on="force_id", how="left")
             .assign(row=lambda d: d["force_id"].map(ypos), col=lambda d: d["criterion_id"].map(xpos)))
    data = data.sort_values(["row", "col"], ignore_index=True)

    n_cells = len(data)
    known = int((data["status"] == "reported").sum())
    contested = int((data["status"] == "contested").sum())
    negs = data[data["judgement"] == "negative"].groupby("criterion_id").size()
    if n_cells and known / n_cells < 0.5:
        title = f"Only {known} of {n_cells} force–criterion cells ({_pct(known / n_cells)}) have a reported finding"
    elif len(negs):
        top = negs.sort_values(ascending=False, kind="stable").index[0]
        lbl = crit.set_index("criterion_id").loc[top, "label"]
        title = f"{lbl} was the most common weakness ({int(negs[top])} of {len(forces)} forces)"
    else:
        title = f"No weaknesses were reported across {len(forces)} forces"
    grouping = {"region": "HMIC region, 2014", "country": "country", "profile": "profile"}[order_by]
    subtitle = (f"Judgement on each framed criterion (columns, grouped by area) for each force (rows, "
                f"grouped by {grouping}); {_round_title(tables, rid)}. Hatched grey = not reported "
                f"(no finding), not a weakness.")
    summary = (f"{known} cells reported, {contested} contested, {n_cells - known - contested} not reported. "
               + "; ".join(f"{JUDGEMENT_LOOK[j].label}: {int((data['judgement'] == j).sum())}"
                           for j in JUDGEMENT_ORDER) + ".")

    src = source_note(tables, rid)
    with house_style():
        height = 3.4 + 0.24 * n_rows
        width = 2.6 + 0.42 * n_cols + 1.6
        fig = new_figure(width, height, title=title, subtitle=subtitle,
                         source=src, marks=marks)
        ax = fig.add_subplot()
        _matrix_cells(ax, data)
        ax.set_xlim(0, n_cols)
        ax.set_ylim(n_rows, 0)
        # force and criterion names as y and top x tick labels without tick marks, drawn as plain
        # texts (62 tick objects were a third of making and laying out the chart)
        _row_labels(fig, ax, list(forces["short_name"]), fontsize=8, grid=False,
                    at=[ypos[f] + 0.5 for f in forces["force_id"]], tick_length=0)
        _col_labels(fig, ax, [f"{c.criterion_id} " + "\n".join(textwrap.wrap(c.label, 22)) for c in crit.itertuples()],
                    top=True, at=[xpos[c] + 0.5 for c in crit["criterion_id"]], tick_length=0, fontsize=8,
                    rotation=90, va="bottom")
        ax.grid(False)
        for s in ax.spines.values():
            s.set_visible(False)
        # group labels on the right (a row's cells run from ypos to ypos + 1)
        _group_brackets(ax, forces.set_index("force_id")["group"], {f: y + 0.5 for f, y in ypos.items()}, 0.4,
                        n_cols + 0.25, n_cols + 0.45)
        # area labels under the matrix
        for area, sub in crit.groupby("area", sort=False):
            xs = [xpos[c] for c in sub["criterion_id"]]
            ax.text((min(xs) + max(xs) + 1) / 2, n_rows + 0.3, sub["area_label"].iloc[0].split(" (")[0],
                    ha="center", va="top", fontsize=8, fontweight="bold", wrap=True)
        _legend_below(fig, judgement_handles(), drop_in=0.45)
    cols = ["round", "force_id", "short_name", "group", "criterion_id", "label", "area", "status", "value",
            "judgement", "winning_source_kind", "row", "col"]
    return _finish(f"{rid}_01_framework_matrix" + ("" if order_by == "region" else f"_by_{order_by}"),
                   fig, data[cols], title, subtitle, src, summary, tables, (rid,), marks)


# ----- labels as plain texts (shared with compare_charts) ---------------------------------------------
def _unclipped(ax) -> dict:
    """Keyword arguments for the many labels made with ``ax.text``. Its texts are not clipped
    (clip_on off), yet it gives each a clip box of its own, the Axes' box transformed: a quarter
    of the cost of making a text. Given this one clip path (the Axes' patch, shared), it does
    not; a clip that is off is never used, in drawing or in the layout, so nothing changes."""
    from matplotlib.transforms import TransformedPatchPath

    return {"clip_path": TransformedPatchPath(ax.patch)}


def _rc(key: str):
    import matplotlib as mpl

    return mpl.rcParams[key]


# Matplotlib draws the y axis right after the x axis at the same zorder (its x grid lines, then
# the y ticks over them): the row ticks' zorder is a hair above the axis level to keep that order.
Y_AXIS_AFTER = 1e-6


def _axis_zorder() -> float:
    """The zorder Matplotlib draws an axis (grid, ticks, labels) at, by axes.axisbelow."""
    below = _rc("axes.axisbelow")
    return 0.5 if below is True else 1.5 if below == "line" else 2.5


def _row_labels(fig, ax, labels: list[str], fontsize: float | None = None, grid: bool = False,
                grid_stop: float = 1.0, at=None, tick_length: float | None = None) -> None:
    """Row i labelled ``labels[i]`` at y = ``at[i]`` (default i), as y tick labels would be (tick
    mark of ``tick_length`` points, default the style's, pad, colour, and a grid line per row when
    ``grid``, from the left edge to ``grid_stop`` of the Axes' width), but as plain texts and two
    collections: tick objects for 43 forces cost more to make, lay out and draw than the rest of
    the chart."""
    from matplotlib.collections import LineCollection
    from matplotlib.markers import TICKLEFT
    from matplotlib.transforms import blended_transform_factory, offset_copy

    rows = list(range(len(labels)) if at is None else at)
    size = _rc("ytick.major.size") if tick_length is None else tick_length
    ax.set_yticks([])
    ax.yaxis.grid(False)
    axes_x = blended_transform_factory(ax.transAxes, ax.transData)  # x: 0-1 across the Axes
    if grid:
        ax.add_collection(LineCollection([[(0, y), (grid_stop, y)] for y in rows], transform=axes_x,
                                         colors=[_rc("grid.color")], linewidths=_rc("grid.linewidth"),
                                         zorder=_axis_zorder() + Y_AXIS_AFTER),
                          autolim=False)
    if _rc("ytick.left") and size:
        ax.scatter([0] * len(labels), rows, transform=axes_x, marker=TICKLEFT, s=size ** 2,
                   c=[_rc("ytick.color")], linewidths=_rc("ytick.major.width"), clip_on=False,
                   zorder=_axis_zorder() + Y_AXIS_AFTER).set_in_layout(False)
    left = offset_copy(axes_x, fig=fig, x=-(size + _rc("ytick.major.pad")), units="points")
    colour, unclipped = _rc("ytick.labelcolor"), _unclipped(ax)
    fontsize = _rc("ytick.labelsize") if fontsize is None else fontsize
    for y, text in zip(rows, labels):
        ax.text(0, y, text, transform=left, ha="right", va="center_baseline", fontsize=fontsize, color=colour,
                **unclipped)  # (the alignment of y tick labels)


def _col_labels(fig, ax, labels: list[str], top: bool = False, grid_colour: str | None = None, at=None,
                tick_length: float | None = None, fontsize: float | None = None, rotation: float = 0,
                va: str | None = None) -> None:
    """Column i labelled ``labels[i]`` at x = ``at[i]`` (default i), as x tick labels would be,
    below the Axes or (``top``, as after ``xaxis.tick_top()``) above it: tick marks (of
    ``tick_length`` points, default the style's), pad and colours from the style, a grid line
    per column in ``grid_colour`` if given; ``fontsize``, ``rotation`` and ``va`` as
    ``set_xticks`` would take them. Plain texts and two collections instead of Matplotlib's
    tick objects: about 2% fewer instructions a dumbbell chart, 0.45 billion fewer for the
    change matrix (tests/test_charts_speed.py compares the pictures)."""
    from matplotlib.collections import LineCollection
    from matplotlib.markers import TICKDOWN, TICKUP
    from matplotlib.transforms import blended_transform_factory, offset_copy

    cols = list(range(len(labels)) if at is None else at)
    ax.set_xticks([])
    ax.xaxis.grid(False)
    axes_y = blended_transform_factory(ax.transData, ax.transAxes)  # y: 0-1 up the Axes
    zorder = _axis_zorder()
    if grid_colour is not None:
        ax.add_collection(LineCollection([[(x, 0), (x, 1)] for x in cols], transform=axes_y, colors=[grid_colour],
                                         linewidths=_rc("grid.linewidth"), linestyles=_rc("grid.linestyle"),
                                         alpha=_rc("grid.alpha"), capstyle=_rc("lines.solid_capstyle"),
                                         zorder=zorder), autolim=False)
    size = _rc("xtick.major.size") if tick_length is None else tick_length
    if (top or _rc("xtick.bottom")) and size:
        ax.scatter(cols, [1 if top else 0] * len(labels), transform=axes_y, marker=TICKUP if top else TICKDOWN,
                   s=size ** 2, c=[_rc("xtick.color")], linewidths=_rc("xtick.major.width"), clip_on=False,
                   zorder=zorder).set_in_layout(False)
    away = size + _rc("xtick.major.pad")
    at_edge = offset_copy(axes_y, fig=fig, y=away if top else -away, units="points")
    unclipped = _unclipped(ax)
    for x, text in zip(cols, labels):
        ax.text(x, 1 if top else 0, text, transform=at_edge, ha="center",
                va=va or ("bottom" if top else "top"), rotation=rotation,
                fontsize=_rc("xtick.labelsize") if fontsize is None else fontsize,
                color=_rc("xtick.labelcolor"), zorder=zorder, **unclipped)


SYMBOL_POINTS = 8  # the cell symbols' type size


def _symbol_glyph(symbol: str):
    """The outline of a cell symbol in the house font, bold, at SYMBOL_POINTS, centred on its ink."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.path import Path as MPath
    from matplotlib.textpath import TextPath

    glyph = TextPath((0, 0), symbol, size=SYMBOL_POINTS, prop=FontProperties(weight="bold"))
    ext = glyph.get_extents()
    return MPath(glyph.vertices - [(ext.x0 + ext.x1) / 2, (ext.y0 + ext.y1) / 2], glyph.codes)


def _symbol_marker(symbol: str):
    from matplotlib.markers import MarkerStyle

    return MarkerStyle(_symbol_glyph(symbol))


def _symbol_size(symbol: str) -> float:
    """Scatter size that draws the glyph at its type size: a path marker is scaled so that its
    largest absolute coordinate is half the marker width (sqrt(s) points)."""
    import numpy as np

    half = float(np.abs(_symbol_glyph(symbol).vertices).max())
    return (2 * half) ** 2


def _matrix_cells(ax, data: pd.DataFrame) -> None:
    """The matrix cells: one compound patch per judgement (all its cells as closed squares), not
    one Rectangle per cell. Same picture: fills, white cell borders and hatching are drawn the
    same way (hatching is aligned to the page, so it runs on across cells as before), but a
    hatched patch is rasterised once instead of once per cell, which made the 300 dpi PNG of a
    43 x 19 matrix slow. Each patch has the gid ``cells-<judgement>``. The symbols (+, ±, −, ?) are
    likewise one scatter per judgement whose marker is the glyph's outline (bold, 8 pt, centred
    in the cell), gid ``symbols-<judgement>``, instead of hundreds of Text artists."""
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as MPath

    square = [(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)]
    codes = [MPath.MOVETO, MPath.LINETO, MPath.LINETO, MPath.LINETO, MPath.CLOSEPOLY]
    for judgement in JUDGEMENT_ORDER:
        cells = data[data["judgement"] == judgement]
        if cells.empty:
            continue
        look = JUDGEMENT_LOOK[judgement]
        verts = [(c + dx, r + dy) for c, r in zip(cells["col"], cells["row"]) for dx, dy in square]
        patch = PathPatch(MPath(verts, codes * len(cells)), **{**patch_kwargs(look), "linewidth": 1.0})
        patch.set_gid(f"cells-{judgement}")
        _add_compound_patch(ax, patch, verts)
        if look.symbol:
            ax.scatter(cells["col"] + 0.5, cells["row"] + 0.5, marker=_symbol_marker(look.symbol),
                       s=_symbol_size(look.symbol), c=look.text_colour, linewidths=0, zorder=3,
                       gid=f"symbols-{judgement}").set_in_layout(False)


def value_looks(info: dict) -> dict:
    """Looks for a criterion's values: the judgement's colour; a second value with the same judgement
    (F4 'limited' and 'none' are both negative) gets dots as well, so no two values look alike."""
    from .style import Look

    looks, seen = {}, set()
    for v in info["values"]:
        j = info["judgements"][v]
        base = JUDGEMENT_LOOK[j]
        dotted = j in seen
        seen.add(j)
        looks[v] = Look(base.colour, "..." if dotted else None, base.symbol, cf.value_label(v),
                        base.text_colour, "#0B0C0C" if dotted else base.hatch_colour)
    for state in (cf.CONTESTED, cf.NOT_REPORTED):
        base = JUDGEMENT_LOOK[state]
        looks[state] = Look(base.colour, base.hatch, base.symbol, cf.value_label(state), base.text_colour,
                            base.hatch_colour)
    return looks


# ----- 2 one criterion ----------------------------------------------------------------------------------
def criterion_title(tables: dict, criterion_id: str, counts: pd.DataFrame, qualifier: str = "") -> str:
    """The finding for one criterion's chart. Counts are out of the forces with a settled finding:
    a force without one (not reported, or sources disagree) is not a force without the practice,
    so "1 of 43 forces ..." is written only when all 43 have a settled finding, and otherwise
    "1 of 2 forces with a settled finding ...; no finding for 41 forces". ``qualifier`` (such as
    ", by region") follows the finding, before that note."""
    n = int(counts["n_forces"].sum())
    by_value = {v: int(k) for v, k in zip(counts["value"].tolist(), counts["n_forces"].tolist())}
    info = _criterion_info(tables, criterion_id)
    missing, contested = by_value.get(cf.NOT_REPORTED, 0), by_value.get(cf.CONTESTED, 0)
    settled = n - missing - contested
    if settled == 0:
        return (f"{info['label']}: no force has a reported finding" if not contested else
                f"{info['label']}: no settled finding (sources disagree for {_forces(contested)}, "
                f"no finding for {_forces(missing)})")
    of_n = f"of {n} forces" if settled == n else f"of {_forces(settled)} with a settled finding"
    rest = "; ".join(([f"no finding for {_forces(missing)}"] if missing else [])
                     + ([f"sources disagree for {_forces(contested)}"] if contested else []))
    rest = f"; {rest}" if rest else ""
    template = TITLE_TEMPLATES.get(criterion_id)
    if template:
        try:
            return template.format(of_n=of_n, **by_value) + qualifier + rest
        except KeyError:
            pass
    reported = counts[~counts["value"].isin([cf.NOT_REPORTED, cf.CONTESTED])]
    top = reported.sort_values("n_forces", ascending=False, kind="stable").iloc[0]
    verb = "was" if int(top.n_forces) == 1 else "were"
    return f"{info['label']}: {int(top.n_forces)} {of_n} {verb} coded '{top.value_label.lower()}'{qualifier}{rest}"


_forces = n_forces


def _short_names(tables: dict, force_ids) -> list[str]:
    names = tables["forces"].set_index("force_id")["short_name"]
    return [str(names.get(f, f)) for f in force_ids]


def criterion_counts(tables: dict, criterion_id: str, round_id: str | None = None) -> Chart:
    """Forces per value of one criterion (bars in codebook order, then contested, not reported), with
    the forces named beside each bar."""
    rid = round_id or cf.primary_round(tables)
    marks = _marks(tables, rid)
    info = _criterion_info(tables, criterion_id)
    counts = cf.value_counts(tables, criterion_id, rid)
    n = int(counts["n_forces"].sum())
    title = criterion_title(tables, criterion_id, counts)
    nr = int(counts.loc[counts["value"] == cf.NOT_REPORTED, "n_forces"].sum())
    settled = _settled_by_precedence(tables, rid).get(criterion_id, [])
    settled_note = (f" {_forces(len(settled))} settled between conflicting sources by source strength "
                    f"({', '.join(_short_names(tables, settled))}; see the conflicts table)."
                    if len(settled) else "")
    subtitle = (f"Number of forces by coded value. {criterion_id} {info['label']}: {info['question']} "
                f"{_round_title(tables, rid)}. Not reported for {nr} of {n} forces.{settled_note}")
    # the rows as plain tuples (itertuples, three times over, was a tenth of building the chart)
    Row = collections.namedtuple("Row", ["value", "value_label", "judgement", "n_forces", "forces"])
    rows = [Row(*r) for r in zip(*(counts[c].tolist() for c in Row._fields))]
    summary = "; ".join(f"{r.value_label}: {int(r.n_forces)}" + (f" ({r.forces})" if 0 < r.n_forces <= MAX_NAMES else "")
                        for r in rows) + "."
    src = source_note(tables, rid)
    with house_style():
        fig = new_figure(10, 2.6 + 0.62 * len(counts) + 0.9, title=title, subtitle=subtitle,
                         source=src, marks=marks)
        ax = fig.add_subplot()
        ys = list(range(len(counts)))
        looks = value_looks(info)
        for y, r in zip(ys, rows):
            look = looks[r.value]
            ax.barh(y, int(r.n_forces), height=0.7, **patch_kwargs(look))
            names = r.forces if 0 < r.n_forces <= MAX_NAMES else (f"{int(r.n_forces)} forces: listed in the data file"
                                                                  if r.n_forces else "")
            ax.text(int(r.n_forces) + n * 0.01, y, f"{int(r.n_forces)}", va="center", ha="left", fontsize=10,
                    fontweight="bold")
            if names:
                inside = r.n_forces > 0.5 * n  # long bar: names go inside it
                ax.text(n * 0.01 if inside else int(r.n_forces) + n * 0.06, y, "\n".join(textwrap.wrap(names, 70)),
                        va="center", ha="left", fontsize=8,
                        color=look.text_colour if inside else "#505A5F")
        _row_labels(fig, ax, [r.value_label if r.value in (cf.CONTESTED, cf.NOT_REPORTED) else
                              f"{r.value_label}\n({JUDGEMENT_LOOK[r.judgement].label.split(' (')[0].lower()})"
                              for r in rows], at=ys)  # (as set_yticks)
        ax.invert_yaxis()
        ax.set_xlim(0, n * 1.02 if n else 1)
        ax.set_xlabel("Number of forces")
        _integer_ticks(ax)
        ax.grid(axis="x")
        ax.grid(axis="y", visible=False)
    return _finish(f"{rid}_02_criterion_{criterion_id}", fig, counts, title, subtitle,
                   src, summary, tables, (rid,), marks)


# ----- 3 coverage --------------------------------------------------------------------------------------
def _barh_patch(ax, ys, widths, lefts, height: float, gid: str | None = None, sticky: bool = False,
                **kwargs):
    """Horizontal bars drawn as one compound patch: the rectangles ``ax.barh(ys, widths,
    left=lefts, height=height, **kwargs)`` would make, with the same fill, edge and hatch (the
    hatch is aligned to the page, so it looks the same), but one artist instead of one per bar.
    Each bar was a Rectangle with its own transform, data-limit update and, when hatched, its own
    300 dpi hatch tile: a 43-force stacked chart spent most of its time there. Bars of one patch
    must not overlap (they are the rows of one category). ``sticky``: the bars' left ends are
    sticky edges, as barh makes them (autoscaling adds no margin beyond them)."""
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as MPath

    verts, codes = [], []
    step = [MPath.MOVETO, MPath.LINETO, MPath.LINETO, MPath.LINETO, MPath.CLOSEPOLY]
    for y, w, x in zip(ys, widths, lefts):
        y0, y1, x1 = y - height / 2, y + height / 2, x + w
        verts += [(x, y0), (x1, y0), (x1, y1), (x, y1), (x, y0)]
        codes += step
    if not verts:
        return None
    patch = PathPatch(MPath(verts, codes), **kwargs)
    if gid:
        patch.set_gid(gid)
    if sticky:
        patch.sticky_edges.x.extend(float(x) for x in lefts)
    _add_compound_patch(ax, patch, verts)
    ax.autoscale_view()  # as barh does (adding a patch updates the data limits, not the view)
    return patch


def _add_compound_patch(ax, patch, verts) -> None:
    """``ax.add_patch(patch)`` for a patch of straight segments in data coordinates, without its
    cost: add_patch finds a patch's extent segment by segment in Python (a fifth of a second for
    the matrix's not-reported cells); the extent of straight segments is that of their vertices,
    given to the data limits in one call. Clip path and data limits end up as add_patch sets them."""
    ax.add_artist(patch)  # (sets the axes clip path, as add_patch does)
    ax.update_datalim(verts)


def _stacked(fig, ax, labels, frame, categories, looks, total_label, ticklabels, fontsize, at=None):
    """Stacked bars, one a label (at y = ``at``, default 0, 1, ...), named as y tick labels are."""
    import numpy as np

    ys = list(range(len(labels))) if at is None else list(at)
    counts = frame.to_dict()  # (label, category) -> n: a dict lookup per bar, not a Series .get
    left = np.zeros(len(labels))
    for cat in categories:
        vals = np.array([int(counts.get((lab, cat), 0)) for lab in labels])
        _barh_patch(ax, ys, vals, left, 0.75, gid=f"bars-{cat}", **patch_kwargs(looks[cat]))
        left += vals
    _row_labels(fig, ax, ticklabels, fontsize=fontsize, grid=False, at=ys)  # (as set_yticks: 43 tick objects cost more)
    ax.invert_yaxis()
    ax.set_xlabel(total_label)
    ax.grid(axis="x")
    ax.grid(axis="y", visible=False)


GROUP_GAP = 0.6  # the space between two groups' blocks of forces (regions, profiles), in rows


def _block_positions(ids, groups, gap: float) -> tuple[dict, float]:
    """Positions 0, 1, 2 ... for ``ids`` in order, with ``gap`` more wherever the group (the
    same-length ``groups``) changes; and the extent (the last position + 1)."""
    pos, at, prev = {}, 0.0, None
    for i, g in zip(ids, groups):
        if prev is not None and g != prev:
            at += gap
        pos[i], prev, at = at, g, at + 1
    return pos, at


def _group_brackets(ax, groups: pd.Series, centres: dict, reach: float, line_x: float, text_x: float,
                    axes_x: bool = False) -> None:
    """Beside each block of rows, a bracket and the group's name with its number of rows
    (``groups``: row id -> group, in row order; ``centres``: row id -> the row's centre y; the
    bracket reaches ``reach`` beyond the first and last centres). ``line_x`` / ``text_x``: data x,
    or, if ``axes_x``, 0-1 across the Axes (1 = its right edge)."""
    from matplotlib.transforms import blended_transform_factory

    where = blended_transform_factory(ax.transAxes, ax.transData) if axes_x else ax.transData
    for g, ids in groups.groupby(groups, sort=False).groups.items():
        ys = [centres[i] for i in ids]
        ax.plot([line_x] * 2, [min(ys) - reach, max(ys) + reach], color="#6F777B", lw=1, clip_on=False,
                transform=where)
        ax.text(text_x, (min(ys) + max(ys)) / 2, f"{g}\n({len(ys)})", ha="left", va="center", fontsize=8,
                clip_on=False, transform=where)


def coverage_chart(tables: dict, round_id: str | None = None, by: str = "criterion") -> Chart:
    """What is known, by source strength: per criterion (how many forces) or per force (how many
    criteria). Not reported and contested are drawn apart from every source tier."""
    rid = round_id or cf.primary_round(tables)
    marks = _marks(tables, rid)
    cov = cf.coverage(tables, rid, by)
    ids = list(dict.fromkeys(cov["id"]))
    labels = {r.id: r.label for r in cov.drop_duplicates("id").itertuples()}
    frame = cov.set_index(["id", "tier"])["n"]
    known = cov[~cov["tier"].isin(["Contested", "Not reported"])].groupby("id", sort=False)["n"].sum()
    total = cov.groupby("id", sort=False)["n"].sum()
    n_crit = len(cf.criteria_frame(tables))
    n_forces = len(tables["forces"])
    if by == "criterion":
        med = int(known.median()) if len(known) else 0
        least = known.idxmin() if len(known) else None
        title = (f"A median of {med} of {n_forces} forces have a reported finding per criterion "
                 f"(from {int(known.min())} to {int(known.max())})")
        subtitle = (f"Forces with a finding on each criterion, by the strongest source behind it; "
                    f"{_round_title(tables, rid)}. Hatched grey = not reported.")
        summary = (f"Least known: {least} {labels.get(least, '')} ({_forces(int(known.min()))}). "
                   + "; ".join(f"{i}: {int(known[i])}" for i in ids) + ".")
        ticklabels = [f"{i} {labels[i]}" for i in ids]
        size = (10, 2.8 + 0.32 * len(ids) + 0.9)
        xlabel = "Number of forces"
        groups = None
    else:
        # forces in HMIC region order, each region a block with its name on the right
        groups = cf.force_order(tables, rid, "region").set_index("force_id")["group"].reindex(ids)
        ypos, y = _block_positions(groups.index, groups, GROUP_GAP)
        cov = cov.assign(region=cov["id"].map(groups).astype("string"))
        half = int((known >= n_crit / 2).sum())
        title = (f"{half} of {len(ids)} forces {'has' if half == 1 else 'have'} findings on at least half "
                 f"of the {n_crit} criteria")
        subtitle = (f"Criteria with a finding for each force, by the strongest source behind it; "
                    f"{_round_title(tables, rid)}. Forces grouped by HMIC region (2014). Hatched grey = not reported.")
        summary = "; ".join(f"{labels[i]}: {int(known[i])} of {int(total[i])}" for i in ids) + "."
        ticklabels = [labels[i] for i in ids]
        size = (10, 2.8 + 0.22 * y + 0.9)  # (y: the rows and the gaps between regions)
        xlabel = "Number of criteria"
    src = source_note(tables, rid)
    with house_style():
        fig = new_figure(*size, title=title, subtitle=subtitle, source=src, marks=marks)
        ax = fig.add_subplot()
        _stacked(fig, ax, ids, frame, COVERAGE_ORDER, TIER_LOOK, xlabel, ticklabels, 8 if by == "force" else 9,
                 at=None if groups is None else [ypos[i] for i in ids])
        if groups is not None:
            _group_brackets(ax, groups, ypos, 0.35, 1.015, 1.03, axes_x=True)
        ax.set_xlim(0, max(1, int(total.max()) if len(total) else 1))
        from matplotlib.patches import Patch

        handles = [Patch(label=TIER_LOOK[t].label, **{**patch_kwargs(TIER_LOOK[t]), "edgecolor": "#6F777B"})
                   for t in COVERAGE_ORDER]
        _legend_below(fig, handles, fontsize=8)
        _integer_ticks(ax)
    name = f"{rid}_03_coverage_by_{by}"
    return _finish(name, fig, cov, title, subtitle, src, summary, tables, (rid,), marks)


# ----- 4 regions and countries -------------------------------------------------------------------------
def regional_comparison(tables: dict, round_id: str | None = None, criterion_id: str | None = None) -> Chart:
    """Share of force x criterion cells in each judgement state, by country and by HMIC region
    (2014); a blank region is shown as 'Unknown'. With ``criterion_id``: forces per value instead."""
    rid = round_id or cf.primary_round(tables)
    marks = _marks(tables, rid)
    parts = [cf.region_breakdown(tables, criterion_id, rid, "country"),
             cf.region_breakdown(tables, criterion_id, rid, "region")]
    data = pd.concat(parts, ignore_index=True)
    if criterion_id:
        info = _criterion_info(tables, criterion_id)
        cats = info["values"] + [cf.CONTESTED, cf.NOT_REPORTED]
        looks = value_looks(info)
    else:
        cats = list(JUDGEMENT_ORDER)
        looks = JUDGEMENT_LOOK
    reg = data[data["grouping"] == "region"]
    known = reg[reg["category"].isin(["positive", "partial", "negative"] if not criterion_id else
                                     [c for c in cats if c not in (cf.CONTESTED, cf.NOT_REPORTED)])]
    k = known.groupby("group", sort=False)["n"].sum()
    what = "judgements" if not criterion_id else "forces with a finding"
    known_regions = [g for g in k.index if g != UNKNOWN]
    if not criterion_id and known_regions and int(k[known_regions].min()) >= 20:
        pos = reg[reg["category"] == "positive"].set_index("group")["n"]
        share = (pos[known_regions] / k[known_regions]).sort_values(ascending=False, kind="stable")
        title = (f"Positive findings were most common in {share.index[0]} ({_pct(share.iloc[0])} of its "
                 f"known judgements) and least common in {share.index[-1]} ({_pct(share.iloc[-1])})")
    elif criterion_id:
        title = criterion_title(tables, criterion_id, cf.value_counts(tables, criterion_id, rid), ", by region")
    else:
        title = (f"Too few findings are known to compare regions: {int(k.sum())} known {what} across "
                 f"{int(reg['n'].sum())} force–criterion cells")
    n_unknown = int(cf.forces_frame(tables)["region"].eq(UNKNOWN).sum())
    subtitle = (("Share of force–criterion cells by judgement" if not criterion_id else
                 f"Share of forces by value of {criterion_id} {info['label']}")
                + f", by country and by HMIC region (2014); {_round_title(tables, rid)}. "
                + (f"Region unknown for {n_unknown} forces, shown as Unknown." if n_unknown else ""))
    summary = "; ".join(
        f"{g} ({int(sub['n_forces_in_group'].iloc[0])} forces): "
        + ", ".join(f"{looks[c].label} {_pct(float(s))}" for c, s in zip(sub["category"], sub["share"].fillna(0)) if s)
        for (_grouping, g), sub in data.groupby(["grouping", "group"], sort=False)) + "."
    src = source_note(tables, rid)
    with house_style():
        import numpy as np

        rows = [(r.grouping, r.group) for r in data.drop_duplicates(["grouping", "group"]).itertuples()]
        fig = new_figure(10, 2.8 + 0.45 * (len(rows) + 1) + 1.0, title=title, subtitle=subtitle,
                         source=src, marks=marks)
        ax = fig.add_subplot()
        ypos = []
        y = 0.0
        for i, (grouping, _g) in enumerate(rows):
            if i and grouping != rows[i - 1][0]:
                y += 0.6
            ypos.append(y)
            y += 1
        left = np.zeros(len(rows))
        idx = data.set_index(["grouping", "group", "category"])
        for cat in cats:
            vals = np.array([float(idx.loc[(gr, g, cat), "share"]) if (gr, g, cat) in idx.index else 0.0
                             for gr, g in rows])
            vals = np.nan_to_num(vals) * 100
            _barh_patch(ax, ypos, vals, left, 0.75, gid=f"bars-{cat}", **patch_kwargs(looks[cat]))
            left += vals
        n_in = data.drop_duplicates(["grouping", "group"])["n_forces_in_group"].tolist()
        _row_labels(fig, ax, [f"{g} ({int(n)})" for (_gr, g), n in zip(rows, n_in)], at=ypos)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("Per cent" + (" of force–criterion cells" if not criterion_id else " of forces"))
        ax.grid(axis="x")
        ax.grid(axis="y", visible=False)
        from matplotlib.patches import Patch

        handles = [Patch(label=looks[c].label, **{**patch_kwargs(looks[c]), "edgecolor": "#6F777B"}) for c in cats]
        _legend_below(fig, handles)
    name = f"{rid}_04_regions" + (f"_{criterion_id}" if criterion_id else "")
    return _finish(name, fig, data, title, subtitle, src, summary, tables, (rid,), marks)


# ----- 5 crimes attended -------------------------------------------------------------------------------
def crimes_attended_chart(tables: dict, round_id: str | None = None, raw=None) -> Chart | None:
    """Share of crimes attended per force with a published figure; approximate figures hatched and
    labelled with their qualifier; figures on another basis (other period or a force/PCC claim)
    flagged; the England and Wales average as a line when the reference table gives it (``raw``:
    the raw-data folder). None when no force has a figure."""
    rid = round_id or cf.primary_round(tables)
    data = cf.crimes_attended(tables, rid)
    if data.empty:
        return None
    marks = _marks(tables, rid)
    avg = cf.national_average_attended(raw) if raw is not None and not cf.is_synthetic(tables, rid) else None
    main_period = data["period"].mode().iloc[0] if data["period"].notna().any() else ""
    data = data.assign(
        other_basis=(data["period"] != main_period) | data["source_kind"].isin(["force_statement", "pcc_statement"]),
        national_average=avg["value"] if avg else float("nan"))
    data = data.sort_values(["value", "force"], ascending=[False, True], ignore_index=True)
    n = len(data)
    n_forces = len(tables["forces"])
    hi, lo = data.iloc[0], data.iloc[-1]
    title = (f"Share of crimes attended ranged from {lo.value:.0f}% ({lo.force}) to {hi.value:.0f}% ({hi.force}) "
             f"among the {n} of {n_forces} forces with a published figure")
    line = (f"Dashed line: England and Wales average, {avg['value']:.0f}% ({avg['period']})." if avg
            else "No national average in the reference data.")
    subtitle = (f"Percentage of reported crimes an officer attended, {main_period} unless marked; "
                f"hatched = approximate (qualifier shown); † = other period or the force's/PCC's own claim. {line}")
    extra = (f"National average: reference table row {avg['figure_no']} ({avg['source_url']})." if avg else "")
    summary = "; ".join(f"{r.force} {(r.qualifier + ' ') if r.qualifier else ''}{r.value:.0f}%"
                        + (f" ({r.period}, {r.source_kind})" if r.other_basis else "") for r in data.itertuples()) + "."
    src = source_note(tables, rid, extra)
    with house_style():
        fig = new_figure(10, 2.9 + 0.4 * n + 0.6, title=title, subtitle=subtitle,
                         source=src, marks=marks)
        ax = fig.add_subplot()
        for y, r in enumerate(data.itertuples()):
            kw = {"facecolor": "#12436D", "edgecolor": "#12436D", "linewidth": 0.6}
            if r.approximate:
                kw = {"facecolor": "#ADD1F1", "edgecolor": "#12436D", "hatch": "///", "hatchcolor": "#12436D",
                      "linewidth": 0.8}
            ax.barh(y, r.value, height=0.7, **kw)
            label = f"{(r.qualifier + ' ') if r.qualifier else ''}{r.value:.0f}%" + (" †" if r.other_basis else "")
            ax.text(r.value + 1, y, label, va="center", ha="left", fontsize=9)
        _row_labels(fig, ax, [f"{r.force}" + (" †" if r.other_basis else "") for r in data.itertuples()])
        ax.invert_yaxis()
        ax.set_xlim(0, 112)
        ax.set_xlabel("Per cent of reported crimes attended")
        if avg:
            # The line stops where its label starts, and the label's white ground keeps the grid
            # line behind it from striking it through.
            ax.plot([avg["value"]] * 2, [n - 0.5, AVERAGE_LABEL_Y], color="#3D3D3D", linestyle="--", linewidth=1.5,
                    scalex=False, scaley=False)
            ax.text(avg["value"], AVERAGE_LABEL_Y, f"E&W average {avg['value']:.0f}%", ha="center", va="bottom",
                    fontsize=9, color="#3D3D3D", bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})
            ax.set_ylim(n - 0.5, -1.2)
        ax.grid(axis="x")
        ax.grid(axis="y", visible=False)
    cols = ["round", "force_id", "force", "region", "value", "qualifier", "approximate", "period", "source_kind",
            "other_basis", "national_average", "source_url"]
    return _finish(f"{rid}_05_crimes_attended", fig, data[cols], title, subtitle,
                   src, summary, tables, (rid,), marks)


# ----- all charts, export ------------------------------------------------------------------------------
def chart_plan(tables: dict, round_id: str | None = None, raw=None) -> list[tuple[str, object]]:
    """The report charts of a round, not yet drawn: ``(key, draw)`` pairs in report order, where
    ``key`` is the chart's name without the round (e.g. ``02_criterion_A2``) and ``draw()`` returns
    the :class:`Chart` (``None``, not drawn, for the crimes-attended chart when no force has a
    figure, and for a criterion no force has a finding on in the round). Lets a
    caller draw only some charts, e.g. the build sharing them out between processes."""
    rid = round_id or cf.primary_round(tables)
    plan: list[tuple[str, object]] = [("01_framework_matrix", lambda: framework_matrix(tables, rid))]
    for cid in cf.criteria_frame(tables)["criterion_id"]:  # (not drawn when the round is silent on it)
        plan.append((f"02_criterion_{cid}",
                     lambda cid=cid: criterion_counts(tables, cid, rid) if _has_finding(tables, rid, cid) else None))
    plan += [("03_coverage_by_criterion", lambda: coverage_chart(tables, rid, "criterion")),
             ("03_coverage_by_force", lambda: coverage_chart(tables, rid, "force")),
             ("04_regions", lambda: regional_comparison(tables, rid)),
             ("05_crimes_attended", lambda: crimes_attended_chart(tables, rid, raw))]
    return plan


def _has_finding(tables: dict, round_id: str, criterion_id: str) -> bool:
    """Does any force have a finding (reported or contested) on the criterion in the round? A
    criterion chart of a round that says nothing on it (PEEL 2014 on F4) would be one bar of 43
    'not reported': the build does not draw it (the framework matrix and the tables show the gap)."""
    m = tables["matrix"]
    cells = m.loc[(m["round"] == round_id) & (m["criterion_id"] == criterion_id), "status"]
    return bool((cells != cf.NOT_REPORTED).any())


def report_charts(tables: dict, round_id: str | None = None, raw=None, keys=None):
    """Every report chart for a round (or those whose :func:`chart_plan` key is in ``keys``), one
    at a time (a generator, so figures can be freed). The round's matrix frame is built once for
    all of them (:func:`compare_forces.reuse_round_frames`): do not change ``tables`` while
    iterating."""
    memo: dict = {}
    notes: dict = {}
    for key, draw in chart_plan(tables, round_id, raw):
        if keys is not None and key not in keys:
            continue
        token = _ROUND_MEMO.set(notes)
        try:
            with cf.reuse_round_frames(memo):
                chart = draw()
        finally:
            _ROUND_MEMO.reset(token)
        if chart is not None:
            yield chart


def _csv_safe(data: pd.DataFrame) -> pd.DataFrame:
    """The plotted data with text a spreadsheet would run as a formula guarded
    (:func:`neutralise_formula`); only the columns holding such text are changed (most have
    none, and mapping every text column was a tenth of exporting a small chart)."""
    from .io import FORMULA_START

    out = None
    for c in data.columns:
        col = data[c]
        if not (pd.api.types.is_string_dtype(col) or col.dtype == object):
            continue
        if any(isinstance(v, str) and v.startswith(FORMULA_START) for v in col.tolist()):
            if out is None:
                out = data.copy()
            out[c] = col.map(neutralise_formula, na_action="ignore")
    return data if out is None else out


PNG_DPI = 300
SVG_TITLE_ID, SVG_DESC_ID = "chart-title", "chart-desc"  # ids of the SVG's <title> and <desc>
NOTEBOOK_DPI = 100  # charts shown in a notebook (Chart._repr_mimebundle_)
# deflate level 1 (zlib-ng's, see _deflate_module) on "Up"-filtered rows: a fraction of the time of
# Pillow's encoder (which tries every PNG filter on every row); the pixels are the ones Agg drew
# (PNG is lossless).
PNG_COMPRESS_LEVEL = 1


def export_chart(fig, data: pd.DataFrame, name: str, alt_text: str, folder: str | Path,
                 png_writer: PngWriter | None = None) -> list[Path]:
    """Write <name>.png (300 dpi), <name>.svg (deterministic), <name>.csv (the plotted data) and
    <name>.alt.txt into ``folder``; return the four paths. ``name`` is made file-safe (no folder
    parts), so nothing is ever written outside ``folder``. With a :class:`PngWriter` the PNG may
    still be being written when this returns (it is when the writer's block ends); the figure may
    then be cleared or changed at once, the PNG being encoded from the pixels already drawn.

    Speed (see benchmarks/README.md): ``savefig`` twice would lay the figure out and draw it four
    times (a layout pass before each file); here the layout engine runs once, at the PNG's 300
    dpi, the PNG is drawn once on an Agg canvas and its buffer written as it is (:func:`png_bytes`,
    on a second thread while this one writes the SVG, CSV and alt text), and the SVG reuses the
    layout, its text written as text (``svg.fonttype`` "none" in the house style). The figure
    keeps its layout engine afterwards. Both canvases cache text work across charts and Agg
    fills the white background directly (:func:`_fast_backends`: the same pixels and SVG as
    Matplotlib's own canvases); the PNG's rows are compressed in a few large zlib calls, which run
    beside the drawing on another core, the long zero gaps skipped (:func:`_up_filtered_zlib`)."""
    from .io import safe_stem

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = safe_stem(name)
    png, svg, csv, alt = (folder / f"{stem}{ext}" for ext in (".png", ".svg", ".csv", ".alt.txt"))

    def data_files():
        _csv_safe(data).to_csv(csv, index=False, lineterminator="\n", encoding="utf-8", float_format="%.6g")
        alt.write_text(alt_text if alt_text.endswith("\n") else alt_text + "\n", encoding="utf-8")

    with house_style():
        _write_png_and_svg(fig, png, svg, description=alt_text.strip(), meanwhile=data_files,
                           png_writer=png_writer)
    return [png, svg, csv, alt]


def _png_chunk(tag: bytes, body: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))


# ----- the PNG's zlib stream --------------------------------------------------------------------
# After the "Up" filter a chart is almost all zero bytes (each row is mostly the row above), and
# zlib spends most of its time walking those zeros. So the long runs of zeros (gaps: at least
# PNG_GAP_BYTES, with the filter byte 2 at each row start) are written as ready-made deflate
# pieces that decode to exactly those bytes, and only the stretches between them go through zlib,
# cut into pieces of at most PNG_PIECE_BYTES. Each piece is one zlib call from a fresh compressor,
# ending on a byte boundary (sync flush): nothing refers back across a gap or into another piece,
# so the pieces can be compressed in any order, by any thread, and the stream is always the same
# bytes. The Adler-32 of the whole is one more such task. A zlib call releases the interpreter
# lock for all of its run, so a PNG encoded on PngWriter's thread really runs on the other core;
# a thread that would otherwise wait for it compresses the pieces still left. (The earlier
# encoder skipped every gap of 8 KiB or more: about as much CPU, but 500-2,000 zlib calls a chart,
# each taking the lock back, so beside the drawing its wall time was 2-2.5x its CPU and it held
# up the next chart; see benchmarks/README.md, seventh session.) The result is one valid zlib
# stream of the filtered rows, as zlib.compress would have compressed them: same pixels.
PNG_BLOCK = 512  # bytes: the search for non-zero bytes looks at blocks of this size
PNG_GAP_BYTES = 64 * 1024  # a run of all-zero blocks this long (or longer) is a gap
PNG_PIECE_BYTES = 4 * 2**20  # the most bytes one zlib call compresses
_ZEROS_BASE = 4096  # bytes in the repeated piece of zeros; shorter runs have a piece each
_ROWS_BASE = 32  # rows in the repeated piece of all-zero rows
_DEFLATE_PIECES: dict = {}  # ("zeros", n) / ("rows", row length, k) / ("two",) -> piece
_DEFLATE_PIECES_LIMIT = 50_000


def _deflate_piece(key) -> bytes:
    """A raw deflate piece (non-final blocks, byte-aligned, no back reference before its start)
    that decodes to the bytes ``key`` names; made once, from a fresh compressor."""
    import zlib

    piece = _DEFLATE_PIECES.get(key)
    if piece is None:
        if key[0] == "zeros":
            data = bytes(key[1])
        elif key[0] == "rows":
            data = (b"\x02" + bytes(key[1] - 1)) * key[2]
        else:
            data = b"\x02"
        co = zlib.compressobj(PNG_COMPRESS_LEVEL, zlib.DEFLATED, -15)
        piece = co.compress(data) + co.flush(zlib.Z_FULL_FLUSH)
        if len(_DEFLATE_PIECES) >= _DEFLATE_PIECES_LIMIT:
            _DEFLATE_PIECES.clear()
        _DEFLATE_PIECES[key] = piece
    return piece


def _zero_pieces(n: int, out: list) -> None:
    """Pieces decoding to ``n`` zero bytes."""
    if n >= _ZEROS_BASE:
        out.append(_deflate_piece(("zeros", _ZEROS_BASE)) * (n // _ZEROS_BASE))
        n %= _ZEROS_BASE
    if n:
        out.append(_deflate_piece(("zeros", n)))


def _gap_pieces(start: int, stop: int, row: int) -> bytes:
    """Deflate pieces for the filtered bytes [start, stop) of a gap, which are zeros except the
    filter byte 2 at each row start (multiples of ``row``)."""
    out: list[bytes] = []
    first = -(-start // row) * row  # the first row start in the gap
    if first >= stop:
        _zero_pieces(stop - start, out)
        return b"".join(out)
    _zero_pieces(first - start, out)
    k = (stop - first) // row  # whole rows [2, 0, 0, ...]
    if k >= _ROWS_BASE:
        out.append(_deflate_piece(("rows", row, _ROWS_BASE)) * (k // _ROWS_BASE))
    if k % _ROWS_BASE:
        out.append(_deflate_piece(("rows", row, k % _ROWS_BASE)))
    rest = stop - first - k * row  # the start of one more row: a 2, then zeros
    if rest:
        out.append(_deflate_piece(("two",)))
        _zero_pieces(rest - 1, out)
    return b"".join(out)


@functools.cache
def _deflate_module():
    """The deflate compressor for the PNG's pieces: zlib-ng's (the ``zlib-ng`` package, a
    dependency), whose level 1 is about 3x faster than zlib's on chart pixels (it writes fixed
    Huffman codes: the compressed stretches come out about a fifth larger), and whose Adler-32
    is about 8x faster; both release the interpreter lock, and the output is the same bytes
    every time. (ISA-L's, via ``isal``, was faster still but not deterministic: the same pixels
    gave different, equally valid, bytes from run to run.) Python's own zlib if zlib-ng cannot
    be imported: the same API, and any deflate stream decodes to the same pixels."""
    import zlib

    try:
        from zlib_ng import zlib_ng
    except ImportError:  # pragma: no cover - zlib-ng is a dependency; kept working without it
        return zlib
    return zlib_ng


class _Deflation:
    """The zlib stream of the filtered rows ``buf[:size]``: gaps of zeros as ready pieces, the
    rest as tasks (:meth:`work`) that whichever threads call it share. ``inked``: the numbers of
    the PNG_BLOCK-byte blocks of ``buf`` that hold a non-zero byte other than a filter byte."""

    def __init__(self, buf, size: int, row: int, level: int, inked):
        import threading

        import numpy as np

        self._data, self._level = memoryview(buf).cast("B")[:size], level
        self._parts: list = []  # bytes, or None where a task's output goes
        self._tasks: list = []  # (start, stop, part index); None: the checksum
        pos = 0
        if len(inked):
            gap = max(1, PNG_GAP_BYTES // PNG_BLOCK)
            cut = np.flatnonzero(np.diff(inked) > gap)
            starts = (np.concatenate(([inked[0]], inked[cut + 1])) * PNG_BLOCK).tolist()
            stops = np.minimum((np.concatenate((inked[cut], [inked[-1]])) + 1) * PNG_BLOCK, size).tolist()
            for start, stop in zip(starts, stops):
                if start > pos:
                    self._parts.append(_gap_pieces(pos, start, row))
                for a in range(start, stop, PNG_PIECE_BYTES):
                    self._tasks.append((a, min(a + PNG_PIECE_BYTES, stop), len(self._parts)))
                    self._parts.append(None)
                pos = stop
        if pos < size:
            self._parts.append(_gap_pieces(pos, size, row))
        self._tasks.append(None)
        self._adler = b""
        self._next, self._left, self._error = 0, len(self._tasks), None
        self._lock, self._done = threading.Lock(), threading.Event()

    def work(self) -> None:
        """Take and do tasks until none is left to take."""
        deflate = _deflate_module()
        while True:
            with self._lock:
                i = self._next
                if i >= len(self._tasks):
                    return
                self._next = i + 1
            try:
                task = self._tasks[i]
                if task is None:
                    self._adler = deflate.adler32(self._data).to_bytes(4, "big")
                else:
                    start, stop, part = task
                    co = deflate.compressobj(self._level, deflate.DEFLATED, -15)
                    self._parts[part] = co.compress(self._data[start:stop]) + co.flush(deflate.Z_SYNC_FLUSH)
            except BaseException as exc:  # raised by result(), in the thread that waits for it
                self._error = self._error or exc
            finally:
                with self._lock:
                    self._left -= 1
                    if not self._left:
                        self._done.set()

    def result(self) -> bytes:
        """The zlib stream (this thread helps with what is left, then waits for the rest)."""
        import zlib

        self.work()
        self._done.wait()
        if self._error is not None:
            raise self._error
        final = zlib.compressobj(self._level, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)  # empty last block
        # zlib header: deflate, 32K window, fastest (as zlib.compress level 1)
        return b"".join([b"\x78\x01", *self._parts, final, self._adler])


class PngScratch:
    """A work buffer for the filtered rows that one PNG after another reuses (one at a time): a
    fresh 30-60 MB buffer for each chart cost the first touch of every page again."""

    def __init__(self):
        self._buf = None

    def get(self, n: int):
        """A uint8 array of ``n`` bytes (contents undefined), valid until the next call."""
        import numpy as np

        if self._buf is None or len(self._buf) < n:
            self._buf = None  # (freed before the larger one is made)
            self._buf = np.empty(n, dtype=np.uint8)
        return self._buf[:n]

    def clear(self) -> None:
        self._buf = None


def _up_filtered_zlib(rgba, level: int, scratch: PngScratch | None = None, done_reading=None,
                      share=None) -> bytes:
    """The zlib stream of the PNG rows of ``rgba`` (h, w, 4), each with the "Up" filter; the
    filtered rows are made in ``scratch``'s buffer if given. ``done_reading()``, if given, is
    called once ``rgba`` is no longer needed (before the compression); ``share(job)`` is given
    the :class:`_Deflation` before this thread starts on it, so another thread can help."""
    job = _deflation(rgba, level, scratch, done_reading)
    if share is not None:
        share(job)
    return job.result()


def _deflation(rgba, level: int, scratch: PngScratch | None = None, done_reading=None) -> _Deflation:
    """The rows of ``rgba`` filtered, and their compression set out (see _up_filtered_zlib)."""
    import numpy as np

    height, width, channels = rgba.shape
    row = 1 + channels * width
    size = height * row
    n = -(-size // PNG_BLOCK) * PNG_BLOCK  # whole blocks
    buf = scratch.get(n) if scratch is not None else np.empty(n, dtype=np.uint8)
    buf[size:] = 0
    scan = buf[:size].reshape(height, row)
    rows = rgba.reshape(height, channels * width)
    scan[:, 0] = 0  # (the filter bytes are set after the search for non-zero bytes)
    scan[0, 1:] = rows[0]  # for the first row "above" is zeros, so it is the row itself
    np.subtract(rows[1:], rows[:-1], out=scan[1:, 1:])  # uint8 arithmetic wraps: modulo 256
    if done_reading is not None:
        done_reading()
    words = buf.view(np.uint64).reshape(-1, PNG_BLOCK // 8)
    inked = np.flatnonzero(np.bitwise_or.reduce(words, axis=1))  # blocks holding a non-zero byte
    scan[:, 0] = 2  # filter type Up
    return _Deflation(buf, size, row, level, inked)


def png_bytes(rgba, dpi: float = PNG_DPI, text: dict | None = None,
              level: int = PNG_COMPRESS_LEVEL, scratch: PngScratch | None = None,
              done_reading=None, share=None) -> bytes:
    """A PNG file (8-bit RGBA) of an (height, width, 4) uint8 array, e.g. the Agg buffer.

    Every row uses PNG's "Up" filter (the byte difference from the row above, done in one numpy
    operation; a chart is mostly rows like the one above, which become zeros), compressed at a
    fast zlib level with the long zero gaps skipped (:func:`_up_filtered_zlib`). Pillow's encoder
    picks a filter per row by trying all five, which cost more than the drawing. The same array
    always gives the same bytes. ``text`` becomes tEXt chunks (iTXt, UTF-8, when a value is not
    Latin-1); the physical size is ``dpi``. ``scratch``: a :class:`PngScratch` to work in (same
    bytes; for a series of PNGs encoded one at a time). ``done_reading()``: called once ``rgba``
    has been read (its memory may then be drawn on again while the rows are compressed);
    ``share(job)``: lets another thread help compress (see :class:`PngWriter`)."""
    import struct

    import numpy as np

    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"png_bytes needs RGBA (height, width, 4), not {rgba.shape}")
    height, width, _ = rgba.shape
    ppm = int(dpi / 0.0254 + 0.5)  # pixels per metre, as Pillow writes it
    out = [b"\x89PNG\r\n\x1a\n",
           _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)),
           _png_chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1))]
    for key, value in (text or {}).items():
        if not value:
            continue
        k = str(key).encode("latin-1")[:79]
        try:
            out.append(_png_chunk(b"tEXt", k + b"\0" + str(value).encode("latin-1")))
        except UnicodeEncodeError:  # not compressed, no language tag
            out.append(_png_chunk(b"iTXt", k + b"\0\0\0\0\0" + str(value).encode("utf-8")))
    out.append(_png_chunk(b"IDAT", _up_filtered_zlib(rgba, level, scratch, done_reading, share)))
    out.append(_png_chunk(b"IEND", b""))
    return b"".join(out)


# ----- drawing with text work cached ---------------------------------------------------------
# Matplotlib 3.11's Agg backend draws text glyph by glyph in Python: for each glyph it sets the
# font size and a transform, has FreeType render the glyph and blends it into the canvas, and
# before that it shapes the line again and finds its fonts again; measuring text (the layout
# engine, then the SVG) goes back to FreeType for every new renderer, and FreeType reads each
# font file through Python calls. The canvases below give exactly the same pixels and the same
# SVG with that work done once:
# - fonts are read from memory (set up as Matplotlib's font cache sets them up); a font, its
#   line metrics and a string's measured size are kept per font properties, size and dpi, and
#   a line's shaped glyphs per string, and a text's layout (Text._get_layout) per text and
#   properties;
# - a rendered glyph bitmap is kept per glyph, size, rotation and sub-pixel (1/64) position: a
#   glyph moved by whole pixels is the same bitmap moved (FreeType's rasteriser works on the
#   outline's position in 1/64 pixel);
# - the glyphs of a line are blended into the canvas in one call per layer instead of one call
#   each: Agg leaves a pixel under a zero coverage unchanged, so glyphs whose inked pixels do not
#   overlap can share an image, and a glyph that overlaps an earlier one goes on a later layer
#   (blended after it, as before); a line drawn again at the same sub-pixel offsets (a round's
#   source note on each of its charts) reuses those layers;
# - the white backgrounds of figure and Axes are filled directly (RendererAgg below).
# tests/test_chart_render.py checks pixels and SVG bytes against Matplotlib's own canvases.
# Without the private calls used here (another Matplotlib), the stock canvases are used.
# Set CORE_BUSINESS_STOCK_CANVAS=1 to draw with Matplotlib's own canvases (same files, slower):
# a way out if a Matplotlib update ever made the fast canvases draw differently.
STOCK_CANVAS_ENV = "CORE_BUSINESS_STOCK_CANVAS"
_TEXT_CACHE_LIMIT = 200_000  # entries per cache; a full cache is emptied
_TEXT_LINES_BYTES = 48 * 2**20  # bytes of drawn lines kept; beyond, they are dropped


def _cache_put(cache: dict, key, value):
    if len(cache) >= _TEXT_CACHE_LIMIT:
        cache.clear()
    cache[key] = value
    return value


@functools.cache
def _fast_backends():
    """(Agg canvas class, SVG canvas class) drawing what Matplotlib's own draw, with text work
    cached (see above); the stock classes when this Matplotlib lacks what they use."""
    import codecs
    import io
    import math
    import os
    import threading

    import matplotlib as mpl
    import numpy as np
    from matplotlib import cbook, ft2font
    from matplotlib.backends import backend_agg, backend_svg
    from matplotlib.backends.backend_mixed import MixedModeRenderer
    from matplotlib.font_manager import fontManager

    if os.environ.get(STOCK_CANVAS_ENV, "").strip() not in ("", "0"):
        return backend_agg.FigureCanvasAgg, backend_svg.FigureCanvasSVG
    usable = (all(hasattr(ft2font.FT2Font, a) for a in ("_layout", "_render_glyph", "_set_transform"))
              and hasattr(cbook, "_get_data_path")
              and hasattr(backend_agg.RendererAgg, "_draw_text_glyphs_and_boxes")
              and hasattr(fontManager, "_find_fonts_by_props") and hasattr(backend_agg, "get_hinting_flag"))
    if not usable:
        return backend_agg.FigureCanvasAgg, backend_svg.FigureCanvasSVG

    get_hinting_flag, normal = backend_agg.get_hinting_flag, ft2font.RenderMode.NORMAL
    fonts, heights, metrics, layouts, glyphs, lines, boxes = {}, {}, {}, {}, {}, {}, {}
    lines_size = [0]  # bytes of the line images kept
    memory_fonts = {}  # (font files, kerning factor, last resort, thread) -> FT2Font, kept

    def forget_all():
        """FT2Font objects must not be used across fork() (they share the parent's FreeType
        library): a forked child starts with nothing cached, as Matplotlib's font cache does."""
        for cache in (fonts, heights, metrics, layouts, glyphs, lines, boxes, memory_fonts):
            cache.clear()
        lines_size[0] = 0

    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=forget_all)

    class FontBytes(io.BytesIO):
        """A font file's bytes, named as the file."""

        def __init__(self, path):
            with open(path, "rb") as fh:
                super().__init__(fh.read())
            self.name = path

    def open_font(files, kerning, last_resort):
        """The FT2Font for font files [(path, face index), ...] (the first, falling back on the
        others), set up as Matplotlib's font cache (get_font) sets it up, but read from memory:
        FreeType reads a file through Python calls, several for each glyph it loads, which made
        measuring, shaping and rendering text 2-3 times slower. Same font data, same results."""
        def load(path, index, **kw):
            return ft2font.FT2Font(FontBytes(path), face_index=index, _kerning_factor=kerning, **kw)

        (first, first_index), *rest = files
        fallbacks = [load(path, index) for path, index in rest]
        resort = os.path.realpath(cbook._get_data_path("fonts", "ttf", "LastResortHE-Regular.ttf"))
        at = files.index((resort, 0)) if (resort, 0) in files else -1
        if at < 0 and last_resort:
            fallbacks.append(load(resort, 0, _warn_if_used=True))
            at = len(fallbacks)
        font = load(first, first_index, _fallback_list=fallbacks)
        if at == 0:  # the Last Resort font's usable charmap is its first
            font.set_charmap(0)
        elif at > 0:
            fallbacks[at - 1].set_charmap(0)
        return font

    def font_for(prop):
        """(FT2Font, key) for font properties: the font get_font(_find_fonts_by_props(prop))
        gives, read from memory (:func:`open_font`)."""
        rc = mpl.rcParams
        get = getattr(rc, "_get", rc.__getitem__)  # (rcParams._get: the value, unchecked)
        kerning, last_resort = get("text.kerning_factor"), get("font.enable_last_resort")
        key = (tuple(prop.get_family()), prop.get_style(), prop.get_variant(), prop.get_weight(),
               prop.get_stretch(), prop.get_size_in_points(), prop.get_file(), prop.get_math_fontfamily(),
               tuple(get("font.serif")), tuple(get("font.sans-serif")), tuple(get("font.cursive")),
               tuple(get("font.fantasy")), tuple(get("font.monospace")), kerning, last_resort,
               threading.get_ident())
        hit = fonts.get(key)
        if hit is None:
            files = tuple((os.path.realpath(getattr(p, "path", p)), getattr(p, "face_index", 0))
                          for p in fontManager._find_fonts_by_props(prop))
            fkey = (files, kerning, last_resort, threading.get_ident())
            font = memory_fonts.get(fkey)
            if font is None:
                font = memory_fonts[fkey] = open_font(files, kerning, last_resort)
            hit = _cache_put(fonts, key, (font, key))
        return hit

    def height_metrics(prop, dpi):
        """Text._get_layout's line metrics (ascent, descent, line gap) at ``dpi``, from the font's
        OS/2 or hhea table, as it computes them; (None,) * 3 sends it to its own fallback."""
        font, fkey = font_for(prop)
        key = (fkey, dpi)
        hit = heights.get(key)
        if hit is None:
            hit = (None, None, None)
            for table_name, gap_key, ascent_key, descent_key in (
                    ("OS/2", "sTypoLineGap", "sTypoAscender", "sTypoDescender"),
                    ("hhea", "lineGap", "ascent", "descent")):
                table = font.get_sfnt_table(table_name)
                if table is None:
                    continue
                scale = 1 / font.get_sfnt_table("head")["unitsPerEm"] * prop.get_size_in_points() * dpi / 72
                hit = (table[ascent_key] * scale, -table[descent_key] * scale, table[gap_key] * scale)
                break
            _cache_put(heights, key, hit)
        return hit

    def text_size(s, prop, dpi, flags):
        """(width, height, descent) of a plain string, as both renderers measure it."""
        font, fkey = font_for(prop)
        key = (fkey, dpi, flags.value, s)  # (an int: hashing the enum member is slow)
        hit = metrics.get(key)
        if hit is None:
            font.clear()
            font.set_size(prop.get_size_in_points(), dpi)
            font.set_text(s, 0.0, flags=flags)
            w, h = font.get_width_height()
            hit = _cache_put(metrics, key, (w / 64.0, h / 64.0, font.get_descent() / 64.0))
        return hit

    class RendererAgg(backend_agg.RendererAgg):
        # The figure's background is a white rectangle over the whole canvas, drawn first on a
        # canvas just cleared (to transparent white), and the Axes' background another white
        # rectangle drawn over it: clearing and rasterising both took a tenth of the drawing.
        # Here clearing waits until something is drawn: when that is a white rectangle over the
        # whole canvas, the canvas is filled with opaque white instead, and a plain white fill
        # over the all-white canvas is skipped (white blended over opaque white leaves every
        # pixel as it is). Anything else drawn, or the buffer read, clears first as before.
        _pending = _white = False

        def clear(self):
            self._pending, self._white = True, False

        def _settle(self):
            """Carry out a pending clear (before the buffer is read or drawn on)."""
            if self._pending:
                self._pending = False
                backend_agg.RendererAgg.clear(self)

        def _touch(self):
            self._settle()
            self._white = False

        def _update_methods(self):
            super()._update_methods()
            for name in ("draw_gouraud_triangles", "draw_image", "draw_markers", "draw_path_collection",
                         "draw_quad_mesh", "copy_from_bbox"):
                setattr(self, name, self._touching(getattr(self, name)))

        def _touching(self, method):
            def call(*args, **kwargs):
                self._touch()
                return method(*args, **kwargs)
            return call

        def buffer_rgba(self):
            self._settle()
            return super().buffer_rgba()

        def tostring_argb(self):
            self._settle()
            return super().tostring_argb()

        def restore_region(self, *args, **kwargs):
            self._touch()
            return super().restore_region(*args, **kwargs)

        def start_filter(self):
            self._touch()
            return super().start_filter()

        def stop_filter(self, post_processing):
            self._touch()
            return super().stop_filter(post_processing)

        def draw_tex(self, *args, **kwargs):
            self._touch()
            return super().draw_tex(*args, **kwargs)

        def draw_path(self, gc, path, transform, rgbFace=None):
            if (self._pending or self._white) and self._plain_white(gc, rgbFace):
                if self._white:
                    return
                if self._whole_canvas(gc, path, transform):
                    self._pending, self._white = False, True
                    np.asarray(super().buffer_rgba()).fill(255)
                    return
            self._touch()
            super().draw_path(gc, path, transform, rgbFace)

        @staticmethod
        def _plain_white(gc, rgb):
            """An opaque white fill with no edge and no hatch."""
            if rgb is None or gc.get_hatch() is not None or gc.get_linewidth() != 0:
                return False
            alpha = gc.get_alpha() if len(rgb) == 3 or gc.get_forced_alpha() else rgb[3]
            return tuple(rgb[:3]) == (1.0, 1.0, 1.0) and alpha == 1.0

        def _whole_canvas(self, gc, path, transform):
            """The path is one rectangle covering the canvas, unclipped and undistorted."""
            if (gc.get_clip_path()[0] is not None or gc.get_sketch_params() is not None
                    or len(path.vertices) not in (4, 5) or path.codes is not None
                    and list(path.codes) not in ([1, 2, 2, 2], [1, 2, 2, 2, 79])):
                return False
            clip = gc.get_clip_rectangle()
            if clip is not None and not (clip.x0 <= 0 and clip.y0 <= 0 and clip.x1 >= self.width
                                         and clip.y1 >= self.height):
                return False
            corners = transform.transform(path.vertices[:4])
            xs, ys = sorted(set(corners[:, 0].tolist())), sorted(set(corners[:, 1].tolist()))
            return (len(xs) == len(ys) == 2 and xs[0] <= 0 and ys[0] <= 0 and xs[1] >= self.width
                    and ys[1] >= self.height)

        def _get_font_height_metrics(self, prop):
            return height_metrics(prop, self.dpi)

        def get_text_width_height_descent(self, s, prop, ismath):
            if ismath:
                return super().get_text_width_height_descent(s, prop, ismath)
            return text_size(s, prop, self.dpi, get_hinting_flag())

        def draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
            self._touch()
            if ismath or not gc.get_antialiased():
                return super().draw_text(gc, x, y, s, prop, angle, ismath, mtext)
            font, fkey = font_for(prop)
            size, dpi, flags = prop.get_size_in_points(), self.dpi, get_hinting_flag()
            features = mtext.get_fontfeatures() if mtext is not None else None
            language = mtext.get_language() if mtext is not None else None
            lkey = (fkey, dpi, flags.value, s, None if features is None else tuple(features),
                    language if language is None or isinstance(language, str) else
                    tuple(tuple(part) for part in language))
            shaped = layouts.get(lkey)
            if shaped is None:
                font.clear()
                font.set_size(size, dpi)
                items = [(item.ft_object, item.glyph_index, item.x, item.y)
                         for item in font._layout(s, flags=flags, features=features, language=language)]
                shaped = _cache_put(layouts, lkey, (
                    [item[:2] for item in items],
                    np.array([item[2] for item in items], dtype=float),
                    np.array([item[3] for item in items], dtype=float)))
            glyph_ids, dxs, dys = shaped
            if not glyph_ids:
                return
            # As RendererAgg._draw_text_glyphs_and_boxes: the same transform and 26.6 offsets
            # (the same float operations, elementwise; rint rounds half to even as round does).
            cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
            matrix = (0x10000 * np.array([[cos, -sin], [sin, cos]]) @ [[1, 0], [0, 1]]).round().astype(int)
            mkey = tuple(matrix.ravel().tolist())
            height = self.height
            xs = np.rint(0x40 * (x + dxs * cos - dys * sin)).astype(np.int64)
            ys = np.rint(0x40 * (height - y + dxs * sin + dys * cos)).astype(np.int64)
            # The line's ink depends only on the glyphs' offsets from a whole-pixel origin.
            bx, by = int(xs[0]) >> 6, int(ys[0]) >> 6
            xs -= bx << 6
            ys -= by << 6
            line_key = (lkey, mkey, xs.tobytes(), ys.tobytes())
            line = lines.get(line_key)
            if line is None:
                line = self._ink(glyph_ids, xs.tolist(), ys.tolist(), size, dpi, flags, matrix, mkey)
                if lines_size[0] > _TEXT_LINES_BYTES:
                    lines.clear()
                    lines_size[0] = 0
                lines[line_key] = line
                lines_size[0] += sum(layer.nbytes for layer in line[0])
            layers, col, row = line
            for layer in layers:
                self._renderer.draw_text_image(layer, col + bx, row + int(height) - by, 0, gc)

        @staticmethod
        def _ink(glyph_ids, xs, ys, size, dpi, flags, matrix, mkey):
            """A line's glyphs as layers of coverage (see above), with the column of their left
            edge and the row under their bottom edge, for offsets from a pixel origin (0, 0)."""
            placed = []
            flag_key = flags.value
            for (ft, index), ox, oy in zip(glyph_ids, xs, ys):
                gkey = (ft, size, dpi, index, mkey, flag_key, ox & 63, oy & 63)
                hit = glyphs.get(gkey)
                if hit is None:
                    ft.set_size(size, dpi)
                    ft._set_transform(matrix, [ox, oy])
                    bitmap = ft._render_glyph(index, flags, normal)
                    hit = _cache_put(glyphs, gkey, (bitmap.buffer, bitmap.left - (ox >> 6), bitmap.top - (oy >> 6)))
                image, left, top = hit
                if image.size:
                    placed.append((image, left + (ox >> 6), -top - (oy >> 6)))
            if not placed:
                return [], 0, 0
            x0, y0 = min(p[1] for p in placed), min(p[2] for p in placed)
            x1 = max(p[1] + p[0].shape[1] for p in placed)
            y1 = max(p[2] + p[0].shape[0] for p in placed)
            layers = []
            for image, left, row in placed:
                cells = (slice(row - y0, row - y0 + image.shape[0]), slice(left - x0, left - x0 + image.shape[1]))
                k = len(layers)  # the layer after the last one holding ink under this glyph
                while k and not np.minimum(layers[k - 1][cells], image).any():
                    k -= 1
                if k == len(layers):
                    layers.append(np.zeros((y1 - y0, x1 - x0), dtype=np.uint8))
                under = layers[k][cells]
                np.maximum(under, image, out=under)
            return layers, x0, y1

    class FigureCanvasAgg(backend_agg.FigureCanvasAgg):
        spares = None  # a _SpareRenderers to take a renderer from (set by _drawn), or None

        def get_renderer(self):
            w, h = self.get_width_height(physical=True)
            key = w, h, self.figure.dpi
            if self._lastKey != key:
                spare = self.spares.take(key) if self.spares is not None else None
                self.renderer = spare if spare is not None else RendererAgg(w, h, self.figure.dpi)
                self._lastKey = key
            return self.renderer

    class RendererSVG(backend_svg.RendererSVG):
        def _get_font_height_metrics(self, prop):
            return height_metrics(prop, 72)

        def get_text_width_height_descent(self, s, prop, ismath):
            if ismath:
                return super().get_text_width_height_descent(s, prop, ismath)
            # as TextToPath measures: at its FONT_SCALE and DPI, unhinted, then scaled
            t2p = self._text2path
            font, fkey = font_for(prop)
            key = (fkey, "svg", s)
            hit = metrics.get(key)
            if hit is None:
                scale = prop.get_size_in_points() / t2p.FONT_SCALE
                font.set_size(t2p.FONT_SCALE, t2p.DPI)
                font.set_text(s, 0.0, flags=ft2font.LoadFlags.NO_HINTING)
                w, h = font.get_width_height()
                hit = _cache_put(metrics, key, (w / 64.0 * scale, h / 64.0 * scale, font.get_descent() / 64.0 * scale))
            return hit

    class FigureCanvasSVG(backend_svg.FigureCanvasSVG):
        def print_svg(self, filename, *, metadata=None):
            """As Matplotlib's (72 units to the inch, UTF-8 text), with the renderer above."""
            fig = self.figure
            with cbook.open_file_cm(filename, "w", encoding="utf-8") as fh:
                if not cbook.file_requires_unicode(fh):
                    fh = codecs.getwriter("utf-8")(fh)
                dpi = fig.dpi
                fig.dpi = 72
                width, height = fig.get_size_inches()
                renderer = MixedModeRenderer(fig, width, height, dpi,
                                             RendererSVG(width * 72, height * 72, fh, image_dpi=dpi, metadata=metadata))
                fig.draw(renderer)
                renderer.finalize()

    _install_layout_cache(RendererAgg, RendererSVG, MixedModeRenderer, font_for, get_hinting_flag, boxes)
    return FigureCanvasAgg, FigureCanvasSVG


def _install_layout_cache(agg_class, svg_class, mixed_class, font_for, get_hinting_flag, cache: dict) -> None:
    """Keep Text._get_layout's result per text and everything it depends on, for the renderers
    above only (any other renderer: Matplotlib's own method, untouched).

    A text's layout (its box, and each line's size and offset from the text's anchor) does not
    depend on where the text is, so the same label measured again (by the layout engine, then
    the PNG, then the SVG; a force's name on every chart) need not be worked out again: about
    3% of the instructions of a comparison chart. The key is what the method reads: the text,
    its font (the key the text measures above are kept under), line spacing, alignments,
    rotation and rotation mode, the figure's dpi, and the renderer's kind, dpi and hinting (it
    measures through the renderer). Wrapped text (laid out by position), TeX and anything with
    a '$' where mathtext is on (the house style turns it off) are left to the method. Each call
    gets its own copy of the box."""
    from matplotlib import text as mtext

    plain = mtext.Text._get_layout
    if getattr(plain, "_core_business_cached", False):  # (installed once a process)
        return
    probe = mtext.Text(0, 0, "x")
    if not all(hasattr(probe, a) for a in ("_text", "_wrap", "_fontproperties", "_linespacing", "_multialignment",
                                            "_rotation_mode", "_horizontalalignment", "_verticalalignment")):
        return  # another Matplotlib: its own method, as it is

    def _get_layout(self, renderer):
        inner = renderer._renderer if type(renderer) is mixed_class else renderer
        kind = type(inner)
        if kind is agg_class:
            rkey = (inner.dpi, get_hinting_flag().value)
        elif kind is svg_class:
            rkey = "svg"
        else:
            return plain(self, renderer)
        text = self._text
        if self._wrap or ("$" in text and self.get_parse_math()) or self.get_usetex():
            return plain(self, renderer)
        key = (rkey, self.get_figure(root=True).dpi, text, font_for(self._fontproperties)[1],
               self._linespacing, self._multialignment, self.get_rotation(), self._rotation_mode,
               self._horizontalalignment, self._verticalalignment)
        hit = cache.get(key)
        if hit is None:
            hit = _cache_put(cache, key, plain(self, renderer))
        bbox, lines, box = hit
        return bbox.frozen(), list(lines), box

    _get_layout._core_business_cached = True
    _get_layout.__wrapped__ = plain
    mtext.Text._get_layout = _get_layout


class _SpareRenderers:
    """Agg renderers whose pixels are no longer needed, for the next chart of the same pixel size
    and dpi (a series' charts mostly share one). A new renderer allocates its 30-60 MB buffer and
    clears it, the first touch of every page (about a tenth of drawing a comparison chart); a
    renderer drawn on again is cleared by the draw, as Matplotlib's own canvas clears the
    renderer it keeps between draws of one figure. Holds at most one (the latest given back)."""

    def __init__(self):
        import threading

        self._lock = threading.Lock()
        self._spare = None

    def take(self, key):
        """The spare renderer if it has this (width, height, dpi), else None (the spare of
        another size is dropped: its memory is freed now rather than kept)."""
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None and (spare.width, spare.height, spare.dpi) == key:
            return spare
        return None

    def give(self, renderer) -> None:
        """Keep ``renderer`` for reuse; its pixels must not be read any more."""
        with self._lock:
            self._spare = renderer

    def clear(self) -> None:
        with self._lock:
            self._spare = None


@contextlib.contextmanager
def _drawn(fig, dpi: float, spares: _SpareRenderers | None = None):
    """Draw ``fig`` once on an Agg canvas at ``dpi`` (white background) and yield the canvas; the
    layout engine runs once first and is switched off while the block runs, so anything drawn
    in the block (the SVG) shares that layout. Afterwards the figure has its dpi, face colour,
    canvas and layout engine back. ``spares``: where the canvas may take a used renderer of the
    right size instead of making one."""
    canvas_class = _fast_backends()[0]
    engine = fig.get_layout_engine()
    old_dpi, old_face, old_canvas = fig.dpi, fig.get_facecolor(), fig.canvas
    fig.set_facecolor("white")
    fig.dpi = dpi
    try:
        canvas = canvas_class(fig)
        if spares is not None and hasattr(canvas_class, "spares"):  # (not the stock canvas)
            canvas.spares = spares
        if engine is not None:
            # The layout savefig computes in a draw without rendering before each file: the engine
            # alone, once (fig._get_renderer() is this canvas's Agg renderer, at this dpi).
            try:
                engine.execute(fig)
            except ValueError:  # (as Figure.draw: a figure too small to lay out keeps its place)
                pass
            fig.set_layout_engine("none")
        canvas.draw()
        yield canvas
    finally:
        if engine is not None:
            fig.set_layout_engine(engine)
        fig.dpi = old_dpi
        fig.set_facecolor(old_face)
        fig.set_canvas(old_canvas)


def _pixels(canvas):
    """The RGBA pixels of the renderer the canvas drew on (a view, no copy). Taken while the
    figure still has the canvas's size and dpi: get_renderer() would otherwise make a new one."""
    import numpy as np

    return np.asarray(canvas.get_renderer().buffer_rgba())


def _png_of(pixels, dpi: float, description: str = "", scratch: PngScratch | None = None,
            done_reading=None, share=None) -> bytes:
    return png_bytes(pixels, dpi, {**SAVE_METADATA["png"], "Description": description}, scratch=scratch,
                     done_reading=done_reading, share=share)


def render_png(fig, dpi: float = PNG_DPI, description: str = "") -> bytes:
    """The figure as PNG bytes at ``dpi``, in the house style, drawn once (as :func:`export_chart`
    draws it); ``description`` goes into the PNG's text. For showing a chart without files."""
    with house_style(), _drawn(fig, dpi) as canvas:
        return _png_of(_pixels(canvas), dpi, description)


class PngWriter:
    """Writes PNG files on one background thread, one at a time, so that the caller can go on
    drawing: the encoding is numpy and zlib, which release the GIL, and reads only an Agg buffer
    that is finished and no longer drawn on. Use it as a context manager; when the block ends,
    every PNG handed to it is written (the first error is raised then, or at the next
    :meth:`submit`).

    :func:`export_chart` given a writer returns once its SVG, CSV and alt text are written, and
    the PNG is encoded while the caller draws the next chart (a series of charts takes about the
    drawing time alone, on two cores). At most one PNG waits: :meth:`submit` first waits for the
    previous one, so no more than two charts' pixels are held at once. A caller that has to wait
    helps to compress the pieces of the PNG still left (:class:`_Deflation`)."""

    def __init__(self):
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="png")
        self._pending = None
        self._job = None  # the _Deflation the writer's thread is working on, if any
        self.spares = _SpareRenderers()  # renderers whose rows are filtered, for the next chart
        self.scratch = PngScratch()  # used by one PNG at a time (the writer's one thread)

    def share(self, job) -> None:
        """Called on the writer's thread with the compression it starts (see :meth:`wait`)."""
        self._job = job

    def submit(self, write) -> None:
        """Run ``write()`` on the writer's thread, after the previous one has finished."""
        self.wait()
        self._pending = self._pool.submit(write)

    def wait(self) -> None:
        """Wait until every PNG submitted is written, compressing what is left of it meanwhile;
        raise the error of a failed one."""
        pending, self._pending = self._pending, None
        if pending is not None:
            job = self._job
            if job is not None and not pending.done():
                job.work()  # (a finished job has nothing left to take)
            pending.result()
            self._job = None

    def __enter__(self) -> PngWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown()
            self.spares.clear()
            self.scratch.clear()


_STANDALONE: list = []  # the PngWriter of exports given none (made at the first)
_STANDALONE_LOCK = threading.Lock()


def _write_png_and_svg(fig, png: Path, svg: Path, description: str = "", meanwhile=None,
                       png_writer: PngWriter | None = None) -> None:
    """Both images from one layout. ``description`` (the alt text, marks first) goes into the
    files' metadata too: PNG text chunk and SVG ``dc:description``. ``meanwhile``: a callable run
    on this thread after the SVG, while the PNG may still be encoding (the data files). Without
    ``png_writer`` the PNG is complete when this returns; with one, when the writer says so."""
    if png_writer is None:
        # The process's own writer, kept between such calls (one at a time) so that a chart of
        # the size before draws on that one's renderer and the PNG reuses its work buffer
        # instead of making new ones (3-4% of a criterion chart's export); waited for here.
        with _STANDALONE_LOCK:
            if not _STANDALONE:
                _STANDALONE.append(PngWriter())
            writer = _STANDALONE[0]
            try:
                _write_png_and_svg(fig, png, svg, description, meanwhile, writer)
            finally:
                writer.wait()
        return
    meta = {**SAVE_METADATA["svg"], **({"Description": description} if description else {})}
    writer = png_writer
    spares = writer.spares
    with _drawn(fig, PNG_DPI, spares) as canvas:
        # The PNG is encoded on the writer's thread while this one draws the SVG: the encoding
        # reads only the finished Agg buffer, which the SVG renderer never touches (and which
        # stays alive, with this canvas's renderer, while the encoding holds its pixels). Once
        # its rows are filtered, the writer may hand the renderer to a later chart of the same
        # size.
        pixels = _pixels(canvas)
        renderer = canvas.get_renderer()

        given = []

        def give_back():  # once: the pixels are read (compression goes on in the scratch buffer)
            if not given:
                given.append(True)
                spares.give(renderer)

        def write_png():
            try:
                png.write_bytes(_png_of(pixels, PNG_DPI, description, scratch=writer.scratch,
                                        done_reading=give_back, share=writer.share))
            finally:
                give_back()

        writer.submit(write_png)
        # print_svg directly: savefig would run one more (layout-only) draw first
        text = io.StringIO()
        _fast_backends()[1](fig).print_svg(text, metadata=meta)
        with svg.open("w", encoding="utf-8") as fh:
            fh.write(accessible_svg(text.getvalue(), fig.get_label() or svg.stem, description))
        if meanwhile is not None:
            meanwhile()


def accessible_svg(svg_text: str, title: str, description: str) -> str:
    """The SVG with ``title`` and ``description`` as its first children (<title>, <desc>) and
    role="img" aria-labelledby naming both, so a screen reader announces the chart's title and
    reads its alt text when the SVG is put in a web page (Matplotlib writes the description only
    as dc:description metadata, which is not read out)."""
    from xml.sax.saxutils import escape

    start = svg_text.index("<svg ")
    end = svg_text.index(">", start)
    return (f'{svg_text[:end]} role="img" aria-labelledby="{SVG_TITLE_ID} {SVG_DESC_ID}">'
            f'\n <title id="{SVG_TITLE_ID}">{escape(title)}</title>'
            f'\n <desc id="{SVG_DESC_ID}">{escape(description)}</desc>{svg_text[end + 1:]}')


FIGURE_INDEX = "index.csv"


def write_figure_index(figures: str | Path, not_drawn=()) -> Path:
    """``figures/index.csv``: every exported chart (``compare/`` too), with the title and alt text
    its SVG and ``.alt.txt`` carry, in one list for the report team (the alt text to paste into a
    publishing system beside each image); then the charts planned but not drawn (``not_drawn``:
    names), with why. Read back from the files, so it lists exactly what was written."""
    import html
    import re

    figures = Path(figures)
    title_re = re.compile(f'<title id="{SVG_TITLE_ID}">(.*?)</title>', re.S)
    rows = []
    for svg in sorted(figures.rglob("*.svg")):
        m = title_re.search(svg.read_text(encoding="utf-8"))
        alt = svg.with_name(svg.stem + ".alt.txt")
        rows.append({"chart": svg.relative_to(figures).with_suffix("").as_posix(), "drawn": True,
                     "title": html.unescape(m.group(1)) if m else "",
                     "alt_text": alt.read_text(encoding="utf-8").strip() if alt.exists() else "", "note": ""})
    rows += [{"chart": name, "drawn": False, "title": "", "alt_text": "",
              "note": "not drawn: nothing to show (no force has a finding or figure for it in the round)"}
             for name in sorted(not_drawn)]
    out = figures / FIGURE_INDEX
    figures.mkdir(parents=True, exist_ok=True)
    index = pd.DataFrame(rows, columns=["chart", "drawn", "title", "alt_text", "note"])
    _csv_safe(index).to_csv(out, index=False, lineterminator="\n", encoding="utf-8")
    return out


def check_embargo(tables: dict, round_ids, allow_embargoed: bool) -> None:
    """Raise EmbargoError for the first round still under embargo, unless allowed."""
    for rid in round_ids:
        marks = _marks(tables, rid)
        if marks.embargoed and not allow_embargoed:
            raise EmbargoError(rid, marks.embargo_until)


def export_all(paths, tables: dict | None = None, allow_embargoed: bool = False, rounds=None,
               folder: str | Path | None = None, only: tuple[str, ...] | None = None,
               keys=None) -> list[Path]:
    """Export every report chart for each coded round (default: all rounds with a matrix) to
    ``paths.figures`` (or ``folder``); ``only`` keeps the charts whose name contains one of the
    given parts (e.g. ``("criterion_A2",)``); ``keys`` draws only the charts with those
    :func:`chart_plan` keys (the others are not even drawn). Refuses a round under embargo unless
    ``allow_embargoed``."""
    from .io import load_tables

    tables = tables if tables is not None else load_tables(paths.processed)
    round_ids = list(rounds) if rounds else cf.coded_rounds(tables)
    check_embargo(tables, round_ids, allow_embargoed)
    out_dir = Path(folder) if folder else paths.figures
    written: list[Path] = []
    with collector_frozen(), PngWriter() as png_writer:  # (each PNG is encoded while the next chart is drawn)
        for rid in round_ids:
            for chart in report_charts(tables, rid, paths.raw, keys=set(keys) if keys is not None else None):
                if only is None or any(part in chart.name for part in only):
                    written += export_chart(chart.figure, chart.data, chart.name, chart.alt_text, out_dir,
                                            png_writer=png_writer)
                chart.figure.clear()
    return written


@contextlib.contextmanager
def collector_frozen():
    """Leave the objects that exist now (tables, modules, caches: a few hundred thousand) out of
    the cyclic garbage collector's full collections while a series of charts is drawn: each chart
    makes enough objects to set off collections, and each full one walked all of them again
    (several per cent of the drawing). New objects are collected as usual, and afterwards
    everything is as before. When something has frozen objects already (the command line does),
    it is left as it is."""
    import gc

    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


# ----- CLI ----------------------------------------------------------------------------------------------
def register(sub) -> None:
    from .cli import add_path_args, paths_from_args

    p = sub.add_parser("charts", help="export the report charts (and tables.xlsx) to reports/")
    add_path_args(p)
    p.add_argument("--round", action="append", dest="rounds", default=None,
                   help="round to chart (repeatable; default: every round with a matrix)")
    p.add_argument("--allow-embargoed", action="store_true",
                   help="export rounds still under embargo (outputs are marked EMBARGOED)")
    p.add_argument("--no-workbook", action="store_true", help="charts only, no reports/tables.xlsx")

    def run(args) -> int:
        paths = paths_from_args(args)
        from .io import load_tables

        tables = load_tables(paths.processed)
        files = export_all(paths, tables, allow_embargoed=args.allow_embargoed, rounds=args.rounds)
        print(f"{len(files)} files written to {paths.figures}; "
              f"list of every chart in the folder: {write_figure_index(paths.figures)}")
        if not args.no_workbook:
            from .tables import write_workbook

            for f in write_workbook(paths, tables, allow_embargoed=args.allow_embargoed):
                print(f"workbook: {f}")
        return 0

    p.set_defaults(func=run)
