"""The analysis notebooks: committed clean (nbstripout), thin, parameterised, and executing without
errors on the shipped build, on a synthetic build, and (03) with another criterion."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from analysis import notebooks as nbmod
from analysis.paths import NOTEBOOKS, ROOT

MINE = ["01_data_overview", "02_framework_matrix", "03_criterion_explorer", "04_patterns"]
NB_FILES = [NOTEBOOKS / f"{n}.ipynb" for n in MINE]


def _outputs_text(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.output_type != "error", f"{path.name}: {out.get('ename')}: {out.get('evalue')}"
            if out.output_type == "stream":
                parts.append(out.text)
            elif "data" in out:
                parts.append(str(out.data.get("text/plain", "")))
    return "\n".join(parts)


# ----- committed state --------------------------------------------------------------------------------
def test_every_committed_notebook_has_no_outputs():
    found = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert set(NB_FILES) <= set(found)
    for path in found:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [], f"{path.name} has outputs: run nbstripout"
                assert cell.execution_count is None, f"{path.name} has execution counts"


def test_nbstripout_is_wired_and_leaves_these_notebooks_unchanged():
    attrs = (ROOT / ".gitattributes").read_text(encoding="utf-8")
    assert "*.ipynb filter=nbstripout" in attrs
    exe = Path(sys.executable).parent / "nbstripout"
    res = subprocess.run([str(exe), "--verify", *map(str, NB_FILES)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("path", NB_FILES, ids=MINE)
def test_notebook_is_thin_and_parameterised(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    import papermill as pm

    params = pm.inspect_notebook(str(path))
    assert {"processed", "reports", "raw", "round_id"} <= set(params)
    if path.stem.startswith("03"):
        assert params["criterion"]["default"] == '"A2"'
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert all("sys.path" not in s and "from src" not in s for s in code)
    assert all(len(s.splitlines()) <= 12 for s in code), "logic belongs in the analysis package"
    assert sum(c.cell_type == "markdown" for c in nb.cells) >= 3


# ----- execution -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def synth_paths(tmp_path_factory):
    from analysis.build import build
    from analysis.synthetic import make_synthetic_raw

    paths = make_synthetic_raw(tmp_path_factory.mktemp("nb_synth") / "raw", seed=6)
    build(paths, tables_only=True, log=lambda s: None)
    return paths


@pytest.mark.slow
def test_notebooks_execute_on_the_shipped_build(shipped_paths, tmp_path):
    files = nbmod.run_notebooks(shipped_paths, out_dir=tmp_path, notebooks=NB_FILES, timeout=300)
    assert sorted(f.name for f in files) == sorted(f"{n}{e}" for n in MINE for e in (".ipynb", ".html"))
    texts = {n: _outputs_text(tmp_path / f"{n}.ipynb") for n in MINE}
    assert "round shown: core_business_2014" in texts["01_data_overview"]
    assert "Cleveland A2 in core_business_2014: 3 codes disagree" in texts["01_data_overview"]
    assert "forces with an attend-all-crimes policy" in texts["02_framework_matrix"]
    assert "Attend-all-crimes policy" in texts["03_criterion_explorer"]
    assert "grades round: peel_2014" in texts["04_patterns"]
    # every notebook's charts are real images in the executed notebook and its HTML (the CSS of
    # the HTML template holds a data-URI PNG too, so the <img> with alt text is what is checked)
    for n in MINE:
        outputs = [o for c in nbformat.read(tmp_path / f"{n}.ipynb", as_version=4).cells
                   for o in c.get("outputs", [])]
        assert any("image/png" in o.get("data", {}) for o in outputs), n
        html = (tmp_path / f"{n}.html").read_text(encoding="utf-8")
        assert re.search(r'<img[^>]+alt="[^"]{20,}', html), n
        # nbconvert's stand-in for a missing alt text is not an alt text
        assert "No description has been provided" not in html, n


@pytest.mark.slow
def test_notebooks_execute_on_a_synthetic_build(synth_paths, tmp_path):
    nbmod.run_notebooks(synth_paths, out_dir=tmp_path, notebooks=NB_FILES, timeout=300)
    for n in MINE:
        assert "[SYNTHETIC DATA]" in _outputs_text(tmp_path / f"{n}.ipynb"), n


@pytest.mark.slow
def test_criterion_explorer_runs_for_another_criterion(shipped_paths, tmp_path):
    files = nbmod.run_notebooks(shipped_paths, out_dir=tmp_path, notebooks=[NB_FILES[2]],
                                parameters={"criterion": "F4"}, suffix="_F4", timeout=300)
    assert [f.name for f in files] == ["03_criterion_explorer_F4.ipynb", "03_criterion_explorer_F4.html"]
    text = _outputs_text(files[0])
    assert "F4 Mobile technology on patrol" in text
    assert "Extensive (1): Dorset" in text


@pytest.mark.skipif(sys.platform == "win32", reason="local sockets are POSIX only; Windows keeps TCP")
def test_kernel_talks_over_local_sockets_and_the_log_stays_quiet(tmp_path, capfd):
    """The kernel runs on local (Unix) sockets, not unencrypted TCP on localhost: nothing else on
    the machine can listen in, and its TCP warning no longer fills every build log."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import json\nfrom ipykernel import get_connection_info\n"
        "print(json.loads(get_connection_info())['transport'])")]
    path = tmp_path / "00_transport.ipynb"
    nbformat.write(nb, path)
    out_nb, _html = nbmod.run_notebook(path, tmp_path / "out")
    assert _outputs_text(out_nb).strip() == "ipc"
    assert "without encryption" not in capfd.readouterr().err


def test_a_temporary_folder_too_long_for_socket_paths_keeps_tcp(monkeypatch, tmp_path):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / ("x" * 90)))
    assert not nbmod._local_sockets_ok()
    monkeypatch.setattr("tempfile.tempdir", "/tmp")
    assert nbmod._local_sockets_ok() == (sys.platform != "win32")


@pytest.mark.skipif(sys.platform == "win32", reason="local sockets are POSIX only")
def test_kernels_started_at_once_in_two_processes_keep_to_their_own_sockets(tmp_path):
    """The build runs notebooks in two processes at once: each kernel needs sockets of its own
    (with jupyter_client's default path both took the same ones: 'Invalid Signature')."""
    import glob
    import tempfile

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import json\nfrom ipykernel import get_connection_info\n"
        "print(json.loads(get_connection_info())['transport'])")]
    run = ("import sys\nfrom pathlib import Path\nfrom analysis import notebooks as nb\n"
           "p = Path(sys.argv[1])\nnb.run_notebook(p, p.parent / 'out', html=False)\n")
    procs = []
    for k in range(3):  # in one folder, as the build's notebooks are (papermill runs each there)
        path = tmp_path / f"0{k}_transport.ipynb"
        nbformat.write(nb, path)
        procs.append((path, subprocess.Popen([sys.executable, "-c", run, str(path)], stderr=subprocess.PIPE,
                                             text=True)))
    for path, proc in procs:
        _out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err[-2000:]
        assert _outputs_text(tmp_path / "out" / path.name).strip() == "ipc"
    assert not glob.glob(str(Path(tempfile.gettempdir()) / (nbmod._SOCKET_PREFIX + "*")))  # sockets removed
    assert not list(tmp_path.rglob("kernel-ipc*"))


@pytest.mark.skipif(sys.platform == "win32", reason="local sockets are POSIX only; Windows keeps TCP")
def test_shutting_a_kernel_down_sends_it_no_interrupt(tmp_path):
    """jupyter_client interrupts (SIGINT) a kernel before asking it to shut down; a kernel caught
    in a message handler then logged 'ERROR | KeyboardInterrupt caught in kernel.' into the build
    log. The build's kernels are shut down without it (the notebook has finished by then); an
    interrupt asked for at any other time still reaches the kernel."""
    flag = tmp_path / "interrupted"
    km = nbmod._local_kernel_manager()(kernel_name="python3")
    km.start_kernel(cwd=str(tmp_path))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        # ipykernel puts back its own SIGINT handler after each message ('saved_sigint_handler'):
        # this one stands in for it, so a SIGINT to the idle kernel leaves a file behind
        kc.execute_interactive(
            "from pathlib import Path\n"
            f"get_ipython().kernel.saved_sigint_handler = lambda *a: Path({str(flag)!r}).write_text('x')",
            timeout=60)
        km.interrupt_kernel()  # an interrupt asked for: delivered
        for _ in range(100):
            if flag.exists():
                break
            time.sleep(0.05)
        assert flag.exists()
        flag.unlink()
    finally:
        kc.stop_channels()
        km.shutdown_kernel()
    assert not flag.exists()
    assert not km.is_alive()
