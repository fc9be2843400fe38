"""Data layer: the measure catalogue, schemas, readers, the wide-sheet import,
``Study`` with its views, the simulator and the example data sets.

The bottom layer: it imports nothing else from the package.
"""
