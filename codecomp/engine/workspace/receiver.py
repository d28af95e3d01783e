"""What a member access refers to: the receiver before `.`, `->`, `?.` or `::` and, where the text says, its type.

The engine asks at every member-access completion, so this reads only a window of the document before the
cursor (`WINDOW` bytes), with comments and literals removed (`lexical.strip`), and uses regular expressions
for the declaration forms that name a type:

* C++: `T x;`, `T* p`, `const T& r`, `ns::T<U> x`, `auto x = T(...)`, `auto p = new T`, `auto p =
  std::make_unique<T>(...)`, smart pointers (`std::unique_ptr<T> p` -> `T`), `this->` (the enclosing class,
  or `T` in an out-of-class `T::method() {`), `T::` (the name itself);
* JavaScript: `new T()`, `this.` inside `class T` (or `function T`, or `T.prototype.m = function`), a module
  object (`const x = require("m")`, `import x from "m"`, `import * as x from "m"`), else the name itself
  (`Utils.` -> the members declared on `Utils`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from codecomp.engine.workspace.lexical import TOKEN, is_word, strip

WINDOW = 64 * 1024
_W = r"[A-Za-z_$][A-Za-z0-9_$]*"
_RECEIVER = re.compile(rb"(" + _W.encode() + rb")\s*(\?\.|->|\.|::)\s*\Z")
_SMART = frozenset({"unique_ptr", "shared_ptr", "weak_ptr", "optional", "reference_wrapper", "scoped_refptr",
                    "QSharedPointer", "QPointer", "RefPtr", "Ptr"})
_NOT_TYPES = frozenset({"return", "new", "delete", "else", "case", "goto", "throw", "co_return", "co_yield",
                        "sizeof", "typedef", "using", "namespace", "operator", "template", "typename", "class",
                        "struct", "public", "private", "protected", "friend", "if", "while", "for", "do",
                        "switch", "static_cast", "const_cast", "dynamic_cast", "reinterpret_cast", "and", "or",
                        "not"})


@dataclass(frozen=True, slots=True)
class ReceiverType:
    """The receiver of a member access and what is known about it.

    `how` says which rule found the type: "declaration", "auto", "new", "this", "qualified", "require",
    "import" or "name" (no declaration found: the receiver's own name, for `Utils.` or `ns::`).
    """

    receiver: str
    operator: str
    type_name: str | None
    module: str | None = None
    how: str = "name"


def receiver_at(source: bytes | str, pstart: int, lang: str) -> ReceiverType | None:
    """The receiver and its inferred type when `pstart` (where the word being typed starts) follows a
    member-access operator; None otherwise.  `pstart` is a byte offset into the UTF-8 source."""
    data = source.encode("utf-8", "surrogatepass") if isinstance(source, str) else source
    m = _RECEIVER.search(data, max(0, pstart - 200), pstart)
    if m is None:
        return None
    receiver, op = m.group(1).decode(), m.group(2).decode()
    before = data[max(0, m.start() - WINDOW):m.start()]
    return infer_receiver_type(before, lang, receiver, op)


def infer_receiver_type(before: bytes, lang: str, receiver: str, op: str = ".") -> ReceiverType:
    """The type of `receiver` from the text `before` it (see the module docstring)."""
    if receiver == "this":
        return ReceiverType(receiver, op, enclosing_class(before, lang), how="this")
    if op == "::":
        return ReceiverType(receiver, op, receiver, how="qualified")
    if lang == "cpp":
        found = _cpp_declared_type(strip(before, "cpp").code, receiver)
    else:
        # (no pattern can match where the name does not occur: a byte search spares the stripping of 64 KB)
        found = None if receiver.encode() not in before else \
            _js_module(before, receiver) or _js_new(strip(before, "javascript").code, receiver)
    if found is not None:
        type_name, module, how = found
        return ReceiverType(receiver, op, type_name, module, how)
    return ReceiverType(receiver, op, receiver, how="name")


def _tail(qualified: str) -> str:
    return qualified.rsplit("::", 1)[-1].rsplit(".", 1)[-1].strip()


_Q = rb"((?:[A-Za-z_][A-Za-z0-9_]*\s*::\s*)*[A-Za-z_][A-Za-z0-9_]*)"
_DECL_AFTER = frozenset(b";=,)({[:")
# one pattern for every name (the name is compared after the match): a pattern built per name cost a
# compilation for every name met the first time
_CPP_NAME = rb"([A-Za-z_$][A-Za-z0-9_$]*)"
_CPP_AUTO = re.compile(rb"\bauto\s*[*&]*\s*" + _CPP_NAME
                       + rb"\s*=\s*(?:new\s+|(?:std\s*::\s*)?make_(?:unique|shared)\s*<\s*)?" + _Q)
_CPP_TYPED = re.compile(_Q + rb"\s*(<[^;{}()]*>)?\s*(?:const\s+)?[*&\s]*(?:const\s+)?" + _CPP_NAME + rb"\Z")
MAX_OCCURRENCES = 200  # uses of the name looked at, newest first


def _cpp_declared_type(code: bytes, name: str) -> tuple[str, None, str] | None:
    """The type in the last declaration of `name` in C++ code (literals and comments already removed).

    Each use of the name is found by a plain substring search (fast in C) and only the ~160 bytes before it
    are matched against the declaration patterns: a pattern run over the whole window would try every
    position and cost tens of milliseconds on a long file.
    """
    raw = name.encode()
    end = len(code)
    for _ in range(MAX_OCCURRENCES):
        pos = code.rfind(raw, 0, end)
        if pos < 0:
            return None
        end = pos
        after = pos + len(raw)
        if (pos and code[pos - 1:pos] in _WORD_BYTES) or code[after:after + 1] in _WORD_BYTES:
            continue  # part of a longer name
        lo = max(0, code.rfind(b"\n", 0, max(0, pos - 160)) + 1)
        if code.find(b"auto", lo, pos) >= 0:  # (the pattern needs it: most uses are not declarations)
            m = next((m for m in _CPP_AUTO.finditer(code, lo, min(len(code), after + 200))
                      if m.group(1) == raw), None)
            if m is not None and m.start(0) < pos < m.end(0):
                return _tail(m.group(2).decode()), None, "auto"
        rest = code[after:after + 64].lstrip()
        if rest and rest[0] not in _DECL_AFTER:
            continue
        # a declared name follows a type, `>`, `*`, `&` or `const`: the byte before it (blanks skipped) must end
        # a word or be one of those, which rules out most uses (`f(x`, `= x`, `, x`) before the costly pattern
        k = pos
        while k > lo and code[k - 1] in _BLANK:
            k -= 1
        if k == lo or code[k - 1:k] not in _TYPE_END:
            continue
        m = _CPP_TYPED.search(code, lo, after)
        if m is None or m.group(3) != raw:  # (the name ends the text searched and follows a non-word byte)
            continue
        type_name = _tail(m.group(1).decode())
        if type_name in _NOT_TYPES or type_name == name or type_name == "auto":
            continue  # `return x;`, `delete p;`: not a declaration; look for an earlier one
        if m.group(2) and type_name in _SMART:
            inner = re.match(rb"<\s*(?:const\s+)?" + _Q, m.group(2))
            if inner:
                type_name = _tail(inner.group(1).decode())
        return type_name, None, "declaration"
    return None


_WORD_BYTES = frozenset(bytes([b]) for b in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_$")
_BLANK = frozenset(b" \t\r\n")
_TYPE_END = _WORD_BYTES | {b">", b"*", b"&"}


_JS_NAME = rb"([A-Za-z_$][\w$]*)"
# one pattern for every name (the name is compared after the match): a pattern built per receiver name cost a
# compilation, 0.5-1 ms, for every name met the first time
_JS_REQUIRE = re.compile(rb"\b(?:const|let|var)\s+" + _JS_NAME
                         + rb"\s*=\s*require\s*\(\s*['\"`]([^'\"`\n]+)['\"`]\s*\)")
_JS_IMPORT = re.compile(rb"\bimport\s+(?:\*\s*as\s+)?" + _JS_NAME
                        + rb"\s*(?:,\s*\{[^}]*\}\s*)?from\s*['\"]([^'\"\n]+)['\"]")


def _last_of(pattern: re.Pattern[bytes], text: bytes, name: bytes) -> re.Match[bytes] | None:
    """The last match of `pattern` whose first group is `name`."""
    last = None
    for m in pattern.finditer(text):
        if m.group(1) == name:
            last = m
    return last


def _js_module(before: bytes, name: str) -> tuple[None, str, str] | None:
    """The module a JS name is bound to by `require` or `import` (read from the raw text: the specifier is a
    string)."""
    raw = name.encode()
    if raw not in before:  # (a byte search: every pattern below needs the name)
        return None
    found = None
    for how, pattern in (("require", _JS_REQUIRE), ("import", _JS_IMPORT)):
        m = _last_of(pattern, before, raw)
        if m is not None and (found is None or m.start() > found[0]):
            found = (m.start(), (None, m.group(2).decode("utf-8", "replace"), how))
    return found[1] if found else None


_JS_ASSIGN_NEW = re.compile(rb"=\s*new\s+((?:[A-Za-z_$][\w$]*\.)*[A-Za-z_$][\w$]*)")
_JS_BLANK = frozenset(b" \t\n\r\f\v")


def _js_new(code: bytes, name: str) -> tuple[str, None, str] | None:
    """`x = new T(...)` (declaration or assignment), the last one before the cursor.  Found from each `= new`,
    the name then checked before it (blanks between; no name character or dot before the name): a pattern that
    starts at every word of a 64 KB window took 2-4 ms."""
    raw = name.encode()
    if raw not in code:
        return None
    last = None
    for m in _JS_ASSIGN_NEW.finditer(code):
        j = m.start()
        while j > 0 and code[j - 1] in _JS_BLANK:
            j -= 1
        i = j - len(raw)
        if i >= 0 and code[i:j] == raw and code[i - 1:i] not in _WORD_BYTES and code[i - 1:i] != b".":
            last = m     # (a dot before the name: a property, not the variable)
    return (_tail(last.group(1).decode()), None, "new") if last else None


def enclosing_class(before: bytes, lang: str) -> str | None:
    """The class whose body (or out-of-class method body) the end of `before` is in."""
    toks = TOKEN.findall(strip(before, lang).code)
    depth = 0
    for i in range(len(toks) - 1, -1, -1):
        t = toks[i]
        if t == b"}":
            depth += 1
        elif t == b"{":
            if depth:
                depth -= 1
                continue
            name = _class_of_head(toks, i, lang)
            if name:
                return name
    return None


def _class_of_head(toks: list[bytes], brace: int, lang: str) -> str | None:
    """The class named by the statement head before an open brace: `class X ... {`, C++ `X::m(...) {`,
    JS `function X(...) {` or `X.prototype.m = function (...) {`."""
    head: list[bytes] = []
    j = brace - 1
    while j >= 0 and len(head) < 64 and toks[j] not in (b";", b"{", b"}"):
        head.append(toks[j])
        j -= 1
    head.reverse()
    for k, t in enumerate(head):
        if t in (b"class", b"struct") and k + 1 < len(head) and is_word(head[k + 1]):
            names = [w for w in head[k + 1:] if is_word(w)]
            stop = [w for w in names if w in (b"extends", b"final")]
            if lang == "cpp":
                upto = head.index(b":", k) if b":" in head[k:] else len(head)
                names = [w for w in head[k + 1:upto] if is_word(w) and w != b"final"]
            elif stop:
                names = names[:names.index(stop[0])]
            return names[-1].decode() if names else None
    if lang == "cpp":
        for k in range(len(head) - 3):
            if head[k + 1] == b"::" and is_word(head[k]) and is_word(head[k + 2]) and head[k + 3] == b"(":
                return head[k].decode()
        return None
    for k in range(len(head) - 3):
        if head[k + 1] == b"." and head[k + 2] == b"prototype" and is_word(head[k]):
            return head[k].decode()
    if len(head) >= 2 and head[0] == b"function" and is_word(head[1]) and head[1] != b"(":
        return head[1].decode()
    return None
