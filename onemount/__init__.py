"""onemount: OneDrive files on demand for Linux.

The lifecycle of every item is declared once in ``spec/`` and executed from there; see
``docs/`` for the architecture and the generated diagrams.
"""

__version__ = "0.1.0.dev0"
