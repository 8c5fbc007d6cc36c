"""Report charts: house style, findings in titles, marks, exported files, determinism, embargo."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from analysis import charts, compare_forces as cf, style
from analysis.paths import RAW, Paths


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from analysis.build import build
    from analysis.synthetic import make_synthetic_raw

    paths = make_synthetic_raw(tmp_path_factory.mktemp("charts_synth") / "raw", seed=2)
    return paths, build(paths, tables_only=True, log=lambda s: None).tables


@pytest.fixture(scope="module")
def embargoed(tmp_path_factory):
    from analysis.build import build
    from analysis.synthetic import make_synthetic_raw

    paths = make_synthetic_raw(tmp_path_factory.mktemp("charts_embargo") / "raw", seed=2, grades=False,
                               embargo_until="2999-01-01T00:01")
    return paths, build(paths, tables_only=True, log=lambda s: None).tables


def _texts(fig) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text") and callable(a.get_text)))


def _all_charts(tables, raw):
    rid = cf.primary_round(tables)
    return list(charts.report_charts(tables, rid, raw))


# ----- style ----------------------------------------------------------------------------------------
def test_house_style_uses_afcharts_and_fixed_judgement_looks():
    import matplotlib

    assert list(style.AF_CATEGORICAL) == style.af_palette("categorical")
    before = matplotlib.rcParams["axes.spines.top"], matplotlib.rcParams["svg.hashsalt"]
    with style.house_style():
        assert matplotlib.rcParams["axes.spines.top"] is False          # from afcharts.mplstyle
        assert matplotlib.rcParams["axes.prop_cycle"].by_key()["color"][0].upper() == "#12436D"
        assert matplotlib.rcParams["svg.hashsalt"] == style.SVG_HASHSALT
    assert (matplotlib.rcParams["axes.spines.top"], matplotlib.rcParams["svg.hashsalt"]) == before
    looks = style.JUDGEMENT_LOOK
    assert set(looks) == {"positive", "partial", "negative", "not_reported", "contested"}
    assert len({lk.colour for lk in looks.values()}) == 5
    # the two non-findings never rely on colour alone
    assert looks["not_reported"].hatch and looks["contested"].hatch
    assert not looks["negative"].hatch and looks["not_reported"].colour != looks["negative"].colour
    assert len({lk.symbol for lk in looks.values()}) == 5


# ----- every chart renders from both builds -----------------------------------------------------------
@pytest.mark.parametrize("which", ["shipped", "synthetic"])
def test_every_report_chart_renders(which, shipped_tables, synth):
    tables = shipped_tables if which == "shipped" else synth[1]
    raw = RAW if which == "shipped" else synth[0].raw
    made = _all_charts(tables, raw)
    names = [c.name for c in made]
    n_crit = len(cf.criteria_frame(tables))
    assert sum("_02_criterion_" in n for n in names) == n_crit
    for key in ("_01_framework_matrix", "_03_coverage_by_criterion", "_03_coverage_by_force", "_04_regions",
                "_05_crimes_attended"):
        assert any(key in n for n in names), key
    for c in made:
        assert c.title and c.subtitle and c.source.startswith("Source:")
        assert len(c.data) > 0 and {"round", "synthetic"} <= set(c.data.columns)
        assert c.figure.axes, c.name
        assert c.title in _texts(c.figure).replace("\n", " ")
        if which == "synthetic":
            assert c.name.startswith("synthetic_") and c.data["synthetic"].all()
            assert "SYNTHETIC" in _texts(c.figure) and "SYNTHETIC" in c.alt_text
        else:
            assert "SYNTHETIC" not in _texts(c.figure) and not c.data["synthetic"].any()
        c.figure.clear()


def test_criterion_title_states_the_count(shipped_tables, synth):
    for tables in (shipped_tables, synth[1]):
        rid = cf.primary_round(tables)
        m = tables["matrix"]
        a2 = m[(m["round"] == rid) & (m["criterion_id"] == "A2")]
        yes = int((a2["value"] == "yes").sum())
        unsettled = int(a2["value"].isin(["not_reported", "contested"]).sum())
        c = charts.criterion_counts(tables, "A2", rid)
        if unsettled:
            assert c.title.startswith(f"{yes} of {43 - unsettled} forces with a settled finding had an "
                                      "attend-all-crimes policy; ")
        else:
            assert c.title == f"{yes} of 43 forces had an attend-all-crimes policy"
        assert c.data["n_forces"].sum() == 43
        # the forces behind a short bar are named on the chart
        yes_names = c.data.loc[c.data["value"] == "yes", "forces"].iloc[0].split("; ")
        text = _texts(c.figure)
        assert all(name in text for name in yes_names)
        c.figure.clear()
    # a criterion without a template gets a generic finding naming its most common value
    c = charts.criterion_counts(shipped_tables, "P1")
    top = c.data[~c.data["value"].isin(["not_reported", "contested"])].sort_values("n_forces").iloc[-1]
    assert c.title.startswith("Written crime-prevention strategy: ") and f"{int(top.n_forces)} of " in c.title
    c.figure.clear()


def test_criterion_title_counts_only_forces_with_a_settled_finding(shipped_tables):
    """'1 of 43 forces gave officers extensive mobile technology' would read as 42 without it, when
    most forces simply have no finding: the count is out of the forces with one, and the rest
    are named as having none."""
    m = shipped_tables["matrix"]
    for rid in cf.coded_rounds(shipped_tables):
        for cid in ("F4", "P1", "A8"):  # a template title, and the generic one
            cell = m[(m["round"] == rid) & (m["criterion_id"] == cid)]
            missing = int((cell["value"] == "not_reported").sum())
            contested = int((cell["value"] == "contested").sum())
            settled = 43 - missing - contested
            title = charts.criterion_counts(shipped_tables, cid, rid)
            title.figure.clear()
            title = title.title
            if settled == 0:
                assert title.endswith("no force has a reported finding") or "no settled finding" in title
                assert not re.search(r"\b0 of ", title)
                continue
            assert f" of {settled} force" in title and " of 43 forces" not in title, title
            if missing:
                assert title.endswith(f"no finding for {missing} forces" if missing > 1 else "no finding for 1 force")
    # every force settled: the plain count
    assert charts.criterion_counts(shipped_tables, "A2", "core_business_2014").title.startswith("8 of 43 forces had")
    # the regional chart's qualifier belongs to the finding, before the note of forces without one
    regional = charts.regional_comparison(shipped_tables, "core_business_2014", "F4")
    regional.figure.clear()
    assert re.fullmatch(r"\d+ of \d+ forces with a settled finding gave officers extensive mobile technology "
                        r"on patrol, by region; no finding for \d+ forces", regional.title), regional.title
    # none settled, one contested: no count at all
    counts = pd.DataFrame({"value": ["yes", "no", "contested", "not_reported"], "n_forces": [0, 0, 1, 42],
                           "value_label": ["Yes", "No", "Contested", "Not reported"]})
    assert charts.criterion_title(shipped_tables, "A2", counts) == (
        "Attend-all-crimes policy: no settled finding (sources disagree for 1 force, no finding for 42 forces)")


def test_matrix_draws_not_reported_differently_from_negative(shipped_tables):
    c = charts.framework_matrix(shipped_tables)
    assert len(c.data) == 43 * 19
    from matplotlib.colors import to_hex
    from matplotlib.path import Path as MPath

    # the cells are one compound patch per judgement (gid cells-<judgement>), one square per cell
    cells = [p for p in c.figure.axes[0].patches if (p.get_gid() or "").startswith("cells-")]
    by_colour, n_cells = {}, {}
    for p in cells:
        colour = to_hex(p.get_facecolor()).upper()
        by_colour.setdefault(colour, set()).add(p.get_hatch())
        n_cells[colour] = n_cells.get(colour, 0) + int((p.get_path().codes == MPath.MOVETO).sum())
    nr = style.JUDGEMENT_LOOK["not_reported"].colour.upper()
    neg = style.JUDGEMENT_LOOK["negative"].colour.upper()
    assert by_colour[nr] == {"///"} and by_colour[neg] == {None}
    n_nr = int((c.data["judgement"] == "not_reported").sum())
    assert n_cells[nr] == n_nr and sum(n_cells.values()) == len(c.data)
    # forces ordered by region, unknown region last
    groups = list(dict.fromkeys(c.data.sort_values("row")["group"]))
    assert groups[-1] == "Unknown" and groups[:-1] == sorted(groups[:-1])
    assert "Unknown" in _texts(c.figure)
    c.figure.clear()
    by_profile = charts.framework_matrix(shipped_tables, order_by="profile")
    assert by_profile.name.endswith("_by_profile")
    by_profile.figure.clear()


def test_regional_chart_keeps_unknown_and_every_force(shipped_tables):
    c = charts.regional_comparison(shipped_tables)
    reg = c.data[c.data["grouping"] == "region"]
    assert "Unknown" in set(reg["group"])
    assert reg.drop_duplicates("group")["n_forces_in_group"].sum() == 43
    assert c.data[c.data["grouping"] == "country"].drop_duplicates("group")["n_forces_in_group"].sum() == 43
    one = charts.regional_comparison(shipped_tables, criterion_id="F4")
    assert one.data["n"].sum() == 43 * 2  # country + region groupings
    c.figure.clear()
    one.figure.clear()


def test_crimes_attended_has_national_average_and_flags(shipped_tables, synth):
    c = charts.crimes_attended_chart(shipped_tables, raw=RAW)
    assert (c.data["national_average"] == 79).all()
    assert "79%" in c.subtitle and "79%" in _texts(c.figure)
    wilts = c.data[c.data["force"] == "Wiltshire"].iloc[0]
    assert wilts["approximate"] and "almost 90%" in _texts(c.figure)
    assert c.data[c.data["force"] == "South Wales"]["other_basis"].iloc[0]  # PCC claim, other period
    assert re.match(r"Share of crimes attended ranged from 39% \(Warwickshire\) to 100% \(Cleveland\)", c.title)
    assert any(abs(line.get_xdata()[0] - 79) < 1e-9 for line in c.figure.axes[0].get_lines())
    c.figure.clear()
    s = charts.crimes_attended_chart(synth[1], raw=synth[0].raw)
    assert s.data["national_average"].isna().all()  # no real national figure on synthetic data
    s.figure.clear()


def test_average_label_is_not_struck_through(shipped_tables):
    """The national average's dashed line stops where its label starts, and the label's white
    ground hides the grid line that would otherwise run through it."""
    from matplotlib.colors import to_rgba

    c = charts.crimes_attended_chart(shipped_tables, raw=RAW)
    ax = c.figure.axes[0]
    (label,) = [t for t in ax.texts if t.get_text().startswith("E&W average")]
    (line,) = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    with charts._drawn(c.figure, 72) as canvas:
        box = label.get_window_extent(canvas.get_renderer())
        line_top = ax.transData.transform(line.get_xydata())[:, 1].max()
        assert line_top <= box.y0 + 0.5  # (display y grows upwards)
        bottom = ax.transData.transform((0, len(c.data) - 0.5))[1]
        assert ax.transData.transform(line.get_xydata())[:, 1].min() <= bottom + 0.5  # still reaches the axis
    ground = label.get_bbox_patch()
    assert ground is not None and to_rgba(ground.get_facecolor()) == (1.0, 1.0, 1.0, 1.0)
    c.figure.clear()


def _text_problems(fig) -> list[str]:
    """The texts drawn (laid out as the export lays them out) that reach beyond the figure's edges
    or overlap another text (a watermark, drawn see-through behind everything, may)."""
    from matplotlib.text import Text

    drawn, draw = [], Text.draw

    def recording(self, renderer):
        if self.get_visible() and self.get_text().strip():
            drawn.append(self)
        return draw(self, renderer)

    Text.draw = recording
    try:
        with charts._drawn(fig, 72) as canvas:
            renderer = canvas.get_renderer()
            w, h = fig.bbox.width, fig.bbox.height
            boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in drawn if (t.get_alpha() or 1) == 1]
    finally:
        Text.draw = draw
    assert drawn  # (the recording saw the drawing)
    out = [f"{s!r} cut off at {[round(v) for v in b.extents]} in {round(w)} x {round(h)}" for s, b in boxes
           if b.x0 < -0.5 or b.y0 < -0.5 or b.x1 > w + 0.5 or b.y1 > h + 0.5]
    for i, (s1, a) in enumerate(boxes):
        for s2, b in boxes[i + 1:]:
            if min(a.x1, b.x1) - max(a.x0, b.x0) > 1 and min(a.y1, b.y1) - max(a.y0, b.y0) > 1:
                out.append(f"{s1[:40]!r} overlaps {s2[:40]!r}")
    # the frame's wrapped title, subtitle and source never break a hyphenated word ('core-' /
    # 'business'); narrow labels inside the chart may
    # (a web address longer than a line must break somewhere, hyphen or not)
    frame_x = style.LEFT_MARGIN_IN / fig.get_figwidth()  # (where new_figure puts them)
    out += [f"{t.get_text()[:40]!r} broken at a hyphen" for t in drawn
            if t in fig.texts and t.get_position()[0] == frame_x
            and re.search(r"(?<!\S)(?![^\s]*://)\S*\w-\n\w", t.get_text())]
    return out


def test_no_chart_text_is_cut_off_or_overlaps_another(shipped_tables, synth):
    """Every title, label, legend entry and note of every exported chart lies inside the image
    (the grade distribution's legend once ran off its right edge) and clear of every other text."""
    from analysis import compare_charts

    probe = style.new_figure(4, 3, title="Probe")  # the check itself sees the faults
    ax = probe.add_subplot()
    ax.text(0.5, 0.5, "one"), ax.text(0.5, 0.5, "two"), ax.text(1.5, 0.5, "far off", transform=ax.transAxes)
    probe.text(style.LEFT_MARGIN_IN / 4, 0.1, "core-\nbusiness")
    problems = _text_problems(probe)
    assert "'one' overlaps 'two'" in problems and any(p.startswith("'far off' cut off") for p in problems)
    assert "'core-\\nbusiness' broken at a hyphen" in problems
    found = {}
    for tables, raw, rounds in ((shipped_tables, RAW, cf.coded_rounds(shipped_tables)),  # (with marks:)
                                (synth[1], synth[0].raw, [cf.primary_round(synth[1])])):
        for rid in rounds:
            for name, make in charts.chart_plan(tables, rid, raw):
                chart = make()
                if chart is not None:
                    found[chart.name] = _text_problems(chart.figure)
                    chart.figure.clear()
    for name, _rounds, draw in compare_charts.chart_plan(shipped_tables):
        fig = draw()[0]
        found[name] = _text_problems(fig)
        fig.clear()
    assert "grade_distribution" in found and len(found) > 40
    assert not {k: v for k, v in found.items() if v}


def test_a_dollar_sign_in_a_label_is_drawn_as_written_not_as_mathtext(shipped_tables):
    """Labels come from input: two '$' in a codebook label, a force name or a round label are
    dollar signs. With Matplotlib's default the text between them was set as mathtext (the title
    'Strategy costing $5m or $10m' drew as 'Strategy costing 5mor10m', in italics)."""
    from analysis import compare_charts

    tables = dict(shipped_tables)
    crit = tables["criteria"].copy()
    crit.loc[crit["criterion_id"] == "P1", "label"] = "Strategy costing $5m or $10m"
    forces = tables["forces"].copy()
    norfolk = forces["force_id"] == "norfolk"
    forces.loc[norfolk, ["force_name", "short_name"]] = ["Norfolk $a$", "Norfolk $a$"]
    rounds = tables["rounds"].copy()
    rounds["label"] = rounds["label"].astype("string") + " $x$"
    tables.update(criteria=crit, forces=forces, rounds=rounds)
    rid = cf.primary_round(tables)
    figures = [charts.criterion_counts(tables, "P1", rid).figure, charts.framework_matrix(tables, rid).figure]
    figures += [draw()[0] for _name, _rounds, draw in compare_charts.chart_plan(tables)[:2]]
    dollars = [t for fig in figures for t in fig.findobj(lambda a: hasattr(a, "get_parse_math"))
               if "$" in t.get_text()]
    written = {t.get_text() for t in dollars}
    assert any("Strategy costing $5m or $10m" in x for x in written)
    assert any("Norfolk $a$" in x for x in written) and any("$x$" in x for x in written)
    assert [t.get_text() for t in dollars if t.get_parse_math()] == []
    for fig in figures:  # drawn as plain text (mathtext would have failed or dropped the '$')
        fig.canvas.draw()
        fig.clear()


def test_coverage_by_force_shows_its_region_blocks(shipped_tables):
    """The subtitle says the forces are grouped by HMIC region: each region is a block of rows,
    set apart from the next, with its name and number of forces beside it; the data file says
    which region each force is in."""
    chart = charts.coverage_chart(shipped_tables, "core_business_2014", "force")
    ax = chart.figure.axes[0]
    order = cf.force_order(shipped_tables, "core_business_2014", "region")
    sizes = order.groupby("group", sort=False).size()
    texts = {t.get_text() for t in ax.texts}
    assert {f"{g}\n({n})" for g, n in sizes.items()} <= texts and len(sizes) >= 3
    rows = {t.get_text(): t.get_position()[1] for t in ax.texts if t.get_text() in set(order["short_name"])}
    ys = [rows[n] for n in order["short_name"]]
    steps = [round(b - a, 6) for a, b in zip(ys, ys[1:])]
    gap = round(1.0 + charts.GROUP_GAP, 6)
    assert sorted(set(steps)) == [1.0, gap] and steps.count(gap) == len(sizes) - 1
    regions = chart.data.drop_duplicates("id").set_index("id")["region"]
    assert regions.to_dict() == order.set_index("force_id")["group"].to_dict()
    chart.figure.clear()


def test_a_criterion_the_round_is_silent_on_gets_no_chart(shipped_tables):
    """PEEL 2014 says nothing about F4: its chart would be one bar of 43 'not reported', so it is
    not drawn (the framework matrix and the tables show the gap), and the build log names it."""
    from analysis.build import _not_drawn

    m = shipped_tables["matrix"]
    peel = m[m["round"] == "peel_2014"]
    silent = set(peel.groupby("criterion_id")["status"].apply(lambda s: (s == "not_reported").all()).loc[
        lambda s: s].index)
    assert "F4" in silent and "A5" not in silent
    plan = dict(charts.chart_plan(shipped_tables, "peel_2014", RAW))
    assert plan["02_criterion_F4"]() is None
    a5 = plan["02_criterion_A5"]()
    assert a5 is not None and a5.name == "peel_2014_02_criterion_A5"
    a5.figure.clear()
    keys = ["02_criterion_A5", "02_criterion_F4"]
    tasks = [("charts", {"rounds": ["peel_2014"], "keys": keys}), ("workbook", {})]
    results = [[Path("x/peel_2014_02_criterion_A5.png"), Path("x/peel_2014_02_criterion_A5.svg")], []]
    assert _not_drawn(tasks, results) == ["peel_2014_02_criterion_F4"]


# ----- export ------------------------------------------------------------------------------------------
def test_export_chart_writes_png_svg_csv_alt(tmp_path, shipped_tables):
    from PIL import Image

    c = charts.criterion_counts(shipped_tables, "F4")
    files = charts.export_chart(c.figure, c.data, c.name, c.alt_text, tmp_path)
    assert [f.name for f in files] == [f"{c.name}{e}" for e in (".png", ".svg", ".csv", ".alt.txt")]
    with Image.open(files[0]) as im:
        assert round(im.info["dpi"][0]) == 300
    svg = files[1].read_text(encoding="utf-8")
    assert "<dc:date>" not in svg
    back = pd.read_csv(files[2])
    assert back["n_forces"].tolist() == c.data["n_forces"].tolist()
    alt = files[3].read_text(encoding="utf-8")
    assert c.title in alt.replace("\n", " ") and f"{c.name}.csv" in alt
    c.figure.clear()


def _svg_title_and_desc(path) -> tuple[str, str]:
    """The SVG's <title> and <desc>, checked to be its first children, named by aria-labelledby."""
    import xml.etree.ElementTree as ET

    root = ET.parse(path).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    assert root.get("role") == "img"
    assert [child.tag for child in root][:2] == [f"{ns}title", f"{ns}desc"]
    assert root.get("aria-labelledby").split() == [root[0].get("id"), root[1].get("id")]
    return root[0].text, root[1].text


def test_exported_svg_carries_its_title_and_alt_text_for_screen_readers(tmp_path, shipped_tables, synth):
    """A chart's SVG put in a web page is announced by its title and read out by its alt text
    (<title>/<desc>, role="img"), marks first; text such as '&' or '<' survives as text."""
    from analysis import compare_charts

    c = charts.crimes_attended_chart(shipped_tables, raw=RAW)
    alt = c.alt_text + "A & B < C."
    files = charts.export_chart(c.figure, c.data, c.name, alt, tmp_path)
    title, desc = _svg_title_and_desc(files[1])
    assert title == c.title and desc == alt.strip() and desc.endswith("\nA & B < C.")
    c.figure.clear()
    s = charts.criterion_counts(synth[1], "F4")
    files = charts.export_chart(s.figure, s.data, s.name, s.alt_text, tmp_path)
    title, desc = _svg_title_and_desc(files[1])
    assert title == f"SYNTHETIC DATA: not real findings. {s.title}" and desc.startswith("SYNTHETIC")
    s.figure.clear()
    name, _rounds, draw = compare_charts.chart_plan(shipped_tables)[0]
    fig, data, alt = draw()
    compare_charts._export(fig, data, name, alt, tmp_path / "compare", None)
    title, desc = _svg_title_and_desc(tmp_path / "compare" / f"{name}.svg")
    assert title.startswith("PEEL 2014 revisited") and desc == alt.strip()


def test_same_inputs_give_byte_identical_svg_and_csv(tmp_path, shipped_tables, synth):
    for tables, maker in ((shipped_tables, lambda t: charts.framework_matrix(t)),
                          (synth[1], lambda t: charts.criterion_counts(t, "F4"))):
        outs = []
        for run in ("a", "b"):
            c = maker(tables)  # drawn afresh each time
            outs.append(charts.export_chart(c.figure, c.data, c.name, c.alt_text, tmp_path / run))
            c.figure.clear()
        for fa, fb in zip(outs[0][1:], outs[1][1:]):  # svg, csv, alt
            assert fa.read_bytes() == fb.read_bytes(), fa.name


def test_export_all_writes_every_chart_with_data_and_alt_text(tmp_path, synth):
    paths, tables = synth
    out = Paths(raw=paths.raw, processed=paths.processed, reports=tmp_path / "reports")
    files = charts.export_all(out, tables)
    n_charts = 1 + len(cf.criteria_frame(tables)) + 2 + 1 + 1
    assert len(files) == 4 * n_charts
    assert all(f.exists() and f.parent == out.figures for f in files)
    stems = {f.name.split(".")[0] for f in files}
    assert len(stems) == n_charts and all(s.startswith("synthetic_") for s in stems)
    for stem in stems:
        for ext in (".png", ".svg", ".csv", ".alt.txt"):
            assert (out.figures / f"{stem}{ext}").stat().st_size > 0
        assert (out.figures / f"{stem}.alt.txt").read_text(encoding="utf-8").startswith("SYNTHETIC")


def test_embargoed_round_is_marked_and_refused_unless_allowed(tmp_path, embargoed):
    paths, tables = embargoed
    out = Paths(raw=paths.raw, processed=paths.processed, reports=tmp_path / "reports")
    with pytest.raises(style.EmbargoError, match="EMBARGOED until 00:01 on 1 January 2999"):
        charts.export_all(out, tables)
    assert not out.figures.exists()
    c = charts.criterion_counts(tables, "A2")
    assert c.marks.embargoed and "EMBARGOED until" in _texts(c.figure)
    assert "EMBARGOED until" in c.alt_text
    files = charts.export_all(out, tables, allow_embargoed=True, only=("criterion_A2",))
    assert len(files) == 4
    alt = next(f for f in files if f.name.endswith("criterion_A2.alt.txt"))
    assert "EMBARGOED until 00:01 on 1 January 2999" in alt.read_text(encoding="utf-8")
    c.figure.clear()


def test_embargo_in_the_past_is_not_marked(shipped_tables):
    t = dict(shipped_tables)
    r = t["rounds"].copy()
    r.loc[r["round"] == "core_business_2014", "embargo_until"] = "2014-09-04T00:01"
    t["rounds"] = r
    c = charts.criterion_counts(t, "A2")
    assert not c.marks.embargoed and "EMBARGOED" not in _texts(c.figure)
    charts.check_embargo(t, ["core_business_2014"], allow_embargoed=False)  # no error
    c.figure.clear()


def test_charts_command_is_registered():
    from analysis.cli import make_parser

    args = make_parser().parse_args(["charts", "--round", "core_business_2014", "--allow-embargoed", "--no-workbook"])
    assert args.rounds == ["core_business_2014"] and args.allow_embargoed and args.no_workbook


def test_a2_subtitle_names_forces_settled_between_conflicting_sources(shipped_tables):
    from analysis import charts

    c = charts.criterion_counts(shipped_tables, "A2", "core_business_2014")
    assert "2 forces settled between conflicting sources" in c.subtitle
    assert "Cleveland" in c.subtitle and "Dyfed-Powys" in c.subtitle
    c4 = charts.criterion_counts(shipped_tables, "F4", "core_business_2014")
    assert "settled" not in c4.subtitle


# ----- fast export paths --------------------------------------------------------------------------------
def test_png_writer_keeps_every_pixel_the_dpi_and_the_text():
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(37, 53, 4), dtype=np.uint8)
    pixels[5:9] = pixels[4]  # repeated rows (the Up filter makes them zeros)
    text = {"Software": "core-business", "Description": "Chart: 8 of 43 forces − ± “quoted”", "Empty": ""}
    data = charts.png_bytes(pixels, 300, text)
    assert data == charts.png_bytes(pixels.copy(), 300, text)  # same array, same bytes
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        assert im.mode == "RGBA" and im.size == (53, 37)
        assert (np.asarray(im) == pixels).all()
        assert round(im.info["dpi"][0]) == 300
        assert im.text["Software"] == "core-business"
        assert im.text["Description"] == text["Description"]  # not Latin-1: an iTXt chunk
        assert "Empty" not in im.text
    with pytest.raises(ValueError, match="RGBA"):
        charts.png_bytes(pixels[..., :3])


def test_export_gives_byte_identical_png_and_svg_text_as_text(tmp_path, shipped_tables):
    import numpy as np
    from PIL import Image

    outs = []
    for run in ("a", "b"):
        c = charts.criterion_counts(shipped_tables, "A2")
        outs.append(charts.export_chart(c.figure, c.data, c.name, c.alt_text, tmp_path / run))
        fig = c.figure
    assert outs[0][0].read_bytes() == outs[1][0].read_bytes()  # PNG
    svg = outs[0][1].read_text(encoding="utf-8")
    # svg.fonttype "none": text is text (selectable, read by screen readers), with a generic fallback
    assert "<text" in svg and "8 of 43 forces had an attend-all-crimes policy" in svg
    assert "sans-serif" in svg and 'id="DejaVuSans' not in svg  # no glyph outlines
    # the PNG is what Agg draws on one canvas: the same pixels as render_png at 300 dpi
    with Image.open(outs[0][0]) as im:
        png = np.asarray(im.convert("RGB"))
    import io

    with Image.open(io.BytesIO(charts.render_png(fig, charts.PNG_DPI))) as im:
        again = np.asarray(im.convert("RGB"))
    assert png.shape == again.shape and (png == again).all()
    # the figure keeps its own dpi and layout engine after exporting and rendering
    assert fig.dpi == 100 and fig.get_layout_engine() is not None
    fig.clear()


def test_chart_shows_itself_in_a_notebook_with_its_alt_text(shipped_tables):
    import io

    from PIL import Image

    c = charts.criterion_counts(shipped_tables, "F4")
    bundle, meta = c._repr_mimebundle_()
    assert bundle["text/plain"] == c.alt_text.strip()
    with Image.open(io.BytesIO(bundle["image/png"])) as im:
        assert im.size == (round(c.figure.get_figwidth() * charts.NOTEBOOK_DPI),
                           round(c.figure.get_figheight() * charts.NOTEBOOK_DPI))
        assert c.title in im.text["Description"].replace("\n", " ")
    html = bundle["text/html"]
    assert html.startswith('<img src="data:image/png;base64,') and 'alt="' in html
    assert c.title.replace("'", "&#x27;") in html
    assert meta["image/png"]["width"] == round(c.figure.get_figwidth() * charts.NOTEBOOK_DPI)
    c.figure.clear()


def test_stacked_bars_are_one_patch_per_category_with_a_bar_per_row(shipped_tables):
    from matplotlib.path import Path as MPath

    c = charts.coverage_chart(shipped_tables, by="force")
    ax = c.figure.axes[0]
    bars = {p.get_gid(): p for p in ax.patches if (p.get_gid() or "").startswith("bars-")}
    assert set(bars) == {f"bars-{t}" for t in style.COVERAGE_ORDER}
    n_forces = len(shipped_tables["forces"])
    for p in bars.values():
        assert int((p.get_path().codes == MPath.MOVETO).sum()) == n_forces
    assert bars["bars-Not reported"].get_hatch() == style.JUDGEMENT_LOOK["not_reported"].hatch
    # the rows fill the y axis as barh would (margins, first force at the top)
    bottom, top = ax.get_ylim()
    assert bottom > n_forces - 1 + 0.375 and top < -0.375
    c.figure.clear()


def test_report_charts_build_the_round_matrix_once(shipped_tables, monkeypatch):
    built = []
    real = cf.forces_frame  # matrix_for joins it in each time it builds a round's frame

    def counting(tables):
        built.append(1)
        return real(tables)

    monkeypatch.setattr(cf, "forces_frame", counting)
    keys = {f"02_criterion_{c}" for c in ("A2", "F4", "P1")}
    drawn = list(charts.report_charts(shipped_tables, "core_business_2014", keys=keys))
    assert len(drawn) == 3 and len(built) == 1
    for ch in drawn:
        ch.figure.clear()
    built.clear()
    for cid in ("A2", "F4", "P1"):  # outside the chart loop nothing is kept
        charts.criterion_counts(shipped_tables, cid, "core_business_2014").figure.clear()
    assert len(built) == 3
