"""The benchmarks (``parta bench sync|calls|federation``): they start a real stack, load it,
and print figures with a baseline run in the same process; never part of a running school."""
