"""Workflows layer: study-level analyses built on the statistics layer."""
