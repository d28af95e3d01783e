"""Corpus pipeline: recipes of real C++ and JavaScript code turned into parsed, filtered, de-duplicated,
project-split datasets (docs/design.md, section 2).

Entry points: `codecomp.corpus.build.build_corpus(recipe, out, workers=None, keep_going=False) -> stats` and the
`codecomp corpus build|stats` commands (`codecomp.corpus.cli`).  A built corpus is read back with
`codecomp.corpus.reader.open_split(path, split, columns)`, by training and evaluation alike.  Importing this package is light: datasets and
datasketch are imported only when a build runs.
"""
