"""Metric definitions of the evaluation harness, checked on cases computed by hand."""
from __future__ import annotations

import math

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
    s = M.naming_scores([(["count", "n"], "count"), (["idx", "i", "index"], "index"), ([], "x")])
    assert s["n"] == 3
    assert s["exact"] == pytest.approx(100 / 3)
    assert s["top5"] == pytest.approx(200 / 3)
    assert s["subtoken_f1"] == pytest.approx(100 / 3)


def test_percentiles() -> None:
    xs = [float(i) for i in range(1, 101)]  # 1..100
    assert M.percentile(xs, 50) == pytest.approx(50.5)
    assert M.percentile(xs, 99) == pytest.approx(99.01)
    assert M.percentile([3.0], 95) == 3.0
    lat = M.latency_summary([1.0, 2.0, 3.0, 4.0])
    assert lat["p50"] == pytest.approx(2.5) and lat["max"] == 4.0 and lat["n"] == 4
    with pytest.raises(ValueError):
        M.percentile([], 50)
