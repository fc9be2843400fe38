"""Outputs layer: results bundle, tables, figures, reports (Jinja2 templates)."""
