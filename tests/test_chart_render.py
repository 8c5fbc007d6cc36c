"""The fast export paths of analysis.charts draw exactly what Matplotlib's own code draws.

- The Agg canvas with text work cached (fonts read from memory, measured sizes, shaped lines
  and glyph bitmaps kept, a line's glyphs blended together, the white background filled
  directly) gives the same pixels as Matplotlib's FigureCanvasAgg.
- The SVG canvas with cached text measures gives the same bytes as Matplotlib's FigureCanvasSVG.
- The PNG writer that skips zero gaps gives a valid zlib stream of exactly the "Up"-filtered rows.
"""

from __future__ import annotations

import io
import zlib

import numpy as np
import pandas as pd
import pytest

from analysis import charts, compare_forces as cf
from analysis.style import house_style, new_figure

pytestmark = pytest.mark.filterwarnings("ignore:Glyph .* missing from font")


# ----- drawing ------------------------------------------------------------------------------------
def _laid_out(fig, dpi=charts.PNG_DPI):
    """Lay ``fig`` out once at ``dpi`` (as the export does) and freeze that layout."""
    fig.set_facecolor("white")
    fig.dpi = dpi


def _agg_pixels(make, canvas_class, dpi=charts.PNG_DPI):
    """Pixels of a freshly made figure drawn by ``canvas_class`` (layout engine run once)."""
    with house_style():
        fig = make()
        _laid_out(fig, dpi)
        canvas = canvas_class(fig)
        engine = fig.get_layout_engine()
        if engine is not None:
            engine.execute(fig)
            fig.set_layout_engine("none")
        canvas.draw()
        return np.array(canvas.get_renderer().buffer_rgba())


def _svg_bytes(make, canvas_class):
    """SVG of a freshly made figure laid out once at 300 dpi (as the export does)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    with house_style():
        fig = make()
        _laid_out(fig)
        FigureCanvasAgg(fig)
        fig.get_layout_engine().execute(fig)
        fig.set_layout_engine("none")
        out = io.StringIO()
        canvas_class(fig).print_svg(out, metadata={"Date": None})
        return out.getvalue()


def _odd_figure():
    """Text the charts rarely use: rotated, multi-line, transparent, mathtext, non-antialiased,
    a glyph from a fallback font, bold, a clipped label; a grey background behind an axes."""
    fig = new_figure(6, 4, title="Odd text ‘quoted’ − ± →", subtitle="two\nlines", source="Source: x")
    ax = fig.add_subplot()
    ax.plot([0, 1, 2], [2, 0, 1])
    ax.text(0.2, 1.5, "rotated 33°", rotation=33, alpha=0.4, fontsize=13)
    ax.text(0.5, 0.5, r"$\alpha^2 + \beta$ mathtext", fontsize=10, parse_math=True)  # (off in the house style)
    ax.text(1.0, 1.0, "no antialiasing", antialiased=False, fontweight="bold")
    ax.text(1.5, 0.2, "fallback 一 glyph", fontsize=9)
    ax.text(0.1, 0.1, "a\u0336b\u0336 ___ \u2500\u2500 Ve\u0301 WAVY", fontsize=16)  # glyphs whose ink overlaps
    ax.text(1.9, 1.9, "clipped at the axes edge", clip_on=True)
    ax.set_facecolor("#EEEEEE")
    ax.set_xlabel("x label", rotation=5)
    fig.text(0.5, 0.5, "WATERMARK", rotation=30, fontsize=40, alpha=0.12, ha="center", va="center")
    return fig


def _variants_figure():
    """One string in many ways at once (rotation and its mode, alignments, size, weight, family,
    line spacing, multi-line alignment), so a layout kept for one way and given to another
    would show."""
    fig = new_figure(6, 5, title="Same words", subtitle="Same words")
    ax = fig.add_subplot()
    ax.set_xlim(0, 4)
    ax.set_ylim(0, 6)
    ax.set_xlabel("Same words")
    for i, kw in enumerate([{}, {"rotation": 90}, {"rotation": 33}, {"rotation": 33, "rotation_mode": "anchor"},
                            {"ha": "right"}, {"ha": "center", "va": "top"}, {"va": "baseline"},
                            {"va": "center_baseline", "rotation": 60}, {"fontsize": 14}, {"fontweight": "bold"},
                            {"family": "monospace"}, {"fontstyle": "italic"}]):
        ax.text(0.3 + (i % 4), 0.5 + (i // 4), "Same words", **kw)
    for i, kw in enumerate([{}, {"linespacing": 2.0}, {"multialignment": "right"}, {"multialignment": "center",
                                                                                   "ha": "right"}]):
        ax.text(0.3 + i, 4.2, "Same words\nand more", **kw)
    return fig


def _grey_figure():
    """A figure whose background is not white (the white shortcut must not apply)."""
    fig = new_figure(3, 2, title="Grey")
    fig.patch.set_facecolor("#DDDDDD")
    fig.add_subplot().bar([0, 1], [1, 2])
    return fig


@pytest.fixture(scope="module")
def synth_tables(tmp_path_factory):
    from analysis.build import build
    from analysis.synthetic import make_synthetic_raw

    paths = make_synthetic_raw(tmp_path_factory.mktemp("render_synth") / "raw", seed=3,
                               embargo_until="2999-01-01T00:01")
    return build(paths, tables_only=True, log=lambda s: None).tables


@pytest.fixture(scope="module")
def chart_makers(shipped_tables, synth_tables):
    rid = cf.primary_round(shipped_tables)
    plan = dict(charts.chart_plan(shipped_tables, rid))
    synth = dict(charts.chart_plan(synth_tables, cf.primary_round(synth_tables)))
    return {
        "synthetic": lambda: synth["02_criterion_F4"]().figure,  # watermark, embargo box
        "criterion": lambda: plan["02_criterion_A2"]().figure,
        "matrix": lambda: plan["01_framework_matrix"]().figure,  # rotated labels, hatching, symbols
        "coverage": lambda: plan["03_coverage_by_force"]().figure,
        "odd": _odd_figure,
        "variants": _variants_figure,
        "grey": _grey_figure,
    }


@pytest.mark.parametrize("which", ["criterion", "matrix", "coverage", "synthetic", "odd", "variants", "grey"])
def test_fast_agg_canvas_draws_the_same_pixels_as_matplotlib(chart_makers, which):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fast_canvas = charts._fast_backends()[0]
    assert fast_canvas is not FigureCanvasAgg  # this Matplotlib has what the fast path uses
    make = chart_makers[which]
    stock = _agg_pixels(make, FigureCanvasAgg)
    for _ in range(2):  # the second time from the caches
        fast = _agg_pixels(make, fast_canvas)
        assert fast.shape == stock.shape
        assert (fast == stock).all(), f"{int((fast != stock).any(axis=2).sum())} pixels differ"


@pytest.mark.parametrize("which", ["odd", "variants"])
def test_fast_agg_canvas_same_pixels_at_notebook_dpi(chart_makers, which):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    make = chart_makers[which]
    stock = _agg_pixels(make, FigureCanvasAgg, dpi=charts.NOTEBOOK_DPI)
    fast = _agg_pixels(make, charts._fast_backends()[0], dpi=charts.NOTEBOOK_DPI)
    assert (fast == stock).all()


def test_fast_canvas_redraw_and_buffer_reads_see_a_cleared_canvas(chart_makers):
    """Drawing twice on one canvas, and reading the buffer between, gives what Matplotlib gives."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    outs = []
    for canvas_class in (FigureCanvasAgg, charts._fast_backends()[0]):
        with house_style():
            fig = _grey_figure()
            _laid_out(fig)
            canvas = canvas_class(fig)
            canvas.draw()
            first = np.array(canvas.get_renderer().buffer_rgba())
            fig.patch.set_facecolor("white")
            canvas.draw()
            outs.append((first, np.array(canvas.get_renderer().buffer_rgba())))
            canvas.get_renderer().clear()  # cleared, then read: transparent white, as Matplotlib's
            outs[-1] += (np.array(canvas.get_renderer().buffer_rgba()),)
    for a, b in zip(*outs):
        assert (a == b).all()
    assert (outs[0][2] == [255, 255, 255, 0]).all()


@pytest.mark.parametrize("which", ["criterion", "matrix", "synthetic", "odd", "variants"])
def test_fast_svg_canvas_writes_the_same_bytes_as_matplotlib(chart_makers, which):
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    make = chart_makers[which]
    stock = _svg_bytes(make, FigureCanvasSVG)
    fast = _svg_bytes(make, charts._fast_backends()[1])
    assert fast == stock


# ----- the PNG's zlib stream ----------------------------------------------------------------------
def _up_filtered(rgba: np.ndarray) -> bytes:
    """The PNG rows with the Up filter, written out plainly."""
    h, w, c = rgba.shape
    rows = rgba.reshape(h, w * c).astype(np.int16)
    out = bytearray()
    above = np.zeros(w * c, dtype=np.int16)
    for row in rows:
        out.append(2)
        out += ((row - above) % 256).astype(np.uint8).tobytes()
        above = row
    return bytes(out)


def _chart_like(h: int, w: int, seed: int) -> np.ndarray:
    """White with a few blocks, lines and noisy strips: long zero gaps after the Up filter,
    within rows and across rows, and gaps ending at and crossing row starts."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 4), 255, dtype=np.uint8)
    for _ in range(6):
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        img[y0:y0 + rng.integers(1, 40), x0:x0 + rng.integers(1, 300), :3] = rng.integers(0, 256, 3)
    for _ in range(3):
        y = rng.integers(0, h)
        img[y:y + 3, :, :3] = rng.integers(0, 256, size=(min(3, h - y), w, 3))
    return img


@pytest.mark.parametrize("shape,seed", [((1, 1), 0), ((3, 5), 1), ((37, 53), 2), ((400, 3000), 3),
                                        ((257, 2049), 4), ((1200, 801), 5), ((64, 4096), 6)])
@pytest.mark.parametrize("gap", [512, 8192, None])  # bytes of zeros that make a gap (None: as shipped)
def test_png_stream_decodes_to_the_filtered_rows(shape, seed, gap, monkeypatch):
    from PIL import Image

    if gap:
        monkeypatch.setattr(charts, "PNG_GAP_BYTES", gap)
    img = _chart_like(*shape, seed)
    stream = charts._up_filtered_zlib(img, charts.PNG_COMPRESS_LEVEL)
    assert zlib.decompress(stream) == _up_filtered(img)  # (zlib checks the Adler-32 too)
    png = charts.png_bytes(img, 300)
    assert png == charts.png_bytes(img.copy(), 300)
    with Image.open(io.BytesIO(png)) as im:
        im.load()
        assert im.mode == "RGBA" and (np.asarray(im) == img).all()


@pytest.mark.parametrize("gap", [512, None])
def test_png_stream_of_blank_and_of_noise(gap, monkeypatch):
    if gap:
        monkeypatch.setattr(charts, "PNG_GAP_BYTES", gap)
    white = np.full((300, 2500, 4), 255, dtype=np.uint8)  # one non-zero row, then all gaps
    zeros = np.zeros((50, 700, 4), dtype=np.uint8)  # nothing non-zero at all
    noise = np.random.default_rng(7).integers(0, 256, size=(90, 333, 4), dtype=np.uint8)  # no gaps
    for img in (white, zeros, noise):
        assert zlib.decompress(charts._up_filtered_zlib(img, 1)) == _up_filtered(img)


@pytest.mark.parametrize("module", ["zlib-ng", "zlib"])
def test_png_stream_with_either_compressor_decodes_and_repeats(module, monkeypatch):
    """zlib-ng (a dependency) compresses the pieces, Python's zlib where it is missing: either
    gives a stream of the filtered rows, and the same bytes every time (ISA-L's did not)."""
    if module == "zlib":
        monkeypatch.setattr(charts, "_deflate_module", lambda: zlib)
    else:
        assert charts._deflate_module().__name__ == "zlib_ng.zlib_ng"
    img = _chart_like(1200, 801, 5)
    streams = {charts._up_filtered_zlib(img, 1, charts.PngScratch()) for _ in range(4)}
    assert len(streams) == 1 and zlib.decompress(streams.pop()) == _up_filtered(img)


@pytest.mark.parametrize("piece", [1, 7, 1000, 9601, 100_000])
def test_png_stream_in_many_pieces(monkeypatch, piece):
    """Pieces of any size, on or off row boundaries, join into one stream of the filtered rows."""
    from PIL import Image

    img = _chart_like(120, 600, 11)
    monkeypatch.setattr(charts, "PNG_PIECE_BYTES", piece)
    monkeypatch.setattr(charts, "PNG_GAP_BYTES", 1024)  # gaps between the pieces too
    stream = charts._up_filtered_zlib(img, 1)
    assert zlib.decompress(stream) == _up_filtered(img)
    with Image.open(io.BytesIO(charts.png_bytes(img, 300))) as im:
        im.load()
        assert (np.asarray(im) == img).all()


def test_deflation_is_the_same_whoever_compresses(monkeypatch):
    """Threads sharing the pieces give the stream one thread gives alone."""
    import threading

    monkeypatch.setattr(charts, "PNG_PIECE_BYTES", 500)
    monkeypatch.setattr(charts, "PNG_GAP_BYTES", 2048)
    img = _chart_like(200, 900, 12)
    alone = charts._deflation(img, 1).result()
    job = charts._deflation(img, 1)
    helpers = [threading.Thread(target=job.work) for _ in range(3)]
    for t in helpers:
        t.start()
    shared = job.result()
    for t in helpers:
        t.join()
    assert shared == alone and zlib.decompress(shared) == _up_filtered(img)
    assert len(job._tasks) > 50  # (many pieces, so the threads really did share them)
    assert len(job._parts) > len(job._tasks) - 1  # (and gaps between them: ready-made parts)


def test_deflation_error_reaches_the_waiting_thread(monkeypatch):
    def broken(*args):
        raise MemoryError("no room")

    job = charts._deflation(_chart_like(20, 30, 14), 1)
    monkeypatch.setattr(charts._deflate_module(), "adler32", broken)
    with pytest.raises(MemoryError, match="no room"):
        job.result()


def test_png_writer_wait_compresses_what_is_left(monkeypatch):
    """A caller waiting for a PNG takes the pieces its thread has not started, and the pixels'
    renderer is handed on as soon as the rows are filtered, before any compressing."""
    import threading
    import time

    monkeypatch.setattr(charts, "PNG_PIECE_BYTES", 2000)
    img = _chart_like(100, 400, 13)
    events, workers = [], set()
    real_work = charts._Deflation.work

    def work(self):
        workers.add(threading.get_ident())
        real_work(self)

    monkeypatch.setattr(charts._Deflation, "work", work)
    shared = threading.Event()

    def share(job):
        events.append("shared")
        writer.share(job)
        shared.set()
        # the writer's thread holds back until the caller has taken every piece
        for _ in range(2000):
            if job._next >= len(job._tasks):
                return
            time.sleep(0.005)
        raise AssertionError("the waiting caller took no pieces")

    out = {}
    with charts.PngWriter() as writer:
        writer.submit(lambda: out.setdefault("png", charts.png_bytes(
            img, 300, done_reading=lambda: events.append("read"), share=share)))
        assert shared.wait(10)
        writer.wait()
    assert events == ["read", "shared"]
    assert threading.get_ident() in workers
    assert out["png"] == charts.png_bytes(img, 300)


def test_exported_png_has_the_drawn_pixels(tmp_path, shipped_tables):
    """export_chart's PNG decodes (zlib and Pillow) to Matplotlib's own drawing of the chart."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    rid = cf.primary_round(shipped_tables)
    plan = dict(charts.chart_plan(shipped_tables, rid))
    c = plan["02_criterion_F4"]()
    png = charts.export_chart(c.figure, c.data, c.name, c.alt_text, tmp_path)[0]
    c.figure.clear()
    expected = _agg_pixels(lambda: plan["02_criterion_F4"]().figure, FigureCanvasAgg)
    with Image.open(png) as im:
        im.load()
        assert (np.asarray(im) == expected).all()


def test_export_with_matplotlibs_own_canvases_writes_the_same_files(tmp_path, shipped_tables, monkeypatch):
    """Where the fast canvases cannot be used (another Matplotlib), the export falls back on
    Matplotlib's own: the same files."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    rid = cf.primary_round(shipped_tables)
    plan = dict(charts.chart_plan(shipped_tables, rid))
    outs = []
    for run, backends in (("fast", charts._fast_backends()), ("stock", (FigureCanvasAgg, FigureCanvasSVG))):
        monkeypatch.setattr(charts, "_fast_backends", lambda backends=backends: backends)
        c = plan["02_criterion_A9"]()
        outs.append(charts.export_chart(c.figure, c.data, c.name, c.alt_text, tmp_path / run))
        c.figure.clear()
    for fast, stock in zip(*outs):
        assert fast.read_bytes() == stock.read_bytes(), fast.name


def test_stock_canvas_switch(monkeypatch):
    """CORE_BUSINESS_STOCK_CANVAS=1 makes the export use Matplotlib's own canvases."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    monkeypatch.setenv(charts.STOCK_CANVAS_ENV, "1")
    assert charts._fast_backends.__wrapped__() == (FigureCanvasAgg, FigureCanvasSVG)
    monkeypatch.setenv(charts.STOCK_CANVAS_ENV, "0")
    assert charts._fast_backends.__wrapped__()[0] is not FigureCanvasAgg


# ----- what the chart loop works out once ---------------------------------------------------------
def test_report_charts_equal_charts_drawn_one_by_one(shipped_tables, synth_tables):
    """report_charts works out a round's source note, title, marks, codebook entries and cells
    settled by precedence once for all its charts: the charts are those drawn one at a time."""
    for tables in (shipped_tables, synth_tables):
        rid = cf.primary_round(tables)
        plan = dict(charts.chart_plan(tables, rid))
        keys = ["02_criterion_A2", "02_criterion_F4", "03_coverage_by_force", "04_regions"]
        together = {c.name: c for c in charts.report_charts(tables, rid, keys=set(keys))}
        assert len(together) == len(keys)
        for key in keys:
            alone = plan[key]()  # (outside the loop: nothing kept)
            c = together[alone.name]
            assert (c.title, c.subtitle, c.source, c.summary, c.marks) == \
                (alone.title, alone.subtitle, alone.source, alone.summary, alone.marks)
            pd.testing.assert_frame_equal(c.data, alone.data)
            alone.figure.clear()
            c.figure.clear()
    assert charts._ROUND_MEMO.get() is None  # nothing kept after the loop


def test_settled_note_names_the_forces_settled_by_precedence(shipped_tables):
    m = shipped_tables["matrix"]
    rid = "core_business_2014"
    rows = m[(m["round"] == rid) & (m["resolution"] == "precedence")]
    expected = {cid: list(sub["force_id"]) for cid, sub in rows.groupby("criterion_id", sort=False)}
    assert charts._settled_by_precedence(shipped_tables, rid) == expected


def test_csv_safe_guards_formula_text_and_leaves_other_columns_alone():
    data = pd.DataFrame({"a": pd.array(["=SUM(A1)", "fine", None], dtype="string"),
                         "b": pd.array(["x", "y", "z"], dtype="string"),
                         "c": [1.5, -2.0, 3.0], "d": ["+1", "ok", "@x"]})
    out = charts._csv_safe(data)
    assert out["a"].tolist()[:2] == ["'=SUM(A1)", "fine"] and pd.isna(out["a"].iloc[2])
    assert out["d"].tolist() == ["'+1", "ok", "'@x"]
    assert out["b"].dtype == data["b"].dtype and out["b"].tolist() == ["x", "y", "z"]
    assert out["c"].tolist() == [1.5, -2.0, 3.0]
    assert data["a"].iloc[0] == "=SUM(A1)"  # the plotted data are not changed
    plain = data[["b", "c"]]
    assert charts._csv_safe(plain) is plain  # nothing to guard: no copy


# ----- PNG files written on a background thread ---------------------------------------------------
def test_png_writer_writes_the_same_files_while_the_caller_moves_on(tmp_path, shipped_tables, monkeypatch):
    """With a PngWriter, export_chart returns before its PNG is encoded; the figure can be cleared
    and the next chart drawn and exported meanwhile, and every file is the one a plain export
    writes. (Each PNG here waits until the next chart has been cleared, or the block ends.)"""
    import threading

    rid = cf.primary_round(shipped_tables)
    plan = dict(charts.chart_plan(shipped_tables, rid))
    keys = ["02_criterion_F4", "01_framework_matrix", "02_criterion_A9"]
    for key in keys:
        c = plan[key]()
        charts.export_chart(c.figure, c.data, c.name, c.alt_text, tmp_path / "plain")
        c.figure.clear()

    png_of, released = charts._png_of, []

    def late_png_of(*args, **kwargs):
        gate = threading.Event()
        released.append(gate)
        assert gate.wait(30), "the PNG was waited for before export_chart returned"
        return png_of(*args, **kwargs)

    monkeypatch.setattr(charts, "_png_of", late_png_of)
    with charts.PngWriter() as writer:
        for i, key in enumerate(keys):
            c = plan[key]()
            files = charts.export_chart(c.figure, c.data, c.name, c.alt_text, tmp_path / "background",
                                        png_writer=writer)
            assert all(f.exists() for f in files[1:])  # SVG, CSV, alt text: written on return
            c.figure.clear()
            while len(released) <= i:  # the PNG job has started (and waits for its gate)
                threading.Event().wait(0.01)
            released[i].set()
    plain = sorted((tmp_path / "plain").iterdir())
    assert [f.name for f in plain] == [f.name for f in sorted((tmp_path / "background").iterdir())]
    for f in plain:
        assert f.read_bytes() == (tmp_path / "background" / f.name).read_bytes(), f.name


def test_png_writer_raises_the_error_of_a_failed_png(tmp_path):
    def fail():
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        with charts.PngWriter() as writer:
            writer.submit(fail)
    writer = charts.PngWriter()
    writer.submit(fail)
    with pytest.raises(OSError, match="disk full"):
        writer.submit(lambda: None)  # the next PNG waits for the previous one, and sees its error
    writer.__exit__(None, None, None)
