"""The corpus pipeline end to end on the fixture recipe: schema, row consistency, statistics, splits, CLI."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest

from codecomp.corpus.build import assign_splits, build_corpus
from codecomp.corpus.cli import format_stats
from codecomp.syntax import TokenKind, node_type_names

REPO = Path(__file__).resolve().parents[1]
COLUMNS = ["project", "path", "language", "text", "tokens", "kinds", "starts", "ast_type", "ast_parent",
           "ast_child", "ast_depth", "ast_token", "sym_name", "sym_kind", "sym_occ"]


@pytest.fixture(scope="module")
def corpus(fixture_corpus: Path) -> datasets.DatasetDict:
    return datasets.load_from_disk(str(fixture_corpus))


def test_fixture_corpus_has_three_splits_with_the_design_columns(fixture_corpus: Path, corpus) -> None:
    assert sorted(corpus) == ["test", "train", "valid"]
    for split in corpus.values():
        assert split.column_names == COLUMNS
        assert len(split) > 0
    assert (fixture_corpus / "recipe.toml").read_text() == (REPO / "corpora" / "fixtures.toml").read_text()
    feats = corpus["train"].features
    assert feats["kinds"].feature.dtype == "int8" and feats["starts"].feature.dtype == "int32"
    assert feats["sym_occ"].feature.feature.dtype == "int32"


def test_rows_are_internally_consistent(corpus) -> None:
    languages = set()
    for split in corpus.values():
        for row in split:
            languages.add(row["language"])
            source = row["text"].encode("utf-8")
            n = len(row["tokens"])
            assert n == len(row["kinds"]) == len(row["starts"]) > 0
            # Every token is exactly the bytes at its start offset; comments are excluded.
            for tok, start, kind in zip(row["tokens"], row["starts"], row["kinds"]):
                assert source[start:start + len(tok.encode("utf-8"))].decode("utf-8") == tok
                assert kind != TokenKind.COMMENT
            assert list(row["starts"]) == sorted(row["starts"])
            parent = np.asarray(row["ast_parent"])
            m = len(parent)
            assert m == len(row["ast_type"]) == len(row["ast_child"]) == len(row["ast_depth"]) == len(row["ast_token"])
            assert parent[0] == -1 and np.all(parent[1:] < np.arange(1, m)) and np.all(parent[1:] >= 0)
            depth = np.asarray(row["ast_depth"])
            assert np.all(depth[1:] == depth[parent[1:]] + 1)
            leaves = [t for t in row["ast_token"] if t >= 0]
            assert leaves == list(range(n)), "each token is exactly one AST leaf, in order"
            names = node_type_names(row["language"])
            assert max(row["ast_type"]) < len(names)
            for name, kind, occ in zip(row["sym_name"], row["sym_kind"], row["sym_occ"]):
                assert kind in ("variable", "parameter", "function")
                assert occ and all(row["tokens"][i] == name for i in occ)
    assert languages == {"cpp", "javascript"}


def test_stats_count_the_broken_fixture_files_and_describe_the_splits(fixture_corpus: Path, corpus) -> None:
    stats = json.loads((fixture_corpus / "stats.json").read_text())
    assert stats["recipe"] == "fixtures"
    assert stats["filters"]["error_fraction"] == 2
    broken = {(e["project"], e["path"]) for e in stats["skipped_examples"] if e["reason"] == "error_fraction"}
    assert broken == {("router", "broken.js"), ("wordfreq", "broken.cpp")}
    projects = {}
    for name, split in corpus.items():
        st = stats["splits"][name]
        assert st["files"] == len(split)
        assert st["tokens"] == sum(len(t) for t in split["tokens"])
        assert st["bytes"] == sum(len(t.encode()) for t in split["text"])
        assert st["projects"] == sorted(set(split["project"]))
        for p in st["projects"]:
            assert p not in projects, f"project {p} is in two splits"
            projects[p] = name
    assert len(projects) == 8
    # Every split has both languages' projects (4 per language: 2 train, 1 valid, 1 test).
    for name in ("train", "valid", "test"):
        assert set(stats["splits"][name]["languages"]) == {"cpp", "javascript"}
    assert stats["kept"] == sum(len(s) for s in corpus.values())
    text = format_stats(stats)
    assert "train" in text and "error_fraction=2" in text


def test_split_is_deterministic_and_depends_on_the_seed() -> None:
    projects = {f"proj{i}": ("cpp" if i % 2 else "javascript") for i in range(40)}
    a = assign_splits(projects, (0.8, 0.1, 0.1), seed=3)
    assert a == assign_splits(dict(reversed(list(projects.items()))), (0.8, 0.1, 0.1), seed=3)
    assert a != assign_splits(projects, (0.8, 0.1, 0.1), seed=4)
    for lang in ("cpp", "javascript"):
        counts = {s: sum(1 for p, l in projects.items() if l == lang and a[p] == s) for s in ("train", "valid", "test")}
        assert counts == {"train": 16, "valid": 2, "test": 2}
    # Tiny project sets still keep a training project; three projects fill every split.
    assert list(assign_splits({"x": "cpp"}, (0.8, 0.1, 0.1), 0).values()) == ["train"]
    assert sorted(assign_splits({"x": "cpp", "y": "cpp", "z": "cpp"}, (0.8, 0.1, 0.1), 0).values()) == ["test", "train", "valid"]


def test_rebuilding_gives_the_same_corpus(fixture_corpus: Path, tmp_path: Path) -> None:
    again = build_corpus(REPO / "corpora" / "fixtures.toml", tmp_path / "again", workers=2, progress=False)
    first = json.loads((fixture_corpus / "stats.json").read_text())
    assert again["splits"] == first["splits"]
    assert again["filters"] == first["filters"]
    a = datasets.load_from_disk(str(fixture_corpus))
    b = datasets.load_from_disk(str(tmp_path / "again"))
    for split in a:
        assert a[split]["path"] == b[split]["path"]
        assert a[split]["tokens"] == b[split]["tokens"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "codecomp", "corpus", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=120)


def test_cli_build_then_stats(fixture_corpus: Path, tmp_path: Path) -> None:
    res = _cli("build", "corpora/fixtures.toml", "--out", str(tmp_path / "cli"), "--workers", "1", "--quiet")
    assert res.returncode == 0, res.stderr
    assert "corpus written to" in res.stdout and "error_fraction=2" in res.stdout
    assert json.loads((tmp_path / "cli" / "stats.json").read_text())["splits"] == \
        json.loads((fixture_corpus / "stats.json").read_text())["splits"]
    res = _cli("stats", str(fixture_corpus))
    assert res.returncode == 0, res.stderr
    assert "split" in res.stdout and "error_fraction=2" in res.stdout
    res = _cli("build", "--help")
    assert res.returncode == 0 and "--keep-going" in res.stdout and "--workers" in res.stdout


def test_cli_reports_bad_recipes_and_folders_in_words(tmp_path: Path) -> None:
    res = _cli("build", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "out"))
    assert res.returncode == 2
    assert "does not exist" in res.stderr and "Traceback" not in res.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[[source]]\nkind = "ftp"\n')
    res = _cli("build", str(bad), "--out", str(tmp_path / "out"))
    assert res.returncode == 2 and "kind must be one of" in res.stderr and "Traceback" not in res.stderr
    res = _cli("stats", str(tmp_path))
    assert res.returncode == 2 and "no stats.json" in res.stderr
    assert not (tmp_path / "out").exists()


def _pinned_recipe(tmp_path: Path, split_table: str) -> Path:
    text = (REPO / "corpora" / "fixtures.toml").read_text()
    text = text.replace('path = "fixtures"', f'path = "{(REPO / "corpora" / "fixtures").as_posix()}"')
    recipe = tmp_path / "pinned.toml"
    recipe.write_text(text.replace("[[source]]", split_table + "\n\n[[source]]", 1))
    return recipe


def test_pinned_projects_go_to_their_split_and_the_rest_to_train(tmp_path: Path) -> None:
    recipe = _pinned_recipe(tmp_path, '[split]\nvalid = ["geometry"]\ntest = ["router", "wordfreq"]')
    stats = build_corpus(recipe, tmp_path / "out", workers=1, progress=False)
    projects = {name: sorted(s["projects"]) for name, s in stats["splits"].items()}
    assert projects["valid"] == ["geometry"]
    assert projects["test"] == ["router", "wordfreq"]
    assert projects["train"] == ["colorkit", "inifile", "ringbuffer", "tasklist", "textstats"]


def test_pinning_errors_are_clear(tmp_path: Path) -> None:
    from codecomp.corpus.build import CorpusBuildError
    from codecomp.corpus.recipe import RecipeError, load_recipe

    with pytest.raises(RecipeError, match="pinned twice"):
        load_recipe(_pinned_recipe(tmp_path, '[split]\nvalid = ["geometry"]\ntest = ["geometry"]'))
    with pytest.raises(RecipeError, match="unknown key"):
        load_recipe(_pinned_recipe(tmp_path, '[split]\ntrain = ["geometry"]'))
    with pytest.raises(CorpusBuildError, match="no-such-project"):
        build_corpus(_pinned_recipe(tmp_path, '[split]\ntest = ["no-such-project"]'), tmp_path / "o",
                     workers=1, progress=False)


def test_shipped_recipes_hold_out_the_same_projects() -> None:
    """The default recipe's held-out projects are exactly those of the two per-language recipes, and none of
    them is also a training package elsewhere in the recipes (a test project must never be trained on)."""
    from codecomp.corpus.recipe import load_recipe

    default = load_recipe(REPO / "corpora" / "default.toml").pinned
    js = load_recipe(REPO / "corpora" / "js-npm.toml").pinned
    cpp = load_recipe(REPO / "corpora" / "cpp-debian.toml").pinned
    assert default == {**js, **cpp}
    assert sum(1 for s in js.values() if s == "test") >= 5
    assert sum(1 for s in cpp.values() if s == "test") >= 5


def test_an_empty_split_warns_with_the_recipe_keys_that_fix_it(tmp_path: Path) -> None:
    from codecomp.corpus.build import EmptySplitWarning

    # Pinned held-out projects, none of them for test: test comes out empty.
    recipe = _pinned_recipe(tmp_path, '[split]\nvalid = ["geometry", "router"]')
    with pytest.warns(EmptySplitWarning) as caught:
        stats = build_corpus(recipe, tmp_path / "pinned", workers=1, progress=False)
    assert stats["splits"]["test"]["files"] == 0 and stats["splits"]["valid"]["files"] > 0
    (message,) = [str(w.message) for w in caught if issubclass(w.category, EmptySplitWarning)]
    assert "test split" in message and "[split]" in message and 'test = ["project"' in message
    # Dealt by limits.split with no share for test.
    text = (REPO / "corpora" / "fixtures.toml").read_text()
    text = text.replace('path = "fixtures"', f'path = "{(REPO / "corpora" / "fixtures").as_posix()}"')
    unpinned = tmp_path / "no-test.toml"
    unpinned.write_text(text.replace("split = [0.5, 0.25, 0.25]", "split = [0.5, 0.5, 0]"))
    with pytest.warns(EmptySplitWarning, match=r"test split .* limits\.split gives it no share"):
        build_corpus(unpinned, tmp_path / "no-test", workers=1, progress=False)
    # The command line says it on stderr, after writing the corpus.
    res = _cli("build", str(recipe), "--out", str(tmp_path / "cli"), "--workers", "1", "--quiet")
    assert res.returncode == 0 and "warning: the test split" in res.stderr and "[split]" in res.stderr


def test_a_recipe_with_every_split_filled_does_not_warn(tmp_path: Path) -> None:
    import warnings

    from codecomp.corpus.build import EmptySplitWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", EmptySplitWarning)
        stats = build_corpus(_pinned_recipe(tmp_path, '[split]\nvalid = ["geometry"]\ntest = ["router"]'),
                             tmp_path / "out", workers=1, progress=False)
    assert all(s["files"] for s in stats["splits"].values())


def test_the_recipe_readme_documents_every_key_and_recipe() -> None:
    """corpora/README.md shows every key the recipe parser accepts (as `key =` in its format block, or as a
    [table]) and lists every shipped recipe."""
    from dataclasses import fields

    from codecomp.corpus import recipe as R

    readme = (REPO / "corpora" / "README.md").read_text()
    keys = {*R.TOP_LEVEL_KEYS, *R.SPLIT_KEYS, "kind", "name", *(f.name for f in fields(R.Limits))}
    for kind_keys in R._KIND_KEYS.values():
        keys |= kind_keys
    tables = {"limits": "[limits]", "split": "[split]", "source": "[[source]]"}
    missing = [k for k in sorted(keys) if f"\n{k} = " not in readme and tables.get(k, "\0") not in readme]
    assert not missing, f"corpora/README.md does not document: {missing}"
    for kind in R.SOURCE_KINDS:
        assert f'kind = "{kind}"' in readme, kind
    for shipped in sorted((REPO / "corpora").glob("*.toml")):
        assert f"`{shipped.name}`" in readme, shipped.name
