"""parta: a federated school messenger on Matrix.

This package is the one small common place the components share (typed ids,
configuration, secrets) and the command-line composition root (``parta``).
"""
