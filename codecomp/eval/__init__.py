"""Evaluation of codecomp: the engine and baselines scored on the same held-out positions (`codecomp eval`).

* `metrics`: the metric definitions (pure functions);
* `documents`: held-out files and evaluation positions;
* `baselines`: unigram, 4-gram Kneser-Ney with and without a per-file cache, recency, file frequency;
* `engine_system`: the engine called as the language server calls it;
* `harness`: position sampling and the tasks; `naming_eval`: the naming task;
* `report`: report.json, report.md and plots; `reference`: published and measured reference figures.

Nothing here imports torch; reading a corpus needs `datasets` (the `train` extra).
"""
