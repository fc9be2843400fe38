"""Statistics layer: pure functions of ``data`` plus role columns, and model
and result objects (mixed models, comparisons, sway measures).

No ``Study`` and no files here; it imports only from the data layer.
"""
