"""The data layer: the measure catalogue, schemas, readers, configuration
files, the wide import and the Study with its views."""
