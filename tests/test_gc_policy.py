"""The serving process's garbage-collector policy (lsp_server.gc_policy)."""
import gc
import sys

from lsp_server import gc_policy


def test_serving_thresholds_make_old_generation_collections_rarer() -> None:
    saved, saved_switch = gc.get_threshold(), sys.getswitchinterval()
    try:
        gc_policy.for_serving()
        assert gc.get_threshold() == gc_policy.THRESHOLDS
        assert gc.get_threshold()[0] > saved[0] or saved == gc_policy.THRESHOLDS
        # a request gets the interpreter back from a background thread within a millisecond
        assert sys.getswitchinterval() == gc_policy.SWITCH_INTERVAL_S < 0.005
    finally:
        gc.set_threshold(*saved)
        sys.setswitchinterval(saved_switch)


def test_settle_keeps_long_lived_objects_out_of_later_collections() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self  # a cycle: only the collector could free it

    before = gc.get_freeze_count()
    long_lived = [Node() for _ in range(1000)]
    try:
        gc_policy.settle()
        assert gc.get_freeze_count() >= before + 1000
        tracked = {id(o) for o in gc.get_objects()}
        assert not any(id(n) in tracked for n in long_lived)  # frozen: a collection never walks them
        fresh = Node()
        assert any(o is fresh for o in gc.get_objects())      # what comes later is collected as usual
    finally:
        gc.unfreeze()
