"""Garbage-collector (and thread-switch) settings for a long-running serving process (the language server).

A full collection walks every tracked object.  After the model, its vocabularies and a project index are loaded,
that is a few hundred thousand objects, and one full collection took 55-150 ms on a 2-core machine: a pause
that lands inside whichever keystroke's request happens to trigger it.  Two measures keep it out of requests:

* `for_serving` makes collections of the older generations rarer (reference counting still frees everything
  that is not part of a cycle at once; only cyclic garbage waits longer);
* `settle` runs after a large, long-lived structure was built (the engine, the project index): one collection,
  then `gc.freeze()` moves every surviving object out of the collector's reach, so later collections only walk
  what was allocated since (the open documents' tokens and the like).
"""
from __future__ import annotations

import gc
import sys

THRESHOLDS = (5_000, 20, 100)
# How long a thread may keep the interpreter while another waits for it (Python's default: 5 ms).  A request that
# lets go of it for an onnxruntime call gets it back from a background analysis or indexing thread within this
# time at most (they also step aside at their `background_turn`); with 1 ms, the p99 of typing in a 2,300-line
# C++ file while its scope analysis runs in the background went from 28.7 to 26.0 ms (with `PAUSE_EVERY` 32).
SWITCH_INTERVAL_S = 0.001


def for_serving() -> None:
    """Collector thresholds and the thread switch interval for a process that answers requests (see the
    module's text)."""
    gc.set_threshold(*THRESHOLDS)
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def settle() -> None:
    """Collect once, then exempt every surviving object from later collections."""
    gc.collect()
    gc.freeze()
