"""YAML from input files (codebook, rounds registry, coding rules): read with a safe loader only.

libyaml's C ``CSafeLoader`` is ten times faster than the pure-Python ``SafeLoader`` and builds
the same plain values (dicts, lists, strings, numbers, dates); neither can construct Python
objects, so a tag such as ``!!python/object`` in an input file is an error, never run. Every
YAML read in the package goes through :func:`safe_load` (a test checks it).
"""

from __future__ import annotations

import yaml

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # PyYAML without libyaml: pure Python
YAMLError = yaml.YAMLError


def safe_load(text: str):
    """Parse one YAML document into plain Python values."""
    return yaml.load(text, Loader=SAFE_LOADER)  # a safe loader, never yaml.Loader/FullLoader
