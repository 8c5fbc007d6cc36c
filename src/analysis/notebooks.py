"""Executing the analysis notebooks (papermill) and keeping them thin.

The notebooks in ``notebooks/`` are committed without outputs (nbstripout: see .gitattributes) and
find their data only through their ``parameters`` cell (``processed``, ``reports``, ``raw``,
``round_id``; 03 also ``criterion``), so the build and the tests can point them at any build,
including a synthetic one. :func:`run_notebooks` executes each one and writes the executed copy and
an HTML version to ``reports/notebooks/``.

:func:`setup` is the one call at the top of every notebook: folders, tables, the round, and pandas
display options.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from .paths import Paths

NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
DEFAULT_TIMEOUT = 600  # seconds per cell


@dataclass
class Session:
    paths: Paths
    tables: dict
    round: str


def setup(processed=None, reports=None, raw=None, round_id=None) -> Session:
    """Load the processed tables a notebook works on. ``None`` means the project's default folder."""
    import pandas as pd

    from . import compare_forces as cf
    from . import paths as _p
    from .io import load_tables

    paths = Paths(raw=raw or _p.RAW, processed=processed or _p.PROCESSED, reports=reports or _p.REPORTS)
    tables = load_tables(paths.processed)
    rid = round_id or cf.primary_round(tables)
    pd.set_option("display.max_rows", 200)
    pd.set_option("display.max_columns", 40)
    pd.set_option("display.max_colwidth", 160)
    return Session(paths, tables, rid)


def notebook_paths(folder: Path) -> list[Path]:
    return sorted(Path(folder).glob(NOTEBOOK_GLOB))


def run_notebook(path: str | Path, out_dir: str | Path, parameters: dict | None = None,
                 kernel_name: str = "python3", timeout: int = DEFAULT_TIMEOUT, suffix: str = "",
                 html: bool = True) -> list[Path]:
    """Execute one notebook with papermill; write ``<stem><suffix>.ipynb`` (and ``.html``) into
    ``out_dir``. Only parameters the notebook declares are passed (papermill would warn otherwise)."""
    import papermill as pm

    path = Path(path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    declared = set(pm.inspect_notebook(str(path)))
    params = {k: v for k, v in (parameters or {}).items() if k in declared}
    from .io import safe_stem

    out_nb = out_dir / f"{safe_stem(path.stem + suffix)}.ipynb"  # never outside out_dir
    extra = {"kernel_manager_class": _local_kernel_manager()} if _local_sockets_ok() else {}
    pm.execute_notebook(str(path), str(out_nb), parameters=params, kernel_name=kernel_name,
                        execution_timeout=timeout, progress_bar=False, log_output=False,
                        cwd=str(path.parent), **extra)
    written = [out_nb]
    if html:
        written.append(to_html(out_nb))
    return written


_SOCKET_PREFIX = "core-business-kernel-"
_SOCKET_PATH_MAX = 100  # bytes a Unix socket path may have (104 on macOS, 108 on Linux), with room


def _socket_stem() -> str:
    import tempfile
    import uuid

    return os.path.join(tempfile.gettempdir(), _SOCKET_PREFIX + uuid.uuid4().hex[:16])


def _local_sockets_ok() -> bool:
    """Local sockets where they work: POSIX, with a temporary folder whose path leaves room for
    the socket names (else TCP, as Jupyter's default)."""
    return os.name == "posix" and len(_socket_stem().encode()) + len("-65535") <= _SOCKET_PATH_MAX


@functools.cache
def _local_kernel_manager():
    """A kernel manager that talks to its kernel over local (Unix) sockets rather than TCP on
    localhost: other users of the machine cannot listen in, and the kernel does not print its
    warning about unencrypted TCP into every build log. POSIX only; Windows keeps TCP.

    Each kernel's sockets get a path of their own. jupyter_client's default for local sockets
    is 'kernel-ipc' in the working folder, with the first free numbers: two kernels started at
    once (the build runs notebooks in two processes) took the same sockets and read each other's
    messages ('Invalid Signature'). The socket files are removed when the kernel is shut down.

    Shutting down, it sends no interrupt first. jupyter_client interrupts (SIGINT) every kernel
    before asking it to shut down, to stop code still running; the notebook has finished by then,
    and a kernel caught inside a message handler logged "[IPKernelApp] ERROR | KeyboardInterrupt
    caught in kernel." into the build log (2 builds in 7). A kernel that does not stop on the
    shutdown request is still terminated, then killed, as before."""
    from jupyter_client.manager import KernelManager
    from traitlets import default

    class LocalSocketKernelManager(KernelManager):
        @default("transport")
        def _default_transport(self):
            return "ipc"

        @default("ip")
        def _default_ip(self):
            return _socket_stem()

        async def _async_interrupt_kernel(self) -> None:
            if self.shutting_down:  # (jupyter_client's shutdown sets it before its interrupt)
                return
            await super()._async_interrupt_kernel()

    return LocalSocketKernelManager


def to_html(notebook: str | Path) -> Path:
    """An HTML copy of an executed notebook, beside it."""
    import nbformat
    from nbconvert import HTMLExporter

    notebook = Path(notebook)
    nb = nbformat.read(notebook, as_version=4)
    body, _ = HTMLExporter().from_notebook_node(nb)
    out = notebook.with_suffix(".html")
    out.write_text(body, encoding="utf-8")
    return out


def run_notebooks(paths: Paths, out_dir: str | Path | None = None, parameters: dict | None = None,
                  kernel_name: str = "python3", timeout: int = DEFAULT_TIMEOUT,
                  notebooks: list[str | Path] | None = None, suffix: str = "") -> list[Path]:
    """Execute every notebook (or those given) against ``paths``' processed/reports/raw folders;
    write executed copies and HTML to ``out_dir`` (default ``reports/notebooks``); return the files."""
    out_dir = Path(out_dir) if out_dir else Path(paths.reports) / "notebooks"
    base = {"processed": str(paths.processed), "reports": str(paths.reports), "raw": str(paths.raw)}
    # other notebooks in the folder may spell the folders *_dir; give them the same folders
    base.update({f"{k}_dir": v for k, v in list(base.items())})
    params = {**base, **(parameters or {})}
    todo = [Path(n) for n in notebooks] if notebooks else notebook_paths(paths.notebooks)
    written: list[Path] = []
    for nb in todo:
        if not nb.is_absolute() and not nb.exists():
            nb = Path(paths.notebooks) / nb
        written += run_notebook(nb, out_dir, params, kernel_name, timeout, suffix)
    return written
