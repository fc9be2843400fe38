"""Statistics layer: pure functions of ``data`` plus role columns, and model/result objects.

Nothing here reads files or takes a Study.
"""
