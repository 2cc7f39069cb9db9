"""Free TCP ports for test servers (the same picker the benchmarks use)."""

from parta.ports import HIGH, LOW, free_port, free_port_block

__all__ = ["HIGH", "LOW", "free_port", "free_port_block"]
