"""Naming variables, parameters and functions: the parts that training, serving and evaluation share.

The naming model is a bidirectional Tree-LSTM (training/models/tree_lstm.py).  To rename a symbol, every
occurrence of it is hidden (its identifier leaf gets the `<mask>` token), the tree is encoded bottom-up (child-sum
Tree-LSTM, leaves to root) and top-down (each node from its parent's downward state and its own upward state),
and the states of the hidden leaves are pooled into one vector from which two heads predict the name:

* a classifier over frequent whole names plus one `<other>` class;
* a small GRU decoder over lower-cased sub-tokens (``maxRetries`` -> ``max``, ``retries``) and a style head
  (camelCase, PascalCase, snake_case, UPPER_SNAKE) that renders the sub-tokens, so unseen names are possible.

Both are combined into one ranked list (codecomp/engine/naming.py, which runs the exported graphs).

Everything here is torch-free, so that training, the engine and the evaluation prepare names and trees the same
way from one copy of the code:

* `names`: sub-tokens and styles of names, which names are learnt (`usable_name`);
* `vocab`: `NamingVocab` (naming_vocab.json) and the file names of the exported graphs;
* `trees`: the window around a symbol, examples, level plans and batches of trees;
* `context`: names that the code around a declaration spells (`const x = require('path')` -> `path`), merged
  with the model's by each rule's precision on the valid split;
* `data`: the naming examples of a corpus split and the most-frequent-name baseline (reads corpora with
  `datasets`, imported only when a corpus is opened).
"""
