"""Building a corpus from a recipe: fetch sources, filter, de-duplicate, cap, split by project, write atomically.

The build runs in stages:
1. fetch every unit of every source (npm package, Debian package, folder project, dataset); a unit that fails
   stops the build with its name and reason, or with `keep_going` is skipped and counted;
2. pass 1 in worker processes: read, filter and parse each candidate; keep a MinHash signature per file;
3. exact duplicates (same whitespace-normalised text) and near duplicates (MinHash LSH over token 5-grams,
   estimated Jaccard >= the recipe threshold) are dropped, keeping the first copy of each cluster.  Because only
   one copy survives, no near duplicate can cross splits;
4. each project keeps files (in a seeded order) until its token budget is spent;
5. projects are ordered by a seeded hash of their name and dealt to test / valid / train per language, so the
   split is deterministic and a project never straddles splits;
6. pass 2 in worker processes produces the rows, streamed to Arrow files, saved as a `DatasetDict`;
7. everything is written into a temporary folder next to `out`, renamed into place only at the end.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
import uuid
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from codecomp.corpus.process import Analysis, Task, analyze, bundle_dir, init_worker, make_row_task
from codecomp.corpus.recipe import Limits, Recipe, load_recipe
from codecomp.corpus.sources import Candidate, SourceError, iter_units

SPLITS: tuple[str, ...] = ("train", "valid", "test")
FILTER_KEYS: tuple[str, ...] = (
    "not_utf8", "binary", "too_large", "empty", "too_small", "minified", "generated", "error_fraction",
    "exact_duplicate", "near_duplicate", "unreadable", "vanished", "symlink", "symlink_loop",
    "unsafe_archive_member", "project_cap", "source_failed", "internal_error",
)
EXAMPLES_PER_REASON = 5
ROWS_PER_BATCH = 128


class CorpusBuildError(RuntimeError):
    """The build cannot finish; the message says which source or step failed and why."""


class EmptySplitWarning(UserWarning):
    """A split of the built corpus has no file; the message says how to change the recipe."""


def default_cache_dir() -> Path:
    """Where downloaded packages are kept between builds ($XDG_CACHE_HOME/codecomp/sources)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "codecomp" / "sources"


def corpus_features():
    """The `datasets.Features` of a corpus row (design.md section 2)."""
    import datasets

    seq = datasets.List
    return datasets.Features({
        "project": datasets.Value("string"),
        "path": datasets.Value("string"),
        "language": datasets.Value("string"),
        "text": datasets.Value("string"),
        "tokens": seq(datasets.Value("string")),
        "kinds": seq(datasets.Value("int8")),
        "starts": seq(datasets.Value("int32")),
        "ast_type": seq(datasets.Value("int32")),
        "ast_parent": seq(datasets.Value("int32")),
        "ast_child": seq(datasets.Value("int32")),
        "ast_depth": seq(datasets.Value("int32")),
        "ast_token": seq(datasets.Value("int32")),
        "sym_name": seq(datasets.Value("string")),
        "sym_kind": seq(datasets.Value("string")),
        "sym_occ": seq(seq(datasets.Value("int32"))),
    })


@dataclass
class _Ledger:
    """Counts and examples of everything the build rejected."""

    counts: Counter = field(default_factory=Counter)
    examples: list[dict] = field(default_factory=list)
    _per_reason: Counter = field(default_factory=Counter)

    def skip(self, reason: str, source: str, project: str, path: str, detail: str) -> None:
        self.counts[reason] += 1
        if self._per_reason[reason] < EXAMPLES_PER_REASON:
            self._per_reason[reason] += 1
            self.examples.append({"reason": reason, "source": source, "project": project, "path": path,
                                  "detail": detail})

    def filters(self) -> dict[str, int]:
        keys = list(FILTER_KEYS) + sorted(set(self.counts) - set(FILTER_KEYS))
        return {k: int(self.counts.get(k, 0)) for k in keys}


def _seeded(seed: int, text: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}\x00{text}".encode("utf-8", "surrogatepass")).digest()[:8], "big")


def assign_splits(project_languages: dict[str, str], fractions: tuple[float, float, float], seed: int,
                  weights: dict[str, float] | None = None) -> dict[str, str]:
    """Deal projects to splits, per language, in the order of a seeded hash of their names.

    Each project goes to test while that keeps test's share of the language's `weights` (tokens; 1 per project
    by default) closest to its fraction, else to valid likewise, else to train.  So the split is deterministic,
    a project never straddles splits, and the fractions hold in tokens even when projects differ in size.  With
    three or more projects every split with a non-zero fraction gets at least one; train always keeps one."""
    _, f_valid, f_test = fractions
    by_lang: dict[str, list[str]] = defaultdict(list)
    for project, lang in project_languages.items():
        by_lang[lang].append(project)
    out: dict[str, str] = {}
    for lang in sorted(by_lang):
        projects = sorted(by_lang[lang], key=lambda p: (_seeded(seed, p), p))
        weight = {p: float(weights.get(p, 1.0)) if weights else 1.0 for p in projects}
        total = sum(weight.values())
        targets = {"test": f_test * total, "valid": f_valid * total}
        have = {"test": 0.0, "valid": 0.0}
        for p in projects:
            out[p] = "train"
            for split in ("test", "valid"):
                if targets[split] > 0 and have[split] + weight[p] / 2 <= targets[split]:
                    out[p] = split
                    have[split] += weight[p]
                    break
        for split, fraction in (("test", f_test), ("valid", f_valid)):
            in_train = [p for p in projects if out[p] == "train"]
            if fraction > 0 and len(projects) >= 3 and len(in_train) > 1 and not any(out[p] == split for p in projects):
                out[min(in_train, key=lambda p: (weight[p], projects.index(p)))] = split
        if projects and not any(out[p] == "train" for p in projects):
            out[max(projects, key=lambda p: (weight[p], -projects.index(p)))] = "train"
    return out


def _map(fn: Callable, items: Iterable, workers: int, limits: Limits, total: int, desc: str,
         progress: bool, chunksize: int = 8) -> Iterator:
    """Ordered map of `fn` over `items` in `workers` processes (in-process for one worker), with a progress bar."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="file", disable=not progress, dynamic_ncols=True, file=sys.stderr)
    try:
        if workers <= 1:
            init_worker(limits)
            for item in items:
                yield fn(item)
                bar.update()
        else:
            import multiprocessing

            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(workers, initializer=init_worker, initargs=(limits,)) as pool:
                # Small chunks when there are few items: one chunk of big files must not leave a worker idle.
                size = max(1, min(chunksize, total // (workers * 16)))
                for result in pool.imap(fn, items, chunksize=size):
                    yield result
                    bar.update()
    finally:
        bar.close()


def _clean_stale_temps(out: Path) -> None:
    """Remove temporary folders of earlier builds of `out` whose process is gone (killed builds)."""
    stale = [*out.parent.glob(f".{out.name}.building-*"), *out.parent.glob(f".{out.name}.old-*")]
    for path in stale:
        try:
            pid = int(path.name.split("-")[-2])
        except (ValueError, IndexError):
            continue
        try:
            os.kill(pid, 0)
            continue  # still running
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            continue


def _write_split(rows: Iterator[dict], path: Path, features) -> int:
    """Stream rows into an Arrow IPC file in batches; returns the row count."""
    import pyarrow as pa

    schema = features.arrow_schema
    count = 0
    batch: list[dict] = []
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for row in rows:
            batch.append(row)
            if len(batch) >= ROWS_PER_BATCH:
                writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema))
                count += len(batch)
                batch = []
        if batch:
            writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema))
            count += len(batch)
    return count


def build_corpus(recipe: str | Path | Recipe, out: str | Path, workers: int | None = None, keep_going: bool = False,
                 cache_dir: str | Path | None = None, progress: bool | None = None) -> dict:
    """Build the corpus of `recipe` into folder `out` (replaced only on success) and return its statistics.

    `workers`: processes for parsing (default: all cores).  `keep_going`: skip sources that cannot be fetched
    instead of failing.  `cache_dir`: where downloaded packages are kept (default: `default_cache_dir()`).
    Raises `CorpusBuildError` (or `RecipeError`) with a readable message."""
    started = time.time()
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    out = Path(out).absolute()
    if out.exists() and not out.is_dir():
        raise CorpusBuildError(f"--out {out} exists and is not a folder; choose another output path")
    cache = Path(cache_dir).absolute() if cache_dir is not None else default_cache_dir()
    workers = max(1, int(workers if workers is not None else (os.cpu_count() or 1)))
    if progress is None:
        progress = sys.stderr.isatty()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CorpusBuildError(f"cannot create the folder for --out {out}: {exc.strerror or exc}") from None
    _clean_stale_temps(out)
    tmp = out.parent / f".{out.name}.building-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
    except OSError as exc:
        raise CorpusBuildError(f"cannot write next to --out {out}: {exc.strerror or exc}") from None
    try:
        stats = _build_into(recipe, tmp, workers, keep_going, cache, progress)
        stats["seconds"] = round(time.time() - started, 2)
        stats["workers"] = workers
        (tmp / "stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (tmp / "recipe.toml").write_text(recipe.text, encoding="utf-8")
        old = None
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            out.rename(old)
        tmp.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return stats
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _fetch_all(recipe: Recipe, cache: Path, keep_going: bool, ledger: _Ledger, progress: bool
               ) -> tuple[list[Candidate], dict[str, dict], list[dict]]:
    from tqdm import tqdm

    candidates: list[Candidate] = []
    sources: dict[str, dict] = {}
    failed: list[dict] = []
    units = [u for spec in recipe.sources for u in iter_units(spec, recipe, cache)]
    for unit in tqdm(units, desc="fetch", unit="source", disable=not progress, file=sys.stderr):
        try:
            fetched = unit.fetch()
        except SourceError as exc:
            if not keep_going:
                raise CorpusBuildError(f"{exc} (use --keep-going to skip sources that fail)") from None
            ledger.skip("source_failed", unit.source, unit.name, "", str(exc))
            failed.append({"unit": unit.name, "kind": unit.kind, "error": str(exc)})
            sources[unit.name] = {"kind": unit.kind, "source": unit.source, "status": "failed", "error": str(exc)}
            continue
        for skip in fetched.skips:
            ledger.skip(skip.reason, skip.source, skip.project, skip.path, skip.detail)
        candidates.extend(fetched.candidates)
        sources[unit.name] = {"kind": unit.kind, "source": unit.source, "status": "ok",
                              "candidates": len(fetched.candidates), "skipped_while_walking": len(fetched.skips),
                              **{k: v for k, v in fetched.info.items() if k != "path"}}
    return candidates, sources, failed


def _drop_bundles(candidates: list[Candidate], ledger: _Ledger) -> list[Candidate]:
    """Drop JavaScript files in dist/, umd/, build/ ... folders of projects that also ship other JavaScript:
    those bundles repeat the sources.  A project that ships only bundles keeps them (line filters still apply)."""
    has_plain: set[str] = {c.project for c in candidates if c.language == "javascript" and bundle_dir(c.path) is None}
    kept = []
    for c in candidates:
        folder = bundle_dir(c.path) if c.language == "javascript" else None
        if folder is not None and c.project in has_plain:
            ledger.skip("minified", c.source, c.project, c.path,
                        f"built bundle in {folder}/; the package also ships its sources")
        else:
            kept.append(c)
    return kept


def _build_into(recipe: Recipe, tmp: Path, workers: int, keep_going: bool, cache: Path, progress: bool) -> dict:
    limits = recipe.limits
    ledger = _Ledger()
    candidates, sources, failed = _fetch_all(recipe, cache, keep_going, ledger, progress)
    candidates = _same_path_once(_drop_bundles(candidates, ledger))
    tasks = [Task(i, c.language, c.path, c.fs_path, c.data) for i, c in enumerate(candidates)]
    # Pass 1: filters, signatures, counts.
    results: list[Analysis] = list(_map(analyze, tasks, workers, limits, len(tasks), "analyse", progress))
    kept = _deduplicate(results, candidates, limits, ledger)
    final = _project_budget(kept, candidates, limits, ledger)
    split_of = _split_projects(final, candidates, recipe, keep_going)
    split_stats = _write_splits(final, candidates, tasks, split_of, tmp, workers, limits, ledger, progress)
    _warn_empty_splits(split_stats, recipe, len(split_of))
    return {
        "recipe": recipe.name,
        "languages": list(recipe.languages),
        "limits": _limits_dict(limits),
        "candidates": len(candidates),
        "kept": sum(s["files"] for s in split_stats.values()),
        "sources": sources,
        "failed_sources": failed,
        "filters": ledger.filters(),
        "skipped_examples": ledger.examples,
        "splits": split_stats,
    }


def _same_path_once(candidates: list[Candidate]) -> list[Candidate]:
    """The same path reached twice (overlapping sources) is one file."""
    seen_paths: set[str] = set()
    unique: list[Candidate] = []
    for c in candidates:
        key = c.fs_path or f"{c.source}\x00{c.project}\x00{c.path}"
        if c.fs_path is None or key not in seen_paths:
            seen_paths.add(key)
            unique.append(c)
    return unique


def _deduplicate(results: list[Analysis], candidates: list[Candidate], limits: Limits, ledger: _Ledger
                 ) -> list[Analysis]:
    """The files pass 1 kept, without exact duplicates (same normalised text) and near duplicates (MinHash LSH
    over token shingles, estimated Jaccard >= `limits.near_dup_threshold`); the first copy of each survives."""
    import numpy as np
    from datasketch import MinHashLSH

    from codecomp.corpus.process import new_minhash

    by_digest: dict[bytes, int] = {}
    lsh = MinHashLSH(threshold=limits.near_dup_threshold, num_perm=limits.num_perm)
    signatures: dict[int, np.ndarray] = {}
    kept: list[Analysis] = []
    for res in results:
        c = candidates[res.index]
        if res.status != "ok":
            ledger.skip(res.status, c.source, c.project, c.path, res.detail)
            continue
        first = by_digest.get(res.digest)
        if first is not None:
            o = candidates[first]
            ledger.skip("exact_duplicate", c.source, c.project, c.path, f"same text as {o.project}/{o.path}")
            continue
        by_digest[res.digest] = res.index
        mh = new_minhash(limits.num_perm, res.signature)
        best, best_j = None, 0.0
        for key in lsh.query(mh):
            j = float(np.mean(signatures[key] == res.signature))
            if j > best_j:
                best, best_j = key, j
        if best is not None and best_j >= limits.near_dup_threshold:
            o = candidates[best]
            ledger.skip("near_duplicate", c.source, c.project, c.path,
                        f"near-duplicate of {o.project}/{o.path} (estimated Jaccard {best_j:.2f})")
            continue
        lsh.insert(res.index, mh)
        signatures[res.index] = res.signature
        kept.append(res)
    return kept


def _project_budget(kept: list[Analysis], candidates: list[Candidate], limits: Limits, ledger: _Ledger
                    ) -> list[Analysis]:
    """Per-project token budget, spent in a seeded order so the kept part is not just the first folders."""
    by_project: dict[str, list[Analysis]] = defaultdict(list)
    for res in kept:
        by_project[candidates[res.index].project].append(res)
    final: list[Analysis] = []
    for project, items in by_project.items():
        items.sort(key=lambda r: (_seeded(limits.seed, candidates[r.index].path), r.index))
        spent = 0
        for res in items:
            if spent + res.tokens > limits.max_tokens_per_project:
                c = candidates[res.index]
                ledger.skip("project_cap", c.source, c.project, c.path,
                            f"project {project} reached its budget of {limits.max_tokens_per_project} tokens")
                continue
            spent += res.tokens
            final.append(res)
    return final


def _split_projects(final: list[Analysis], candidates: list[Candidate], recipe: Recipe, keep_going: bool
                    ) -> dict[str, str]:
    """Project -> split: the recipe's pinned projects, or the seeded assignment per main language (by tokens)."""
    lang_tokens: dict[str, Counter] = defaultdict(Counter)
    for res in final:
        c = candidates[res.index]
        lang_tokens[c.project][c.language] += res.tokens
    project_lang = {p: max(sorted(cnt), key=lambda lang: cnt[lang]) for p, cnt in lang_tokens.items()}
    project_tokens = {p: float(sum(cnt.values())) for p, cnt in lang_tokens.items()}
    if recipe.pinned:
        missing = sorted(set(recipe.pinned) - set(project_lang))
        if missing and not keep_going:
            raise CorpusBuildError(f"the recipe's [split] table names project(s) that contributed no file: "
                                   f"{', '.join(missing)} (check the names against the sources, or use --keep-going)")
        return {p: recipe.pinned.get(p, "train") for p in project_lang}
    return assign_splits(project_lang, recipe.limits.split, recipe.limits.seed, project_tokens)


def _write_splits(final: list[Analysis], candidates: list[Candidate], tasks: list[Task], split_of: dict[str, str],
                  tmp: Path, workers: int, limits: Limits, ledger: _Ledger, progress: bool) -> dict[str, dict]:
    """Pass 2: the rows of every split, streamed to Arrow files and saved into `tmp` as a `DatasetDict`;
    returns the statistics of each split."""
    import datasets

    features = corpus_features()
    scratch = tmp / "_scratch"
    scratch.mkdir()
    split_stats: dict[str, dict] = {}
    parts: dict[str, datasets.Dataset] = {}
    analysis_of = {res.index: res for res in final}
    for split in SPLITS:
        members = sorted((r.index for r in final if split_of[candidates[r.index].project] == split),
                         key=lambda i: (candidates[i].project, candidates[i].path, i))
        st = {"files": 0, "lines": 0, "tokens": 0, "bytes": 0, "projects": [], "languages": {}}
        projects: set[str] = set()
        langs: Counter = Counter()

        def rows() -> Iterator[dict]:
            items = ((tasks[i], candidates[i].project) for i in members)
            for index, row, error in _map(make_row_task, items, workers, limits, len(members), f"rows:{split}",
                                          progress, chunksize=4):
                c = candidates[index]
                if row is None:
                    ledger.skip("internal_error" if error else "vanished", c.source, c.project, c.path,
                                error or "the file changed or disappeared between the two passes")
                    continue
                res = analysis_of[index]
                st["files"] += 1
                st["lines"] += res.lines
                st["tokens"] += len(row["tokens"])
                st["bytes"] += res.nbytes
                projects.add(c.project)
                langs[c.language] += 1
                yield row

        arrow_path = scratch / f"{split}.arrow"
        count = _write_split(rows(), arrow_path, features)
        if count:
            parts[split] = datasets.Dataset.from_file(str(arrow_path))
        else:
            parts[split] = datasets.Dataset.from_dict({k: [] for k in features}, features=features)
        st["projects"] = sorted(projects)
        st["languages"] = dict(sorted(langs.items()))
        split_stats[split] = st
    dataset = datasets.DatasetDict(parts)
    bars_were_on = datasets.utils.logging.is_progress_bar_enabled()
    if not progress:
        datasets.utils.logging.disable_progress_bar()
    try:
        # An empty split needs one explicit (empty) shard, or it cannot be loaded back.
        dataset.save_to_disk(str(tmp), num_shards={k: 1 for k, d in dataset.items() if len(d) == 0})
    finally:
        if bars_were_on and not progress:
            datasets.utils.logging.enable_progress_bar()
    del dataset, parts
    shutil.rmtree(scratch, ignore_errors=True)
    return split_stats


def _warn_empty_splits(split_stats: dict[str, dict], recipe: Recipe, projects: int) -> None:
    """An `EmptySplitWarning` for every split without a file (one for a corpus with no file at all)."""
    empty = [s for s in SPLITS if not split_stats[s]["files"]]
    if len(empty) == len(SPLITS):
        empty = empty[:1]
    for split in empty:
        warnings.warn(EmptySplitWarning(empty_split_advice(split, recipe, projects)), stacklevel=4)


def empty_split_advice(split: str, recipe: Recipe, projects: int) -> str:
    """Why `split` came out empty for a build with `projects` projects, and which recipe keys fix it."""
    head = f"the {split} split of the corpus {recipe.name!r} is empty"
    pin = f'pin projects to it in the recipe\'s [split] table ({split} = ["project", ...])'
    if projects == 0:
        return (f"the corpus {recipe.name!r} is empty: no file passed the filters (their counts are in "
                "stats.json); check the [[source]] paths and packages, languages and [limits]")
    if recipe.pinned:
        if split == "train":
            return (f"{head}: the recipe's [split] table pins every project to valid or test; leave at least one "
                    "project out of it")
        return (f"{head}: no project pinned to it in the recipe's [split] table kept a file; {pin}, or remove "
                "the [split] table to deal projects by limits.split")
    share = "raise its share in limits.split = [train, valid, test]"
    if recipe.limits.split[SPLITS.index(split)] == 0:
        return f"{head}: limits.split gives it no share; {share}, or {pin}"
    return (f"{head}: {projects} project(s) are too few to deal to train, valid and test (a project is never "
            "divided between splits); add projects (more [[source]] entries, or per_subfolder = true on a "
            f"folder source), {share}, or {pin}")


def _limits_dict(limits: Limits) -> dict:
    from dataclasses import asdict

    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(limits).items()}
