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


LANGUAGES_FILE = "token_languages.json"


@dataclass
class LanguageMasks:
    """Which vocabulary words each language may predict: a JavaScript file never gets `static_cast`.

    Built from the train split: a word is allowed in a language when it occurs there at least `min_count`
    times, and always in the language where it is most frequent (so no word is banned everywhere).  The special
    tokens are allowed everywhere: they are the fallback targets of rare words.  Stored as JSON
    (``{"format": "codecomp-token-languages", "version": 1, "vocab_size", "vocab_digest", "min_count",
    "allowed": {language: [ids]}}``) next to the vocabulary in a run folder and in an artifact; the engine reads
    the same file (it needs nothing from this module).
    """

    allowed: dict[str, np.ndarray]   # language -> bool [V]
    vocab_digest: str
    min_count: int

    FORMAT = "codecomp-token-languages"

    @property
    def languages(self) -> list[str]:
        return sorted(self.allowed)

    def digest(self) -> str:
        """Fingerprint for checkpoints (a run is never resumed with other masks)."""
        h = hashlib.sha256(self.vocab_digest.encode())
        for lang in self.languages:
            h.update(lang.encode() + np.packbits(self.allowed[lang]).tobytes())
        return h.hexdigest()[:16]

    def fallback_targets(self, ids: np.ndarray, kinds: Sequence[int], language: str) -> np.ndarray:
        """`ids` with every word not allowed in `language` replaced by its fallback (<str>, <num> or <unk>):
        the target a file of that language is trained on, so no probability is learnt for a banned word."""
        allowed = self.allowed.get(language)
        if allowed is None:
            return ids
        out = ids.copy()
        banned = ~allowed[ids]
        if banned.any():
            k = np.asarray(kinds)[banned]
            out[banned] = np.where(k == KIND_STRING, STR_ID, np.where(k == KIND_NUMBER, NUM_ID, UNK_ID))
        return out

    def save(self, path: Path | str) -> None:
        doc = {"format": self.FORMAT, "version": 1, "vocab_size": int(len(next(iter(self.allowed.values())))),
               "vocab_digest": self.vocab_digest, "min_count": self.min_count,
               "allowed": {lang: np.flatnonzero(self.allowed[lang]).tolist() for lang in self.languages}}
        tmp = Path(str(path) + ".tmp")
        tmp.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path | str) -> "LanguageMasks":
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
            if doc.get("format") != cls.FORMAT:
                raise ValueError("not a token-languages file")
            size = int(doc["vocab_size"])
            allowed = {}
            for lang, ids in doc["allowed"].items():
                mask = np.zeros(size, dtype=bool)
                mask[np.asarray(ids, dtype=np.int64)] = True
                allowed[lang] = mask
            return cls(allowed, str(doc["vocab_digest"]), int(doc["min_count"]))
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise VocabError(f"{path} is not a readable token-languages file ({exc})") from None


def build_language_masks(vocab: Vocab, counts: dict[str, Counter], min_count: int) -> LanguageMasks:
    """Per-language allowed words of `vocab` from per-language token counts of the train split."""
    langs = sorted(counts)
    table = np.zeros((len(langs), len(vocab)), dtype=np.int64)
    for li, lang in enumerate(langs):
        c = counts[lang]
        table[li] = [c.get(t, 0) for t in vocab.itos]
    allowed = table >= min_count
    allowed[table.argmax(axis=0), np.arange(len(vocab))] = True   # every word somewhere: where it is commonest
    allowed[:, : len(SPECIALS)] = True
    return LanguageMasks({lang: allowed[li] for li, lang in enumerate(langs)}, vocab.digest(), min_count)


def build_vocab(token_rows: Iterable[Sequence[str]], vocab_size: int, min_count: int = 2,
                counts: Counter | None = None) -> Vocab:
    """The `vocab_size` most frequent token texts (at least `min_count` occurrences) after the specials.

    Ties are broken by text so the vocabulary is the same on every machine.  `counts`, when given, are
    token counts already made (the rows are then not read).
    """
    if vocab_size <= len(SPECIALS):
        raise VocabError(f"vocab_size must be larger than the {len(SPECIALS)} special tokens")
    if counts is None:
        counts = Counter()
        for row in token_rows:
            counts.update(row)
    counts = Counter(counts)
    for s in SPECIALS:
        counts.pop(s, None)
    ranked = sorted((item for item in counts.items() if item[1] >= min_count), key=lambda kv: (-kv[1], kv[0]))
    return Vocab(list(SPECIALS) + [t for t, _ in ranked[: vocab_size - len(SPECIALS)]])
