"""Study-workflows layer: analyses of a whole ``Study`` (every measure
compared, safety, client progress, claims), built on the statistics layer.
"""
