"""Figures, one module per topic; see :mod:`physio.figures.base` for the conventions."""
