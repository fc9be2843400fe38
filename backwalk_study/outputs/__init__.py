"""Outputs: results bundle, tables, figures and templates."""
