"""Outputs: the results bundle, tables, figures and HTML pages (Jinja2 templates in ``templates/``)."""
