"""Scope analysis for C++ and JavaScript: declarations, references, shadowing, hoisting, broken code."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codecomp.syntax import ParsedFile, Symbol, TokenKind, parse


def occ(pf: ParsedFile, sym: Symbol) -> list[tuple[int, int]]:
    """(line, col) of each occurrence of `sym`."""
    return [(pf.tokens[i].line, pf.tokens[i].col) for i in sym.occurrences]


def find(pf: ParsedFile, name: str, kind: str | None = None) -> list[Symbol]:
    return [s for s in pf.scopes().symbols if s.name == name and (kind is None or s.kind == kind)]


def one(pf: ParsedFile, name: str, kind: str | None = None) -> Symbol:
    found = find(pf, name, kind)
    assert len(found) == 1, (name, found)
    return found[0]


def names_visible(pf: ParsedFile, marker: str) -> list[str]:
    return [s.name for s in pf.scopes().visible_at(pf.source.index(marker.encode()))]


# ---------------------------------------------------------------------------------------------- JavaScript


def test_js_shadowing_blocks_and_hoisting() -> None:
    src = (
        "use(v); g();\n"                    # 0: v and g are hoisted
        "var v = 1;\n"                      # 1
        "function g() { return v; }\n"      # 2
        "let x = 1;\n"                      # 3
        "{ let x = 2; x; }\n"               # 4
        "x;\n"                              # 5
    )
    pf = parse(src, "javascript")
    v = one(pf, "v")
    assert v.kind == "variable" and v.hoisted
    assert occ(pf, v) == [(0, 4), (1, 4), (2, 22)]
    assert occ(pf, one(pf, "g", "function")) == [(0, 8), (2, 9)]
    outer, inner = sorted(find(pf, "x"), key=lambda s: s.scope)
    assert occ(pf, outer) == [(3, 4), (5, 0)]
    assert occ(pf, inner) == [(4, 6), (4, 13)]
    assert pf.scopes().scopes[inner.scope].kind == "block"


def test_js_var_is_function_scoped() -> None:
    pf = parse("function f() { if (a) { var h = 1; } return h; }", "javascript")
    h = one(pf, "h")
    assert pf.scopes().scopes[h.scope].kind == "function"
    assert len(h.occurrences) == 2


def test_js_parameters_defaults_rest_destructuring() -> None:
    src = "function f(a, b = a, ...rest) { const {p, q: [r], s = 2, ...t} = a; return p + r + s + t + rest + b; }"
    pf = parse(src, "javascript")
    for name in ("a", "b", "rest"):
        assert one(pf, name).kind == "parameter"
    assert len(one(pf, "a").occurrences) == 3
    for name in ("p", "r", "s", "t"):
        sym = one(pf, name)
        assert sym.kind == "variable" and len(sym.occurrences) == 2, name
    assert not find(pf, "q")  # a property key, not a binding


def test_js_functions_arrows_classes_catch_for_of_imports() -> None:
    src = (
        "import def, { a as b, c } from 'm'; import * as ns from 'n';\n"
        "const h = function inner(z) { return inner(z); };\n"
        "const k = async (m, {n}) => m + n; const w = u => u * 2;\n"
        "class C extends Base { fld = 1; meth(a) { return this.fld + this.meth(a); } }\n"
        "try { def(); } catch ({message}) { message; }\n"
        "for (const [i, j] of ns) { i + j + b + c; }\n"
    )
    pf = parse(src, "javascript")
    for name in ("def", "b", "c", "ns"):
        assert one(pf, name).kind == "variable"
    assert [s.kind for s in find(pf, "a")] == ["parameter"]  # the imported name before `as` binds nothing
    assert len(one(pf, "def").occurrences) == 2 and len(one(pf, "b").occurrences) == 2
    assert len(one(pf, "inner", "function").occurrences) == 2
    assert len(one(pf, "z", "parameter").occurrences) == 2
    for name in ("m", "n", "u"):
        assert one(pf, name).kind == "parameter" and len(one(pf, name).occurrences) == 2
    assert one(pf, "C").kind == "class"
    fld, meth = one(pf, "fld"), one(pf, "meth")
    assert (fld.kind, meth.kind) == ("field", "method")
    assert len(fld.occurrences) == 2 and len(meth.occurrences) == 2  # this.fld, this.meth
    assert pf.scopes().scopes[fld.scope].kind == "class"
    assert one(pf, "message").kind == "parameter" and len(one(pf, "message").occurrences) == 2
    assert len(one(pf, "i").occurrences) == 2 and len(one(pf, "j").occurrences) == 2
    assert len(one(pf, "ns").occurrences) == 2


def test_js_member_properties_are_not_references() -> None:
    pf = parse("let a = 1; obj.a; ({a: 2}); ({a});", "javascript")
    a = one(pf, "a")
    assert len(a.occurrences) == 2  # declaration + the shorthand `{a}`


def test_js_class_members_need_this() -> None:
    src = "const meth = 1; class A { meth() { return meth + this.meth(); } }\nconst o = { meth() {} };"
    pf = parse(src, "javascript")
    var, method = one(pf, "meth", "variable"), one(pf, "meth", "method")
    assert len(var.occurrences) == 2      # declaration + the bare `meth` inside the method
    assert len(method.occurrences) == 2   # declaration + this.meth
    inside = {s.kind for s in pf.scopes().visible_at(pf.source.index(b"return")) if s.name == "meth"}
    assert inside == {"variable"}


def test_js_visible_at() -> None:
    src = "let early = 1;\nfunction f(p) {\n  let before = 2;\n  /*HERE*/\n  let after = 3;\n}\nvar hoisted;\n"
    pf = parse(src, "javascript")
    seen = names_visible(pf, "/*HERE*/")
    assert seen[:2] == ["before", "p"]
    assert "after" not in seen
    assert {"early", "f", "hoisted"} <= set(seen)
    at_top = names_visible(pf, "let early")
    assert "early" not in at_top and "hoisted" in at_top and "p" not in at_top


def test_js_visible_at_shadowing() -> None:
    pf = parse("let x = 1; function f(x) { /*IN*/ }", "javascript")
    visible = pf.scopes().visible_at(pf.source.index(b"/*IN*/"))
    xs = [s for s in visible if s.name == "x"]
    assert len(xs) == 1 and xs[0].kind == "parameter"


@pytest.mark.parametrize("src", [
    "function f(a) { let b = a; if (b) { b.",
    "const o = {x: 1,\nfoo(",
    "class A { m(q) { return q.",
    "for (let i = 0; i <",
    ")))}}}{{{ let let let",
])
def test_js_broken_code_never_raises(src: str) -> None:
    pf = parse(src, "javascript")
    info = pf.scopes()
    assert info.scopes[0].kind == "file"
    info.visible_at(len(pf.source))


def test_js_half_typed_function_keeps_its_scope() -> None:
    src = "function f(a) { let b = a; if (b) { b."
    pf = parse(src, "javascript")
    assert one(pf, "f").kind == "function"
    assert len(one(pf, "a").occurrences) == 2
    assert len(one(pf, "b").occurrences) == 3
    assert {"a", "b", "f"} <= {s.name for s in pf.scopes().visible_at(len(pf.source))}


# ---------------------------------------------------------------------------------------------------- C++


CPP = """\
template <typename T> struct Box : Base {
  T value; int *count;
  int get(int k) const { return value + k + helper(); }
  static int helper();
  Box(int q) : count(nullptr) { this->value = q; }
};
int Box::total(const std::string& s, int d = 3) { return value + d + s.size() + std::max(d, 1); }
void run() {
  int v = 1;
  for (auto& item : items) { v += item; }
  for (int i = 0; i < v; ++i) { int v = i; v; }
  try { } catch (const std::exception& e) { e.what(); }
  auto sq = [&v](int y) { return y * v; };
  v = sq(2);
}
"""


def test_cpp_class_members_and_methods() -> None:
    pf = parse(CPP, "cpp")
    box = one(pf, "Box", "class")
    assert occ(pf, box)[0] == (0, 29)
    value = one(pf, "value")
    assert value.kind == "field" and pf.scopes().scopes[value.scope].kind == "class"
    # T value; `value` in get(); this->value; `value` in the out-of-class Box::total
    assert occ(pf, value) == [(1, 4), (2, 32), (4, 38), (6, 57)]
    assert one(pf, "count").kind == "field" and len(one(pf, "count").occurrences) == 2  # member initialiser
    helper = one(pf, "helper")
    assert helper.kind == "method" and len(helper.occurrences) == 2  # used before its declaration in the class
    assert one(pf, "get").kind == "method"
    assert one(pf, "total").kind == "method"
    assert one(pf, "T").kind == "class" and len(one(pf, "T").occurrences) == 2


def test_cpp_parameters_locals_and_shadowing() -> None:
    pf = parse(CPP, "cpp")
    assert one(pf, "k").kind == "parameter" and len(one(pf, "k").occurrences) == 2
    assert one(pf, "s").kind == "parameter" and len(one(pf, "s").occurrences) == 2
    assert one(pf, "d").kind == "parameter" and len(one(pf, "d").occurrences) == 3
    outer, inner = sorted(find(pf, "v"), key=lambda s: s.scope)
    # outer v: decl, v += item, i < v, capture [&v], y * v, v = sq(2)
    assert occ(pf, outer) == [(8, 6), (9, 29), (10, 22), (12, 14), (12, 37), (13, 2)]
    assert occ(pf, inner) == [(10, 36), (10, 43)]
    assert one(pf, "item").kind == "variable" and len(one(pf, "item").occurrences) == 2
    assert len(one(pf, "i").occurrences) == 4
    assert one(pf, "e").kind == "parameter" and len(one(pf, "e").occurrences) == 2
    assert one(pf, "y").kind == "parameter" and len(one(pf, "y").occurrences) == 2
    assert one(pf, "sq").kind == "variable" and len(one(pf, "sq").occurrences) == 2
    assert one(pf, "run").kind == "function"
    assert not find(pf, "max") and not find(pf, "size")  # qualified / member names are not locals


def test_cpp_template_out_of_class_definition() -> None:
    src = ("template <class T> struct W { T item; T get(); };\n"
           "template <class T> T W<T>::get() { return item; }\n")
    pf = parse(src, "cpp")
    assert len(one(pf, "item").occurrences) == 2
    assert [s.kind for s in find(pf, "get")] == ["method", "method"]


def test_cpp_use_before_declaration_is_not_a_reference() -> None:
    pf = parse("int f() { x; int x = 1; return x; }", "cpp")
    x = one(pf, "x")
    assert occ(pf, x) == [(0, 17), (0, 31)]


def test_cpp_namespaces_enums_typedefs_macros() -> None:
    src = ("#define LIMIT 10\n#define SQ(a) ((a)*(a))\nnamespace ns { int nv = LIMIT; }\n"
           "enum Color { Red, Green }; typedef unsigned long ulong; using Vec = std::vector<int>;\n"
           "ulong g(Color c) { return c == Red ? SQ(2) : 0; }\n")
    pf = parse(src, "cpp")
    assert one(pf, "LIMIT").kind == "variable" and len(one(pf, "LIMIT").occurrences) == 2
    assert one(pf, "SQ").kind == "function" and len(one(pf, "SQ").occurrences) == 2
    assert pf.scopes().scopes[one(pf, "nv").scope].kind == "namespace"
    assert one(pf, "Color").kind == "class" and len(one(pf, "Color").occurrences) == 2
    assert len(one(pf, "Red").occurrences) == 2
    assert one(pf, "ulong").kind == "class" and len(one(pf, "ulong").occurrences) == 2
    assert one(pf, "Vec").kind == "class"


def test_cpp_visible_at() -> None:
    src = "int g;\nstruct S { int m; void f(int p) { int a; /*HERE*/ int b; } };\n"
    pf = parse(src, "cpp")
    seen = names_visible(pf, "/*HERE*/")
    assert seen[:2] == ["a", "p"]
    assert "b" not in seen and {"m", "f", "g", "S"} <= set(seen)


@pytest.mark.parametrize("src", [
    "int main() { std::vector<int> v; v.",
    "if (x",
    "class A { public: int f(",
    "int g; int main() { Foo foo; if (x) { int y = 2; y\n",
    "}}}} ((( template <",
    "#define X(",
])
def test_cpp_broken_code_never_raises(src: str) -> None:
    pf = parse(src, "cpp")
    info = pf.scopes()
    info.visible_at(len(pf.source))
    info.visible_at(0)


def test_cpp_half_typed_function_keeps_its_scope() -> None:
    src = "int g; int main() { Foo foo; if (x) { int y = 2; y\n"
    pf = parse(src, "cpp")
    assert one(pf, "main").kind == "function"
    assert len(one(pf, "y").occurrences) == 2
    visible = {s.name for s in pf.scopes().visible_at(len(pf.source))}
    assert {"g", "main", "foo", "y"} <= visible


def test_symbol_of_token() -> None:
    pf = parse("let a = 1; a + a;", "javascript")
    info = pf.scopes()
    a = one(pf, "a")
    assert all(info.symbol_of_token(t) is a for t in a.occurrences)
    assert info.symbol_of_token(0) is None  # `let`


_PIECES = st.sampled_from([
    "int ", "let ", "var ", "const ", "function ", "class ", "struct ", "x", "y", "f", " = ", "1", ";", ",", "(",
    ")", "{", "}", "[", "]", ".", "->", "::", "=>", "for ", "if ", "catch ", "try ", "template <", ">", "\n",
    "this", "import ", "from ", "'m'", "...", "auto& ", ": ", "return ", "é",
])


@settings(max_examples=150, deadline=None)
@given(st.lists(_PIECES, max_size=40), st.sampled_from(["cpp", "javascript"]))
def test_scopes_never_raise_and_stay_consistent(pieces: list[str], lang: str) -> None:
    pf = parse("".join(pieces), lang)
    info = pf.scopes()
    for sym in info.symbols:
        assert sym.decl_token in sym.occurrences
        assert sym.occurrences == sorted(set(sym.occurrences))
        for i in sym.occurrences:
            assert pf.tokens[i].text == sym.name and pf.tokens[i].kind == TokenKind.IDENTIFIER
            assert info.symbol_of_token(i) is sym
    for scope in info.scopes[1:]:
        parent = info.scopes[scope.parent]
        assert parent.start_byte <= scope.start_byte <= scope.end_byte <= parent.end_byte
    for byte in range(len(pf.source) + 1):
        names = [s.name for s in info.visible_at(byte)]
        assert len(names) == len(set(names))


@pytest.mark.parametrize("lang,src,expected", [
    ("cpp", "class A { int m; int f(int a) { a.", {"a": "parameter", "m": "field", "f": "method", "A": "class"}),
    ("cpp", "void g(S s) { for (auto& x : s.v) { x.", {"x": "variable", "s": "parameter", "g": "function"}),
    ("cpp", "void f() { for (int i = 0; i < n; i++) { i", {"i": "variable", "f": "function"}),
    ("javascript", "class A extends B { f = 1; m(a) { a.", {"a": "parameter", "A": "class"}),
    ("javascript", "for (const x of xs) { x.", {"x": "variable"}),
    ("javascript", "function q() { let y = 1; const { z } = o; var w = 2; w.",
     {"w": "variable", "z": "variable", "y": "variable", "q": "function"}),
])
def test_half_typed_constructs_inside_error_nodes(lang: str, src: str, expected: dict[str, str]) -> None:
    pf = parse(src, lang)
    assert pf.tree.root_node.has_error
    visible = {s.name: s.kind for s in pf.scopes().visible_at(len(pf.source))}
    for name, kind in expected.items():
        assert visible.get(name) == kind, (name, visible)
