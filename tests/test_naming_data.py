"""Naming examples from real parsed C++ and JavaScript, windows on large files, names, the baseline and scoring."""
from __future__ import annotations

import numpy as np
import pytest

from codecomp.eval.metrics import naming_scores, subtoken_f1
from codecomp.naming.data import ContextBaseline, NamingDataError, NamingDataset, row_from_source
from codecomp.naming.names import name_style, render_name, split_name, usable_name
from codecomp.naming.vocab import MASK, PAD, NamingVocab
from codecomp.syntax import LANGUAGES, node_type_names

CPP = """#include <vector>
int sum_values(const std::vector<int>& values) {
    int total = 0;
    for (int v : values) { total += v; }
    return total;
}
int main() { std::vector<int> xs{1, 2}; return sum_values(xs); }
"""

JS = """function countWords(text) {
  const words = text.split(/\\s+/);
  let count = 0;
  for (const word of words) { if (word) count += 1; }
  return count;
}
console.log(countWords("a b"));
"""


def vocab_for(data: NamingDataset, max_nodes: int = 512) -> NamingVocab:
    class Cfg:
        max_tokens, max_names, max_subtokens_vocab, min_name_count = 500, 50, 100, 1

    return data.build_vocab(Cfg, {"max_nodes": max_nodes, "max_subtokens": 6, "hidden": 8})


@pytest.mark.parametrize("source,lang,expected", [
    (CPP, "cpp", {"sum_values": "function", "values": "parameter", "total": "variable", "v": "variable",
                  "xs": "variable", "main": "function"}),
    (JS, "javascript", {"countWords": "function", "text": "parameter", "words": "variable", "count": "variable",
                        "word": "variable"}),
])
def test_examples_hide_every_occurrence(source, lang, expected):
    row = row_from_source(source, lang)
    data = NamingDataset.from_rows([row])
    assert {r.name: r.kind for r in data.refs} == expected
    vocab = vocab_for(data)
    type_names = node_type_names(lang)
    for i, ref in enumerate(data.refs):
        ex = data.example(i, vocab)
        prep = data.prepared(ref.file, vocab)
        occ_tokens = row["sym_occ"][ref.sym]
        # Every occurrence is inside this small file's window, and each is a masked identifier leaf.
        assert len(ex.occ) == len(occ_tokens)
        assert (ex.token[ex.occ] == MASK).all()
        assert (ex.token == MASK).sum() == len(occ_tokens)
        offset, _ = vocab.node_types[lang]
        assert all(type_names[int(t) - offset].endswith("identifier") for t in ex.node_type[ex.occ])
        # The hidden name does not leak: no other leaf of the window carries its token.
        assert vocab.token_id(ref.name) not in set(ex.token.tolist()) or vocab.token_id(ref.name) == 1
        # Window arrays are a valid pre-order tree.
        assert ex.parent[0] == -1 and (ex.parent[1:] < np.arange(1, len(ex.parent))).all()
        assert (ex.depth[1:] == ex.depth[ex.parent[1:]] + 1).all()
        # Leaves carry token ids, inner nodes PAD.
        inner = np.isin(np.arange(len(ex.parent)), ex.parent)
        assert (ex.token[inner] == PAD).all() and (ex.token[~inner] != PAD).all()


def test_window_is_bounded_on_large_files():
    body = "\n".join(f"    int v{i} = {i} * scale + v{max(0, i - 1)};" for i in range(400))
    source = f"int big(int scale) {{\n    int v0 = 0;\n{body}\n    return v399 + scale;\n}}\n"
    data = NamingDataset.from_rows([row_from_source(source, "cpp")])
    vocab = vocab_for(data, max_nodes=200)
    sizes = []
    for i, ref in enumerate(data.refs):
        ex = data.example(i, vocab)
        sizes.append(len(ex.parent))
        assert len(ex.parent) <= 200
        assert ex.parent[0] == -1 and (ex.parent[1:] >= 0).all() and (ex.parent[1:] < np.arange(1, len(ex.parent))).all()
        assert len(ex.occ) >= 1          # the first occurrence anchors the window
        assert (ex.token[ex.occ] == MASK).all()
    assert max(sizes) > 50               # windows are not trivially small either
    # `scale` is used 401 times all over the function: only the ones inside its window are read.
    scale = next(i for i, r in enumerate(data.refs) if r.name == "scale")
    assert 1 <= len(data.example(scale, vocab).occ) < 401


def test_vocab_covers_both_languages_and_round_trips(tmp_path):
    data = NamingDataset.from_rows([row_from_source(CPP, "cpp"), row_from_source(JS, "javascript")])
    vocab = vocab_for(data)
    assert set(vocab.node_types) == set(LANGUAGES)
    assert vocab.num_node_types == 1 + sum(len(node_type_names(lang)) for lang in LANGUAGES)
    assert vocab.names[0] == "<other>" and "total" in vocab.names
    vocab.save(tmp_path / "v.json")
    again = NamingVocab.load(tmp_path / "v.json")
    assert again.to_json() == vocab.to_json()
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(Exception, match="cannot be read"):
        NamingVocab.load(tmp_path / "bad.json")


def test_name_splitting_styles_and_rendering():
    assert split_name("parseHTTPHeader_v2") == ["parse", "http", "header", "v", "2"]
    assert split_name("max_retries") == ["max", "retries"]
    assert split_name("__proto__") == ["proto"]
    cases = {"maxRetries": "camel", "MaxRetries": "pascal", "max_retries": "snake", "MAX_RETRIES": "upper",
             "count": "camel", "N": "pascal", "MAX": "upper"}
    for name, style in cases.items():
        assert name_style(name) == style, name
        assert render_name(split_name(name), style).lower() == name.lower().replace("_", "") or "_" in name
    for name in ("__first", "_count", "$el", "__glibcxx_max", "_MAX_LEN", "maxRetries", "HttpServer"):
        assert render_name(split_name(name), name_style(name)) == name, name
    assert name_style("__first") == "__camel" and name_style("$el") == "$camel"
    assert render_name(["max", "retries"], "snake") == "max_retries"
    assert render_name(["max", "retries"], "upper") == "MAX_RETRIES"
    assert render_name(["max", "retries"], "camel") == "maxRetries"
    assert subtoken_f1("maxCount", "max_size") == pytest.approx(0.5)
    assert subtoken_f1("maxCount", "count_max") == 1.0
    assert not usable_name("operator+") and usable_name("$el") and not usable_name("a" * 80)


def test_baseline_predicts_most_frequent_name_for_the_context():
    sources = ["int f(int n) { int count = 0; return count + n; }",
               "int g(int n) { int count = 1; return count * n; }",
               "int h(double x) { int total = 2; return total; }"]
    train = NamingDataset.from_rows([row_from_source(s, "cpp") for s in sources])
    baseline = ContextBaseline.fit(train)
    test = NamingDataset.from_rows([row_from_source("int k(int n) { int count = 3; return n - count; }", "cpp")])
    by_name = {r.name: i for i, r in enumerate(test.refs)}
    # (cpp, parameter, parameter_declaration, "int") was seen with `n` twice.
    assert baseline.predict(test, by_name["n"], 3)[0] == "n"
    assert baseline.predict(test, by_name["count"], 3)[0] == "count"
    preds = baseline.predict(test, by_name["k"], 5)
    assert set(preds) <= {"f", "g", "h", "n", "x", "count", "total"} and preds
    scores = naming_scores([(baseline.predict(test, i, 5), ref.name) for i, ref in enumerate(test.refs)])
    assert scores["n"] == 3 and scores["exact"] == pytest.approx(200 / 3)


def test_corpus_errors_are_readable(tmp_path):
    with pytest.raises(NamingDataError, match="not a corpus folder"):
        NamingDataset.from_corpus(tmp_path, "train")


def test_dataset_from_fixture_corpus(fixture_corpus):
    data = NamingDataset.from_corpus(fixture_corpus, "train")
    assert len(data) > 20
    assert {r.lang for r in data.refs} <= set(LANGUAGES)
    vocab = vocab_for(data)
    ex = data.example(len(data) - 1, vocab)
    assert (ex.token[ex.occ] == MASK).all() and ex.name == data.refs[-1].name
