"""Data: catalogue, schemas, readers and the study."""
