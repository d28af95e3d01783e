"""Hub sources: rows of a Hugging Face dataset (streamed) or of local parquet / JSON Lines files.

The same loader serves both: `dataset` is either a hub name ("org/name") or a builder name ("parquet", "json",
"csv") used together with `data_files`.  Rows are filtered by a language column whose values are matched
loosely ("C++", "cpp", "JavaScript", "js" ...).  Without a project column every row is its own project.
"""
from __future__ import annotations

from collections.abc import Iterator

from codecomp.corpus.recipe import Recipe, SourceSpec
from codecomp.corpus.sources.base import Candidate, Fetched, SourceError, Unit

LANGUAGE_ALIASES: dict[str, str] = {
    "c++": "cpp", "cpp": "cpp", "cplusplus": "cpp", "cxx": "cpp",
    "javascript": "javascript", "js": "javascript", "jsx": "javascript", "node": "javascript",
}


def normalise_language(value: object) -> str | None:
    """Our language name for a dataset's language label, or None."""
    if not isinstance(value, str):
        return None
    return LANGUAGE_ALIASES.get(value.strip().lower())


def iter_hub_rows(dataset: str, *, split: str = "train", data_files: tuple[str, ...] | list[str] = (),
                  text_column: str = "content", language_column: str = "language",
                  languages: tuple[str, ...] = ("cpp", "javascript"), project_column: str | None = None,
                  path_column: str | None = None, max_files: int | None = None) -> Iterator[tuple[str, str, str, str]]:
    """Stream `(project, path, language, text)` for rows of `languages` from a hub dataset or local files.

    Raises `SourceError` when the dataset cannot be opened or lacks one of the named columns."""
    import datasets

    kwargs = {"split": split, "streaming": True}
    if data_files:
        kwargs["data_files"] = list(data_files)
    try:
        stream = datasets.load_dataset(dataset, **kwargs)
    except Exception as exc:  # datasets raises many types (FileNotFoundError, DatasetNotFoundError, ValueError...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SourceError(f"dataset {dataset!r} (split {split!r}) cannot be opened: {first}") from None
    count = 0
    try:
        for i, row in enumerate(stream):
            if i == 0:
                for column in (text_column, language_column, project_column, path_column):
                    if column is not None and column not in row:
                        raise SourceError(f"dataset {dataset!r} has no column {column!r} (columns: "
                                          f"{', '.join(sorted(row))})")
            lang = normalise_language(row[language_column])
            text = row[text_column]
            if lang not in languages or not isinstance(text, str):
                continue
            project = str(row[project_column]) if project_column else f"{dataset}#{i}"
            ext = ".js" if lang == "javascript" else ".cpp"
            path = str(row[path_column]) if path_column else f"row{i}{ext}"
            yield project, path, lang, text
            count += 1
            if max_files is not None and count >= max_files:
                return
    except SourceError:
        raise
    except Exception as exc:
        raise SourceError(f"dataset {dataset!r} failed while reading rows: {str(exc).strip()[:200]}") from None


def hub_units(spec: SourceSpec, recipe: Recipe) -> Iterator[Unit]:
    """A hub source is one unit: the whole (filtered) dataset."""
    def fetch() -> Fetched:
        out = Fetched()
        assert spec.dataset is not None
        for project, path, lang, text in iter_hub_rows(
                spec.dataset, split=spec.hub_split, data_files=spec.data_files, text_column=spec.text_column,
                language_column=spec.language_column, languages=recipe.languages,
                project_column=spec.project_column, path_column=spec.path_column, max_files=spec.max_files):
            out.candidates.append(Candidate(spec.name, project, path, lang,
                                            data=text.encode("utf-8", errors="surrogatepass")))
        if not out.candidates:
            raise SourceError(f"dataset {spec.dataset!r} has no rows in {', '.join(recipe.languages)}")
        out.info["dataset"] = spec.dataset
        return out

    yield Unit(f"hub:{spec.dataset}", "hub", spec.name, fetch)
