"""Language registry for the syntax layer.

Maps file names and LSP language ids to our language names, owns the cached tree-sitter `Language` objects and
the per-thread `Parser`s, and holds the keyword tables used by tokenization and by keyword completion.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache

from tree_sitter import Language, Parser

LANGUAGES: tuple[str, ...] = ("cpp", "javascript")

# Extensions are matched case-sensitively first so that `.C` (a traditional C++ suffix on case-sensitive file
# systems) is C++, while `.c` (plain C) is not claimed; the rest are matched case-insensitively.
_EXACT_EXTENSIONS: dict[str, str] = {".C": "cpp", ".H": "cpp"}
_EXTENSIONS: dict[str, str] = {
    **{ext: "cpp" for ext in (".cc", ".cpp", ".cxx", ".c++", ".cp", ".h", ".hpp", ".hh", ".hxx", ".h++",
                              ".ipp", ".tcc", ".inl", ".tpp", ".ixx", ".cppm")},
    **{ext: "javascript" for ext in (".js", ".mjs", ".cjs", ".jsx")},
}

# LSP `languageId` values (as sent by editors) mapped to our language names.
_LANGUAGE_IDS: dict[str, str] = {
    "cpp": "cpp", "c++": "cpp", "cuda-cpp": "cpp", "objective-cpp": "cpp",
    "javascript": "javascript", "javascriptreact": "javascript", "js": "javascript", "jsx": "javascript",
}


def detect_language(path: str) -> str | None:
    """Return the language of a file from its name ("cpp", "javascript"), or None if we do not handle it."""
    ext = os.path.splitext(os.fspath(path))[1]
    if not ext:
        return None
    if ext in _EXACT_EXTENSIONS:
        return _EXACT_EXTENSIONS[ext]
    return _EXTENSIONS.get(ext.lower())


def language_from_id(language_id: str) -> str | None:
    """Map an LSP `languageId` ("cpp", "javascriptreact", ...) to our language name, or None."""
    return _LANGUAGE_IDS.get(language_id.strip().lower())


def check_language(lang: str) -> str:
    """Return `lang` if supported, else raise ValueError with a readable message."""
    if lang not in LANGUAGES:
        raise ValueError(f"unsupported language {lang!r}: codecomp handles {', '.join(LANGUAGES)}")
    return lang


@lru_cache(maxsize=None)
def get_language(lang: str) -> Language:
    """The tree-sitter `Language` for one of `LANGUAGES` (cached)."""
    check_language(lang)
    if lang == "cpp":
        import tree_sitter_cpp as grammar
    else:
        import tree_sitter_javascript as grammar
    return Language(grammar.language())


_local = threading.local()


def get_parser(lang: str) -> Parser:
    """A `Parser` for `lang`, one per thread (parsers are not thread-safe)."""
    parsers = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = _local.parsers = {}
    parser = parsers.get(lang)
    if parser is None:
        parser = parsers[lang] = Parser(get_language(lang))
    return parser


_CPP_KEYWORDS = """
alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t char32_t class
compl concept const consteval constexpr constinit const_cast continue co_await co_return co_yield decltype
default delete do double dynamic_cast else enum explicit export extern false float for friend goto if inline
int long mutable namespace new noexcept not not_eq nullptr operator or or_eq private protected public register
reinterpret_cast requires return short signed sizeof static static_assert static_cast struct switch template
this thread_local throw true try typedef typeid typename union unsigned using virtual void volatile wchar_t
while xor xor_eq final override import module
""".split()

_JS_KEYWORDS = """
async await break case catch class const continue debugger default delete do else export extends false finally
for function get if import in instanceof let new null of return set static super switch this throw true try
typeof undefined var void while with yield from as
""".split()

KEYWORDS: dict[str, frozenset[str]] = {
    "cpp": frozenset(_CPP_KEYWORDS),
    "javascript": frozenset(_JS_KEYWORDS),
}


def is_keyword(text: str, lang: str) -> bool:
    """True if `text` is a reserved or contextual keyword of `lang`."""
    return text in KEYWORDS.get(lang, frozenset())
