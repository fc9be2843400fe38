"""Outputs layer: the one results bundle of a run, tables, figures and HTML
reports. Rendering reads results; it never fits a model.
"""
