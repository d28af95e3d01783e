"""Metric definitions of the evaluation harness, checked on cases computed by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest

from codecomp.eval import metrics as M


def test_rank_top_k_and_reciprocal_rank() -> None:
    s = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"]
    assert M.rank_of(s, "c") == 3
    assert M.rank_of(s, "zz") is None
    assert M.top_k_hit(s, "a", 1) and not M.top_k_hit(s, "b", 1)
    assert M.top_k_hit(s, "e", 5) and not M.top_k_hit(s, "f", 5)
    assert M.reciprocal_rank(s, "d") == pytest.approx(0.25)
    assert M.reciprocal_rank(s, "j") == pytest.approx(0.1)      # rank 10 still counts
    assert M.reciprocal_rank(s, "k") == 0.0                     # rank 11 scores 0 at cutoff 10
    assert M.reciprocal_rank(s, "missing") == 0.0


def test_ranking_scores_aggregate() -> None:
    cases = [
        (["x", "y"], "x"),                 # rank 1
        (["a", "b", "c", "t"], "t"),       # rank 4
        ([str(i) for i in range(20)], "15"),  # rank 16 -> 0
        ([], "q"),                         # nothing returned
    ]
    r = M.ranking_scores(cases)
    assert r.n == 4
    assert r.top1 == pytest.approx(25.0)
    assert r.top5 == pytest.approx(50.0)
    assert r.mrr10 == pytest.approx((1 + 0.25) / 4)
    assert M.ranking_scores([]).n == 0


def test_token_accuracy_excludes_sentinels_and_scores_oov_only_when_produced() -> None:
    targets = ["int", "<eol>", "x", "rareName", "=", "<eos>"]
    preds = ["int", "<eol>", "y", "rareName", "<unk>", "<eos>"]
    acc, n = M.token_accuracy(preds, targets)
    assert n == 4                                   # the two sentinels are not scored
    assert acc == pytest.approx(50.0)               # int, rareName (the OOV target was produced)
    acc2, _ = M.token_accuracy(["int", None, None, "<unk>", "=", None], targets)
    assert acc2 == pytest.approx(50.0)              # <unk> never equals an OOV target
    with pytest.raises(ValueError):
        M.token_accuracy(["a"], ["a", "b"])


def test_normalise_and_exact_match() -> None:
    assert M.normalise_code("f ( a , b ) ;") == "f(a,b);"
    assert M.normalise_code("return   x;") == "return x;"
    assert M.normalise_code("  const\tint\n y = 1 ") == "const int y=1"
    assert M.exact_match("foo(a, b);", "foo(a,b);")
    assert not M.exact_match("foo(a, b)", "foo(a,b);")


def test_edit_similarity_hand_computed() -> None:
    # "abcd" vs "abxd": one substitution over max length 4 -> 75
    assert M.edit_similarity("abcd", "abxd") == pytest.approx(75.0)
    # "ab" vs "abcd": two insertions over 4 -> 50
    assert M.edit_similarity("ab", "abcd") == pytest.approx(50.0)
    assert M.edit_similarity("", "") == 100.0
    assert M.edit_similarity("", "xyz") == 0.0
    # whitespace is normalised before comparing
    assert M.edit_similarity("a ( b )", "a(b)") == 100.0
    s = M.line_scores([("x = 1;", "x=1;"), ("ab", "abcd")])
    assert s["n"] == 2 and s["exact_match"] == pytest.approx(50.0)
    assert s["edit_sim"] == pytest.approx(75.0)


def test_keystrokes() -> None:
    assert M.accepted_insertion("counter", "co", "unter + 1") == "unter"
    assert M.accepted_insertion("count", "co", "unter + 1") == "unt"   # a correct prefix of what follows
    assert M.accepted_insertion("couch", "co", "unter") == ""
    assert M.accepted_insertion("x", "y", "x") == ""                   # does not extend what was typed
    assert M.accepted_insertion("co", "co", "unter") == ""             # inserts nothing
    assert M.keystrokes_saved(25, 100) == pytest.approx(25.0)
    assert M.keystrokes_saved(0, 0) == 0.0
    with pytest.raises(ValueError):
        M.keystrokes_saved(5, 3)


def test_bits_per_char() -> None:
    # two characters each predicted with probability 1/2 -> 1 bit per char; 1/4 and 1/4 -> 2 bits
    assert M.bits_per_char([math.log(0.5), math.log(0.5)]) == pytest.approx(1.0)
    assert M.bits_per_char([math.log2(0.25)] * 3, base=2) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        M.bits_per_char([])


def test_subtokens_and_naming() -> None:
    assert M.split_subtokens("parseHTTPResponse_v2") == ["parse", "http", "response", "v2"]
    assert M.split_subtokens("MAX_BUFFER_SIZE") == ["max", "buffer", "size"]
    assert M.split_subtokens("$el") == ["el"]
    # prediction {get, user}, target {get, user, name}: P = 1, R = 2/3 -> F1 = 0.8
    assert M.subtoken_f1("getUser", "get_user_name") == pytest.approx(0.8)
    assert M.subtoken_f1("foo", "bar") == 0.0
    # sub-tokens, not spellings: the same words in another style or order are a full match
    assert M.subtoken_f1("maxCount", "count_max") == 1.0 and M.subtoken_f1("maxCount", "max_size") == 0.5
    s = M.naming_scores([(["count", "n"], "count"), (["idx", "i", "index"], "index"), ([], "x")])
    assert s["n"] == 3
    assert s["exact"] == pytest.approx(100 / 3)
    assert s["top5"] == pytest.approx(200 / 3)
    assert s["subtoken_f1"] == pytest.approx(100 / 3)


def test_subtoken_f1_of_names_without_subtokens() -> None:
    """A name with no sub-token matches only itself; it never earns credit against a real name, either way."""
    assert M.subtoken_f1("", "") == 1.0
    assert M.subtoken_f1("_", "_") == 1.0
    assert M.subtoken_f1("", "count") == 0.0 and M.subtoken_f1("count", "") == 0.0
    assert M.subtoken_f1("_", "$") == 0.0 and M.subtoken_f1("__", "count") == 0.0
    assert M.naming_scores([([""], "")])["subtoken_f1"] == 100.0


def test_percentiles() -> None:
    xs = [float(i) for i in range(1, 101)]  # 1..100
    assert M.percentile(xs, 50) == pytest.approx(50.5)
    assert M.percentile(xs, 99) == pytest.approx(99.01)
    assert M.percentile([3.0], 95) == 3.0
    lat = M.latency_summary([1.0, 2.0, 3.0, 4.0])
    assert lat["p50"] == pytest.approx(2.5) and lat["max"] == 4.0 and lat["n"] == 4
    with pytest.raises(ValueError):
        M.percentile([], 50)


def test_grouped_ratios_and_macro_average() -> None:
    # project a: positions 1, 0 (weights 1, 1) -> 50 %; project b: 1 of 1 -> 100 %; the 0-weight position of b
    # is not scored, so b has n = 1 whatever its numerator says
    got = M.grouped_ratios([1, 0, 1, 1], [1, 1, 1, 0], ["a", "a", "b", "b"], scale=100.0)
    assert got == {"a": (2, 50.0), "b": (1, 100.0)}
    assert M.macro_average({k: v for k, (_, v) in got.items()}) == pytest.approx(75.0)   # pooled would be 66.7
    # a ratio metric: keystrokes saved / characters to type, per project
    assert M.grouped_ratios([3, 1], [10, 30], ["p", "p"], 100.0) == {"p": (2, 10.0)}
    with pytest.raises(ValueError):
        M.macro_average({})


def test_bootstrap_of_identical_systems_is_exactly_zero() -> None:
    a = [1, 0, 1, 1, 0, 0.5]
    ci = M.paired_cluster_bootstrap(a, list(a), [1] * 6, [0, 0, 1, 1, 2, 2], n_resamples=200, seed=3)
    assert (ci.diff, ci.low, ci.high) == (0.0, 0.0, 0.0)
    assert not ci.excludes_zero and ci.clusters == 3 and ci.resamples == 200


def test_bootstrap_of_a_system_better_on_every_file_excludes_zero() -> None:
    # A is right on 2 of 3 positions of every file, B on 1 of 3 (different files, different sizes)
    clusters = [0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2]
    a = [1, 1, 0, 1, 0, 1, 1, 1, 0, 1, 1, 0]
    b = [1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0]
    ci = M.paired_cluster_bootstrap(a, b, [1] * 12, clusters, scale=100.0)
    assert ci.diff == pytest.approx(100 * 4 / 12)
    assert ci.excludes_zero and ci.low > 0 and ci.high >= ci.diff >= ci.low
    assert ci.as_dict()["excludes_zero"] is True
    # swapping the systems mirrors the interval
    rev = M.paired_cluster_bootstrap(b, a, [1] * 12, clusters, scale=100.0)
    assert (rev.diff, rev.low, rev.high) == pytest.approx((-ci.diff, -ci.high, -ci.low))


def test_bootstrap_on_every_enumerated_resample() -> None:
    # file 0: one position, A right and B wrong (delta +1, weight 1);
    # file 1: three positions, A right once and B twice (delta -1, weight 3).
    a, b, den, files = [1, 1, 0, 0], [0, 1, 1, 0], [1, 1, 1, 1], [7, 9, 9, 9]
    every = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    ci = M.paired_cluster_bootstrap(a, b, den, files, scale=100.0, resamples=every)
    # resampled differences: {0,0}: 2/2, {0,1} and {1,0}: 0/4, {1,1}: -2/6  -> sorted -33.3, 0, 0, 100
    assert ci.diff == 0.0 and ci.clusters == 2 and ci.resamples == 4
    # numpy's linear percentile: 2.5 % sits at 0.075 of the way from the 1st to the 2nd value, 97.5 % at 0.925
    # of the way from the 3rd to the 4th
    assert ci.low == pytest.approx(-100 / 3 + 0.075 * 100 / 3)
    assert ci.high == pytest.approx(0.925 * 100)
    assert not ci.excludes_zero


def test_bootstrap_resamples_files_not_positions() -> None:
    # A wins all 50 positions of one file, B all 50 of the other: resampling positions would give a narrow
    # interval around 0, resampling files gives [-100, +100] (a quarter of the resamples draw one file twice).
    a = [1] * 50 + [0] * 50
    b = [0] * 50 + [1] * 50
    ci = M.paired_cluster_bootstrap(a, b, [1] * 100, [0] * 50 + [1] * 50, scale=100.0, seed=0)
    assert ci.diff == 0.0 and ci.low == -100.0 and ci.high == 100.0
    # the same seed gives the same interval; unscored positions (weight 0) take no part
    again = M.paired_cluster_bootstrap(a + [1], b + [0], [1] * 100 + [0], [0] * 50 + [1] * 50 + [2], scale=100.0)
    assert (again.low, again.high, again.clusters) == (ci.low, ci.high, 2)
    with pytest.raises(ValueError):
        M.paired_cluster_bootstrap([1], [1, 0], [1, 1], [0, 0])
    with pytest.raises(ValueError):
        M.paired_cluster_bootstrap([1], [0], [0], [0])


def test_bootstrap_is_fast_enough_for_a_full_report() -> None:
    import time

    rng = np.random.default_rng(0)
    files = np.repeat(np.arange(300), 10)
    a, b = rng.integers(0, 2, 3000), rng.integers(0, 2, 3000)
    t0 = time.perf_counter()
    M.paired_cluster_bootstrap(a, b, np.ones(3000), files, n_resamples=1000)
    assert time.perf_counter() - t0 < 1.0
