"""The naming model's vocabularies (`naming_vocab.json`) and the file names of its exported graphs."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from codecomp.naming.names import BASE_STYLES, STYLES, name_style, split_name

# Special entries of the leaf-token vocabulary.
PAD, UNK, MASK = 0, 1, 2
TOKEN_SPECIALS: tuple[str, ...] = ("<pad>", "<unk>", "<mask>")
# Special entries of the sub-token vocabulary.
SUB_PAD, SUB_UNK, SUB_BOS, SUB_EOS = 0, 1, 2, 3
SUBTOKEN_SPECIALS: tuple[str, ...] = ("<pad>", "<unk>", "<bos>", "<eos>")
# Index 0 of the name vocabulary: "some name that is not in this list".
OTHER_NAME = "<other>"

VOCAB_FORMAT = "codecomp-naming-vocab"
VOCAB_FILE = "naming_vocab.json"
GRAPH_FILES: dict[str, str] = {
    "up": "naming_up.onnx",
    "down": "naming_down.onnx",
    "head": "naming_head.onnx",
    "decoder": "naming_decoder.onnx",
}


class NamingError(Exception):
    """The naming model cannot be used; the message says why."""


@dataclass
class NamingVocab:
    """Vocabularies of the naming model, stored as `naming_vocab.json` in run folders and artifacts.

    `node_types[lang] = (offset, count)`: the embedding index of a node is `offset + node_type` (0 = unknown).
    `settings` holds the preprocessing settings the model was trained with (window size, decoder length).
    """

    node_types: dict[str, tuple[int, int]]
    tokens: list[str]
    names: list[str]
    subtokens: list[str]
    styles: list[str] = field(default_factory=lambda: list(STYLES))
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._token_ids = {t: i for i, t in enumerate(self.tokens)}
        self._name_ids = {t: i for i, t in enumerate(self.names)}
        self._sub_ids = {t: i for i, t in enumerate(self.subtokens)}

    @property
    def num_node_types(self) -> int:
        """Size of the node-type embedding table."""
        return 1 + sum(count for _, count in self.node_types.values())

    @property
    def max_nodes(self) -> int:
        """Window size (nodes) used around a symbol."""
        return int(self.settings.get("max_nodes", 512))

    @property
    def max_subtokens(self) -> int:
        """Longest sub-token sequence the decoder produces."""
        return int(self.settings.get("max_subtokens", 6))

    @classmethod
    def build(
        cls,
        node_type_counts: dict[str, int],
        token_counts: dict[str, int],
        name_counts: dict[str, int],
        subtoken_counts: dict[str, int],
        max_tokens: int,
        max_names: int,
        max_subtokens_vocab: int,
        min_name_count: int = 2,
        settings: dict[str, Any] | None = None,
    ) -> "NamingVocab":
        """Vocabularies from frequency counts (most frequent first, ties broken alphabetically)."""

        def top(counts: dict[str, int], n: int, min_count: int = 1, exclude: Iterable[str] = ()) -> list[str]:
            skip = set(exclude)
            items = sorted(((c, w) for w, c in counts.items() if c >= min_count and w not in skip),
                           key=lambda cw: (-cw[0], cw[1]))
            return [w for _, w in items[: max(0, n)]]

        node_types: dict[str, tuple[int, int]] = {}
        offset = 1
        for lang in sorted(node_type_counts):
            node_types[lang] = (offset, int(node_type_counts[lang]))
            offset += int(node_type_counts[lang])
        tokens = list(TOKEN_SPECIALS) + top(token_counts, max_tokens - len(TOKEN_SPECIALS), exclude=TOKEN_SPECIALS)
        names = [OTHER_NAME] + top(name_counts, max_names - 1, min_name_count, exclude=(OTHER_NAME,))
        subs = list(SUBTOKEN_SPECIALS) + top(subtoken_counts, max_subtokens_vocab - len(SUBTOKEN_SPECIALS),
                                             exclude=SUBTOKEN_SPECIALS)
        return cls(node_types, tokens, names, subs, list(STYLES), dict(settings or {}))

    def to_json(self) -> dict[str, Any]:
        """The JSON form written to `naming_vocab.json`."""
        return {
            "format": VOCAB_FORMAT,
            "version": 1,
            "node_types": {k: list(v) for k, v in self.node_types.items()},
            "tokens": self.tokens,
            "names": self.names,
            "subtokens": self.subtokens,
            "styles": self.styles,
            "settings": self.settings,
        }

    def save(self, path: str | Path) -> None:
        """Write the vocabulary as JSON."""
        Path(path).write_text(json.dumps(self.to_json(), ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "NamingVocab":
        """Read `naming_vocab.json`; raise `NamingError` with a readable message when it is unusable."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise NamingError(f"The naming vocabulary {path} is missing; re-export the model.") from exc
        except (OSError, ValueError) as exc:
            raise NamingError(f"The naming vocabulary {path} cannot be read ({exc}); re-export the model.") from exc
        if not isinstance(data, dict) or data.get("format") != VOCAB_FORMAT:
            raise NamingError(f"{path} is not a naming vocabulary (format {VOCAB_FORMAT!r} expected).")
        try:
            return cls(
                node_types={k: (int(v[0]), int(v[1])) for k, v in data["node_types"].items()},
                tokens=list(data["tokens"]),
                names=list(data["names"]),
                subtokens=list(data["subtokens"]),
                styles=list(data.get("styles", STYLES)),
                settings=dict(data.get("settings", {})),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise NamingError(f"The naming vocabulary {path} is incomplete ({exc}); re-export the model.") from exc

    def type_ids(self, lang: str, node_type: np.ndarray) -> np.ndarray:
        """Embedding indices of the node types of one file (0 for unknown languages or ids)."""
        node_type = np.asarray(node_type, dtype=np.int64)
        if lang not in self.node_types:
            return np.zeros_like(node_type)
        offset, count = self.node_types[lang]
        ok = (node_type >= 0) & (node_type < count)
        return np.where(ok, node_type + offset, 0)

    def token_id(self, text: str) -> int:
        """Id of a leaf token text (UNK when not in the vocabulary)."""
        return self._token_ids.get(text, UNK)

    def name_id(self, name: str) -> int:
        """Index of a whole name in the name vocabulary (0 = `<other>`)."""
        return self._name_ids.get(name, 0)

    def subtoken_ids(self, name: str) -> list[int]:
        """Sub-token ids of a name, truncated to `max_subtokens`, without BOS/EOS."""
        return [self._sub_ids.get(p, SUB_UNK) for p in split_name(name)[: self.max_subtokens]]

    def style_id(self, name: str) -> int:
        """Index of the style of a name (its style without prefix when the vocabulary lacks the prefixed one)."""
        style = name_style(name)
        if style not in self.styles:
            style = next(b for b in BASE_STYLES if style.endswith(b))
        return self.styles.index(style)
