"""Background work steps aside while a request runs (codecomp.engine.background)."""
import threading
import time

from codecomp.engine import background
from codecomp.syntax import parse
from codecomp.syntax.tokens import PAUSE_EVERY, tokenize


def test_a_background_turn_waits_while_a_request_runs() -> None:
    assert not background.request_running()
    t0 = time.perf_counter()
    background.background_turn()
    assert time.perf_counter() - t0 < 0.05  # no request: no wait

    resumed: list[float] = []

    def worker() -> None:
        background.background_turn()
        resumed.append(time.perf_counter())

    with background.foreground():
        with background.foreground():  # requests may nest (a request inside another's handling)
            thread = threading.Thread(target=worker)
            thread.start()
            time.sleep(0.1)
            assert background.request_running() and not resumed  # the background thread is held
        assert background.request_running() and not resumed
        ended = time.perf_counter()
    thread.join(1.0)
    assert resumed and resumed[0] >= ended
    assert not background.request_running()


def test_a_flood_of_requests_slows_background_work_but_never_stops_it() -> None:
    with background.foreground():
        t0 = time.perf_counter()
        background.background_turn()
        waited = time.perf_counter() - t0
    assert background.MAX_BACKGROUND_WAIT_S * 0.8 <= waited < background.MAX_BACKGROUND_WAIT_S + 0.5


def test_long_analyses_offer_their_turn_while_they_run() -> None:
    source = "".join(f"int f{i}(int a) {{ return a + {i}; }}\n" for i in range(400))
    parsed = parse(source, "cpp")
    calls = []
    tokens = tokenize(parsed.tree, parsed.source, "cpp", pause=lambda: calls.append(1))
    assert tokens == parsed.tokens  # the hook changes nothing in the result
    assert len(calls) == len(tokens) // PAUSE_EVERY > 0
    scope_calls = []
    plain = parse(source, "cpp").scopes()
    paused = parsed.scopes(pause=lambda: scope_calls.append(1))
    assert scope_calls and len(paused.symbols) == len(plain.symbols)
