"""Reading a built corpus: the one way training, the naming data and the evaluation open a corpus folder.

`open_split(path, split, columns)` returns one split of a folder written by `codecomp corpus build` as a
`datasets.Dataset` holding the columns the caller reads (docs/design.md, section 2).  Every problem (no such
folder, not a corpus, a damaged one, a missing split or column) is a `CorpusError` whose message says what is
wrong and what to do; callers turn it into their own error type.  `datasets` is imported only when a corpus is
opened, so importing this module costs nothing on the serving install.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

BUILD_HINT = "build one with `codecomp corpus build RECIPE --out DIR`"


class CorpusError(ValueError):
    """A corpus folder cannot be used as asked; the message says why and what to do."""


def open_corpus(path: str | Path) -> Any:
    """All splits of a corpus folder, as a `datasets.DatasetDict`."""
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"the corpus folder {path} does not exist; {BUILD_HINT}")
    if not path.is_dir():
        raise CorpusError(f"{path} is a file, not a corpus folder; give the --out folder of `codecomp corpus build`")
    if not (path / "dataset_dict.json").exists():
        what = "it is empty" if not any(path.iterdir()) else "no dataset_dict.json"
        raise CorpusError(f"{path} is not a corpus folder ({what}); {BUILD_HINT}")
    try:
        import datasets
    except ImportError:
        raise CorpusError("reading a corpus needs the `datasets` package; install the training extra: "
                          "pip install 'codecomp[train]'") from None
    try:
        dd = datasets.load_from_disk(str(path))
    except Exception as exc:  # datasets raises several kinds of errors for damaged folders
        raise CorpusError(f"the corpus at {path} cannot be read ({type(exc).__name__}: {exc})") from None
    if not hasattr(dd, "keys"):
        raise CorpusError(f"{path} holds a single dataset, not the train/valid/test splits of a corpus")
    return dd


def open_split(path: str | Path, split: str, columns: Sequence[str] = (), optional: Sequence[str] = ()) -> Any:
    """One split of a corpus folder as a `datasets.Dataset` with `columns` (every one of them is required) and
    those of `optional` that the corpus has; without either, all of its columns."""
    dd = open_corpus(path)
    if split not in dd:
        raise CorpusError(f"the corpus at {path} has no split {split!r}; it has {', '.join(dd.keys()) or 'none'}")
    ds = dd[split]
    missing = [c for c in columns if c not in ds.column_names]
    if missing:
        raise CorpusError(f"split {split!r} of the corpus at {path} lacks the column(s) {', '.join(missing)}; "
                          "rebuild the corpus with this version of `codecomp corpus build`")
    if not columns and not optional:
        return ds
    keep = list(dict.fromkeys([*columns, *(c for c in optional if c in ds.column_names)]))
    return ds.select_columns(keep)
