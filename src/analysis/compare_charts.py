"""Charts of change between rounds, in the house style (:mod:`analysis.style`).

* :func:`dumbbell_figure` - one criterion: each force's judgement before and after the update;
  forces the update did not revisit keep their earlier marker, drawn hollow and grey.
* :func:`change_matrix_figure` - forces x criteria, each cell the change type (colour *and*
  symbol, so nothing depends on colour alone).
* :func:`grade_distribution_figure` - PEEL grades per question per round (counts in the bars).
* :func:`grade_paths_figure` - each force's grades across the PEEL rounds; a line joins two rounds
  only for the same question_id (different questions are never joined).

Each ``*_figure`` returns ``(fig, data, alt_text)``: the data behind the chart ships with it.
:func:`chart_plan` lists the charts the build makes; :func:`export_all` draws them (all, or the
ones named) and writes them through ``charts.export_chart`` when that module exists, else
through the small local exporter below. Rounds under embargo are refused unless
``allow_embargoed``; their charts are then marked. :func:`show` displays a chart in a notebook.

Speed: the marks are drawn a class at a time (one patch per change type or grade, one scatter
per kind of marker, arrows as a collection, row and column labels as plain texts, the small
multiples on one Axes) rather than an artist per cell, force or panel. The pictures are the
same, but for the grade paths now labelling the years under the lowest panel of every column.
:func:`export_all` draws a chart while the previous one's PNG is encoded
(:class:`analysis.charts.PngWriter`, which also hands a chart of the same size the renderer and
PNG buffer of an earlier one), with the objects that existed before left out of the garbage
collector's full collections. Labels that lie inside their Axes (dumbbell change names, bar
counts) are left out of the layout (tests/test_charts_speed.py checks the Axes get the same
place).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd

from . import style
from .charts import _col_labels, _rc, _row_labels, _unclipped  # (shared with the report charts)
from .compare import CHANGE_TYPES, GRADE_RANK, resolve_grades
from .io import records
from .rounds import round_labels  # noqa: F401 - charts' callers (notebook 05) take it from here

SOURCE = "Source: core-business analysis of HMIC publications (processed tables '{tables}')."
JUDGEMENT_X = {"not_reported": 0, "negative": 1, "partial": 2, "positive": 3, "contested": 4}
X_LABELS = ["Not\nreported", "Negative", "Partial", "Positive", "Contested"]
CHANGE_LOOK: dict[str, style.Look] = {
    "improved": style.Look("#12436D", None, "▲", "Improved"),
    "declined": style.Look("#F46A25", None, "▼", "Declined", text_colour=style.TEXT),
    "unchanged": style.Look("#6BACE6", None, "=", "Unchanged", text_colour=style.TEXT),
    "newly_reported": style.Look("#28A197", None, "+", "Newly reported"),
    "no_longer_reported": style.Look("#3D3D3D", None, "−", "No longer reported"),
    "not_revisited": style.Look("#F2F2F2", "///", "", "Not revisited (earlier state kept)",
                                text_colour=style.TEXT, hatch_colour="#9A9A9A"),
    "contested": style.JUDGEMENT_LOOK["contested"],
}
GRADE_LOOK: dict[str, style.Look] = {
    "outstanding": style.Look("#12436D", None, "", "Outstanding"),
    "good": style.Look("#6BACE6", None, "", "Good", text_colour=style.TEXT),
    "requires_improvement": style.Look("#F46A25", None, "", "Requires improvement", text_colour=style.TEXT),
    "inadequate": style.Look("#3D3D3D", None, "", "Inadequate"),
    "contested": style.Look("#801650", "xx", "", "Sources disagree", hatch_colour="#D9A3C3"),
}
GRADE_STATES = (*GRADE_RANK, "contested")


def _style():
    """Hook: the house style context (swap here if the style module changes)."""
    return style.house_style()


def _short_names(tables) -> dict[str, str]:
    f = tables.get("forces")
    if f is None or f.empty:
        return {}
    return dict(zip(f["force_id"], f["short_name"]))


def _named(rounds: dict | None, rid: str) -> str:
    return (rounds or {}).get(rid, rid)


_forces, _were = style.n_forces, style.were


def _criteria_labels(tables) -> dict[str, str]:
    c = tables.get("criteria")
    if c is None or c.empty:
        return {}
    return dict(zip(c["criterion_id"], c["label"]))


def _arrow_head(sign: int, scale: float, shrink: float = 5.0, linewidth: float = 1.5):
    """(marker, scatter size) of the head of annotate()'s "-|>" arrow: a triangle 0.4 x ``scale``
    points long and 2 x 0.2 x ``scale`` wide, drawn with a mitred ``linewidth`` edge, whose
    stroked tip stops ``shrink`` points before the point it marks; pointing right (``sign`` 1)
    or left (-1). (Matplotlib likewise sets the geometric tip back by the mitre's reach.)"""
    from matplotlib.markers import MarkerStyle
    from matplotlib.path import Path as MPath

    length, half = 0.4 * scale, 0.2 * scale
    tip = shrink + 0.5 * linewidth * (length ** 2 + half ** 2) ** 0.5 / half  # + (lw / 2) / sin(half-angle)
    base = tip + length
    verts = [(-sign * tip, 0.0), (-sign * base, half), (-sign * base, -half), (-sign * tip, 0.0)]
    path = MPath(verts, [MPath.MOVETO, MPath.LINETO, MPath.LINETO, MPath.CLOSEPOLY])
    return MarkerStyle(path), (2 * base) ** 2  # path markers are scaled: largest |coordinate| = sqrt(s) / 2


def _shafts(ends, shrink_a: float, shrink_b: float, **kwargs):
    """A LineCollection of the segments ``ends`` [((x0, y0), (x1, y1)), ...] (data coordinates),
    each drawn shortened by ``shrink_a`` / ``shrink_b`` points at its start / end, as
    FancyArrowPatch shrinks an arrow (points are only known when drawing)."""
    import numpy as np

    ends = np.asarray(ends, dtype=float).reshape(-1, 2, 2)
    return _shafts_class()(ends, shrink_a, shrink_b, **kwargs)


@functools.cache
def _shafts_class():
    """The class behind :func:`_shafts`, made once (making an Artist subclass costs a few ms:
    Matplotlib sets up its property aliases and ``set`` signature)."""
    import numpy as np
    from matplotlib.collections import LineCollection

    class Shafts(LineCollection):
        def __init__(self, ends, shrink_a, shrink_b, **kwargs):
            super().__init__(list(ends), **kwargs)
            self._ends, self._shrink = ends, (shrink_a, shrink_b)

        def draw(self, renderer):
            ends, (shrink_a, shrink_b) = self._ends, self._shrink
            to_px = self.axes.transData
            a, b = to_px.transform(ends[:, 0]), to_px.transform(ends[:, 1])
            unit = (b - a) / np.maximum(np.hypot(*(b - a).T), 1e-9)[:, None]
            a = a + unit * renderer.points_to_pixels(shrink_a)
            b = b - unit * renderer.points_to_pixels(shrink_b)
            back = to_px.inverted()
            self.set_segments(np.stack([back.transform(a), back.transform(b)], axis=1))
            super().draw(renderer)

    return Shafts


DUMBBELL_XLIM = (-0.5, 6.2)  # the judgement columns at x 0-4, then the change's name
DUMBBELL_LABEL_X = 4.6       # where the change's name starts
# The rows' grid lines stop short of the names (a line through a name reads as struck out).
DUMBBELL_NAME_GAP = 0.15    # row lines and the axis line end this far before the change's name
DUMBBELL_GRID_STOP = (DUMBBELL_LABEL_X - DUMBBELL_NAME_GAP - DUMBBELL_XLIM[0]) / (DUMBBELL_XLIM[1] - DUMBBELL_XLIM[0])


def _dumbbell_marks(ax, d: pd.DataFrame) -> None:
    """Row i of ``d``: an arrow from the before to the after judgement (where they differ), the
    before marker hollow and the after marker filled, in the change's colour, and the change
    named at the right; a force not revisited gets only a grey hollow marker at its earlier
    judgement. Markers are three scatters and the labels plain texts, not a Line2D and an
    Annotation per force (same picture, a fraction of the drawing)."""
    import matplotlib as mpl

    rows = list(d[["change", "x_before", "x_after"]].itertuples(index=False, name=None))
    kept = [(i, xb) for i, (ch, xb, _xa) in enumerate(rows) if ch == "not_revisited"]
    moved = [(i, ch, xb, xa) for i, (ch, xb, xa) in enumerate(rows) if ch != "not_revisited"]
    arrows = [(i, ch, xb, xa) for i, ch, xb, xa in moved if xb != xa]
    if arrows:
        # Shafts from marker to marker (the markers cover their ends) and heads as markers: the
        # arrow annotate() drew, in two collections instead of a patch and a text per arrow.
        colours = [CHANGE_LOOK[ch].colour for _, ch, _, _ in arrows]
        scale = mpl.rcParams["font.size"]  # annotate() sizes the head to its (empty) text
        ax.add_collection(_shafts([[(xb, i), (xa, i)] for i, _, xb, xa in arrows], 4, 5 + 0.2 * scale,
                                  colors=colours, linewidths=1.5, zorder=3))
        for sign in (1, -1):  # heads pointing right, then left
            heads = [(xa, i, c) for (i, _, xb, xa), c in zip(arrows, colours) if (xa > xb) == (sign > 0)]
            if heads:
                marker, size = _arrow_head(sign, scale)
                ax.scatter([h[0] for h in heads], [h[1] for h in heads], marker=marker, s=size,
                           c=[h[2] for h in heads], edgecolors=[h[2] for h in heads], linewidths=1.5,
                           joinstyle="miter", zorder=3)
    mew = mpl.rcParams["lines.markeredgewidth"]
    if kept:
        ax.scatter([xb for _, xb in kept], [i for i, _ in kept], s=6 ** 2, facecolors="white",
                   edgecolors="#9A9A9A", linewidths=mew, zorder=3)
    if moved:
        colours = [CHANGE_LOOK[ch].colour for _, ch, _, _ in moved]
        ys = [i for i, _, _, _ in moved]
        ax.scatter([xb for _, _, xb, _ in moved], ys, s=7 ** 2, facecolors="white", edgecolors=colours,
                   linewidths=1.5, zorder=3)
        ax.scatter([xa for _, _, _, xa in moved], ys, s=7 ** 2, c=colours, edgecolors=colours,
                   linewidths=mew, zorder=4)
    # The change named at the right, inside the Axes (DUMBBELL_LABEL_X within DUMBBELL_XLIM, on a figure of fixed
    # width; the longest name ends well before the edge), so left out of the layout: the layout
    # engine measured each of them twice and the Axes' box already contains them.
    inside = {**_unclipped(ax), "in_layout": False}
    for i, (ch, _, _) in enumerate(rows):
        look = CHANGE_LOOK[ch]
        if ch == "not_revisited":
            ax.text(DUMBBELL_LABEL_X, i, look.label.split(" (")[0], va="center", fontsize=8, color=style.MUTED_TEXT,
                    **inside)
        else:
            ax.text(DUMBBELL_LABEL_X, i, f"{look.symbol} {look.label}", va="center", fontsize=8, color=style.TEXT,
                    **inside)


# ----- dumbbell -----------------------------------------------------------------------------------
def dumbbell_figure(changes: pd.DataFrame, criterion_id: str, names: dict | None = None,
                    label: str = "", marks: style.Marks = style.Marks(), only_revisited: bool = False,
                    rounds: dict | None = None):
    """Before -> after judgement for every force on one criterion (one update round).
    ``only_revisited``: leave out the forces the update did not revisit (a shorter chart, for a
    notebook; the subtitle and alt text say how many were left out). ``rounds``: round id ->
    label (:func:`round_labels`)."""
    names = names or {}
    d = changes[changes["criterion_id"] == criterion_id].copy()
    if d["round"].nunique() != 1:
        raise ValueError("dumbbell_figure takes the changes of one update round")
    upd, base = (_named(rounds, d[c].iloc[0]) for c in ("round", "baseline_round"))
    d["force"] = d["force_id"].map(lambda f: names.get(f, f))
    d["_k"] = d["change"].map({c: i for i, c in enumerate(CHANGE_TYPES)})
    d = d.sort_values(["_k", "force"], ascending=[False, False], ignore_index=True)
    d["x_before"] = d["before_judgement"].map(JUDGEMENT_X)
    d["x_after"] = d["after_judgement"].map(JUDGEMENT_X)
    counts = d["change"].value_counts()
    revisited = int(len(d) - counts.get("not_revisited", 0))
    moved = [f"{int(counts[c])} {CHANGE_LOOK[c].label.lower()}" for c in CHANGE_TYPES
             if c != "not_revisited" and counts.get(c, 0)]
    title = (f"{criterion_id} {label}: {upd} revisited {revisited} of {len(d)} forces"
             + (f" ({', '.join(moved)})" if moved else ""))
    n_kept = int(counts.get("not_revisited", 0))
    subtitle = (f"Judgement in {base} (hollow) and in {upd} (filled), by force. Forces not revisited "
                "keep their earlier judgement (grey, no arrow).")
    if only_revisited:
        d = d[d["change"] != "not_revisited"].reset_index(drop=True)
        subtitle = (f"Judgement in {base} (hollow) and in {upd} (filled), for the forces the update "
                    f"revisited; the {n_kept} not revisited are left out (their earlier judgement stands).")
    height = 2.2 + 0.2 * len(d)
    with _style():
        fig = style.new_figure(8, height, title=title, subtitle=subtitle,
                               source=SOURCE.format(tables="changes"), marks=marks)
        ax = fig.add_subplot()
        _dumbbell_marks(ax, d)
        _row_labels(fig, ax, d["force"].tolist(), fontsize=8, grid=True, grid_stop=DUMBBELL_GRID_STOP)
        _col_labels(fig, ax, X_LABELS, grid_colour="#E5E5E5")  # (as set_xticks and an x grid)
        ax.set_xlim(*DUMBBELL_XLIM)
        ax.set_ylim(-0.7, len(d) - 0.3)
        ax.axvline(3.5, color="#BFBFBF", lw=0.8, ls="--")
        # the axis line ends with the row lines, not under the changes' names
        ax.spines["bottom"].set_bounds(DUMBBELL_XLIM[0], DUMBBELL_LABEL_X - DUMBBELL_NAME_GAP)
    data = d[["round", "baseline_round", "force_id", "force", "criterion_id", "before_value",
              "before_judgement", "before_round", "after_value", "after_judgement", "change"]].copy()
    alt = (f"Dumbbell chart for criterion {criterion_id} ({label}). For each of {len(d)} forces it shows "
           f"the judgement in {base} and in {upd}. {_forces(revisited)} {_were(revisited)} revisited"
           + (f": {', '.join(moved)}" if moved else "") + f"; {n_kept} {_were(n_kept)} "
           + ("not revisited and are not shown." if only_revisited else
              "not revisited and keep their earlier judgement."))
    return fig, data, alt


# ----- batched cells -------------------------------------------------------------------------------
CELL_SYMBOL_POINTS = 7  # type size of the symbol in a change-matrix cell


def _glyph_marker(symbol: str, points: float = CELL_SYMBOL_POINTS):
    """(marker, scatter size) drawing ``symbol`` at ``points`` type size, centred on its ink: the
    glyph's outline in the house font, so a whole class of cells is one scatter, not one Text
    per cell."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.markers import MarkerStyle
    from matplotlib.path import Path as MPath
    from matplotlib.textpath import TextPath

    glyph = TextPath((0, 0), symbol, size=points, prop=FontProperties())
    ext = glyph.get_extents()
    verts = glyph.vertices - [(ext.x0 + ext.x1) / 2, (ext.y0 + ext.y1) / 2]
    half = float(abs(verts).max())  # a path marker is scaled so this is half of sqrt(size) points
    return MarkerStyle(MPath(verts, glyph.codes)), (2 * half) ** 2


def _cells_by_class(ax, cells: dict[str, list[tuple[float, float]]], looks: dict[str, style.Look],
                    kind: str) -> None:
    """Unit cells centred on (x, y), drawn one class at a time: one compound patch per class
    (fill, white borders, hatching), gid ``<kind>-cells-<class>``, and one scatter of the class's
    symbol, gid ``<kind>-symbols-<class>``. A Rectangle and a Text per cell drew the same picture
    several times slower (each hatched Rectangle rasterised its own hatch)."""
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as MPath

    from .charts import _add_compound_patch

    square = [(-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5), (-0.5, -0.5)]
    codes = [MPath.MOVETO, MPath.LINETO, MPath.LINETO, MPath.LINETO, MPath.CLOSEPOLY]
    for name, xy in cells.items():
        if not xy:
            continue
        look = looks[name]
        verts = [(x + dx, y + dy) for x, y in xy for dx, dy in square]
        patch = PathPatch(MPath(verts, codes * len(xy)), **style.patch_kwargs(look))
        patch.set_gid(f"{kind}-cells-{name}")
        _add_compound_patch(ax, patch, verts)  # (add_patch walked every segment in Python)
        if look.symbol:
            marker, size = _glyph_marker(look.symbol)
            ax.scatter([x for x, _ in xy], [y for _, y in xy], marker=marker, s=size, c=look.text_colour,
                       linewidths=0, zorder=3, gid=f"{kind}-symbols-{name}").set_in_layout(False)


# ----- change matrix ------------------------------------------------------------------------------
def change_matrix_figure(changes: pd.DataFrame, names: dict | None = None,
                         criteria_order: list[str] | None = None, marks: style.Marks = style.Marks(),
                         rounds: dict | None = None):
    """Forces x criteria; each cell's colour and symbol give the change type. ``rounds``: round
    id -> label (:func:`round_labels`)."""
    from matplotlib.patches import Patch

    names = names or {}
    if changes["round"].nunique() != 1:
        raise ValueError("change_matrix_figure takes the changes of one update round")
    upd, base = (_named(rounds, changes[c].iloc[0]) for c in ("round", "baseline_round"))
    crits = criteria_order or list(dict.fromkeys(changes["criterion_id"]))
    forces = sorted(changes["force_id"].unique(), key=lambda f: names.get(f, f))
    cell = dict(zip(zip(changes["force_id"].tolist(), changes["criterion_id"].tolist()), changes["change"].tolist()))
    counts = changes["change"].value_counts()
    revisited = int(len(changes) - counts.get("not_revisited", 0))
    title = (f"{upd} revisited {revisited} of {len(changes)} force-criterion cells of {base}; "
             f"{int(counts.get('improved', 0))} improved, {int(counts.get('declined', 0))} declined")
    subtitle = ("Change by force and criterion. Hatched cells were not revisited: the earlier state "
                "stands, it is not 'unchanged'.")
    with _style():
        fig = style.new_figure(10, 2.8 + 0.2 * len(forces), title=title, subtitle=subtitle,
                               source=SOURCE.format(tables="changes"), marks=marks)
        ax = fig.add_subplot()
        at = {(fid, cid): (x, y) for y, fid in enumerate(forces) for x, cid in enumerate(crits)}
        by_change: dict[str, list[tuple[int, int]]] = {}
        for key, xy in at.items():
            by_change.setdefault(cell.get(key, "not_revisited"), []).append(xy)
        _cells_by_class(ax, {c: by_change.get(c, []) for c in CHANGE_TYPES}, CHANGE_LOOK, "change")
        ax.set_xlim(-0.5, len(crits) - 0.5)
        ax.set_ylim(len(forces) - 0.5, -0.5)
        _row_labels(fig, ax, [names.get(f, f) for f in forces], fontsize=8, grid=False)
        _col_labels(fig, ax, crits, top=True)  # (as set_xticks, then xaxis.tick_top)
        ax.grid(False)
        handles = [Patch(label=f"{CHANGE_LOOK[c].symbol}  {CHANGE_LOOK[c].label}".strip(),
                         **style.patch_kwargs(CHANGE_LOOK[c]) | {"edgecolor": "#6F777B"})
                   for c in CHANGE_TYPES]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    data = (changes.pivot(index="force_id", columns="criterion_id", values="change")
            .reindex(index=forces, columns=crits).reset_index())
    data.insert(1, "force", data["force_id"].map(lambda f: names.get(f, f)))
    alt = (f"Grid of {len(forces)} forces by {len(crits)} criteria showing how {upd} changed each "
           f"judgement of {base}: " + ", ".join(f"{CHANGE_LOOK[c].label.lower()} {int(counts.get(c, 0))}"
                                               for c in CHANGE_TYPES) + ".")
    return fig, data, alt


# ----- grades -------------------------------------------------------------------------------------
def grade_counts(grades: pd.DataFrame, round_order: list[str]) -> pd.DataFrame:
    """Forces given each grade, per round (in ``round_order``) and question: the numbers behind
    :func:`grade_distribution_figure`. A force whose sources disagree counts once, under
    'contested'; ``n_forces`` is the row total."""
    res = resolve_grades(grades)
    counts = (res.groupby(["round", "question_id", "grade"]).size().unstack("grade", fill_value=0)
              .reindex(columns=list(GRADE_STATES), fill_value=0))
    order = {r: i for i, r in enumerate(round_order)}
    counts = counts.reset_index()
    counts.columns.name = None
    counts["_o"] = counts["round"].map(order)
    counts = counts.sort_values(["_o", "question_id"], ignore_index=True).drop(columns="_o")
    counts["n_forces"] = counts[list(GRADE_STATES)].sum(axis=1)
    return counts


def grade_distribution_figure(grades: pd.DataFrame, round_order: list[str],
                              marks: style.Marks = style.Marks(), rounds: dict | None = None):
    """Stacked bars: forces per grade, per question, per round. A force whose sources disagree
    counts once, as 'sources disagree', never under either grade. ``rounds``: round id ->
    label (:func:`round_labels`)."""
    from .charts import _barh_patch

    counts = grade_counts(grades, round_order)
    labels = [f"{_named(rounds, r)}  {q}" for r, q in zip(counts["round"], counts["question_id"])]
    good_or_better = counts["outstanding"] + counts["good"]
    top = counts.loc[(good_or_better / counts["n_forces"]).idxmax()]
    total = int(counts["n_forces"].sum())
    weak = int(counts["requires_improvement"].sum() + counts["inadequate"].sum())
    disputed = int(counts["contested"].sum())
    # Every grade shown is in one of the three parts (a disputed grade is in neither of the others).
    title = (f"{good_or_better.sum() / total:.0%} of the {total} PEEL grades shown are good or outstanding; "
             f"{weak} {'requires' if weak == 1 else 'require'} improvement or {'is' if weak == 1 else 'are'} "
             "inadequate" + (f", and sources disagree on {disputed}" if disputed else ""))
    subtitle = ("Number of forces given each grade, per question and round. Questions with different "
                "ids are different questions and are not compared.")
    with _style():
        fig = style.new_figure(10, 2.6 + 0.35 * len(counts), title=title, subtitle=subtitle,
                               source=SOURCE.format(tables="grades"), marks=marks)
        ax = fig.add_subplot()
        left = pd.Series(0, index=counts.index)
        inside = {**_unclipped(ax), "in_layout": False}  # counts inside their bars: no layout needed
        for g in GRADE_STATES:  # (a grade's bars as one patch: the picture barh draws, a bar each)
            look = GRADE_LOOK[g]
            vals = counts[g]
            _barh_patch(ax, range(len(counts)), vals.tolist(), left.tolist(), 0.8, sticky=True,
                        label=look.label, **style.patch_kwargs(look))
            for i, (v, lft) in enumerate(zip(vals, left)):
                if v:
                    ax.text(lft + v / 2, i, str(int(v)), ha="center", va="center", fontsize=8,
                            color=look.text_colour, **inside)
            left = left + vals
        _row_labels(fig, ax, labels, grid=True)  # (as set_yticks, with the style's y grid)
        ax.invert_yaxis()
        ax.set_xlabel("Forces")
        # Above the bars, left-aligned with the title (figure x, axes y): centred on the Axes, a
        # row of five overran the figure's right edge when the question labels were long.
        from matplotlib.transforms import blended_transform_factory

        ax.legend(loc="lower left", bbox_to_anchor=(style.LEFT_MARGIN_IN / fig.get_figwidth(), 1.0),
                  bbox_transform=blended_transform_factory(fig.transFigure, ax.transAxes),
                  ncol=5, frameon=False, borderaxespad=0.3)
    alt = (f"Stacked bars of PEEL grades for {len(counts)} round-question pairs. "
           f"Highest share good or outstanding: {_named(rounds, top['round'])} {top['question_id']}. "
           "Each bar is labelled with its counts.")
    return fig, counts, alt


def grade_paths_figure(grades: pd.DataFrame, round_order: list[str], names: dict | None = None,
                       marks: style.Marks = style.Marks(), rounds: dict | None = None):
    """Small multiples, one per force: grades (y) by round (x). A line joins consecutive rounds
    only for the same question_id; every other grade is a grey point.

    The panels are drawn on one Axes, each shifted to its place (:func:`_panel_frames`), not as
    43 Axes: the same picture (grid, bottom line, ticks, force name over each panel, grade
    letters on the left column, years under the lowest panel of each column), drawn as a few
    collections instead of hundreds of per-axes artists."""
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    names, round_names = names or {}, rounds  # (``rounds`` below: the ids shown)
    res = resolve_grades(grades)
    rounds = [r for r in round_order if r in set(res["round"])]
    xpos = {r: i for i, r in enumerate(rounds)}
    qrounds = res.groupby("question_id")["round"].agg(lambda s: sorted(set(s), key=xpos.get))
    shared = [q for q, rs in qrounds.items() if len(rs) > 1]
    colours = dict(zip(shared, style.AF_CATEGORICAL))
    forces = sorted(res["force_id"].unique(), key=lambda f: names.get(f, f))
    ncol = 7
    nrow = -(-len(forces) // ncol)
    rows = []
    for r in records(res):
        for g in r["grades_seen"].split("|"):
            rows.append({"force_id": r["force_id"], "force": names.get(r["force_id"], r["force_id"]),
                         "round": r["round"], "question_id": r["question_id"], "grade": g,
                         "grade_rank": GRADE_RANK[g], "conflict": r["conflict"]})
    data = pd.DataFrame(rows)
    title = ("Only " + " and ".join(shared) + " can be followed from one PEEL round to the next"
             if shared else "No PEEL question can be followed from one round to the next")
    subtitle = ("Grade per question and round (1 = outstanding at the top). Lines join the same question "
                "in consecutive rounds; grey points are questions asked in one round only; crosses mark "
                "grades whose sources disagree (both shown).")
    with _style():
        fig = style.new_figure(12, 3.0 + 1.45 * nrow, title=title, subtitle=subtitle,
                               source=SOURCE.format(tables="grades"), marks=marks)
        ax = fig.add_subplot()
        grid = _Panels(len(forces), ncol, (-0.4, len(rounds) - 0.6), (0.5, 4.5))
        _panel_frames(fig, ax, grid, [names.get(f, f) for f in forces], {1: "O", 2: "G", 3: "RI", 4: "I"},
                      {i: r.split("_")[-1] for i, r in enumerate(rounds)})
        panel = {fid: k for k, fid in enumerate(forces)}
        if len(data):
            k = data["force_id"].map(panel).to_numpy()
            x0, y0 = grid.origin(k)
            d = data.assign(X=x0 + data["round"].map(xpos).to_numpy(), Y=y0 + data["grade_rank"].to_numpy())
            mew = _rc("lines.markeredgewidth")
            other = d[~d["question_id"].isin(shared)]
            ax.scatter(other["X"], other["Y"], s=3 ** 2, c=style.AF_FOCUS[1], edgecolors=style.AF_FOCUS[1],
                       linewidths=mew, zorder=2)
            for q in shared:
                ok = d[(d["question_id"] == q) & ~d["conflict"]].sort_values(["force_id", "X"], kind="stable")
                lines = [list(zip(g["X"], g["Y"])) for _, g in ok.groupby("force_id", sort=False)]
                ax.add_collection(LineCollection(lines, colors=colours[q], linewidths=1.5, zorder=2),
                                  autolim=False)
                ax.scatter(ok["X"], ok["Y"], s=4 ** 2, c=colours[q], edgecolors=colours[q], linewidths=mew,
                           zorder=2)
            bad = d[d["conflict"]]
            ax.scatter(bad["X"], bad["Y"], s=6 ** 2, marker="x", c="#801650", linewidths=1.5, zorder=2)
        handles = [Line2D([], [], color=colours[q], marker="o", label=f"{q} (same question in two rounds)")
                   for q in shared]
        handles += [Line2D([], [], color=style.AF_FOCUS[1], marker="o", ls="", label="other questions"),
                    Line2D([], [], color="#801650", marker="x", ls="", label="sources disagree")]
        if len(forces) < nrow * ncol:  # the first empty panel place holds the legend
            (x0, y0), loc, size = grid.corner(len(forces), "upper left"), "upper left", 9
        else:
            (x0, y0), loc, size = grid.corner(len(forces) - 1, "lower right"), "lower right", 7
        leg = ax.legend(handles=handles, loc=loc, bbox_to_anchor=(x0, y0), bbox_transform=ax.transData,
                        frameon=False, fontsize=size)
        leg.set_in_layout(False)  # may spill over the empty places, not widen the figure
    alt = (f"Small multiples for {len(forces)} forces: PEEL grades in "
           f"{', '.join(_named(round_names, r) for r in rounds)}. Lines follow "
           f"{', '.join(shared) or 'no question'} across rounds; grades of questions asked once are grey "
           "points. O = outstanding, G = good, RI = requires improvement, I = inadequate.")
    return fig, data, alt


class _Panels:
    """Places of ``n`` small-multiple panels, ``ncol`` to a row, on one Axes: each panel has the
    data limits ``xlim`` x ``ylim`` (y grows downwards, as an inverted axis) and is shifted to
    its place; a gap between panels leaves room for the ticks and the panel title."""

    GAP_X, GAP_Y = 0.05, 0.25  # share of a panel's width / height

    def __init__(self, n: int, ncol: int, xlim: tuple[float, float], ylim: tuple[float, float]):
        self.n, self.ncol, self.nrow = n, ncol, max(1, -(-n // ncol))
        self.xlim, self.ylim = xlim, ylim
        self.w, self.h = xlim[1] - xlim[0], ylim[1] - ylim[0]
        self.step_x, self.step_y = self.w * (1 + self.GAP_X), self.h * (1 + self.GAP_Y)

    def origin(self, k):
        """Shift of panel ``k`` (scalar or array): panel coordinates + shift = Axes coordinates."""
        return (k % self.ncol) * self.step_x, (k // self.ncol) * self.step_y

    def corner(self, k: int, which: str) -> tuple[float, float]:
        x0, y0 = self.origin(k)
        x = x0 + (self.xlim[0] if "left" in which else self.xlim[1])
        y = y0 + (self.ylim[0] if "upper" in which else self.ylim[1])
        return x, y

    def limits(self) -> tuple[tuple[float, float], tuple[float, float]]:
        right = (self.ncol - 1) * self.step_x + self.xlim[1]
        bottom = (self.nrow - 1) * self.step_y + self.ylim[1]
        return (self.xlim[0], right), (bottom, self.ylim[0])


def _panel_frames(fig, ax, grid: _Panels, titles: list[str], yticks: dict[float, str],
                  xticks: dict[float, str]) -> None:
    """What each panel's own Axes would have drawn, in the house style: grid lines at the y
    ticks, the bottom line, tick marks, the title over the panel (left, 8 pt), tick labels (7 pt)
    on the left column and under the lowest panel of each column. The Axes itself is off."""
    from matplotlib.collections import LineCollection
    from matplotlib.markers import TICKDOWN, TICKLEFT
    from matplotlib.transforms import offset_copy

    import numpy as np

    (x_lo, x_hi), (y_top, y_bottom) = grid.xlim, grid.ylim
    ax.set_axis_off()
    xlim, ylim = grid.limits()
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    k = np.arange(grid.n)
    x0, y0 = grid.origin(k)
    ax.add_collection(LineCollection(
        [[(a + x_lo, b + y), (a + x_hi, b + y)] for a, b in zip(x0, y0) for y in yticks],
        colors="#E5E5E5", linewidths=_rc("grid.linewidth"), zorder=0.5, clip_on=False), autolim=False)
    ax.add_collection(LineCollection([[(a + x_lo, b + y_bottom), (a + x_hi, b + y_bottom)] for a, b in zip(x0, y0)],
                                     colors=[_rc("axes.edgecolor")], linewidths=_rc("axes.linewidth"), zorder=2.5,
                                     clip_on=False),
                      autolim=False)
    tick = {"c": [_rc("xtick.color")], "s": _rc("xtick.major.size") ** 2, "linewidths": _rc("xtick.major.width"),
            "zorder": 2.5, "clip_on": False}
    ax.scatter([a + x for a in x0 for x in xticks], [b + y_bottom for b in y0 for _ in xticks], marker=TICKDOWN,
               **tick).set_in_layout(False)
    ax.scatter([a + x_lo for a in x0 for _ in yticks], [b + y for b in y0 for y in yticks], marker=TICKLEFT,
               **tick).set_in_layout(False)
    pts = _rc("xtick.major.size") + _rc("xtick.major.pad")
    below = offset_copy(ax.transData, fig=fig, y=-pts, units="points")
    left = offset_copy(ax.transData, fig=fig, x=-pts, units="points")
    above = offset_copy(ax.transData, fig=fig, y=_rc("axes.titlepad"), units="points")
    unclipped = _unclipped(ax)
    label = {"fontsize": 7, "color": _rc("xtick.labelcolor"), **unclipped}
    for i, (a, b) in enumerate(zip(x0, y0)):
        ax.text(a + x_lo, b + y_top, titles[i], transform=above, ha="left", va="baseline", fontsize=8, **unclipped)
        if i % grid.ncol == 0:
            for y, text in yticks.items():
                ax.text(a + x_lo, b + y, text, transform=left, ha="right", va="center", **label)
        if i + grid.ncol >= grid.n:  # the lowest panel of its column
            for x, text in xticks.items():
                ax.text(a + x, b + y_bottom, text, transform=below, ha="center", va="top", **label)


# ----- notebooks ----------------------------------------------------------------------------------
def show(chart) -> None:
    """Display a chart in a notebook; ``chart`` is a figure or what a ``*_figure`` function
    returns (its alt text then goes with the image). Drawn once at the figure's own (screen) dpi
    as the export draws it (:func:`analysis.charts.render_png`): a fraction of the inline
    backend's cost, and the same picture as the exported chart."""
    from IPython.display import display

    from .charts import display_bundle

    fig, alt = (chart[0], chart[2]) if isinstance(chart, tuple) else (chart, "")
    data, metadata = display_bundle(fig, alt, fig.dpi)
    display(data, metadata=metadata, raw=True)


# ----- export -------------------------------------------------------------------------------------
def _export(fig, data: pd.DataFrame, name: str, alt_text: str, folder: Path, png_writer=None) -> list[Path]:
    """PNG + SVG + data CSV + alt text through the report charts' exporter (the PNG on
    ``png_writer``'s thread, if given: see :class:`analysis.charts.PngWriter`); the figure is
    then cleared (the comparison charts are large)."""
    from .charts import export_chart

    out = export_chart(fig, data, name, alt_text, folder, png_writer=png_writer)
    _clear(fig)
    return list(out)


def _clear(fig) -> None:
    """``fig.clear()``, without first resetting each Axes to a blank one (Figure.clear calls
    ``ax.clear()`` on each before removing it: a fresh set of ticks and spines that is thrown
    away at once); the figure ends up the same, empty."""
    for ax in list(fig.axes):
        fig.delaxes(ax)
    fig.clear()


def _marks(tables, round_ids) -> style.Marks:
    r = tables.get("rounds")
    return style.marks_for(r, round_ids) if r is not None else style.Marks(
        synthetic=any(x.startswith("synthetic_") for x in round_ids))


def chart_plan(tables: dict[str, pd.DataFrame]) -> list[tuple[str, list[str], object]]:
    """The comparison charts, not yet drawn: ``(name, rounds, draw)`` in report order, where
    ``rounds`` are the rounds the chart shows and ``draw()`` returns ``(fig, data, alt_text)``
    (alt text led by the chart's marks). Per update round a change matrix and a dumbbell per
    criterion the update revisited; then the grade distribution and grade paths. Lets a caller
    draw only some of them, e.g. the build sharing them out between processes."""
    names, labels, rnames = _short_names(tables), _criteria_labels(tables), round_labels(tables)
    crit_order = (list(tables["criteria"].sort_values("order")["criterion_id"])
                  if tables.get("criteria") is not None and len(tables["criteria"]) else None)
    plan: list[tuple[str, list[str], object]] = []

    def marked(make, marks):
        def draw():
            fig, data, alt = make()
            if marks.embargoed and "embargoed" not in data.columns:  # (the data CSV carries it too)
                data = data.copy()
                data.insert(0, "embargoed", marks.embargo_label)
            return fig, data, _alt(marks, alt)
        return draw

    changes = tables.get("changes")
    if changes is not None and len(changes):
        for (upd, base), ch in changes.groupby(["round", "baseline_round"], sort=False):
            marks = _marks(tables, [upd, base])
            ch = ch.reset_index(drop=True)
            crits = ch["criterion_id"].tolist()
            present = set(crits)
            order = [c for c in (crit_order or []) if c in present] or None
            plan.append((f"change_matrix_{base}__{upd}", [base, upd],
                         marked(lambda ch=ch, order=order, marks=marks:
                                change_matrix_figure(ch, names, order, marks, rnames), marks)))
            # criteria where something moved or was re-read (for the others the change matrix
            # already shows it); dumbbell_figure picks the criterion's rows out of ``ch`` itself
            revisited = set(ch.loc[(ch["change"] != "not_revisited").fillna(False), "criterion_id"].tolist())
            for cid in order or list(dict.fromkeys(crits)):
                if cid not in revisited:
                    continue
                plan.append((f"dumbbell_{cid}_{base}__{upd}", [base, upd],
                             marked(lambda ch=ch, cid=cid, marks=marks:
                                    dumbbell_figure(ch, cid, names, labels.get(cid, ""), marks,
                                                    rounds=rnames), marks)))
    grades = tables.get("grades")
    if grades is not None and len(grades):
        order = _round_order(tables, grades)
        marks = _marks(tables, order)
        plan.append(("grade_distribution", order,
                     marked(lambda: grade_distribution_figure(grades, order, marks, rnames), marks)))
        plan.append(("grade_paths", order,
                     marked(lambda: grade_paths_figure(grades, order, names, marks, rnames), marks)))
    return plan


def export_all(paths, tables: dict[str, pd.DataFrame], allow_embargoed: bool = False,
               folder: Path | None = None, keys=None) -> list[Path]:
    """Every comparison chart (:func:`chart_plan`), or only those named in ``keys`` (the others
    are not drawn), to ``paths.figures/compare`` (or ``folder``). Returns the files written.
    A round under embargo raises :class:`style.EmbargoError` unless ``allow_embargoed``, before
    anything is drawn."""
    import matplotlib

    from .charts import PngWriter, collector_frozen

    matplotlib.use("Agg", force=False)
    folder = Path(folder) if folder else Path(paths.figures) / "compare"
    plan = chart_plan(tables)
    for _name, round_ids, _draw in plan:
        _check_embargo(tables, round_ids, allow_embargoed)
    out: list[Path] = []
    with collector_frozen(), PngWriter() as png_writer:
        for name, _round_ids, draw in plan:
            if keys is None or name in keys:
                fig, data, alt = draw()
                out += _export(fig, data, name, alt, folder, png_writer)
    return out


def _check_embargo(tables, round_ids, allow_embargoed: bool) -> None:
    """Refuse (style.EmbargoError) to draw a round still under embargo unless allowed; the
    charts are then marked EMBARGOED by the house frame."""
    if allow_embargoed or tables.get("rounds") is None:
        return
    for rid in round_ids:
        m = style.marks_for(tables["rounds"], rid)
        if m.embargoed:
            raise style.EmbargoError(rid, m.embargo_until)


def _alt(marks: style.Marks, alt: str) -> str:
    """Alt text led by the chart's marks: '[SYNTHETIC DATA: ...] [EMBARGOED until ...] ...'."""
    prefix = " ".join(f"[{label}]" for label in marks.labels)
    return f"{prefix} {alt}" if prefix else alt


def _round_order(tables, grades) -> list[str]:
    r = tables.get("rounds")
    present = list(dict.fromkeys(grades["round"]))
    if r is None:
        return sorted(present)
    ordered = list(r.sort_values("order")["round"])
    return [x for x in ordered if x in present]
