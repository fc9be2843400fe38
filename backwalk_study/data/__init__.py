"""Data layer: the catalogue, schema, readers, the Study and its views, privacy checks."""
