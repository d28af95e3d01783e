"""Names that the code around a declaration suggests: what the declared thing is created from, assigned,
iterated over or typed as.

``const path = require('path')``, ``const parser = new Parser()``, ``const userName = getUserName()``,
``for (const item of items)``, ``Options options;``: the declaration often spells its own name.  `context_names`
reads the code tokens around the declaring occurrence (no parse is needed beyond the tokens, so the evaluation
and the editor give it the same input) and returns candidate names with the rule that produced each, best rule
first.  Each rule's precision on the valid split decides whether its name goes before the model's suggestions
(`codecomp.engine.naming`); the rules themselves are plain readings of the code, not fitted.

Torch-free and parser-free: tokens are the code tokens of `codecomp.syntax` (comments left out).
"""
from __future__ import annotations

import re
from typing import Sequence

from codecomp.naming.names import render_name, split_name

_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_STRING = re.compile(r"""^(['"`])(.*)\1$""", re.S)

# Verbs that lead a function name without naming what it returns: `getUserName()` -> `userName`.
_VERBS = frozenset({"get", "create", "make", "build", "new", "read", "load", "find", "fetch", "compute", "calc",
                    "calculate", "parse", "init", "obtain", "acquire", "lookup", "resolve", "generate", "gen",
                    "extract", "retrieve", "query", "select", "alloc", "allocate", "open", "to", "as"})
# Callees whose name says nothing about the result (`String(x)`, `std::move(y)`).
_NOISE_CALLEES = frozenset({"require", "String", "Number", "Boolean", "Object", "Array", "parseInt", "parseFloat",
                            "move", "forward", "static_cast", "dynamic_cast", "reinterpret_cast", "const_cast",
                            "assign", "call", "apply", "bind", "then", "catch", "await", "sizeof", "typeof",
                            "join", "map", "filter", "reduce", "slice", "concat", "substr", "substring", "trim",
                            "replace", "split", "toString", "valueOf", "get", "at", "format", "c_str", "str",
                            "data", "begin", "end", "size", "length", "min", "max", "abs", "floor", "ceil", "round"})
# C++ types whose name is no name for a variable of that type.
_PLAIN_TYPES = frozenset({
    "auto", "void", "bool", "char", "short", "int", "long", "float", "double", "signed", "unsigned", "size_t",
    "ssize_t", "ptrdiff_t", "int8_t", "int16_t", "int32_t", "int64_t", "uint8_t", "uint16_t", "uint32_t",
    "uint64_t", "uintptr_t", "intptr_t", "wchar_t", "char16_t", "char32_t", "string", "wstring", "string_view",
    "vector", "map", "set", "unordered_map", "unordered_set", "list", "deque", "pair", "tuple", "array",
    "unique_ptr", "shared_ptr", "weak_ptr", "optional", "function", "const", "static", "volatile", "struct",
    "class", "enum", "typename", "inline", "constexpr", "mutable", "register", "extern", "std", "T", "U", "K", "V",
    "var", "let", "return", "else", "case", "new", "delete", "throw", "goto", "operator", "this", "nullptr",
})
_QUALIFIERS = frozenset({"*", "&", "&&", "const", "volatile", "restrict", "__restrict", "mutable", "static"})
_JS_DECL = frozenset({"const", "let", "var"})
_CLOSE = {"(": ")", "[": "]", "{": "}", "<": ">"}
_IRREGULAR = {"children": "child", "people": "person", "indices": "index", "indexes": "index", "entries": "entry",
              "matrices": "matrix", "vertices": "vertex", "data": "datum", "aliases": "alias",
              "statuses": "status", "analyses": "analysis", "bytes": "byte"}


def singular(word: str) -> str:
    """An English plural made singular, for names: ``items`` -> ``item``, ``entries`` -> ``entry``; a word that
    does not look plural comes back as it is."""
    low = word.lower()
    if low in _IRREGULAR:
        return _IRREGULAR[low]
    if low.endswith("ies") and len(low) > 4:
        return low[:-3] + "y"
    if low.endswith(("sses", "shes", "ches", "xes")) and len(low) > 4:
        return low[:-2]
    if low.endswith("s") and not low.endswith(("ss", "us", "is")) and len(low) > 3:
        return low[:-1]
    return low


def file_style(tokens: Sequence[str], lang: str) -> str:
    """The spelling of multi-word local names in a file: "snake" when more of its lower-case identifiers with
    several words use underscores than capitals, else "camel" (JavaScript: always camel)."""
    if lang != "cpp":
        return "camel"
    snake = camel = 0
    for t in tokens:
        if t[:1].islower() and _IDENT.match(t):
            if "_" in t.strip("_"):
                snake += 1
            elif any(ch.isupper() for ch in t):
                camel += 1
    return "snake" if snake > camel else "camel"


def _named(parts: Sequence[str], style: str, rule: str) -> list[tuple[str, str]]:
    """[(the words spelled in `style`, rule)], or [] when they spell no usable name (none, or more than five)."""
    parts = [p for p in parts if p]
    if not parts or len(parts) > 5:
        return []
    name = render_name(parts, style)
    return [(name, rule)] if _IDENT.match(name) else []


def _words(identifier: str) -> list[str]:
    return split_name(identifier.strip("_$"))


def _module_words(spec: str) -> list[str]:
    """`'./lib/fooBar.js'` -> foo, bar; `'@scope/some-pkg'` -> some, pkg; `'node:path'` -> path."""
    base = spec.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    base = re.sub(r"\.(m|c)?js$|\.json$|\.node$", "", base)
    if base in ("", "index", ".", ".."):
        parent = spec.rstrip("/").rsplit("/", 2)
        base = parent[-2] if len(parent) >= 2 else ""
    return _words(base)


def _module_name(token: str, style: str) -> list[tuple[str, str]]:
    """The name a module specifier (a string token: `'./lib/fooBar.js'`) gives its import, as rule "require"."""
    m = _STRING.match(token)
    return _named(_module_words(m.group(2)), style, "require") if m else []


def _expression_end(tokens: Sequence[str], start: int, limit: int = 60) -> int:
    """Index just past the expression that starts at `start` (ends at `;` or `,` at depth 0, or at an unmatched
    closing bracket), reading at most `limit` tokens."""
    depth = 0
    i = start
    while i < len(tokens) and i < start + limit:
        t = tokens[i]
        if t in ("(", "[", "{"):
            depth += 1
        elif t in (")", "]", "}"):
            if depth == 0:
                return i
            depth -= 1
        elif depth == 0 and t in (";", ","):
            return i
        i += 1
    return i


def _from_initializer(tokens: Sequence[str], start: int, lang: str, style: str) -> list[tuple[str, str]]:
    """Candidates from the expression a name is initialised with (`start`: its first token)."""
    expr = list(tokens[start:_expression_end(tokens, start)])
    while expr and expr[0] in ("await", "yield", "*", "&", "(", "!", "typeof", "void"):
        expr = expr[1:]
    if not expr:
        return []
    # require('mod') / await import('mod')
    if len(expr) >= 3 and expr[0] in ("require", "import") and expr[1] == "(" and _STRING.match(expr[2]):
        return _module_name(expr[2], style)
    # new T(...) / std::make_unique<T>(...) / std::make_shared<T>(...)
    if expr[0] == "new":
        chain = [t for t in expr[1:] if t not in (".", "::")]
        typ = next((t for k, t in enumerate(chain) if _IDENT.match(t)
                    and (k + 1 >= len(chain) or not _IDENT.match(chain[k + 1]))), None)
        return _named(_words(typ), style, "new") if typ and typ not in _PLAIN_TYPES else []
    for k, t in enumerate(expr[:-2]):
        if t in ("make_unique", "make_shared") and expr[k + 1] == "<":
            typ = next((x for x in reversed(expr[k + 2:_matching(expr, k + 1)]) if _IDENT.match(x)), None)
            return _named(_words(typ), style, "new") if typ and typ not in _PLAIN_TYPES else []
    # the first call at the top level: `a.b.getUserName(x)` -> userName; `T(...)` in C++ -> t
    depth = 0
    for k, t in enumerate(expr):
        if t in ("(", "[", "{"):
            if depth == 0 and t == "(" and k > 0 and _IDENT.match(expr[k - 1]):
                callee = expr[k - 1]
                if lang == "cpp" and callee[:1].isupper() and (k < 2 or expr[k - 2] not in (".", "->")):
                    # a constructor call: `auto opts = Options(...)`
                    return _named(_words(callee), style, "new") if callee not in _PLAIN_TYPES else []
                if callee in _NOISE_CALLEES:
                    return []
                words = _words(callee)
                while len(words) > 1 and words[0] in _VERBS:
                    words = words[1:]
                return _named(words, style, "call") if words and words[0] not in _VERBS else []
            depth += 1
        elif t in (")", "]", "}"):
            depth -= 1
    # a plain member read: `options.timeout` -> timeout (not `this.x = x`, which is no declaration)
    if len(expr) >= 3 and all(_IDENT.match(x) or x in (".", "->", "::", "?.") for x in expr) \
            and expr[-2] in (".", "->", "?.", "::") and expr[-1] not in ("length", "size", "prototype"):
        return _named(_words(expr[-1]), style, "member")
    return []


def _matching(tokens: Sequence[str], open_at: int) -> int:
    """Index of the bracket closing the one at `open_at` (or the end)."""
    opener = tokens[open_at]
    closer = _CLOSE.get(opener, ")")
    depth = 0
    for i in range(open_at, len(tokens)):
        if tokens[i] == opener:
            depth += 1
        elif tokens[i] == closer:
            depth -= 1
            if depth == 0:
                return i
    return len(tokens)


def _iterated(tokens: Sequence[str], decl: int, lang: str, style: str) -> list[tuple[str, str]]:
    """`for (const x of items)` / `for (auto& x : items)` -> item."""
    k = decl + 1
    if lang == "cpp":
        if k < len(tokens) and tokens[k] == ":":
            start = k + 1
        else:
            return []
    else:
        if k < len(tokens) and tokens[k] in ("of", "in") and decl >= 2 and tokens[decl - 1] in _JS_DECL \
                and tokens[decl - 2] == "(":
            if tokens[k] == "in":
                return [("key", "for-in")]
            start = k + 1
        else:
            return []
    end = _expression_end(tokens, start)
    # the last name that is not a call (`Object.entries(rows)` walks `rows`)
    idents = [t for j, t in enumerate(tokens[start:end], start) if _IDENT.match(t) and t != "this"
              and (j + 1 >= end or tokens[j + 1] != "(")]
    if not idents:
        return []
    words = _words(idents[-1])
    if not words:
        return []
    single = singular(words[-1])
    if single == words[-1]:
        return []  # not a plural: `for (x of list)` says nothing
    return _named(words[:-1] + [single], style, "iterate")


def _declared_type(tokens: Sequence[str], decl: int, style: str) -> list[tuple[str, str]]:
    """C++ `Options opts;`, `const Config& config`, `Foo* foo` -> the type's name as a variable name."""
    k = decl - 1
    while k >= 0 and tokens[k] in _QUALIFIERS:
        k -= 1
    if k < 0 or not _IDENT.match(tokens[k]) or tokens[k] in _PLAIN_TYPES or not tokens[k][:1].isupper():
        return []
    if k >= 1 and tokens[k - 1] in (".", "->"):
        return []  # a member access, not a type
    words = _words(tokens[k])
    out = _named(words, style, "type")
    if len(words) > 1:  # `CharReaderBuilder builder`
        out += _named(words[-1:], style, "type")
    return out


_TYPE_TAIL = frozenset({"*", "&", "&&", "const"})


def _type_key(tokens: Sequence[str], at: int) -> tuple[str, ...] | None:
    """The C++ type written before the name at `at` (`const std::string&` -> const, string, &), or None when the
    name does not follow a type (an expression, a member access, a keyword)."""
    k = at - 1
    tail = []
    while k >= 0 and tokens[k] in _TYPE_TAIL:
        tail.append(tokens[k])
        k -= 1
    if k < 0 or not _IDENT.match(tokens[k]) or (k >= 1 and tokens[k - 1] in (".", "->")) \
            or tokens[k] in ("return", "else", "case", "new", "delete", "throw", "goto", "sizeof", "typedef"):
        return None
    lead = "const" if k >= 1 and tokens[k - 1] == "const" or k >= 3 and tokens[k - 3] == "const" else ""
    return (lead, tokens[k], *reversed(tail))


def _same_type(tokens: Sequence[str], occurrences: Sequence[int], style: str) -> list[tuple[str, str]]:
    """C++: the name the file most often gives other declarations of the same type (`const Options& options`
    elsewhere in the file -> options)."""
    decl = min(occurrences)
    key = _type_key(tokens, decl)
    if key is None:
        return []
    occ = set(occurrences)
    counts: dict[str, int] = {}
    near: dict[str, int] = {}  # token distance of the nearest such declaration (ties go to the nearest)
    for j in range(1, len(tokens) - 1):
        t = tokens[j]
        if j in occ or tokens[j + 1] not in (",", ")", ";", "=", "{", "[") or not _IDENT.match(t) \
                or t in _PLAIN_TYPES or tokens[j - 1] not in _TYPE_TAIL and tokens[j - 1] != key[1]:
            continue
        if _type_key(tokens, j) == key:
            counts[t] = counts.get(t, 0) + 1
            near[t] = min(near.get(t, len(tokens)), abs(j - decl))
    if not counts:
        return []
    best = max(counts, key=lambda name: (counts[name], -near[name], name))
    return [(best, "same-type")]


def _definitions(tokens: Sequence[str]) -> dict[str, list[int]]:
    """Routines the file defines, each with the token indices of its parameters' names, in order:
    `function f(a, b) {`, `f(a, b) {` (a method, or C++ `T f(int a, int b) {`), `f = function (a, b)`,
    `f: function (a, b)`.  A name defined twice keeps its first definition."""
    out: dict[str, list[int]] = {}
    for i in range(1, len(tokens) - 1):
        if tokens[i] != "(" or not _IDENT.match(tokens[i - 1]):
            continue
        name = tokens[i - 1]
        if name == "function":  # `f = function (a, b)` / `f: function (a, b)`
            if i >= 3 and tokens[i - 2] in ("=", ":") and _IDENT.match(tokens[i - 3]):
                name = tokens[i - 3]
            else:
                continue
        elif name in _NOISE_CALLEES or name in ("if", "for", "while", "switch", "catch", "return", "sizeof"):
            continue
        close = _matching(tokens, i)
        after = tokens[close + 1] if close + 1 < len(tokens) else ""
        if not (after == "{" or tokens[i - 2:i - 1] == ["function"] or tokens[i - 1] == "function"
                or after in ("const", "override", "noexcept", "->", ":") and close + 2 < len(tokens)):
            continue
        params: list[int] = []
        depth, last = 0, None
        for j in range(i + 1, close + 1):
            t = tokens[j]
            if depth == 0 and t in (",", ")"):
                if last is not None:
                    params.append(last)
                last = None
                continue
            if t in ("(", "[", "{", "<"):
                depth += 1
            elif t in (")", "]", "}", ">"):
                depth -= 1
            elif depth == 0 and t == "=":
                depth = 100  # a default value: the name came before it
            elif depth == 0 and _IDENT.match(t):
                last = j
        if params and name not in out:
            out[name] = params
    return out


def _argument_names(tokens: Sequence[str], occurrences: Sequence[int], style: str) -> list[tuple[str, str]]:
    """The name of the parameter the symbol is passed as, when the callee is defined in the file: `init(opts)`
    with `function init(options)` -> options.  Never a parameter that is the symbol itself (a recursive call)."""
    occ = set(occurrences)
    defs: dict[str, list[int]] | None = None
    out: list[tuple[str, str]] = []
    for o in sorted(occurrences):
        if o + 1 >= len(tokens) or tokens[o + 1] not in (",", ")") or tokens[o - 1] not in ("(", ","):
            continue
        # walk back to the call's opening bracket, counting the arguments before this one
        depth, index, k = 0, 0, o - 1
        while k >= 0:
            t = tokens[k]
            if t in (")", "]", "}"):
                depth += 1
            elif t in ("(", "[", "{"):
                if depth == 0:
                    break
                depth -= 1
            elif t == "," and depth == 0:
                index += 1
            k -= 1
        if k < 1 or tokens[k] != "(" or not _IDENT.match(tokens[k - 1]):
            continue
        if defs is None:
            defs = _definitions(tokens)
        params = defs.get(tokens[k - 1])
        if params and index < len(params) and params[index] not in occ:
            out += _named(_words(tokens[params[index]]), style, "argument")
    return out


def _member_stem(member: str) -> list[str]:
    """`size_`, `m_size`, `_size`, `mSize` -> size (a member's name without its member affixes)."""
    core = member
    if core.startswith("m_"):
        core = core[2:]
    elif len(core) > 2 and core[0] == "m" and core[1].isupper():
        core = core[1:]
    return _words(core.strip("_"))


def _from_uses(tokens: Sequence[str], occurrences: Sequence[int], lang: str, style: str) -> list[tuple[str, str]]:
    """Candidates from where the symbol is used (never from the tokens of its own occurrences): stored into a
    member (`this.options = x`, `options_(x)` in a constructor's initialiser list, `m_options = x`), or given as
    an object key's value (`{timeout: x}`)."""
    out: list[tuple[str, str]] = []
    occ = set(occurrences)
    for o in sorted(occurrences):
        if o < 2 or o - 2 in occ:
            continue
        before, named = tokens[o - 1], tokens[o - 2]   # `named = x`, `named(x)`, `named: x`
        prior = tokens[o - 3] if o >= 3 else None
        nxt = tokens[o + 1] if o + 1 < len(tokens) else ""
        member_like = bool(_IDENT.match(named)) and (named.endswith("_") or named.startswith("m_"))
        if o >= 4 and before == "=" and prior in (".", "->") and tokens[o - 4] == "this" and nxt in (";", "", "}", ","):
            out += _named(_member_stem(named), style, "store")
        elif lang == "cpp" and member_like and before in ("(", "{") and nxt in (")", "}") and prior in (":", ","):
            out += _named(_member_stem(named), style, "store")        # `named_(x)` in an initialiser list
        elif lang == "cpp" and member_like and before == "=" and nxt == ";" \
                and (prior is None or prior in (";", "{", "}", "->", ".")):
            out += _named(_member_stem(named), style, "store")        # `m_named = x;`
        elif lang != "cpp" and before == ":" and prior in ("{", ",") and _IDENT.match(named) and nxt in (",", "}"):
            out += _named(_words(named), style, "key")
    return out


def context_names(tokens: Sequence[str], occurrences: int | Sequence[int], lang: str, kind: str = "variable",
                  style: str | None = None) -> list[tuple[str, str]]:
    """Candidate names for the symbol whose occurrences are these code tokens (the first declares it; the text of
    the occurrences is never read), as (name, rule) pairs in the order the rules below are tried; a name found
    by several rules comes once, with the one most precise for this language and kind.

    `kind`: "variable", "parameter" or "function" (functions get none).  Rules: "require" (a module's name),
    "new" (the created type), "call" (the called function without a leading verb), "member" (the member read),
    "iterate" (the singular of what a loop walks), "for-in" (`key`), "type" (C++: the declared class type),
    "argument" (the parameter of a routine of the file it is passed as), "same-type" (C++: the name the file
    gives most other declarations of the same type), "store" (the member it is stored into), "key" (the object
    key it is given as).
    """
    occ = [o for o in ([occurrences] if isinstance(occurrences, int) else occurrences) if 0 <= o < len(tokens)]
    if not occ or kind == "function":
        return []  # a routine is named for what it does, which its declaration does not spell
    decl = min(occ)
    style = style or file_style(tokens, lang)
    out: list[tuple[str, str]] = []
    k = decl + 1
    if k + 1 < len(tokens) and tokens[k] == "=" and tokens[k + 1] != "=":
        out += _from_initializer(tokens, k + 1, lang, style)
    elif lang != "cpp" and k + 1 < len(tokens) and tokens[k] == "from" and decl >= 1 and tokens[decl - 1] == "import":
        out += _module_name(tokens[k + 1], style)
    out += _iterated(tokens, decl, lang, style)
    if lang == "cpp":
        if k + 1 < len(tokens) and tokens[k] == "(" or k < len(tokens) and tokens[k] in ("{", ";", ",", ")", "=",
                                                                                        "["):
            out += _declared_type(tokens, decl, style)
    out += _from_uses(tokens, occ, lang, style)
    if lang == "cpp":
        out += _same_type(tokens, occ, style)
    out += _argument_names(tokens, occ, style)
    best: dict[str, str] = {}  # each name once, with its most precise rule (first found among equals)
    for name, rule in out:
        if name not in best or _precision(lang, kind, rule) > _precision(lang, kind, best[name]):
            best[name] = rule
    return list(best.items())


def _precision(lang: str, kind: str, rule: str) -> float:
    return RULE_PRECISION.get((lang, kind, rule), 0.0)


# Precision of each rule's name as a symbol's first context name, per language and symbol kind, on the valid
# splits of data/js-npm and data/cpp-debian (`python benchmarks/naming_rules.py --corpus DIR --split valid`); rules
# that never fired there count as 0.  A rule at or above `FIRST_PRECISION` puts its name before the model's first
# (whose own first name was right for 4.7 % of JavaScript and 2.0 % of C++ symbols there), the others right after.
RULE_PRECISION = {
    ("javascript", "variable", "require"): 0.770, ("javascript", "variable", "call"): 0.087,
    ("javascript", "variable", "member"): 0.455, ("javascript", "parameter", "key"): 0.092,
    ("javascript", "variable", "key"): 0.345, ("javascript", "variable", "new"): 0.048,
    ("javascript", "variable", "for-in"): 0.720, ("javascript", "variable", "store"): 0.0,
    ("javascript", "parameter", "store"): 0.143, ("javascript", "parameter", "argument"): 0.638,
    ("javascript", "variable", "argument"): 0.225, ("cpp", "parameter", "argument"): 0.012,
    ("cpp", "variable", "argument"): 0.041,
    ("cpp", "parameter", "type"): 0.155, ("cpp", "variable", "call"): 0.006, ("cpp", "variable", "type"): 0.038,
    ("cpp", "parameter", "call"): 0.0, ("cpp", "variable", "member"): 0.034, ("cpp", "parameter", "store"): 0.392,
    ("cpp", "parameter", "member"): 0.0, ("cpp", "variable", "store"): 0.094, ("cpp", "variable", "new"): 0.0,
    ("cpp", "variable", "iterate"): 0.529, ("cpp", "parameter", "same-type"): 0.556,
    ("cpp", "variable", "same-type"): 0.252,
}
FIRST_PRECISION = 0.10
# The least score of a name that the editor shows without being asked (an automatic code action): chosen on the
# valid splits so that the names shown are the author's about half of the time (`codecomp eval --tasks naming
# --split valid`, its confidence table).
AUTOMATIC_MIN_SCORE = 0.3


def merge_names(context: Sequence[tuple[str, str]], model: Sequence[tuple[str, float]], lang: str,
                kind: str = "variable", k: int = 5) -> list[tuple[str, float]]:
    """One ranked list of (name, score) from the context's names and the model's: names of rules at least
    `FIRST_PRECISION` precise for this language and kind first, most precise first (scored with that precision),
    then the model's first name, then the other rules' names, then the rest of the model's; no name twice."""
    scored = [(n, _precision(lang, kind, r)) for n, r in context]
    strong = sorted((x for x in scored if x[1] >= FIRST_PRECISION), key=lambda x: -x[1])  # stable: ties keep order
    weak = [x for x in scored if x[1] < FIRST_PRECISION]
    out: list[tuple[str, float]] = []
    seen: set[str] = set()
    for name, score in [*strong, *list(model)[:1], *weak, *list(model)[1:]]:
        if name not in seen:
            seen.add(name)
            # scores never rise down the list (a weak rule's name after the model's first scores no more than it)
            out.append((name, min(float(score), out[-1][1]) if out else float(score)))
    return out[:k]
