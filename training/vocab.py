"""The token vocabulary of the token LSTM: built from the train split only, stored as a tokenizers WordLevel JSON.

Special tokens have fixed ids (docs/design.md section 4): <pad>=0 <unk>=1 <bos>=2 <eos>=3 <str>=4 <num>=5.
The most frequent token texts of the train split fill the rest of the vocabulary.  Mapping a token to its id
(`Vocab.id_of`) is: its own id when the text is in the vocabulary; otherwise <str> for a string-like literal,
<num> for a number, <unk> for anything else.  The engine must apply the same rule (it has the token kinds from
`codecomp.syntax`).  This module does not import torch so the serving side can reuse it.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>", "<str>", "<num>")
PAD_ID, UNK_ID, BOS_ID, EOS_ID, STR_ID, NUM_ID = range(6)
# TokenKind values fixed by docs/design.md section 1 (stored in corpora); repeated here so this module needs
# nothing from the syntax layer.
KIND_NUMBER = 2
KIND_STRING = 3
KIND_IDENTIFIER = 0


class VocabError(ValueError):
    """A vocabulary file is missing, unreadable or not a codecomp token vocabulary."""


@dataclass
class Vocab:
    """Token text <-> id, with the literal fallbacks described in the module docstring."""

    itos: list[str]

    def __post_init__(self) -> None:
        if tuple(self.itos[: len(SPECIALS)]) != SPECIALS:
            raise VocabError(f"a token vocabulary must start with the special tokens {SPECIALS}")
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def id_of(self, text: str, kind: int) -> int:
        """Vocabulary id of one token (see the module docstring for the fallback rule)."""
        i = self.stoi.get(text)
        if i is not None and i >= len(SPECIALS):
            return i
        if kind == KIND_STRING:
            return STR_ID
        if kind == KIND_NUMBER:
            return NUM_ID
        return UNK_ID

    def encode(self, tokens: Sequence[str], kinds: Sequence[int]) -> np.ndarray:
        """Ids of a file's tokens (int64 array)."""
        return np.fromiter((self.id_of(t, k) for t, k in zip(tokens, kinds)), dtype=np.int64, count=len(tokens))

    def digest(self) -> str:
        """A short fingerprint, stored in checkpoints so a run is never resumed with another vocabulary."""
        return hashlib.sha256("\n".join(self.itos).encode("utf-8", "surrogatepass")).hexdigest()[:16]

    def save(self, path: Path | str) -> None:
        """Write a tokenizers WordLevel JSON (loadable with `tokenizers.Tokenizer.from_file`)."""
        from tokenizers import Tokenizer
        from tokenizers.models import WordLevel

        tok = Tokenizer(WordLevel({t: i for i, t in enumerate(self.itos)}, unk_token="<unk>"))
        tok.add_special_tokens(list(SPECIALS))
        tmp = Path(str(path) + ".tmp")
        tok.save(str(tmp))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path | str) -> "Vocab":
        """Read a vocabulary written by `save`."""
        path = Path(path)
        if not path.exists():
            raise VocabError(f"token vocabulary {path} does not exist")
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            mapping = doc["model"]["vocab"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise VocabError(f"{path} is not a tokenizers WordLevel vocabulary ({exc})") from None
        itos = [""] * len(mapping)
        for text, i in mapping.items():
            if not 0 <= i < len(itos) or itos[i]:
                raise VocabError(f"{path} has inconsistent ids (id {i} for {text!r})")
            itos[i] = text
        return cls(itos)


def build_vocab(token_rows: Iterable[Sequence[str]], vocab_size: int, min_count: int = 2) -> Vocab:
    """The `vocab_size` most frequent token texts (at least `min_count` occurrences) after the specials.

    Ties are broken by text so the vocabulary is the same on every machine.
    """
    if vocab_size <= len(SPECIALS):
        raise VocabError(f"vocab_size must be larger than the {len(SPECIALS)} special tokens")
    counts: Counter[str] = Counter()
    for row in token_rows:
        counts.update(row)
    for s in SPECIALS:
        counts.pop(s, None)
    ranked = sorted((item for item in counts.items() if item[1] >= min_count), key=lambda kv: (-kv[1], kv[0]))
    return Vocab(list(SPECIALS) + [t for t, _ in ranked[: vocab_size - len(SPECIALS)]])
