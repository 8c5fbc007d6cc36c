"""One error type for bad input: it always says where (file, row/cell), what, and how to fix."""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad input the analyst must fix. ``str()`` is a complete, readable message."""

    def __init__(self, file: str | Path | None, where: str | None, what: str, fix: str):
        self.file = str(file) if file is not None else None
        self.where = where
        self.what = what
        self.fix = fix
        loc = self.file or "<input>"
        if where:
            loc = f"{loc}, {where}"
        super().__init__(f"{loc}: {what}. Fix: {fix}")


class InputErrors(InputError):
    """Several input errors found at once (validation is lazy: report everything, then stop)."""

    def __init__(self, errors: list[InputError]):
        self.errors = list(errors)
        lines = [str(e) for e in self.errors]
        head = f"{len(lines)} problem(s) in the input"
        ValueError.__init__(self, head + ":\n  - " + "\n  - ".join(lines))
        self.file, self.where, self.what, self.fix = None, None, head, "see each line"
