"""core-business: cross-force analysis of HMIC's 2014 'Core business' inspection findings.

Import what you need from the modules (``analysis.io.load_tables``, ``analysis.build.build``,
``analysis.letters.parse_letter`` ...); importing the package itself stays light.
"""

__version__ = "0.1.0"
