"""Charts of change between rounds, in the house style (:mod:`analysis.style`).

* :func:`dumbbell_figure` - one criterion: each force's judgement before and after the update;
  forces the update did not revisit keep their earlier marker, drawn hollow and grey.
* :func:`change_matrix_figure` - forces x criteria, each cell the change type (colour *and*
  symbol, so nothing depends on colour alone).
* :func:`grade_distribution_figure` - PEEL grades per question per round (counts in the bars).
* :func:`grade_paths_figure` - each force's grades across the PEEL rounds; a line joins two rounds
  only for the same question_id (different questions are never joined).

Each ``*_figure`` returns ``(fig, data, alt_text)``: the data behind the chart ships with it.
:func:`export_all` draws them all for the build and writes them through
``charts.export_chart`` when that module exists, else through the small local exporter below.
Rounds under embargo are skipped unless ``allow_embargoed``; their charts are then marked.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import style
from .compare import CHANGE_TYPES, GRADE_RANK, resolve_grades

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


def _criteria_labels(tables) -> dict[str, str]:
    c = tables.get("criteria")
    if c is None or c.empty:
        return {}
    return dict(zip(c["criterion_id"], c["label"]))


# ----- dumbbell -----------------------------------------------------------------------------------
def dumbbell_figure(changes: pd.DataFrame, criterion_id: str, names: dict | None = None,
                    label: str = "", marks: style.Marks = style.Marks()):
    """Before -> after judgement for every force on one criterion (one update round)."""
    names = names or {}
    d = changes[changes["criterion_id"] == criterion_id].copy()
    if d["round"].nunique() != 1:
        raise ValueError("dumbbell_figure takes the changes of one update round")
    upd, base = d["round"].iloc[0], d["baseline_round"].iloc[0]
    d["force"] = d["force_id"].map(lambda f: names.get(f, f))
    d["_k"] = d["change"].map({c: i for i, c in enumerate(CHANGE_TYPES)})
    d = d.sort_values(["_k", "force"], ascending=[False, False], ignore_index=True)
    d["x_before"] = d["before_judgement"].map(JUDGEMENT_X)
    d["x_after"] = d["after_judgement"].map(JUDGEMENT_X)
    counts = d["change"].value_counts()
    revisited = int(len(d) - counts.get("not_revisited", 0))
    moved = [f"{int(counts[c])} {CHANGE_LOOK[c].label.lower()}" for c in CHANGE_TYPES
             if c != "not_revisited" and counts.get(c, 0)]
    title = (f"{criterion_id} {label}: the update revisited {revisited} of {len(d)} forces"
             + (f" ({', '.join(moved)})" if moved else ""))
    subtitle = (f"Judgement in {base} (hollow) and in {upd} (filled), by force. Forces not revisited "
                "keep their earlier judgement (grey, no arrow).")
    height = 2.2 + 0.2 * len(d)
    with _style():
        fig = style.new_figure(8, height, title=title, subtitle=subtitle,
                               source=SOURCE.format(tables="changes"), marks=marks)
        ax = fig.add_subplot()
        for i, r in d.iterrows():
            look = CHANGE_LOOK[r["change"]]
            if r["change"] == "not_revisited":
                ax.plot(r["x_before"], i, "o", mfc="white", mec="#9A9A9A", ms=6, zorder=3)
                ax.text(4.6, i, look.label.split(" (")[0], va="center", fontsize=8, color=style.MUTED_TEXT)
                continue
            colour = look.colour if r["change"] != "not_revisited" else "#9A9A9A"
            if r["x_before"] != r["x_after"]:
                ax.annotate("", xy=(r["x_after"], i), xytext=(r["x_before"], i),
                            arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 1.5,
                                        "shrinkA": 4, "shrinkB": 5})
            ax.plot(r["x_before"], i, "o", mfc="white", mec=colour, ms=7, mew=1.5, zorder=3)
            ax.plot(r["x_after"], i, "o", color=colour, ms=7, zorder=4)
            ax.text(4.6, i, f"{look.symbol} {look.label}", va="center", fontsize=8, color=style.TEXT)
        ax.set_yticks(range(len(d)), d["force"].tolist())
        ax.set_xticks(range(5), X_LABELS)
        ax.set_xlim(-0.5, 6.2)
        ax.set_ylim(-0.7, len(d) - 0.3)
        ax.axvline(3.5, color="#BFBFBF", lw=0.8, ls="--")
        ax.grid(axis="x", color="#E5E5E5")
        ax.tick_params(axis="y", labelsize=8)
    data = d[["round", "baseline_round", "force_id", "force", "criterion_id", "before_value",
              "before_judgement", "before_round", "after_value", "after_judgement", "change"]].copy()
    alt = (f"Dumbbell chart for criterion {criterion_id} ({label}). For each of {len(d)} forces it shows "
           f"the judgement in {base} and in {upd}. {revisited} forces were revisited"
           + (f": {', '.join(moved)}" if moved else "") + f"; {int(counts.get('not_revisited', 0))} were "
           "not revisited and keep their earlier judgement.")
    return fig, data, alt


# ----- change matrix ------------------------------------------------------------------------------
def change_matrix_figure(changes: pd.DataFrame, names: dict | None = None,
                         criteria_order: list[str] | None = None, marks: style.Marks = style.Marks()):
    """Forces x criteria; each cell's colour and symbol give the change type."""
    from matplotlib.patches import Patch, Rectangle

    names = names or {}
    if changes["round"].nunique() != 1:
        raise ValueError("change_matrix_figure takes the changes of one update round")
    upd, base = changes["round"].iloc[0], changes["baseline_round"].iloc[0]
    crits = criteria_order or list(dict.fromkeys(changes["criterion_id"]))
    forces = sorted(changes["force_id"].unique(), key=lambda f: names.get(f, f))
    cell = {(r["force_id"], r["criterion_id"]): r["change"] for r in changes.to_dict("records")}
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
        for y, fid in enumerate(forces):
            for x, cid in enumerate(crits):
                ch = cell.get((fid, cid), "not_revisited")
                look = CHANGE_LOOK[ch]
                ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, **style.patch_kwargs(look)))
                if look.symbol:
                    ax.text(x, y, look.symbol, ha="center", va="center", fontsize=7, color=look.text_colour)
        ax.set_xlim(-0.5, len(crits) - 0.5)
        ax.set_ylim(len(forces) - 0.5, -0.5)
        ax.set_xticks(range(len(crits)), crits)
        ax.set_yticks(range(len(forces)), [names.get(f, f) for f in forces])
        ax.tick_params(axis="y", labelsize=8)
        ax.xaxis.tick_top()
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
def grade_distribution_figure(grades: pd.DataFrame, round_order: list[str],
                              marks: style.Marks = style.Marks()):
    """Stacked bars: forces per grade, per question, per round. A force whose sources disagree
    counts once, as 'sources disagree', never under either grade."""
    res = resolve_grades(grades)
    counts = (res.groupby(["round", "question_id", "grade"]).size().unstack("grade", fill_value=0)
              .reindex(columns=list(GRADE_STATES), fill_value=0))
    order = {r: i for i, r in enumerate(round_order)}
    counts = counts.reset_index()
    counts["_o"] = counts["round"].map(order)
    counts = counts.sort_values(["_o", "question_id"], ignore_index=True).drop(columns="_o")
    counts["n_forces"] = counts[list(GRADE_STATES)].sum(axis=1)
    labels = [f"{r}  {q}" for r, q in zip(counts["round"], counts["question_id"])]
    good_or_better = counts["outstanding"] + counts["good"]
    top = counts.loc[(good_or_better / counts["n_forces"]).idxmax()]
    total = int(counts["n_forces"].sum())
    weak = int(counts["requires_improvement"].sum() + counts["inadequate"].sum())
    title = (f"{good_or_better.sum() / total:.0%} of PEEL grades shown are good or outstanding; "
             f"{weak} of {total} are not")
    subtitle = ("Number of forces given each grade, per question and round. Questions with different "
                "ids are different questions and are not compared.")
    with _style():
        fig = style.new_figure(10, 2.6 + 0.35 * len(counts), title=title, subtitle=subtitle,
                               source=SOURCE.format(tables="grades"), marks=marks)
        ax = fig.add_subplot()
        left = pd.Series(0, index=counts.index)
        for g in GRADE_STATES:
            look = GRADE_LOOK[g]
            vals = counts[g]
            ax.barh(range(len(counts)), vals, left=left, label=look.label, **style.patch_kwargs(look))
            for i, (v, lft) in enumerate(zip(vals, left)):
                if v:
                    ax.text(lft + v / 2, i, str(int(v)), ha="center", va="center", fontsize=8,
                            color=look.text_colour)
            left = left + vals
        ax.set_yticks(range(len(counts)), labels)
        ax.invert_yaxis()
        ax.set_xlabel("Forces")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=5, frameon=False)
    alt = (f"Stacked bars of PEEL grades for {len(counts)} round-question pairs. "
           f"Highest share good or outstanding: {top['round']} {top['question_id']}. "
           "Each bar is labelled with its counts.")
    return fig, counts, alt


def grade_paths_figure(grades: pd.DataFrame, round_order: list[str], names: dict | None = None,
                       marks: style.Marks = style.Marks()):
    """Small multiples, one per force: grades (y) by round (x). A line joins consecutive rounds
    only for the same question_id; every other grade is a grey point."""
    names = names or {}
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
    for r in res.to_dict("records"):
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
        axes = fig.subplots(nrow, ncol, sharex=True, sharey=True, squeeze=False)
        for k, ax in enumerate(axes.flat):
            if k >= len(forces):
                ax.set_visible(False)
                continue
            fid = forces[k]
            sub = data[data["force_id"] == fid]
            other = sub[~sub["question_id"].isin(shared)]
            ax.plot(other["round"].map(xpos), other["grade_rank"], "o", color=style.AF_FOCUS[1], ms=3)
            for q in shared:
                s = sub[sub["question_id"] == q].copy()
                s["x"] = s["round"].map(xpos)
                s = s.sort_values("x")
                ok = s[~s["conflict"]]
                ax.plot(ok["x"], ok["grade_rank"], "-o", color=colours[q], ms=4, lw=1.5)
            bad = sub[sub["conflict"]]
            ax.plot(bad["round"].map(xpos), bad["grade_rank"], "x", color="#801650", ms=6, mew=1.5)
            ax.set_title(names.get(fid, fid), fontsize=8, loc="left")
            ax.set_ylim(4.5, 0.5)
            ax.set_xlim(-0.4, len(rounds) - 0.6)
            ax.set_yticks([1, 2, 3, 4], ["O", "G", "RI", "I"])
            ax.set_xticks(range(len(rounds)), [r.split("_")[-1] for r in rounds])
            ax.tick_params(labelsize=7)
            ax.grid(axis="y", color="#E5E5E5")
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], color=colours[q], marker="o", label=f"{q} (same question in two rounds)")
                   for q in shared]
        handles += [Line2D([], [], color=style.AF_FOCUS[1], marker="o", ls="", label="other questions"),
                    Line2D([], [], color="#801650", marker="x", ls="", label="sources disagree")]
        spare = [ax for ax in axes.flat[len(forces):]]
        if spare:  # the empty panels after the last force hold the legend
            spare[0].set_visible(True)
            spare[0].axis("off")
            leg = spare[0].legend(handles=handles, loc="upper left", frameon=False, fontsize=9)
            leg.set_in_layout(False)  # may spill into the other empty panels, not widen a column
        else:
            axes.flat[-1].legend(handles=handles, loc="lower right", frameon=False, fontsize=7)
    alt = (f"Small multiples for {len(forces)} forces: PEEL grades in {', '.join(rounds)}. Lines follow "
           f"{', '.join(shared) or 'no question'} across rounds; grades of questions asked once are grey "
           "points. O = outstanding, G = good, RI = requires improvement, I = inadequate.")
    return fig, data, alt


# ----- export -------------------------------------------------------------------------------------
def _export(fig, data: pd.DataFrame, name: str, alt_text: str, folder: Path) -> list[Path]:
    """Through ``charts.export_chart`` when present; else SVG + PNG + data CSV + alt text."""
    import importlib

    try:
        charts = importlib.import_module(f"{__package__}.charts")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.charts":
            raise
        charts = None
    if charts is not None and hasattr(charts, "export_chart"):
        out = charts.export_chart(fig, data, name, alt_text, folder)
        fig.clear()
        return list(out) if isinstance(out, (list, tuple)) else [out] if out else []
    from .io import neutralise_formula

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    with _style():
        for ext in ("svg", "png"):
            p = folder / f"{name}.{ext}"
            fig.savefig(p, metadata=style.SAVE_METADATA[ext])
            paths.append(p)
    csv = folder / f"{name}.csv"
    data.map(neutralise_formula).to_csv(csv, index=False, lineterminator="\n", encoding="utf-8")
    alt = folder / f"{name}.alt.txt"
    alt.write_text(alt_text.strip() + "\n", encoding="utf-8")
    fig.clear()
    return paths + [csv, alt]


def _marks(tables, round_ids) -> style.Marks:
    r = tables.get("rounds")
    return style.marks_for(r, round_ids) if r is not None else style.Marks(
        synthetic=any(x.startswith("synthetic_") for x in round_ids))


def export_all(paths, tables: dict[str, pd.DataFrame], allow_embargoed: bool = False,
               folder: Path | None = None) -> list[Path]:
    """Every comparison chart: per update round a change matrix and a dumbbell per criterion the
    update revisited; the grade distribution and grade paths. Returns the files written.
    A round under embargo raises :class:`style.EmbargoError` unless ``allow_embargoed``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    folder = Path(folder) if folder else Path(paths.figures) / "compare"
    names, labels = _short_names(tables), _criteria_labels(tables)
    crit_order = (list(tables["criteria"].sort_values("order")["criterion_id"])
                  if tables.get("criteria") is not None and len(tables["criteria"]) else None)
    out: list[Path] = []
    changes = tables.get("changes")
    if changes is not None and len(changes):
        for (upd, base), ch in changes.groupby(["round", "baseline_round"], sort=False):
            marks = _marks(tables, [upd, base])
            _check_embargo(tables, [base, upd], allow_embargoed)
            ch = ch.reset_index(drop=True)
            order = [c for c in (crit_order or []) if c in set(ch["criterion_id"])] or None
            fig, data, alt = change_matrix_figure(ch, names, order, marks)
            out += _export(fig, data, f"change_matrix_{base}__{upd}", _alt(marks, alt), folder)
            for cid in order or list(dict.fromkeys(ch["criterion_id"])):
                sub = ch[ch["criterion_id"] == cid]
                if (sub["change"] == "not_revisited").all():
                    continue  # nothing moved or was re-read: the change matrix already shows it
                fig, data, alt = dumbbell_figure(sub, cid, names, labels.get(cid, ""), marks)
                out += _export(fig, data, f"dumbbell_{cid}_{base}__{upd}", _alt(marks, alt), folder)
    grades = tables.get("grades")
    if grades is not None and len(grades):
        order = _round_order(tables, grades)
        _check_embargo(tables, order, allow_embargoed)
        marks = _marks(tables, order)
        if len(grades):
            fig, data, alt = grade_distribution_figure(grades, order, marks)
            out += _export(fig, data, "grade_distribution", _alt(marks, alt), folder)
            fig, data, alt = grade_paths_figure(grades, order, names, marks)
            out += _export(fig, data, "grade_paths", _alt(marks, alt), folder)
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
