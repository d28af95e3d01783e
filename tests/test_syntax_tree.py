"""AstArrays invariants, height/level schedules and very deep nesting, on real tree-sitter parses."""

from __future__ import annotations

import glob

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codecomp.syntax import TokenKind, heights, level_schedule, node_type_names, parse
from codecomp.syntax.tree import depths

SAMPLES = [
    ("cpp", '#include <map>\n// top\nnamespace n { template <class T> struct S { T v; int f(int a) const '
            '{ return a + v; } }; }\nint main() { auto s = "x" "y"; for (auto& c : s) { /* c */ } return 0; }\n'),
    ("javascript", "import x from 'y';\n// hi\nclass A { m(a, {b}) { return `t${a}` + b; } }\n"
                   "const f = (...r) => r.map(v => v * 2); /re+/g.test('é😀');\n"),
    ("cpp", "int main() { if (x) { foo(\n"),
    ("javascript", "function g(a) { let b = a.\n"),
]


def reference_heights(parent: np.ndarray) -> np.ndarray:
    """Straightforward reverse-order loop (valid because parent[i] < i)."""
    h = np.zeros(len(parent), dtype=np.int64)
    for i in range(len(parent) - 1, 0, -1):
        p = parent[i]
        h[p] = max(h[p], h[i] + 1)
    return h


def check_invariants(lang: str, src: str, include_comments: bool) -> None:
    pf = parse(src, lang)
    arrays = pf.ast_arrays(include_comments=include_comments)
    toks = pf.tokens if include_comments else pf.code_tokens()
    n = len(arrays)
    assert all(a.dtype == np.int32 and a.shape == (n,) for a in
               (arrays.node_type, arrays.parent, arrays.child_index, arrays.depth, arrays.token))
    parent, depth = arrays.parent, arrays.depth
    assert parent[0] == -1 and depth[0] == 0
    assert np.all(parent[1:] < np.arange(1, n)) and np.all(parent[1:] >= 0)
    assert np.all(depth[1:] == depth[parent[1:]] + 1)
    # child_index counts 0, 1, 2, ... among the kept children of each parent, in order.
    seen: dict[int, int] = {}
    for i in range(1, n):
        p = int(parent[i])
        assert arrays.child_index[i] == seen.get(p, 0)
        seen[p] = seen.get(p, 0) + 1
    # Token leaves: every token exactly once, in order, with matching node types, and they are leaves.
    leaves = np.nonzero(arrays.token >= 0)[0]
    assert list(arrays.token[leaves]) == list(range(len(toks)))
    names = node_type_names(lang)
    has_child = np.zeros(n, dtype=bool)
    has_child[parent[1:]] = True
    for i in leaves:
        assert names[arrays.node_type[i]] == toks[arrays.token[i]].node_type
        assert not has_child[i]
    # Inner nodes are named nodes (or ERROR); non-token leaves do not exist except an empty root.
    inner = np.nonzero(arrays.token < 0)[0]
    assert all(names[arrays.node_type[i]] for i in inner)
    if not include_comments:
        assert all(t.kind != TokenKind.COMMENT for t in toks)


@pytest.mark.parametrize("lang,src", SAMPLES)
@pytest.mark.parametrize("include_comments", [False, True])
def test_ast_array_invariants(lang: str, src: str, include_comments: bool) -> None:
    check_invariants(lang, src, include_comments)


def test_ast_on_real_header() -> None:
    files = sorted(glob.glob("/usr/include/c++/12/bits/stl_pair.h"))
    if not files:
        pytest.skip("system C++ headers not installed")
    with open(files[0], encoding="utf-8") as f:
        check_invariants("cpp", f.read(), False)


def test_string_literal_is_one_leaf() -> None:
    pf = parse('auto s = "a\\tb";', "cpp")
    arrays = pf.ast_arrays()
    names = node_type_names("cpp")
    kinds = [names[k] for k in arrays.node_type]
    assert "string_content" not in kinds and "escape_sequence" not in kinds
    i = kinds.index("string_literal")
    assert pf.code_tokens()[arrays.token[i]].text == '"a\\tb"'


def test_comments_dropped_from_default_arrays() -> None:
    pf = parse("a; // x\nb;", "javascript")
    names = node_type_names("javascript")
    assert "comment" not in [names[k] for k in pf.ast_arrays().node_type]
    assert "comment" in [names[k] for k in pf.ast_arrays(include_comments=True).node_type]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=200))
def test_heights_match_reference_on_random_trees(choices: list[int]) -> None:
    # Random tree in pre-order-compatible form: node i's parent is any earlier node.
    parent = np.array([-1] + [c % i for i, c in enumerate(choices[1:], start=1)], dtype=np.int32)
    h = heights(parent)
    assert np.array_equal(h, reference_heights(parent))
    d = depths(parent)
    for i in range(1, len(parent)):
        assert d[i] == d[parent[i]] + 1
    levels = level_schedule(parent, by="height")
    order = np.concatenate(levels)
    assert sorted(order.tolist()) == list(range(len(parent)))
    position = np.empty(len(parent), dtype=np.int64)
    position[order] = np.arange(len(parent))
    level_of = np.empty(len(parent), dtype=np.int64)
    for k, lv in enumerate(levels):
        level_of[lv] = k
    # Every child sits in a strictly earlier level than its parent.
    assert np.all(level_of[1:] < level_of[parent[1:]])
    top_down = level_schedule(parent, by="depth")
    for k, lv in enumerate(top_down):
        assert np.all(d[lv] == k)


def test_level_schedule_rejects_unknown_order() -> None:
    with pytest.raises(ValueError, match="height"):
        level_schedule(np.array([-1]), by="breadth")


@pytest.mark.parametrize("lang,src", [
    ("cpp", "int f() { return " + "(" * 10_000 + "1" + ")" * 10_000 + "; }\n"),
    ("javascript", "x = " + "[" * 10_000 + "]" * 10_000 + ";\n"),
    ("cpp", "void g() " + "{" * 10_000 + "}" * 10_000 + "\n"),
])
def test_ten_thousand_deep_nesting(lang: str, src: str) -> None:
    pf = parse(src, lang)
    arrays = pf.ast_arrays()
    assert int(arrays.depth.max()) >= 10_000
    assert len(pf.tokens) >= 20_000
    h = heights(arrays.parent, arrays.depth)
    assert int(h[0]) == int(arrays.depth.max())
    assert len(level_schedule(arrays.parent, depth=arrays.depth)) == int(h[0]) + 1
    info = pf.scopes()  # scope analysis walks iteratively too
    assert info.scopes[0].kind == "file"


@pytest.mark.parametrize("lang", ["cpp", "javascript"])
@pytest.mark.parametrize("src", ["", "   \n", "// only a comment\n"])
def test_empty_files_have_just_a_root(lang: str, src: str) -> None:
    pf = parse(src, lang)
    arrays = pf.ast_arrays()
    assert len(arrays) == 1 and arrays.parent[0] == -1 and arrays.token[0] == -1
    assert heights(arrays.parent).tolist() == [0]
    assert pf.scopes().visible_at(0) == []
