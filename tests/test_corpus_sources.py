"""Corpus sources without network: npm and Debian failures, hub datasets from local files, safe tar extraction,
libstdc++ detection and recipe validation."""
from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from codecomp.corpus.build import CorpusBuildError, build_corpus
from codecomp.corpus.recipe import RecipeError, load_recipe, parse_recipe
from codecomp.corpus.sources import SourceError
from codecomp.corpus.sources.debian import fetch_debian_source, valid_source_name, AptSources
from codecomp.corpus.sources.folder import libstdcxx_dir
from codecomp.corpus.sources.hub import iter_hub_rows
from codecomp.corpus.sources.npm import safe_extract, split_spec

JS = """export function total(values, start = 0) {
  let sum = start;
  for (const value of values) {
    sum += value;
  }
  return sum;
}
"""
CPP = """#include <vector>

int total(const std::vector<int>& values) {
    int sum = 0;
    for (int v : values) {
        sum += v;
    }
    return sum;
}
"""
PY = "def total(values):\n    return sum(values)\n"


def folder_with_one_project(root: Path) -> None:
    (root / "code" / "good").mkdir(parents=True)
    (root / "code" / "good" / "total.js").write_text(JS)


def recipe_with(root: Path, source: str) -> Path:
    folder_with_one_project(root)
    path = root / "recipe.toml"
    path.write_text(f"""name = "t"
[limits]
min_tokens = 5
[[source]]
kind = "folder"
path = "code"
per_subfolder = true
{source}""")
    return path


@pytest.fixture
def offline_npm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    # npm must fail on its own, locally: no registry is contacted.
    monkeypatch.setenv("npm_config_offline", "true")
    monkeypatch.setenv("npm_config_cache", str(tmp_path / "npm-cache"))


def test_npm_package_that_cannot_exist_is_a_clear_error(tmp_path: Path, offline_npm) -> None:
    recipe = recipe_with(tmp_path, '[[source]]\nkind = "npm"\npackages = ["Not A Valid Name!!@1.0.0"]\n')
    with pytest.raises(CorpusBuildError) as err:
        build_corpus(recipe, tmp_path / "out", workers=1, progress=False, cache_dir=tmp_path / "cache")
    message = str(err.value)
    assert "npm package Not A Valid Name!!@1.0.0" in message and "--keep-going" in message
    assert not (tmp_path / "out").exists()


def test_keep_going_skips_and_counts_the_failed_npm_package(tmp_path: Path, offline_npm) -> None:
    recipe = recipe_with(tmp_path, '[[source]]\nkind = "npm"\npackages = ["Not A Valid Name!!@1.0.0"]\n')
    stats = build_corpus(recipe, tmp_path / "out", workers=1, progress=False, keep_going=True,
                         cache_dir=tmp_path / "cache")
    assert stats["filters"]["source_failed"] == 1
    assert stats["failed_sources"][0]["unit"] == "npm:Not A Valid Name!!@1.0.0"
    assert stats["sources"]["npm:Not A Valid Name!!@1.0.0"]["status"] == "failed"
    assert stats["kept"] == 1


def test_debian_package_with_an_impossible_name(tmp_path: Path) -> None:
    assert valid_source_name("nlohmann-json3") and valid_source_name("g++-12")
    assert not valid_source_name("Bad_Name!") and not valid_source_name("x")
    with pytest.raises(SourceError, match="not a valid package name"):
        fetch_debian_source("Bad_Name!", tmp_path, AptSources(tmp_path))
    assert not (tmp_path / "debian" / "apt").exists(), "no apt state is prepared for an impossible name"
    recipe = recipe_with(tmp_path, '[[source]]\nkind = "debian"\npackages = ["Bad_Name!"]\n')
    with pytest.raises(CorpusBuildError, match="Debian source package 'Bad_Name!'"):
        build_corpus(recipe, tmp_path / "out", workers=1, progress=False, cache_dir=tmp_path / "cache")
    stats = build_corpus(recipe, tmp_path / "out", workers=1, progress=False, keep_going=True,
                         cache_dir=tmp_path / "cache")
    assert stats["filters"]["source_failed"] == 1 and stats["kept"] == 1


def write_rows(tmp_path: Path) -> list[dict]:
    return [
        {"content": JS, "language": "JavaScript", "repo_name": "org/js-one", "path": "src/total.js"},
        {"content": CPP, "language": "C++", "repo_name": "org/cpp-one", "path": "total.cpp"},
        {"content": PY, "language": "Python", "repo_name": "org/py", "path": "total.py"},
        {"content": JS.replace("total", "sumAll").replace("sum", "acc"), "language": "javascript",
         "repo_name": "org/js-two", "path": "lib/sum.js"},
    ]


def test_hub_loader_reads_local_parquet_and_jsonl(tmp_path: Path) -> None:
    rows = write_rows(tmp_path)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "rows.parquet")
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for builder, name in (("parquet", "rows.parquet"), ("json", "rows.jsonl")):
        got = list(iter_hub_rows(builder, data_files=[str(tmp_path / name)], project_column="repo_name",
                                 path_column="path"))
        assert [(p, path, lang) for p, path, lang, _ in got] == [
            ("org/js-one", "src/total.js", "javascript"), ("org/cpp-one", "total.cpp", "cpp"),
            ("org/js-two", "lib/sum.js", "javascript")]
        assert got[1][3] == CPP
    only_cpp = list(iter_hub_rows("parquet", data_files=[str(tmp_path / "rows.parquet")], languages=("cpp",)))
    assert [lang for _, _, lang, _ in only_cpp] == ["cpp"]
    assert len(list(iter_hub_rows("json", data_files=[str(tmp_path / "rows.jsonl")], max_files=1))) == 1
    with pytest.raises(SourceError, match="no column 'text'"):
        list(iter_hub_rows("json", data_files=[str(tmp_path / "rows.jsonl")], text_column="text"))
    with pytest.raises(SourceError, match="cannot be opened"):
        list(iter_hub_rows("parquet", data_files=[str(tmp_path / "missing.parquet")]))


def test_hub_source_in_a_recipe_builds_a_corpus(tmp_path: Path) -> None:
    pq.write_table(pa.Table.from_pylist(write_rows(tmp_path)), tmp_path / "rows.parquet")
    recipe = tmp_path / "hub.toml"
    recipe.write_text("""name = "hub"
[limits]
min_tokens = 5
[[source]]
kind = "hub"
dataset = "parquet"
data_files = ["rows.parquet"]
project_column = "repo_name"
path_column = "path"
""")
    stats = build_corpus(recipe, tmp_path / "out", workers=1, progress=False)
    corpus = datasets.load_from_disk(str(tmp_path / "out"))
    got = sorted((r["project"], r["path"], r["language"]) for s in corpus.values() for r in s)
    assert got == [("org/cpp-one", "total.cpp", "cpp"), ("org/js-one", "src/total.js", "javascript"),
                   ("org/js-two", "lib/sum.js", "javascript")]
    assert stats["sources"]["hub:parquet"]["candidates"] == 3


def _tar_with(members: list[tuple[tarfile.TarInfo, bytes | None]], path: Path) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _link(name: str, target: str, kind: bytes) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def test_safe_extract_writes_only_regular_files_inside_the_destination(tmp_path: Path) -> None:
    tarball = _tar_with([
        _file("package/index.js", b"module.exports = 1;\n"),
        _file("package/lib/a.js", b"exports.a = 2;\n"),
        _file("package/../../escape.js", b"bad"),
        _file("/abs/evil.js", b"bad"),
        _link("package/passwd.js", "/etc/passwd", tarfile.SYMTYPE),
        _link("package/hard.js", "/etc/passwd", tarfile.LNKTYPE),
        _link("package/lib", "/etc", tarfile.SYMTYPE),
        _file("package/lib/b.js", b"exports.b = 3;\n"),
    ], tmp_path / "pkg.tgz")
    dest = tmp_path / "x" / "dest"
    dest.mkdir(parents=True)
    refused = safe_extract(tarball, dest)
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert files == ["index.js", "lib/a.js", "lib/b.js"]
    assert not any(p.is_symlink() for p in dest.rglob("*"))
    assert not (tmp_path / "escape.js").exists() and not (tmp_path / "x" / "escape.js").exists()
    assert len(refused) == 5 and all("not extracted" in r for r in refused)


def test_npm_spec_parsing() -> None:
    assert split_spec("lodash@4.17.21") == ("lodash", "4.17.21")
    assert split_spec("@babel/core@7.0.0") == ("@babel/core", "7.0.0")
    assert split_spec("@babel/core") == ("@babel/core", None)


def test_libstdcxx_headers_are_found(tmp_path: Path) -> None:
    for version in ("9", "12", "4.9", "notes"):
        (tmp_path / version).mkdir()
    assert libstdcxx_dir(tmp_path).name == "12"
    with pytest.raises(SourceError, match="no libstdc\\+\\+ headers"):
        libstdcxx_dir(tmp_path / "9")
    if not Path("/usr/include/c++").is_dir():
        pytest.skip("this machine has no libstdc++ headers")
    real = libstdcxx_dir()
    assert (real / "vector").is_file()


def test_system_source_reads_extensionless_headers(tmp_path: Path) -> None:
    headers = tmp_path / "c++" / "13"
    (headers / "bits").mkdir(parents=True)
    (headers / "vector").write_text(CPP)
    (headers / "bits" / "helper.h").write_text(CPP.replace("total", "helper"))
    (headers / "README").write_text("not code but without an extension: parsed as C++ and filtered\n")
    recipe = tmp_path / "sys.toml"
    recipe.write_text(f'name = "sys"\n[limits]\nmin_tokens = 5\n[[source]]\nkind = "system"\npath = "{headers}"\n')
    stats = build_corpus(recipe, tmp_path / "out", workers=1, progress=False)
    corpus = datasets.load_from_disk(str(tmp_path / "out"))
    paths = sorted(r["path"] for s in corpus.values() for r in s)
    assert "vector" in paths and "bits/helper.h" in paths
    assert all(r["project"] == "libstdc++" for s in corpus.values() for r in s)
    assert stats["sources"]["system:libstdc++"]["candidates"] == 3


@pytest.mark.parametrize("text, message", [
    ("name = 1\n[[source]]\nkind='folder'\npath='.'\n", "name must be of type str"),
    ("name = 'x'\n", "no [[source]] entries"),
    ("name = 'x'\nlanguages = ['python']\n[[source]]\nkind='folder'\npath='.'\n", "languages must be"),
    ("name = 'x'\n[limits]\nmax_tokens = 5\n[[source]]\nkind='folder'\npath='.'\n", "unknown key(s) in [limits]"),
    ("name = 'x'\n[limits]\nsplit = [1, 2]\n[[source]]\nkind='folder'\npath='.'\n", "three non-negative numbers"),
    ("name = 'x'\n[[source]]\nkind='npm'\n", "`packages` is required"),
    ("name = 'x'\n[[source]]\nkind='folder'\npath='.'\nurl='x'\n", "unknown key(s) url"),
    ("name = 'x'\n[[source]]\nkind='folder'\n", "`path` is required"),
    ("name = 'x\n", "not valid TOML"),
])
def test_recipe_errors_are_sentences(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(RecipeError) as err:
        parse_recipe(text, tmp_path, where="r.toml")
    assert message in str(err.value) and str(err.value).startswith("r.toml")


def test_the_shipped_recipes_parse(repo_root: Path) -> None:
    for name in ("fixtures", "js-npm", "cpp-debian"):
        recipe = load_recipe(repo_root / "corpora" / f"{name}.toml")
        assert recipe.name == name
    npm = load_recipe(repo_root / "corpora" / "js-npm.toml")
    packages = npm.sources[0].packages
    assert len(packages) >= 20 and all(split_spec(p)[1] for p in packages), "npm versions are pinned"
    debian = load_recipe(repo_root / "corpora" / "cpp-debian.toml")
    assert len(debian.sources[0].packages) >= 15 and debian.sources[1].kind == "system"
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe(repo_root / "corpora" / "no-such-recipe.toml")
