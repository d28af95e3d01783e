"""Language registry for the syntax layer.

Maps file names and LSP language ids to our language names, owns the cached tree-sitter `Language` objects and
the per-thread `Parser`s, and holds the keyword tables used by tokenization and by keyword completion.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
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


def get_parser(lang: str, pool: str = "") -> Parser:
    """A `Parser` for `lang`, one per thread (parsers are not thread-safe) and per `pool`: a caller that changes
    a parser's settings (a time limit) takes its own pool, so that the shared parsers keep theirs."""
    parsers = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = _local.parsers = {}
    parser = parsers.get((pool, lang))
    if parser is None:
        parser = parsers[(pool, lang)] = Parser(get_language(lang))
    return parser


# A bounded parse (`SlicedParse`): tree-sitter holds the interpreter while it parses, so a long parse runs as slices
# of at most SLICE_S, and one that costs too much in all is given up.
SLICE_S = 0.02
# Idle work (a parse started ahead of the next request) runs in shorter slices: a request that arrives meanwhile
# waits for the end of the slice.
IDLE_SLICE_S = 0.002
# tree-sitter's own timeout is the only way to stop a parse that works here: its progress callback crashes the
# interpreter in py-tree-sitter 0.25, and the timeout property warns that it is deprecated in its favour.
warnings.filterwarnings("ignore", message=".*progress_callback.*", category=DeprecationWarning)


def _rss_bytes() -> int | None:
    """Resident memory of this process (Linux), or None where it cannot be read cheaply."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class SlicedParse:
    """A tree-sitter parse of `source` (incremental when `old_tree` is the edited tree of an earlier text) that
    advances in slices of at most `SLICE_S` (a budget ends after the slice that crosses it), so no single call
    holds the interpreter for long and the work can be spread over several requests or idle moments; it gives up (`failed` says why) once it has taken
    `max_seconds` in all or grown the process by `max_growth` bytes.  It owns its parser: an unfinished parse
    keeps its state there, whatever other documents are parsed meanwhile."""

    def __init__(self, lang: str, source: bytes, old_tree=None, max_seconds: float = 4.0,
                 max_growth: int = 200 << 20) -> None:
        self.lang, self.source, self.old_tree = lang, source, old_tree
        self.max_seconds, self.max_growth = max_seconds, max_growth
        self.parser = Parser(get_language(lang))
        self.parser.timeout_micros = int(SLICE_S * 1e6)
        self.tree = None
        self.failed: str | None = None
        self.spent = 0.0
        self._rss0 = _rss_bytes()

    @property
    def done(self) -> bool:
        return self.tree is not None or self.failed is not None

    def advance(self, budget_s: float | None, slice_s: float = SLICE_S) -> bool:
        """Parse for up to `budget_s` seconds (None: until done) in slices of `slice_s`; True when finished (a
        tree, or `failed`)."""
        if self.done:
            return True
        deadline = None if budget_s is None else time.perf_counter() + budget_s
        self.parser.timeout_micros = max(int(slice_s * 1e6), 1)
        while True:
            try:
                if self.old_tree is None:
                    self.tree = self.parser.parse(self.source)
                else:
                    self.tree = self.parser.parse(self.source, self.old_tree)
            except ValueError:   # the slice ran out; the parser keeps its state for the next call
                # the cost is counted in the parser's own slices, not read from a clock of this process: time
                # spent waiting for the interpreter between slices is not parsing, and a parse that finishes is
                # never given up, whatever the clock says (the results of a text do not depend on it)
                self.spent += slice_s
            if self.tree is not None:
                self.parser = None   # the tree stands alone; the parser's memory can go
                return True
            rss = _rss_bytes()
            if self.spent > self.max_seconds:
                self.failed = f"parsing took more than {self.max_seconds:g} s"
            elif rss is not None and self._rss0 is not None and rss - self._rss0 > self.max_growth:
                self.failed = f"parsing needed more than {self.max_growth >> 20} MB"
            if self.failed:
                self.parser.reset()
                self.parser = None
                return True
            if deadline is not None and time.perf_counter() >= deadline:
                return False
            time.sleep(0)   # let the other threads run between slices


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
