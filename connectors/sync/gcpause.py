"""Python's cyclic garbage collector paused while the engine builds its bulk data.

A plan builds millions of small containers that live until the plan is made: one dict per
source row and per snapshot profile, the metaverse objects, their index lists, the changes.
None of them form reference cycles, so reference counting frees them all and the cyclic
collector has nothing to find; but it still runs a full collection, walking every live
container, each time the number of long-lived ones grows by a quarter. Measured on
benchmarks/plan.py (gc.callbacks): 10,000 rows, 3 full collections, 0.19 s; 100,000 rows,
12 full collections, 3.3 s of 13 s, which found 41 objects in all. That walk, not the rows,
was what grew faster than the input (time 14.5× for 10× the rows). With the collector paused
for the whole plan (commands.run_plan) there is none; the one young collection after the pause
walks only the plan that survives it (0.26 s at 100,000 rows).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Automatic cyclic collection off inside the block, back as it was after it.

    Nests: an inner pause inside an outer one leaves the outer one to turn it back on. Any
    cyclic garbage made meanwhile (none in the planner itself; a few per HTTP call on a
    refresh) waits for the next collection after the block, so nothing leaks."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()

