"""Statistics: pure functions of data and role columns, model and results objects."""
