"""Statistics layer: pure functions of data and role columns, model and result objects."""
