"""A fast lexical reading of one source file: code tokens, declarations, includes and imports.

Why not tree-sitter: indexing a workspace must read hundreds of files per second on a laptop core, and
`codecomp.syntax.parse` (tree and tokens) reads about 300 C++ files per CPU-second; parsing alone already caps
a tree-based reading near 1,000 before any declaration is found (benchmarks/workspace_index.py prints the
comparison).  Everything here is regular expressions (which run in C) plus one Python pass over the code tokens
with a small brace-structure state machine, about 2,000 files per CPU-second, which is enough for what a
workspace index needs: names, where they are declared, and which names follow which.  The identifiers agree
with tree-sitter's on about 99 % of the occurrences.  Half-typed and macro-heavy code never raises; at worst a
declaration is missed.

Comments and string/char/regex/template literals are removed before anything else (a string becomes the
placeholder token `"`), so they can never produce identifiers, declarations or members.  C++ preprocessor
lines are taken out of the code stream as well: `#include` and `#define` are read from them separately.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field

from codecomp.syntax import KEYWORDS

# -------------------------------------------------------------------------------------------- tokens
_W = rb"[A-Za-z_$\x80-\xff][A-Za-z0-9_$\x80-\xff]*"
IDENT = re.compile(_W)
# the code-token lexer: words, numbers, multi-character operators, any other single character
TOKEN = re.compile(_W + rb"""|[0-9][A-Za-z0-9_.']*|\.\.\.|\?\.|->|::|===|!==|==|!=|<=|>=|&&|\|\||\?\?|=>|\+\+|--|\S""")

# Every branch starts with a literal character and the pattern has no group around its branches: then the
# regular-expression engine skips in C to the next character that can start a match, instead of trying each
# branch at every position (about 100 MB/s instead of 7; named groups or optional prefixes lose that).  So
# the kind of a match is told by its first bytes (`_kind`), and the few cases look-behinds would have caught
# are settled in `strip` (a C++ digit separator `1'000`).
_STR = rb'"(?:[^"\\\n]++|\\.)*+"?'
_CPP_STRIP = re.compile(
    rb"//[^\n]*(?:\\\n[^\n]*)*|/\*.*?(?:\*/|\Z)"          # comments
    rb"|\#[^\n]*(?:\\\r?\n[^\n]*)*"                         # preprocessor lines (with continuations)
    rb'|R"([^()\\ \t\n]{0,16})\(.*?\)\1"'                     # raw strings
    rb"|" + _STR + rb"|L" + _STR + rb"|u8" + _STR + rb"|u" + _STR + rb"|U" + _STR +
    rb"|'(?:[^'\\\n]|\\.){1,8}'", re.S)                       # character literals
_JS_STRIP = re.compile(
    rb"//[^\n]*|/\*.*?(?:\*/|\Z)"
    rb"|" + _STR + rb"|'(?:[^'\\\n]++|\\.)*+'?|`(?:[^`\\]++|\\.)*+`?"
    # a regex literal can only follow an operator or an opening bracket; the match includes that character
    rb"|[(,=:\[!&|?{};+\-*%<>~^][ \t]*/(?![*/])(?:[^/\\\n\[]|\\.|\[(?:[^\]\\\n]|\\.)*\])+/[A-Za-z]*", re.S)


def _kind(text: bytes) -> str:
    """The kind of a strip match from its first bytes: comment, pp, string, char or regex."""
    first = text[:1]
    if first == b"/" and text[1:2] in (b"/", b"*"):
        return "comment"
    if first == b"#":
        return "pp"
    if first == b"'" :
        return "char"
    if first in (b'"', b"`", b"R", b"L", b"u", b"U"):
        return "string"
    return "regex"


# a string that is a module specifier: `require("x")`, `import("x")`, `from "x"`, `import "x"`
_SPEC_BEFORE = re.compile(rb"(?:\brequire\s*\(|\bimport\s*\(|\bfrom|\bimport)\s*\Z")
_INCLUDE = re.compile(rb'^[ \t]*#[ \t]*(?:include|import|include_next)[ \t]*([<"])([^>"\n]+)[>"]', re.M)
_DEFINE = re.compile(rb"^[ \t]*#[ \t]*define[ \t]+(" + _W + rb")", re.M)
MINIFIED_LINE = 1000  # average line length above which a file counts as minified


@dataclass(slots=True)
class Stripped:
    """A file with comments and literals removed (see the module docstring)."""

    code: bytes                                        # code text: literals are `"`, comments and directives gone
    specs: list[str] = field(default_factory=list)     # JS module specifiers, in source order
    directives: list[bytes] = field(default_factory=list)  # C++ preprocessor lines


def strip(source: bytes, lang: str) -> Stripped:
    """Remove comments and literals from `source` (one regular-expression pass, see the module docstring)."""
    out = Stripped(b"")
    if lang == "cpp":
        def repl(m: re.Match[bytes]) -> bytes:
            text = m.group()
            kind = _kind(text)
            if kind == "comment":
                return b" "
            if kind == "pp":
                out.directives.append(text)
                return b"\n"
            start = m.start()
            if start and source[start - 1:start] in _WORD_BYTES:
                if kind == "char":
                    return text  # a digit separator (1'000) or a quote glued to a word: not a literal
                if text[:1] != b'"':
                    return text[:1] + b' " '  # `fooL"x"`: the letter belongs to the word before
            return b' " '
        out.code = _CPP_STRIP.sub(repl, source)
    else:
        def repl(m: re.Match[bytes]) -> bytes:
            text = m.group()
            kind = _kind(text)
            if kind == "comment":
                return b" "
            if kind == "regex":
                return text[:1] + b' " '  # keep the operator the match began with
            if text[:1] != b"`" and _SPEC_BEFORE.search(source, max(0, m.start() - 12), m.start()) \
                    and len(text) >= 2:
                out.specs.append(text[1:-1].decode("utf-8", "replace"))
            return b' " '
        if source.startswith(b"#!"):  # a hash-bang line is a comment
            end = source.find(b"\n")
            source = b"\n" if end < 0 else b" " * end + source[end:]
        out.code = _JS_STRIP.sub(repl, source)
    return out


_WORD_BYTES = frozenset(bytes([b]) for b in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_$")


def code_tokens(code: bytes) -> list[bytes]:
    """The code tokens of stripped text."""
    return TOKEN.findall(code)


def looks_minified(source: bytes) -> bool:
    """Whether a file is generated, minified code (very long lines) rather than code someone writes."""
    if len(source) < 4096:
        return False
    return len(source) / (source.count(b"\n") + 1) > MINIFIED_LINE


# -------------------------------------------------------------------------------------------- records
@dataclass(frozen=True, slots=True)
class Declaration:
    """A declared name.  `kind`: namespace, class, enum, enumerator, macro, typedef, function, method, field,
    variable, export or base (`container` derives from `name`); `container`: the enclosing namespace, class or
    enum ("" at file level)."""

    name: str
    kind: str
    container: str = ""


@dataclass(slots=True)
class Include:
    """A C++ `#include`: the written path and whether it was quoted (`"x.h"`) or angled (`<x.h>`)."""

    spec: str
    quoted: bool


@dataclass(slots=True)
class FileFacts:
    """Everything the index keeps from one file, before interning (see `WorkspaceIndex`)."""

    lang: str
    tokens: list[bytes]                                   # code tokens (literals are `"`)
    declarations: list[Declaration] = field(default_factory=list)
    includes: list[Include] = field(default_factory=list)  # C++
    imports: list[str] = field(default_factory=list)       # JS module specifiers (require / import / export from)
    exports: list[str] = field(default_factory=list)       # JS names this module exports
    reexports: list[str] = field(default_factory=list)     # JS specifiers whose exports this module re-exports
    extra_identifiers: list[bytes] = field(default_factory=list)  # identifiers of #define lines


def analyze(source: bytes, lang: str) -> FileFacts:
    """Read one file (see the module docstring)."""
    stripped = strip(source, lang)
    tokens = code_tokens(stripped.code)
    facts = FileFacts(lang, tokens)
    if lang == "cpp":
        _CppScanner(facts).run(tokens)
        _read_directives(stripped.directives, facts)
    else:
        _JsScanner(facts, stripped.specs).run(tokens)
    return facts


def _read_directives(directives: list[bytes], facts: FileFacts) -> None:
    """`#include` specs, `#define` names (macros) and the identifiers of macro bodies."""
    for line in directives:
        m = _INCLUDE.match(line)
        if m:
            facts.includes.append(Include(m.group(2).decode("utf-8", "replace").strip(), m.group(1) == b'"'))
            continue
        d = _DEFINE.match(line)
        if d:
            facts.declarations.append(Declaration(_name(d.group(1)), "macro"))
            body = _CPP_STRIP.sub(b" ", line[d.end():])
            facts.extra_identifiers.append(d.group(1))
            facts.extra_identifiers.extend(w for w in IDENT.findall(body) if w.decode() not in KEYWORDS["cpp"])


def _name(raw: bytes) -> str:
    """A declared name as an interned string (the same names recur in every file)."""
    return sys.intern(raw.decode("utf-8", "replace"))


def is_word(tok: bytes) -> bool:
    """Whether a code token is word-like (identifier or keyword); the empty token (past the end) is not."""
    if not tok:
        return False
    b = tok[0]
    return b >= 0x80 or b == 0x5F or b == 0x24 or (0x41 <= b <= 0x5A) or (0x61 <= b <= 0x7A)


# -------------------------------------------------------------------------------------------- C++ structure
_CPP_KW = frozenset(w.encode() for w in KEYWORDS["cpp"]) | {b"signals", b"slots", b"Q_SIGNALS", b"Q_SLOTS"}
_ACCESS = frozenset({b"public", b"private", b"protected", b"signals", b"slots", b"Q_SIGNALS", b"Q_SLOTS"})
_NOT_FUNCTIONS = frozenset({b"__attribute__", b"__declspec", b"alignas", b"decltype", b"noexcept", b"throw",
                            b"sizeof", b"alignof", b"static_assert", b"if", b"for", b"while", b"switch",
                            b"return", b"catch", b"operator", b"__asm__", b"asm", b"defined", b"requires"})
_CLASS_KEYS = frozenset({b"class", b"struct", b"union"})


@dataclass(slots=True)
class _Frame:
    """One open brace: kind (file, namespace, class, enum, body, init), name (for containers), saved head."""

    kind: str
    name: str = ""
    saved: list[bytes] = field(default_factory=list)


def _skip_template(head: list[bytes]) -> list[bytes]:
    """`head` without a leading `template <...>` (possibly several)."""
    while len(head) >= 2 and head[0] == b"template" and head[1] == b"<":
        depth, i = 0, 1
        while i < len(head):
            t = head[i]
            if t == b"<":
                depth += 1
            elif t == b">":
                depth -= 1
            elif t == b">>":
                depth -= 2
            i += 1
            if depth <= 0:
                break
        head = head[i:]
    return head


def _top_level(head: list[bytes]) -> list[int]:
    """Nesting depth (parens, brackets, angle brackets) before each token of `head`."""
    if b"(" not in head and b"[" not in head and b"<" not in head:
        return [0] * len(head)  # the common case, tested in C
    depths, depth = [], 0
    for t in head:
        if t in (b")", b"]", b">"):
            depth = max(0, depth - 1)
        elif t == b">>":
            depth = max(0, depth - 2)
        depths.append(depth)
        if t in (b"(", b"[", b"<"):
            depth += 1
    return depths


class _CppScanner:
    """Declarations of a C++ token stream (see the module docstring): one pass, a stack of brace frames."""

    def __init__(self, facts: FileFacts) -> None:
        self.facts = facts
        self.frames = [_Frame("file")]

    def container(self) -> str:
        for f in reversed(self.frames):
            if f.kind in ("namespace", "class", "enum"):
                return f.name
        return ""

    def add(self, name: bytes, kind: str, container: str | None = None) -> None:
        if name in _CPP_KW or not name or not is_word(name):
            return
        container = self.container() if container is None else container
        if container.startswith("\x00"):
            return  # inside an anonymous struct or enum: nothing to name it by
        self.facts.declarations.append(Declaration(_name(name), kind, container))

    def run(self, tokens: list[bytes]) -> None:
        head: list[bytes] = []
        skip = 0  # depth inside function bodies / initialisers, where nothing is declared for the workspace
        enum_expect = False
        for tok in tokens:
            if skip:
                if tok == b"{":
                    skip += 1
                elif tok == b"}":
                    skip -= 1
                    if skip == 0:
                        frame = self.frames.pop()
                        head = frame.saved if frame.kind == "init" else []
                continue
            frame = self.frames[-1]
            if frame.kind == "enum":
                if tok == b"}":
                    closed = self.frames.pop()
                    head = closed.saved + [b"}"]
                elif tok == b",":
                    enum_expect = True
                elif enum_expect and is_word(tok):
                    self.add(tok, "enumerator", frame.name)
                    enum_expect = False
                elif tok != b"{":
                    enum_expect = False
                continue
            if tok == b"{":
                head = self.open_brace(head)
                if self.frames[-1].kind in ("body", "init"):
                    skip = 1
                enum_expect = self.frames[-1].kind == "enum"
            elif tok == b"}":
                if len(self.frames) > 1:
                    closed = self.frames.pop()
                    head = closed.saved + [b"}"] if closed.kind == "class" else []
                else:
                    head = []
            elif tok == b";":
                self.statement(head)
                head = []
            elif tok == b":" and frame.kind == "class" and len(head) == 1 and head[0] in _ACCESS:
                head = []
            else:
                head.append(tok)

    # -- braces ----------------------------------------------------------------------------------------------
    def open_brace(self, head: list[bytes]) -> list[bytes]:
        """Push the frame a `{` opens, recording what its head declares; returns the head to continue with."""
        body = _skip_template(head)
        depths = _top_level(body)
        top = [t for t, d in zip(body, depths) if d == 0]
        if b"namespace" in top:
            i = top.index(b"namespace")
            names = [t for t in top[i + 1:] if is_word(t) and t not in _CPP_KW]
            name = names[-1] if names else b""
            if name:
                self.add(name, "namespace")
            self.frames.append(_Frame("namespace", _name(name) if name else self.container()))
            return []
        if top[:1] == [b"extern"] and b'"' in top and b"(" not in top:
            self.frames.append(_Frame("namespace", self.container()))
            return []
        if b"=" not in top and b"(" not in top:
            keyword = next((t for t in top if t in _CLASS_KEYS or t == b"enum"), None)
            if keyword is not None:
                return self.open_type(keyword, top, head)
        if b"(" in top and b"=" not in top[:top.index(b"(")]:
            self.function(body, depths)
            self.frames.append(_Frame("body"))
            return []
        self.frames.append(_Frame("init", saved=head))
        return head

    def open_type(self, keyword: bytes, top: list[bytes], head: list[bytes]) -> list[bytes]:
        """`class X : Base {`, `struct X {`, `enum class X : int {`."""
        i = top.index(keyword)
        rest = top[i + 1:]
        if keyword == b"enum" and rest[:1] in ([b"class"], [b"struct"]):
            rest = rest[1:]
        colon = rest.index(b":") if b":" in rest else len(rest)
        names = [t for t in rest[:colon] if is_word(t) and t not in _CPP_KW and t != b"final"]
        name = names[-1] if names else b""
        kind = "enum" if keyword == b"enum" else "class"
        if name:
            self.add(name, kind)
            if kind == "class":
                self.bases(name, rest[colon + 1:])
        saved = [b"typedef"] if top[:1] == [b"typedef"] else []
        self.frames.append(_Frame(kind, _name(name) if name else "\x00anonymous", saved))
        return []

    def bases(self, name: bytes, spec: list[bytes]) -> None:
        """`public Base, private ns::Other<T>` -> base relations of class `name`."""
        item: list[bytes] = []
        for t in spec + [b","]:
            if t == b",":
                words = [w for w in item if is_word(w) and w not in _CPP_KW]
                if words:
                    self.add(words[-1], "base", _name(name))
                item = []
            elif t == b"<":
                item.append(b"\x00")  # template arguments are not the base's name
            elif b"\x00" not in item:
                item.append(t)

    # -- statements ------------------------------------------------------------------------------------------
    def statement(self, head: list[bytes]) -> None:
        """Declarations of a statement ending in `;` at namespace or class level."""
        head = _skip_template(head)
        if not head or head[0] in (b"friend", b"static_assert", b"return"):
            return
        if head[0] == b"using":
            if len(head) >= 3 and head[2] == b"=" and is_word(head[1]):
                self.add(head[1], "typedef")
            return
        if head[0] == b"typedef":
            self.typedef(head)
            return
        depths = _top_level(head)
        top = [t for t, d in zip(head, depths) if d == 0]
        if len(top) <= 2 and top[:1] and top[0] in _CLASS_KEYS | {b"enum"}:
            return  # a forward declaration
        if b"(" in top and b"=" not in top[:top.index(b"(")]:
            self.function(head, depths)
            return
        self.variables(head, depths)

    def typedef(self, head: list[bytes]) -> None:
        """`typedef int (*Fn)(int);`, `typedef struct {..} Name;`, `typedef unsigned long size_t;`."""
        for i in range(len(head) - 2):
            if head[i] == b"(" and head[i + 1] == b"*" and is_word(head[i + 2]):
                self.add(head[i + 2], "typedef")
                return
        words = [t for t in head if is_word(t) and t not in _CPP_KW]
        if words and len(head) >= 2:
            self.add(words[-1], "typedef")

    def function(self, head: list[bytes], depths: list[int]) -> None:
        """A function or method declared or defined by `head` (the tokens before `;` or `{`)."""
        frame = self.frames[-1]
        for i, (t, d) in enumerate(zip(head, depths)):
            if t != b"(" or d != 0 or i == 0:
                continue
            name = head[i - 1]
            if not is_word(name) or name in _NOT_FUNCTIONS or name in _CPP_KW:
                if name in (b"__attribute__", b"__declspec", b"alignas", b"decltype"):
                    continue  # an attribute before the name: keep looking
                return
            if i >= 2 and head[i - 2] in (b"~", b"operator"):
                return
            if i >= 3 and head[i - 2] == b"::" and is_word(head[i - 3]):
                owner = head[i - 3]
                if owner != name:  # `Foo::Foo(` is a constructor: nothing to complete
                    self.add(name, "method", _name(owner))
                return
            if frame.kind == "class":
                if name.decode("utf-8", "replace") != frame.name:
                    self.add(name, "method")
                return
            if i >= 2 and head[i - 2] not in (b",", b"="):
                self.add(name, "function")  # a return type precedes: not a macro call like `FOO(x)`
            return

    def variables(self, head: list[bytes], depths: list[int]) -> None:
        """`int a = 1, b[4];` (namespace level: variables) or `T x_; int y : 3;` (class level: fields)."""
        kind = "field" if self.frames[-1].kind == "class" else "variable"
        part: list[bytes] = []
        stop = False
        first = True  # the first declarator carries the type (`int a`), the next ones only a name (`, b`)
        for t, d in zip(head + [b","], depths + [0]):
            if d == 0 and t == b",":
                words = [w for w in part if is_word(w)]
                if words and (len(words) >= 2 or not first):
                    self.add(words[-1], kind)
                part, stop, first = [], False, False
            elif d == 0 and t in (b"=", b"[", b":", b"{", b"("):
                stop = True
            elif not stop and d == 0:
                part.append(t)


# -------------------------------------------------------------------------------------------- JS structure
_JS_KW = frozenset(w.encode() for w in KEYWORDS["javascript"]) - {b"get", b"set", b"of", b"as", b"from",
                                                                  b"async", b"static"}
_CONTROL = frozenset({b"if", b"for", b"while", b"switch", b"catch", b"with"})
_OBJECT_AFTER = frozenset({b"=", b"(", b",", b":", b"[", b"return", b"?", b"||", b"&&", b"??", b"=>", b"!",
                           b"yield", b"await", b"..."})
_MEMBER_PREV = frozenset({b"{", b"}", b";", b"static", b"async", b"get", b"set", b"*", b")", b"]", b'"', b"0"})
_KEY_PREV = frozenset({b"{", b",", b"async", b"get", b"set", b"*", b"..."})


class _JsScanner:
    """Declarations, exports and module specifiers of a JavaScript token stream.

    Frames: file, class, object (a literal whose keys are worth keeping: `module.exports = {..}`, `const X =
    {..}` at file level), block (`if`, plain braces: transparent), body (functions; nothing is declared there
    for the workspace except `X.prototype.y =`), other (any other literal).
    """

    def __init__(self, facts: FileFacts, specs: list[str]) -> None:
        self.facts = facts
        self.specs = specs
        self.next_spec = 0

    def add(self, name: bytes, kind: str, container: str = "") -> None:
        if name and is_word(name) and name not in _JS_KW:
            self.facts.declarations.append(Declaration(_name(name), kind, container))

    def export(self, name: bytes | str) -> None:
        text = name if isinstance(name, str) else _name(name)
        if text and text not in self.facts.exports:
            self.facts.exports.append(text)

    def spec(self) -> str | None:
        """The module specifier of the next `require("..")` / `from ".."` met in the stream."""
        if self.next_spec < len(self.specs):
            self.next_spec += 1
            return self.specs[self.next_spec - 1]
        return None

    def run(self, toks: list[bytes]) -> None:
        frames: list[_Frame] = [_Frame("file")]
        parens: list[bytes] = []  # the token before each open `(`
        pending_class = b""
        n = len(toks)
        for i, tok in enumerate(toks):
            prev = toks[i - 1] if i else b";"
            nxt = toks[i + 1] if i + 1 < n else b""
            frame = frames[-1]
            if tok == b"(":
                parens.append(prev)
            elif tok == b")":
                if parens:
                    parens.pop()
            elif tok == b'"' and (prev == b"from" or (prev == b"(" and i >= 2 and toks[i - 2] in (b"require", b"import"))
                                  or (prev == b"import")):
                self.module_spec(toks, i)
            elif tok == b"{":
                frames.append(self.open_brace(toks, i, frame, pending_class, parens))
                pending_class = b""
                continue
            elif tok == b"}":
                if len(frames) > 1:
                    frames.pop()
                continue
            outside = all(f.kind in ("file", "block", "class", "object") for f in frames)
            if tok == b"prototype" and prev == b"." and i >= 2 and nxt == b"." and i + 3 < n and toks[i + 3] == b"=":
                self.add(toks[i + 2], "method", _name(toks[i - 2]))
            if not outside:
                continue
            if frame.kind == "class":
                self.class_member(toks, i, frame)
            elif frame.kind == "object":
                if is_word(tok) and prev in _KEY_PREV and nxt in (b":", b",", b"}", b"("):
                    self.add(tok, "field", frame.name)
                    if frame.saved:
                        self.export(tok)
            else:
                pending_class = self.statement(toks, i) or pending_class

    # -- braces ----------------------------------------------------------------------------------------------
    def open_brace(self, toks: list[bytes], i: int, frame: _Frame, pending_class: bytes,
                   parens: list[bytes]) -> _Frame:
        prev = toks[i - 1] if i else b";"
        if pending_class:
            return _Frame("class", _name(pending_class))
        if prev == b")":
            # the token before the matching `(` was popped already; look it up again by walking back
            return _Frame("block" if self.control_before(toks, i - 1) else "body")
        if prev == b"=>":
            return _Frame("body")
        if prev in _OBJECT_AFTER or prev == b"default":
            owner = self.object_owner(toks, i, frame)
            if owner is not None:
                return _Frame("object", owner[0], [b"export"] if owner[1] else [])
            return _Frame("other")
        if frame.kind == "class" or frame.kind == "object":
            return _Frame("body")  # `static {` block, or a method body after a computed key
        return _Frame("block")

    @staticmethod
    def control_before(toks: list[bytes], close: int) -> bool:
        """Whether the `( ... )` ending at `close` belongs to `if`/`for`/`while`/`switch`/`catch`."""
        depth = 0
        for j in range(close, max(-1, close - 2000), -1):
            t = toks[j]
            if t == b")":
                depth += 1
            elif t == b"(":
                depth -= 1
                if depth == 0:
                    return j > 0 and toks[j - 1] in _CONTROL
        return False

    def object_owner(self, toks: list[bytes], i: int, frame: _Frame) -> tuple[str, bool] | None:
        """(name, exported) of an object literal whose keys the index keeps, else None."""
        if frame.kind not in ("file", "block") or i < 2 or toks[i - 1] != b"=":
            if frame.kind in ("file", "block") and i >= 2 and toks[i - 1] == b"default" and toks[i - 2] == b"export":
                return "default", True
            return None
        t2 = toks[i - 2]
        if t2 == b"exports" and i >= 4 and toks[i - 3] == b"." and toks[i - 4] == b"module":
            return "module.exports", True
        if i >= 4 and toks[i - 3] == b"." and toks[i - 4] == b"exports":
            return _name(t2), False
        if is_word(t2) and i >= 3 and toks[i - 3] in (b"const", b"let", b"var"):
            return _name(t2), False
        return None

    # -- statements at file level ----------------------------------------------------------------------------
    def statement(self, toks: list[bytes], i: int) -> bytes | None:
        """Declarations starting at token `i` at file level; returns a class name whose body comes next."""
        tok = toks[i]
        n = len(toks)
        nxt = toks[i + 1] if i + 1 < n else b""
        prev = toks[i - 1] if i else b";"
        exported = prev == b"export" or (prev == b"default" and i >= 2 and toks[i - 2] == b"export")
        if tok == b"function":
            j = i + 1 + (nxt == b"*")
            if j < n and is_word(toks[j]) and toks[j] != b"(":
                self.add(toks[j], "function")
                if exported:
                    self.export(toks[j])
            if prev == b"default":
                self.export("default")
        elif tok == b"class" and prev != b".":
            name = nxt if is_word(nxt) and nxt != b"extends" else b""
            if name:
                self.add(name, "class")
                if exported:
                    self.export(name)
                j = i + 2
                if j + 1 < n and toks[j] == b"extends" and is_word(toks[j + 1]):
                    self.add(toks[j + 1], "base", _name(name))
            if prev == b"default":
                self.export("default")
            return name or b"\x00anonymous"
        elif tok in (b"const", b"let", b"var") and is_word(nxt):
            kind = "function" if i + 3 < n and toks[i + 2] == b"=" and toks[i + 3] in (b"function", b"async") \
                or (i + 4 < n and toks[i + 2] == b"=" and toks[i + 3] == b"(" and b"=>" in toks[i + 4:i + 24]) \
                else "variable"
            if i + 3 < n and toks[i + 2] == b"=" and toks[i + 3] == b"class":
                kind = "class"
            self.add(nxt, kind)
            if exported:
                self.export(nxt)
        elif tok == b"export" and nxt == b"{":
            self.export_list(toks, i + 1)
        elif tok == b"export" and nxt == b"*":
            j = toks.index(b"from", i, min(n, i + 6)) if b"from" in toks[i:i + 6] else -1
            if j >= 0 and j + 1 < n and toks[j + 1] == b'"':
                self.facts.reexports.append("\x00pending")  # filled by module_spec
        elif tok == b"default" and prev == b"export" and nxt not in (b"function", b"class", b"{"):
            self.export("default")
            if is_word(nxt) and i + 2 < n and toks[i + 2] in (b";", b"}"):
                self.facts.declarations.append(Declaration(_name(nxt), "export", "default"))
        elif tok == b"exports" and nxt == b"." and i + 3 < n and toks[i + 3] == b"=":
            if prev != b".":
                self.export(toks[i + 2])
            elif i >= 2 and toks[i - 2] == b"module":
                self.export(toks[i + 2])
        elif tok == b"exports" and prev == b"." and i >= 2 and toks[i - 2] == b"module" and nxt == b"=":
            self.module_exports_value(toks, i + 2)
        elif is_word(tok) and nxt == b"." and i + 3 < n and toks[i + 3] == b"=" and prev not in (b".", b"?.") \
                and tok not in (b"exports", b"module", b"this") and is_word(toks[i + 2]) and toks[i + 2] != b"prototype":
            self.add(toks[i + 2], "field", _name(tok))  # `X.y = ...`: a static member of X
        return None

    def export_list(self, toks: list[bytes], i: int) -> None:
        """`export { a, b as c }` (starting at the `{`)."""
        j = i + 1
        item: list[bytes] = []
        while j < len(toks) and toks[j] != b"}":
            if toks[j] == b",":
                if item:
                    self.export(item[-1])
                item = []
            elif is_word(toks[j]) and toks[j] != b"as":
                item.append(toks[j])
            j += 1
        if item:
            self.export(item[-1])

    def module_exports_value(self, toks: list[bytes], j: int) -> None:
        """`module.exports = X` / `= function X(` / `= class X` / `= require(..)`: the exports are X's members."""
        if j >= len(toks):
            return
        t = toks[j]
        if t in (b"function", b"class") and j + 1 < len(toks) and is_word(toks[j + 1]) and toks[j + 1] != b"(":
            target = toks[j + 1]
        elif is_word(t) and t not in _JS_KW and t != b"require":
            target = t
        else:
            if t == b"require":
                self.facts.reexports.append("\x00pending")
            return
        self.facts.declarations.append(Declaration(_name(target), "export", "module.exports"))

    def module_spec(self, toks: list[bytes], i: int) -> None:
        """A module specifier string: an import, and the target of a pending re-export."""
        spec = self.spec()
        if spec is None:
            return
        self.facts.imports.append(spec)
        if self.facts.reexports and self.facts.reexports[-1] == "\x00pending":
            self.facts.reexports[-1] = spec

    # -- class bodies ----------------------------------------------------------------------------------------
    def class_member(self, toks: list[bytes], i: int, frame: _Frame) -> None:
        """Methods (`name(`) and fields (`name =`, `name;`) at class-body level."""
        tok = toks[i]
        if not is_word(tok) or tok in (b"static", b"async", b"get", b"set"):
            return
        prev = toks[i - 1] if i else b"{"
        nxt = toks[i + 1] if i + 1 < len(toks) else b""
        if prev not in _MEMBER_PREV and not (is_word(prev) and prev not in _JS_KW):
            return
        if prev == b"#":
            return  # a private name is not reachable from outside
        if nxt == b"(" and tok != b"constructor":
            self.add(tok, "method", frame.name)
        elif nxt in (b"=", b";", b"}"):
            self.add(tok, "field", frame.name)
