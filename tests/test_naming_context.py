"""Names the code around a declaration spells (codecomp.naming.context), on real tokens from tree-sitter."""
from __future__ import annotations

import pytest

from codecomp.naming.context import context_names, file_style, merge_names, singular
from codecomp.syntax import parse


def names_for(source: str, lang: str, target: str, kind: str = "variable") -> list[tuple[str, str]]:
    """context_names for the symbol spelled `target` (every token with that text is one of its occurrences)."""
    tokens = [t.text for t in parse(source.encode(), lang).code_tokens()]
    return context_names(tokens, [i for i, t in enumerate(tokens) if t == target], lang, kind)


@pytest.mark.parametrize("source,target,expected", [
    ("const x = require('path');", "x", ("path", "require")),
    ("const x = require('node:child_process');", "x", ("childProcess", "require")),
    ("var x = require('./lib/string-utils.js');", "x", ("stringUtils", "require")),
    ("const x = require('../parser/index');", "x", ("parser", "require")),
    ("import x from 'lodash';", "x", ("lodash", "require")),
    ("const x = new EventEmitter();", "x", ("eventEmitter", "new")),
    ("const x = new http.Agent({keepAlive: true});", "x", ("agent", "new")),
    ("const x = await this.getUserName(id);", "x", ("userName", "call")),
    ("let x = options.timeout;", "x", ("timeout", "member")),
    ("for (const x in obj) {}", "x", ("key", "for-in")),
    ("for (const x of entries) {}", "x", ("entry", "iterate")),
])
def test_javascript_rules(source: str, target: str, expected: tuple[str, str]) -> None:
    assert names_for(source, "javascript", target)[0] == expected


def test_names_from_uses_never_read_the_symbols_own_tokens() -> None:
    src = "function F(x, y) { this.options = x; return {timeout: y}; }"
    assert names_for(src, "javascript", "x", "parameter") == [("options", "store")]
    assert names_for(src, "javascript", "y", "parameter") == [("timeout", "key")]
    cpp = "struct S { S(int a, int b) : size_(a), m_count(b) {} int size_; int m_count; };"
    assert names_for(cpp, "cpp", "a", "parameter")[0] == ("size", "store")
    assert names_for(cpp, "cpp", "b", "parameter")[0] == ("count", "store")
    # the symbol's own spelling changes nothing
    tokens = [t.text for t in parse(src.encode(), "javascript").code_tokens()]
    occ = [i for i, t in enumerate(tokens) if t == "x"]
    renamed = ["zzz" if i in occ else t for i, t in enumerate(tokens)]
    assert context_names(tokens, occ, "javascript", "parameter") == context_names(renamed, occ, "javascript",
                                                                                   "parameter")


@pytest.mark.parametrize("source,target,expected", [
    ("void f(const CharReaderBuilder& x);", "x", [("charReaderBuilder", "type"), ("builder", "type")]),
    ("void f() { Options x; int a_b = 0; int c_d = 1; }", "x", [("options", "type")]),
    ("void f() { auto x = std::make_unique<Widget>(); }", "x", [("widget", "new")]),
    ("void f() { for (auto& x : children) {} }", "x", [("child", "iterate")]),
    ("void f() { std::string x; int y = 0; }", "x", []),   # a plain type spells no name
    ("int x(int a) { return a; }", "x", []),                  # routines are named for what they do
])
def test_cpp_rules(source: str, target: str, expected: list[tuple[str, str]]) -> None:
    kind = "function" if source.startswith("int x(") else ("parameter" if "f(const" in source else "variable")
    assert names_for(source, "cpp", target, kind) == expected


def test_noise_callees_and_non_declarations_give_nothing() -> None:
    assert names_for("const x = String(y);", "javascript", "x") == []
    assert names_for("const x = a.map(f);", "javascript", "x") == []
    assert names_for("let x;", "javascript", "x") == []
    assert context_names(["x"], 5, "javascript") == []


def test_helpers() -> None:
    assert [singular(w) for w in ("items", "entries", "boxes", "class", "status", "children", "list")] == \
        ["item", "entry", "box", "class", "status", "child", "list"]
    assert file_style(["read_file", "max_len", "count"], "cpp") == "snake"
    assert file_style(["readFile", "maxLen"], "cpp") == "camel"
    assert file_style(["read_file", "a_b"], "javascript") == "camel"
    assert names_for("void f() { Widget x; } int read_file_now(int max_len_x);", "cpp", "x")[0] == ("widget", "type")


def test_merge_puts_precise_rules_first_and_others_after_the_models_first() -> None:
    model = [("a", 0.5), ("b", 0.2), ("path", 0.1)]
    assert [n for n, _ in merge_names([("path", "require")], model, "javascript")] == ["path", "a", "b"]
    assert [n for n, _ in merge_names([("userName", "call")], model, "javascript")] == ["a", "userName", "b", "path"]
    assert [n for n, _ in merge_names([], model, "javascript", k=2)] == ["a", "b"]
    # the same rule can be precise for one kind of symbol and not for another
    assert merge_names([("widget", "type")], model, "cpp", "parameter")[0][0] == "widget"
    assert merge_names([("widget", "type")], model, "cpp", "variable")[0][0] == "a"


def test_argument_names_come_from_the_callees_definition_but_never_from_the_symbol_itself() -> None:
    src = "function init(options, done) { return 1; }\nfunction run(x, y) { init(y, x); return run(x, y); }"
    assert names_for(src, "javascript", "x", "parameter") == [("done", "argument")]
    assert names_for(src, "javascript", "y", "parameter") == [("options", "argument")]
    # a recursive call passes the symbol as itself: nothing to learn from it
    assert names_for("function f(n) { return f(n); }", "javascript", "n", "parameter") == []
    cpp = "int area(int width, int height) { return width * height; }\nint g(long a) { return area(a, 2); }"
    assert names_for(cpp, "cpp", "a", "parameter") == [("width", "argument")]


def test_same_type_names_come_from_other_declarations_of_the_file() -> None:
    cpp = ("void a(const Options& options);\nvoid b(const Options& options, int n);\n"
           "void c(const Options& x) {}\n")
    got = names_for(cpp, "cpp", "x", "parameter")
    assert ("options", "same-type") in got
    assert merge_names(got, [("opts", 0.2)], "cpp", "parameter")[0] == ("options", 0.556)
