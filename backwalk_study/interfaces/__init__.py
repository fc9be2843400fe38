"""Interfaces layer: the ``backwalk`` command line (one error handler, one
table of exit codes) and the notebook runner. Nothing below imports it.
"""
