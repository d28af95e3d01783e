"""Token vocabulary (tokenizers WordLevel JSON) and the document-aligned BPTT batcher."""
from __future__ import annotations

import numpy as np
import pytest
from tokenizers import Tokenizer

from training.data import DocBatcher, Field
from training.vocab import BOS_ID, NUM_ID, SPECIALS, STR_ID, UNK_ID, Vocab, VocabError, build_vocab

ROWS = [["int", "x", "=", "0", ";", "foo", "(", "x", ")", ";"], ["int", "y", "=", "1", ";", "\"a b\"", ";", "x"]]


def test_vocab_keeps_frequent_tokens_and_maps_rare_literals(tmp_path) -> None:
    vocab = build_vocab(ROWS, vocab_size=10, min_count=2)
    assert vocab.itos[: len(SPECIALS)] == list(SPECIALS) and len(vocab) == 10
    assert vocab.itos[6] == ";"                      # the most frequent first
    assert vocab.id_of("int", 1) == vocab.stoi["int"]
    assert vocab.id_of("\"zzz\"", 3) == STR_ID and vocab.id_of("42", 2) == NUM_ID
    assert vocab.id_of("rare_name", 0) == UNK_ID
    assert vocab.id_of("<bos>", 0) == UNK_ID          # specials never come from source text
    path = tmp_path / "vocab.json"
    vocab.save(path)
    again = Vocab.load(path)
    assert again.itos == vocab.itos and again.digest() == vocab.digest()
    tok = Tokenizer.from_file(str(path))             # a real tokenizers WordLevel file
    assert tok.token_to_id("<pad>") == 0 and tok.token_to_id("<bos>") == BOS_ID
    assert tok.encode(["int", "nope"], is_pretokenized=True).ids == [vocab.stoi["int"], UNK_ID]
    assert build_vocab(ROWS, 10, 2).itos == vocab.itos   # deterministic


def test_vocab_errors_are_clear(tmp_path) -> None:
    with pytest.raises(VocabError, match="larger than"):
        build_vocab(ROWS, vocab_size=3)
    with pytest.raises(VocabError, match="does not exist"):
        Vocab.load(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{\"model\": 3}")
    with pytest.raises(VocabError, match="not a tokenizers"):
        Vocab.load(tmp_path / "bad.json")


def _docs(lengths):
    return [{"x": np.arange(1, n + 1, dtype=np.int64) + 100 * d} for d, n in enumerate(lengths)]


FIELDS = [Field("x", -2, -3, -1)]


def test_batcher_aligns_documents_and_flags_resets() -> None:
    docs = _docs([5, 9, 3, 12, 4])
    b = DocBatcher(docs, FIELDS, batch_size=2, seq_len=4, seed=7)
    batches = list(b.batches(0, 0, 1, 0))
    assert len(batches) == b.num_batches(0, 1)
    rows = [np.concatenate([x["x"][r] for x in batches]) for r in range(2)]
    nxt = [np.concatenate([x["x_next"][r] for x in batches]) for r in range(2)]
    seen = set()
    for r in range(2):
        for k, x in enumerate(batches):
            if x["reset"][r]:
                # A document starts at this chunk: <bos> first, and targets are the same doc shifted by one.
                assert rows[r][k * 4] == -2
                doc = (nxt[r][k * 4] - 1) // 100
                n = len(docs[doc]["x"])
                assert list(nxt[r][k * 4:k * 4 + n + 1]) == list(docs[doc]["x"]) + [-3]
                seen.add(int(doc))
    assert seen == set(range(5))                     # every document appears once
    # Another epoch is another order; the same epoch is the same order; resuming skips exactly.
    again = list(b.batches(0, 0, 1, 2))
    assert all((a["x"] == c["x"]).all() for a, c in zip(again, batches[2:]))


def test_batcher_ranks_get_disjoint_shards_and_equal_batch_counts() -> None:
    docs = _docs([3, 8, 2, 7, 5, 6, 1, 9])
    b = DocBatcher(docs, FIELDS, batch_size=2, seq_len=3, seed=1)
    firsts = []
    for rank in range(2):
        batches = list(b.batches(0, rank, 2, 0))
        assert len(batches) == b.num_batches(0, 2)
        vals = np.concatenate([x["x_next"].ravel() for x in batches])
        firsts.append({int(v) // 100 for v in vals if v > 0})
    assert not (firsts[0] & firsts[1])
