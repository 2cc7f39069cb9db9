"""The pure core of the sync: diary model, importers, layout, plan.

Nothing here does network I/O, reads the clock or the environment. Importers
read files they are handed.
"""
