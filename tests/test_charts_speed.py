"""Speed paths of the chart export, each checked against the plain path it replaces: Agg renderers
reused within a series (charts.PngWriter.spares), the PNG work buffer reused (charts.PngScratch),
and chart labels that lie inside their Axes left out of the layout (compare_charts)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import charts, compare_charts, style


def _files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _count_renderers(monkeypatch) -> list:
    """A list that gets the (width, height) of every Agg renderer made from now on."""
    from matplotlib.backends import backend_agg

    made = []
    init = backend_agg.RendererAgg.__init__

    def counting_init(self, *args, **kwargs):
        made.append(args[:2])
        init(self, *args, **kwargs)

    monkeypatch.setattr(backend_agg.RendererAgg, "__init__", counting_init)
    return made


def test_a_series_reuses_renderers_of_the_same_size_and_writes_the_same_files(shipped_tables, tmp_path,
                                                                              monkeypatch):
    from matplotlib.backends import backend_agg

    if charts._fast_backends()[0] is backend_agg.FigureCanvasAgg:
        pytest.skip("stock canvas: no renderer reuse")
    plan = {name: draw for name, _rounds, draw in compare_charts.chart_plan(shipped_tables)}
    dumbbells = [n for n in plan if n.startswith("dumbbell_")][:4]
    matrix = next(n for n in plan if n.startswith("change_matrix_"))
    # two of a size, another size (the spare is dropped), then two of the first size again
    names = [dumbbells[0], dumbbells[1], matrix, dumbbells[2], dumbbells[3]]
    for name in names:  # each drawn alone: a new renderer each
        fig, data, alt = plan[name]()
        compare_charts._export(fig, data, name, alt, tmp_path / "alone")

    made = _count_renderers(monkeypatch)
    with charts.PngWriter() as writer:
        for name in names:
            fig, data, alt = plan[name]()
            compare_charts._export(fig, data, name, alt, tmp_path / "series", writer)
            writer.wait()  # (so that the renderer is back before the next chart)
    # the second of each pair drew on the first one's renderer, over its pixels
    assert len(made) == 3, made
    alone, series = _files(tmp_path / "alone"), _files(tmp_path / "series")
    assert alone.keys() == series.keys() and len(alone) == 4 * len(names)
    for name, data in alone.items():
        assert series[name] == data, name


def test_exports_given_no_writer_share_the_kept_one_and_write_the_same_files(shipped_tables, tmp_path,
                                                                             monkeypatch):
    """export_chart without a writer uses the process's kept writer: the next chart of the same
    size draws on the last one's renderer, each PNG is complete when the call returns, and the
    files are those each chart's own fresh writer writes."""
    from matplotlib.backends import backend_agg

    if charts._fast_backends()[0] is backend_agg.FigureCanvasAgg:
        pytest.skip("stock canvas: no renderer reuse")
    plan = {name: draw for name, _rounds, draw in compare_charts.chart_plan(shipped_tables)}
    names = [n for n in plan if n.startswith("dumbbell_")][:3]
    for name in names:  # each with a writer of its own
        fig, data, alt = plan[name]()
        with charts.PngWriter() as writer:
            compare_charts._export(fig, data, name, alt, tmp_path / "own", writer)
    made = _count_renderers(monkeypatch)
    monkeypatch.setattr(charts, "_STANDALONE", [])  # (a kept writer for this test alone)
    try:
        for name in names:
            fig, data, alt = plan[name]()
            files = compare_charts._export(fig, data, name, alt, tmp_path / "kept")
            png = next(f for f in files if f.suffix == ".png")
            assert png.read_bytes() == (tmp_path / "own" / png.name).read_bytes()  # complete on return
        assert len(made) == 1, made
        assert _files(tmp_path / "own") == _files(tmp_path / "kept")
    finally:
        if charts._STANDALONE:
            charts._STANDALONE[0].__exit__(None, None, None)


def test_spare_renderers_keep_one_of_the_right_size():
    spares = charts._SpareRenderers()

    class R:
        width, height, dpi = 10, 20, 300

    r = R()
    assert spares.take((10, 20, 300)) is None
    spares.give(r)
    assert spares.take((10, 20, 100)) is None  # another size: dropped, not kept
    assert spares.take((10, 20, 300)) is None
    spares.give(r)
    assert spares.take((10, 20, 300)) is r
    assert spares.take((10, 20, 300)) is None


def test_png_scratch_gives_the_same_bytes():
    rng = np.random.default_rng(5)
    images = []
    for i, (h, w) in enumerate(((300, 200), (40, 30), (301, 217), (5, 3000))):
        img = np.full((h, w, 4), 255, dtype=np.uint8)
        img[h // 3: h // 2, w // 4: w // 2] = rng.integers(0, 256, (h // 2 - h // 3, w // 2 - w // 4, 4))
        if i % 2:  # (else the last rows are white: filtered, zeros up to the padding)
            img[-1, :, 0] = 7
        images.append(img)

    def zeroed():  # a buffer known to be clean (np.empty's may hold anything)
        clean = charts.PngScratch()
        clean.get(10**6)[:] = 0
        return clean

    scratch = charts.PngScratch()
    scratch.get(10**6)[:] = 0xAB  # whatever an earlier PNG left in it
    for img in images + images[::-1]:
        png = charts.png_bytes(img, 300, {"Description": "x"}, scratch=scratch)
        assert png == charts.png_bytes(img, 300, {"Description": "x"})
        assert png == charts.png_bytes(img, 300, {"Description": "x"}, scratch=zeroed())


def _positions(fig, dpi):
    with style.house_style(), charts._drawn(fig, dpi):
        return [tuple(ax.get_position().bounds) for ax in fig.axes]


@pytest.mark.parametrize("kind", ["dumbbell", "dumbbell_revisited", "grade_distribution"])
def test_labels_left_out_of_the_layout_do_not_move_the_axes(shipped_tables, kind):
    """The dumbbells' change names and the grade bars' counts lie inside the Axes, so leaving them
    out of the layout gives the Axes the place they get with every label in it (the plain path)."""
    changes = shipped_tables["changes"]
    if kind.startswith("dumbbell"):
        moved = changes[changes["change"] != "not_revisited"]
        cid = moved["criterion_id"].value_counts().index[0]
        ch = changes[changes["round"] == moved[moved["criterion_id"] == cid]["round"].iloc[0]]

        def make():
            return compare_charts.dumbbell_figure(ch.reset_index(drop=True), cid,
                                                  only_revisited=kind.endswith("revisited"))[0]
    else:
        rounds = list(dict.fromkeys(shipped_tables["grades"]["round"]))

        def make():
            return compare_charts.grade_distribution_figure(shipped_tables["grades"], rounds)[0]

    fig, plain = make(), make()
    left_out = [t for t in fig.axes[0].texts if not t.get_in_layout()]
    assert len(left_out) > 5
    for t in plain.axes[0].texts:
        t.set_in_layout(True)
    for dpi in (charts.PNG_DPI, charts.NOTEBOOK_DPI):
        assert _positions(fig, dpi) == _positions(plain, dpi)


def test_grade_bars_as_one_patch_a_grade_draw_what_barh_draws(shipped_tables, monkeypatch):
    """grade_distribution_figure draws each grade's bars as one compound patch
    (charts._barh_patch, sticky like barh's bars); plain barh gives the same pixels, limits
    and legend."""
    rounds = list(dict.fromkeys(shipped_tables["grades"]["round"]))

    def drawn():
        fig = compare_charts.grade_distribution_figure(shipped_tables["grades"], rounds)[0]
        ax = fig.axes[0]
        with style.house_style(), charts._drawn(fig, 100) as canvas:
            return (charts._pixels(canvas).copy(), ax.get_xlim(), ax.get_ylim(),
                    [t.get_text() for t in ax.get_legend().get_texts()], len(ax.patches))

    fast = drawn()

    def barh(ax, ys, widths, lefts, height, gid=None, sticky=False, **kwargs):
        return ax.barh(list(ys), widths, left=lefts, height=height, **kwargs)

    monkeypatch.setattr(charts, "_barh_patch", barh)
    plain = drawn()
    assert fast[4] == len(compare_charts.GRADE_STATES)  # one patch a grade
    assert plain[4] > fast[4]  # (a bar each)
    assert fast[1:4] == plain[1:4]
    assert (fast[0] == plain[0]).all()


@pytest.mark.parametrize("kind", ["dumbbell", "change_matrix"])
def test_column_labels_as_plain_texts_draw_what_tick_labels_draw(shipped_tables, monkeypatch, kind):
    """compare_charts._col_labels (plain texts, a tick scatter, a grid collection) draws the
    picture Matplotlib's tick labels draw (set_xticks, tick_top for the change matrix, the x grid
    of the dumbbells): same pixels at 300 and 100 dpi, same Axes position."""
    plan = {name: draw for name, _rounds, draw in compare_charts.chart_plan(shipped_tables)}
    name = next(n for n in plan if n.startswith(kind))

    def drawn():
        out = []
        for dpi in (charts.PNG_DPI, charts.NOTEBOOK_DPI):
            fig = plan[name]()[0]
            with style.house_style(), charts._drawn(fig, dpi) as canvas:
                out.append((charts._pixels(canvas).copy(), fig.axes[0].get_position().bounds,
                            len(fig.axes[0].texts)))
        return out

    fast = drawn()

    def plain(fig, ax, labels, top=False, grid_colour=None):
        ax.set_xticks(range(len(labels)), labels)
        if top:
            ax.xaxis.tick_top()
        if grid_colour is not None:
            ax.grid(axis="x", color=grid_colour)

    monkeypatch.setattr(compare_charts, "_col_labels", plain)
    slow = drawn()
    for (px_fast, pos_fast, n_fast), (px_slow, pos_slow, n_slow) in zip(fast, slow):
        assert n_fast > n_slow  # (the labels are texts of the Axes, not tick labels)
        assert pos_fast == pos_slow
        assert px_fast.shape == px_slow.shape and (px_fast == px_slow).all()


def test_framework_matrix_names_as_plain_texts_draw_what_tick_labels_draw(shipped_tables, monkeypatch):
    """The framework matrix's force and criterion names (charts._row_labels / _col_labels, no tick
    marks) draw the picture set_yticks / set_xticks with tick_top and zero-length ticks draw:
    same pixels at 300 and 100 dpi, same Axes position, for both orderings."""
    def drawn():
        out = []
        for order in ("region", "profile"):
            chart = charts.framework_matrix(shipped_tables, "core_business_2014", order_by=order)
            for dpi in (charts.PNG_DPI, charts.NOTEBOOK_DPI):
                with style.house_style(), charts._drawn(chart.figure, dpi) as canvas:
                    out.append((charts._pixels(canvas).copy(), chart.figure.axes[0].get_position().bounds,
                                len(chart.figure.axes[0].texts)))
        return out

    fast = drawn()

    def rows(fig, ax, labels, fontsize, grid, grid_stop=1.0, at=None, tick_length=None):
        ax.set_yticks(at, labels, fontsize=fontsize)

    def cols(fig, ax, labels, top=False, grid_colour=None, at=None, tick_length=None, fontsize=None,
             rotation=0, va=None):
        ax.xaxis.tick_top()
        ax.set_xticks(at, labels, rotation=rotation, fontsize=fontsize, va=va, ha="center")
        ax.tick_params(length=tick_length)

    monkeypatch.setattr(charts, "_row_labels", rows)
    monkeypatch.setattr(charts, "_col_labels", cols)
    slow = drawn()
    for (px_fast, pos_fast, n_fast), (px_slow, pos_slow, n_slow) in zip(fast, slow):
        assert n_fast == n_slow + 43 + 19  # (the names are texts of the Axes, not tick labels)
        assert pos_fast == pos_slow
        assert px_fast.shape == px_slow.shape and (px_fast == px_slow).all()


def _tick_rows(fig, ax, labels, fontsize=None, grid=False, at=None, **kw):
    """What the charts did before charts._row_labels: Matplotlib's y tick labels."""
    ax.set_yticks(range(len(labels)) if at is None else at, labels,
                  **({} if fontsize is None else {"fontsize": fontsize}))


@pytest.mark.parametrize("make", ["coverage_criterion", "coverage_force", "criterion_A2", "criterion_F4",
                                  "regions", "crimes_attended", "grade_distribution"])
def test_row_names_as_plain_texts_draw_what_tick_labels_draw(shipped_tables, monkeypatch, make):
    """Row names drawn as plain texts (charts._row_labels: a tick scatter and a text a row) draw
    what set_yticks with those labels drew: the same pixels at 300 dpi (the exported PNG) and the
    same Axes position; at 100 dpi (notebooks) the grade distribution's tick ends, where they
    touch its bars, may be one level apart in a few pixels (a marker drawn as a collection, not a
    line), nothing else."""
    from analysis.paths import RAW

    rid = "core_business_2014"
    makers = {
        "coverage_criterion": lambda: charts.coverage_chart(shipped_tables, rid, "criterion").figure,
        "coverage_force": lambda: charts.coverage_chart(shipped_tables, rid, "force").figure,
        "criterion_A2": lambda: charts.criterion_counts(shipped_tables, "A2", rid).figure,
        "criterion_F4": lambda: charts.criterion_counts(shipped_tables, "F4", rid).figure,
        "regions": lambda: charts.regional_comparison(shipped_tables, rid).figure,
        "crimes_attended": lambda: charts.crimes_attended_chart(shipped_tables, rid, RAW).figure,
        "grade_distribution": lambda: compare_charts.grade_distribution_figure(
            shipped_tables["grades"], compare_charts._round_order(shipped_tables, shipped_tables["grades"]))[0],
    }

    def drawn():
        out = []
        for dpi in (charts.PNG_DPI, charts.NOTEBOOK_DPI):
            fig = makers[make]()
            with style.house_style(), charts._drawn(fig, dpi) as canvas:
                out.append((charts._pixels(canvas).copy(), fig.axes[0].get_position().bounds))
            fig.clear()
        return out

    fast = drawn()
    monkeypatch.setattr(charts, "_row_labels", _tick_rows)
    monkeypatch.setattr(compare_charts, "_row_labels", _tick_rows)
    slow = drawn()
    for dpi, (px_fast, pos_fast), (px_slow, pos_slow) in zip((charts.PNG_DPI, charts.NOTEBOOK_DPI), fast, slow):
        assert pos_fast == pos_slow
        assert px_fast.shape == px_slow.shape
        apart = np.abs(px_fast.astype(int) - px_slow.astype(int)).max(axis=-1)
        if dpi == charts.PNG_DPI or make != "grade_distribution":
            assert not apart.any()
        else:
            assert apart.max() <= 1 and (apart > 0).sum() <= 20
