"""Statistics: pure functions of ``data`` plus role columns, and model/result
objects. No Study, no files."""
