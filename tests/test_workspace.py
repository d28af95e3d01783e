"""The workspace index (codecomp/engine/workspace): discovery, per-file facts, relations, queries, open documents,
concurrency.  Real files in tmp_path; tree-sitter is the reference for the lexical reading."""
from __future__ import annotations

import os
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from codecomp.engine.workspace import (DiscoveryConfig, WorkspaceIndex, analyze, context_after, context_at,
                                       discover, include_dirs, infer_receiver_type, receiver_at)
from codecomp.engine.workspace.lexical import is_word
from codecomp.syntax import KEYWORDS, TokenKind, detect_language, parse

REPO = Path(__file__).resolve().parents[1]


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def names(report) -> set[str]:
    return {Path(f.path).name for f in report.files}


def decls(text: str, lang: str) -> set[tuple[str, str, str]]:
    return {(d.name, d.kind, d.container) for d in analyze(text.encode(), lang).declarations}


# ------------------------------------------------------------------------------------------------ discovery
def test_discovery_honours_gitignore_and_skips_dependency_and_output_folders(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "generated/\n*.gen.js\n!keep.gen.js\n")
    write(tmp_path, "src/a.cpp", "int a;")
    write(tmp_path, "src/b.h", "int b;")
    write(tmp_path, "src/app.js", "var x;")
    write(tmp_path, "src/x.gen.js", "var g;")
    write(tmp_path, "src/keep.gen.js", "var k;")
    write(tmp_path, "src/.gitignore", "local.js\n")
    write(tmp_path, "src/local.js", "var l;")
    write(tmp_path, "generated/g.cpp", "int g;")
    write(tmp_path, "node_modules/pkg/index.js", "module.exports = 1;")
    write(tmp_path, "build/out.cpp", "int o;")
    write(tmp_path, "dist/bundle.js", "var d;")
    write(tmp_path, "third_party/lib.cc", "int t;")
    write(tmp_path, ".git/hooks/x.js", "var h;")
    write(tmp_path, "web/app.min.js", "var m;")
    write(tmp_path, "notes.txt", "int not_code;")
    report = discover([tmp_path])
    assert names(report) == {"a.cpp", "b.h", "app.js", "keep.gen.js"}
    assert report.skipped["gitignore"] >= 3 and report.skipped["skipped_dir"] >= 4 and report.skipped["minified"] == 1


def test_discovery_does_not_follow_symlinks_out_of_the_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    write(outside, "secret.cpp", "int secret;")
    write(outside, "dir/more.js", "var more;")
    write(root, "in.cpp", "int in;")
    write(root, "sub/inner.js", "var inner;")
    os.symlink(outside / "secret.cpp", root / "link.cpp")
    os.symlink(outside / "dir", root / "linked_dir")
    os.symlink(root / "sub", root / "loop_back")  # inside the root: followed, but every real folder only once
    report = discover([root])
    assert names(report) == {"in.cpp", "inner.js"}
    assert report.skipped["outside_root"] == 2


def test_discovery_caps(tmp_path: Path) -> None:
    for i in range(10):
        write(tmp_path, f"f{i}.cpp", "int x;\n" * 10)
    write(tmp_path, "big.cpp", "int y;\n" * 1000)
    report = discover([tmp_path], DiscoveryConfig(max_file_bytes=1000))
    assert "big.cpp" not in names(report) and report.skipped["too_large"] == 1
    report = discover([tmp_path], DiscoveryConfig(max_files=4))
    assert len(report.files) == 4 and report.truncated
    report = discover([tmp_path], DiscoveryConfig(max_total_bytes=200, max_file_bytes=1000))
    assert len(report.files) == 2 and report.truncated  # 70 bytes each


def test_minified_content_is_not_indexed(tmp_path: Path) -> None:
    write(tmp_path, "vendor.js", "var " + ",".join(f"minifiedName{i}=1" for i in range(800)) + ";")
    write(tmp_path, "app.js", "const ordinaryName = 1;\n")
    index = WorkspaceIndex([tmp_path])
    index.build()
    got = {p.name for p in index.identifiers(tmp_path / "other.js", "", exclude_self=False)}
    assert "ordinaryName" in got and not any(n.startswith("minifiedName") for n in got)


# ------------------------------------------------------------------------------------------------ per-file facts
def test_cpp_declarations_with_kind_and_container() -> None:
    got = decls("""
#define MAX_ITEMS 10
namespace geo {
template <typename T>
class Shape : public Base, private ns::Mixin<T> {
 public:
  Shape(int sides);
  virtual double area() const = 0;
  int sides_ = 3, corners_;
 private:
  std::vector<int> points_;
};
struct Point { int x; int y; };
enum class Color : int { Red, Green = 2, Blue };
typedef unsigned long size_type;
using Handle = Shape*;
int free_function(int a, int b);
double Shape::perimeter() const { int local_var = 1; return local_var; }
static int counter = 0;
}
""", "cpp")
    expected = {
        ("MAX_ITEMS", "macro", ""), ("geo", "namespace", ""), ("Shape", "class", "geo"), ("Base", "base", "Shape"),
        ("Mixin", "base", "Shape"), ("area", "method", "Shape"), ("sides_", "field", "Shape"),
        ("corners_", "field", "Shape"), ("points_", "field", "Shape"), ("Point", "class", "geo"),
        ("x", "field", "Point"), ("y", "field", "Point"), ("Color", "enum", "geo"),
        ("Red", "enumerator", "Color"), ("Green", "enumerator", "Color"), ("Blue", "enumerator", "Color"),
        ("size_type", "typedef", "geo"), ("Handle", "typedef", "geo"), ("free_function", "function", "geo"),
        ("perimeter", "method", "Shape"), ("counter", "variable", "geo"),
    }
    assert expected <= got
    assert not any(name in ("local_var", "Shape") and kind in ("method", "variable") for name, kind, _ in got)


def test_js_declarations_exports_and_imports() -> None:
    facts = analyze(b"""
const fs = require('fs');
import Thing, { other } from './thing.js';
class Widget extends Base {
  count = 0;
  static create(opts) { const inner = 1; return new Widget(opts); }
  render() { return `template ${this.count}`; }
}
function helper(a) { return a; }
Widget.prototype.extra = function () {};
const Registry = { lookup(name) {}, size: 0 };
Registry.clear = function () {};
module.exports = { helper, Widget, make: function () {} };
exports.single = 1;
export function esFn() {}
export { helper as aliasHelper };
export * from './more';
""", "javascript")
    got = {(d.name, d.kind, d.container) for d in facts.declarations}
    assert {("Widget", "class", ""), ("Base", "base", "Widget"), ("count", "field", "Widget"),
            ("create", "method", "Widget"), ("render", "method", "Widget"), ("helper", "function", ""),
            ("extra", "method", "Widget"), ("lookup", "field", "Registry"), ("size", "field", "Registry"),
            ("clear", "field", "Registry"), ("esFn", "function", "")} <= got
    assert not any(name == "inner" for name, _, _ in got)
    assert set(facts.exports) >= {"helper", "Widget", "make", "single", "esFn", "aliasHelper"}
    assert facts.imports == ["fs", "./thing.js", "./more"] and facts.reexports == ["./more"]


def test_strings_and_comments_produce_nothing(tmp_path: Path) -> None:
    cpp = """// int commentFunction();
/* class CommentClass { int commentField; }; */
const char* s = "stringIdent.stringMember()";
auto r = R"x(class RawClass { int rawField; };)x";
char c = 'q';
int realName = 1'000;
"""
    js = """// function commentFn() {}
/* exports.commentExport = 1; */
const s = 'stringIdent.stringMember';
const t = `templateIdent.templateMember`;
const re = /regexIdent'/g;
const realName = s;
"""
    for text, lang in ((cpp, "cpp"), (js, "javascript")):
        facts = analyze(text.encode(), lang)
        words = {t.decode() for t in facts.tokens if is_word(t)}
        assert "realName" in words
        bad = {w for w in words if w.startswith(("comment", "string", "Comment", "Raw", "raw", "template", "regex"))}
        assert not bad, (lang, bad)
        assert {d.name for d in facts.declarations} <= {"s", "r", "c", "realName", "t", "re"}
        assert not facts.exports
    write(tmp_path, "a.cpp", cpp)
    write(tmp_path, "b.js", js)
    index = WorkspaceIndex([tmp_path])
    index.build()
    for path in ("x.cpp", "y.js"):
        found = {p.name for p in index.identifiers(tmp_path / path, "")}
        assert "realName" in found and not any("comment" in n.lower() or "string" in n.lower() for n in found)
    assert index.member_uses("stringIdent", "cpp") == [] and index.member_uses("templateIdent", "javascript") == []


@pytest.mark.parametrize("sample", ["inventory.cpp", "shopping_cart.js"])
def test_lexical_identifiers_match_tree_sitter(sample: str) -> None:
    """The lexical reading counts the identifiers the tree-sitter tokens have (the index's accuracy check)."""
    path = REPO / "codecomp" / "samples" / sample
    lang = detect_language(str(path))
    source = path.read_bytes()
    reference = Counter(t.text for t in parse(source, lang).tokens if t.kind == TokenKind.IDENTIFIER)
    facts = analyze(source, lang)
    lexical = Counter(t.decode() for t in facts.tokens if is_word(t) and t.decode() not in KEYWORDS[lang])
    lexical.update(w.decode() for w in facts.extra_identifiers)
    lexical.pop("size_t", None)  # a primitive type (keyword) for tree-sitter
    assert lexical == reference


# ------------------------------------------------------------------------------------------------ relations
def test_cpp_include_resolution_and_compile_flags(tmp_path: Path) -> None:
    write(tmp_path, "compile_flags.txt", "-std=c++17\n-Ithird/api\n-I\nextra\n")
    write(tmp_path, "third/api/ext/api.h", "namespace ext { struct ApiThing { int api_field; }; }")
    write(tmp_path, "extra/more.h", "#define MORE_MACRO 1\n")
    write(tmp_path, "include/lib/lib.h", '#include "detail.h"\nclass LibClass { public: void lib_method(); };')
    write(tmp_path, "include/lib/detail.h", "int detail_function(int);")
    write(tmp_path, "src/util.h", "int util_function();")
    main = write(tmp_path, "src/main.cpp",
                 '#include "util.h"\n#include "lib/lib.h"\n#include <ext/api.h>\n#include "more.h"\nint main() {}')
    assert include_dirs(tmp_path) == [str(tmp_path / "third/api"), str(tmp_path / "extra")]
    index = WorkspaceIndex([tmp_path], DiscoveryConfig(skip_dirs=frozenset()))
    index.build()
    related = {Path(p).relative_to(tmp_path).as_posix() for p in index.related_files(main)}
    assert related == {"src/util.h", "include/lib/lib.h", "include/lib/detail.h", "third/api/ext/api.h",
                       "extra/more.h"}
    by_name = {p.name: p for p in index.identifiers(main, "", limit=500)}
    assert by_name["detail_function"].related and by_name["detail_function"].kind == "function"
    assert by_name["LibClass"].kind == "class" and by_name["MORE_MACRO"].kind == "macro"
    assert {m.name for m in index.members("ApiThing", "cpp")} == {"api_field"}


def test_compile_commands_include_dirs(tmp_path: Path) -> None:
    (tmp_path / "build").mkdir()
    write(tmp_path, "build/compile_commands.json",
          '[{"directory": "%s", "file": "a.cpp", "command": "c++ -Iinc -isystem /opt/x -c a.cpp"},'
          ' {"directory": "%s", "file": "b.cpp", "arguments": ["c++", "-I", "gen", "b.cpp"]}]'
          % (tmp_path, tmp_path / "build"))
    assert include_dirs(tmp_path) == [str(tmp_path / "inc"), "/opt/x", str(tmp_path / "build" / "gen")]


def test_js_import_resolution(tmp_path: Path) -> None:
    write(tmp_path, "lib/math.js", "exports.add = (a, b) => a + b;\nexports.sub = (a, b) => a - b;")
    write(tmp_path, "lib/widgets/index.js", "export class Button {}\nexport function render() {}")
    write(tmp_path, "lib/esm.mjs", "export const esmValue = 1;")
    write(tmp_path, "lib/all.js", "module.exports = require('./math');")
    app = write(tmp_path, "app.js", "const m = require('./lib/math');\nimport * as w from './lib/widgets';\n"
                                     "import { esmValue } from './lib/esm.mjs';\nconst all = require('./lib/all');")
    index = WorkspaceIndex([tmp_path])
    index.build()
    assert index.resolve(app, "./lib/math") == str(tmp_path / "lib/math.js")
    assert index.resolve(app, "./lib/widgets") == str(tmp_path / "lib/widgets/index.js")
    assert set(index.module_exports(app, "./lib/widgets")) == {"Button", "render"}
    assert set(index.module_exports(app, "./lib/all")) == {"add", "sub"}
    assert len(index.related_files(app)) == 4


def test_node_modules_package_entry(tmp_path: Path) -> None:
    write(tmp_path, "node_modules/fancy-pkg/package.json", '{"name": "fancy-pkg", "main": "lib/main.js"}')
    write(tmp_path, "node_modules/fancy-pkg/lib/main.js",
          "function Client(opts) {}\nClient.prototype.send = function () {};\n"
          "module.exports = { connect: function () {}, Client: Client, VERSION: '1' };")
    write(tmp_path, "node_modules/esm-pkg/package.json",
          '{"name": "esm-pkg", "exports": {".": {"import": "./esm.mjs", "require": "./cjs.js"}}}')
    write(tmp_path, "node_modules/esm-pkg/cjs.js", "exports.fromCjs = 1;")
    write(tmp_path, "node_modules/esm-pkg/esm.mjs", "export const fromEsm = 1;")
    write(tmp_path, "node_modules/unused/index.js", "exports.neverImported = 1;")
    text = "const fancy = require('fancy-pkg');\nconst esm = require('esm-pkg');\nfancy."
    app = write(tmp_path, "src/app.js", text)
    index = WorkspaceIndex([tmp_path])
    report = index.build()
    assert report.files == 1 and report.packages == 2
    done = index.member_completion(app, text, len(text.encode()))
    assert done is not None and done.receiver.module == "fancy-pkg" and done.receiver.how == "require"
    assert {"connect", "Client", "VERSION"} <= {m.name for m in done.members}
    assert index.module_exports(app, "esm-pkg") == ["fromCjs"]
    # package files serve imports only: they add nothing to the project's identifier counts
    assert not index.identifiers(app, "neverImported") and not index.identifiers(app, "conn")
    assert {m.name for m in index.members("Client", "javascript")} == {"send"}


# ------------------------------------------------------------------------------------------------ receivers
@pytest.mark.parametrize("before, receiver, op, expected", [
    ("Widget w;\n", "w", ".", ("Widget", "declaration")),
    ("ns::Widget* p = nullptr;\n", "p", "->", ("Widget", "declaration")),
    ("void f(const Widget& r) {\n", "r", ".", ("Widget", "declaration")),
    ("std::vector<int> v;\n", "v", ".", ("vector", "declaration")),
    ("std::unique_ptr<Engine> e = make();\n", "e", "->", ("Engine", "declaration")),
    ("auto x = Widget(1, 2);\n", "x", ".", ("Widget", "auto")),
    ("auto* p = new geo::Shape(3);\n", "p", "->", ("Shape", "auto")),
    ("auto s = std::make_shared<Session>();\n", "s", "->", ("Session", "auto")),
    ("Widget w; /* Gadget w; */ return w;\n", "w", ".", ("Widget", "declaration")),
    ("class Outer {\n  int n;\n  void f() {\n", "this", "->", ("Outer", "this")),
    ("void Painter::draw(int x) {\n  if (x) {\n", "this", "->", ("Painter", "this")),
    ("x = 1;\n", "Registry", "::", ("Registry", "qualified")),
    ("int y;\n", "unknown", ".", ("unknown", "name")),
    ("Widget const w = make();\n", "w", ".", ("Widget", "declaration")),
    ("Widget\n    *w = make();\n", "w", "->", ("Widget", "declaration")),
    # the declaration behind many uses that are not declarations (`f(w)`, `= w`, `, w`, `w;`) is still found
    ("Widget w;\n" + "g(w); x = w; h(1, w); w;\n" * 40, "w", ".", ("Widget", "declaration")),
    ("g(w); x = w; h(1, w);\n" * 40, "w", ".", ("w", "name")),
])
def test_cpp_receiver_types(before: str, receiver: str, op: str, expected: tuple[str, str]) -> None:
    got = infer_receiver_type(before.encode(), "cpp", receiver, op)
    assert (got.type_name, got.how) == expected


@pytest.mark.parametrize("before, receiver, expected", [
    ("const b = new Button({});\n", "b", ("Button", None, "new")),
    ("let b;\nb = new ui.Button();\n", "b", ("Button", None, "new")),
    ("class Panel extends Base {\n  show() {\n    if (x) {\n", "this", ("Panel", None, "this")),
    ("function Legacy() {\n", "this", ("Legacy", None, "this")),
    ("Legacy.prototype.run = function () {\n", "this", ("Legacy", None, "this")),
    ("const fs = require('fs');\n", "fs", (None, "fs", "require")),
    ("import * as path from 'path';\n", "path", (None, "path", "import")),
    ("import lib, { x } from './lib';\n", "lib", (None, "./lib", "import")),
    ("// const b = new Wrong();\nconst b = new Right();\n", "b", ("Right", None, "new")),
])
def test_js_receiver_types(before: str, receiver: str, expected: tuple) -> None:
    got = infer_receiver_type(before.encode(), "javascript", receiver, ".")
    assert (got.type_name, got.module, got.how) == expected


def test_receiver_at_finds_the_operator_before_the_prefix() -> None:
    text = "Widget w;\nw->na"
    got = receiver_at(text, len(text), "cpp")
    assert got is None  # the prefix start must be given, not the cursor
    got = receiver_at(text, len(text) - 2, "cpp")
    assert got is not None and (got.receiver, got.operator, got.type_name) == ("w", "->", "Widget")
    assert receiver_at("int x = y", 9, "cpp") is None


def test_member_completion_from_declared_type_and_bases(tmp_path: Path) -> None:
    write(tmp_path, "shape.h", "class Base { public: int base_id; void base_method(); };\n"
                               "class Circle : public Base { public: double radius; double area() const; };")
    text = '#include "shape.h"\nvoid f() {\n  Circle* c = make();\n  c->'
    main = write(tmp_path, "main.cpp", text)
    write(tmp_path, "other.cpp", "void g(Circle* c) { c->radius = 1; c->radius = 2; c->custom_use(); }")
    index = WorkspaceIndex([tmp_path])
    index.build()
    done = index.member_completion(main, text, len(text))
    got = {m.name: m for m in done.members}
    assert done.receiver.type_name == "Circle"
    assert {"radius", "area", "base_id", "base_method", "custom_use"} <= set(got)
    assert got["area"].kind == "method" and got["radius"].source == "declared" and got["radius"].count >= 2
    assert got["custom_use"].source == "used"


# ------------------------------------------------------------------------------------------------ queries
def test_ngram_scores_prefer_what_followed_the_context(tmp_path: Path) -> None:
    for i in range(5):
        write(tmp_path, f"f{i}.js", "server.listen(port);\nconsole.log(message);\nserver.close();\n")
    index = WorkspaceIndex([tmp_path])
    index.build()
    target = tmp_path / "new.js"
    ctx = context_at("x = 1; server.", len("x = 1; server."), "javascript")
    assert ctx == [b";", b"server", b"."]
    scores = index.ngram_scores(target, ctx, ["listen", "close", "log", "port", "neverSeen"])
    assert scores["listen"] > scores["port"] and scores["close"] > scores["log"] > 0
    assert scores["neverSeen"] == 0.0
    # `listen` starts each file: only `server .` precedes it, while `; server .` precedes `close`
    assert dict(index.ngram_words(target, ctx)) == {"close": 5}
    assert dict(index.ngram_words(target, ctx[1:])) == {"listen": 5, "close": 5}


def test_ngram_scores_after_the_word_prefer_what_preceded_the_next_tokens(tmp_path: Path) -> None:
    # `buffer` comes before `->size()`, `count` before `+= 1`: the code after a hole tells them apart
    for i in range(4):
        write(tmp_path, f"f{i}.cpp", "void f(Buf* buffer, int count) {\n  count += 1;\n"
                                     "  int n = buffer->size(); // buffer->size\n}\n")
    asker = write(tmp_path, "asker.cpp", "int q = buffer->size(); int z = count + 1;")
    index = WorkspaceIndex([tmp_path])
    index.build()
    text = "int g() { return  ->size(); }"
    hole = text.index("  ->") + 1
    after = context_after(text, hole, "cpp")
    assert after == [b"->", b"size"]
    assert context_after("x = y /* -> */ ;", len("x = y"), "cpp") == [b";"]  # comments are not code
    assert context_after("f(", 2, "cpp") == []
    assert context_after("x = count\n  total += 1;", len("x = count"), "cpp") == []  # only the cursor's line
    scores = index.ngram_scores(asker, after, ["buffer", "count", "neverSeen"], after=True)
    assert scores["buffer"] > 0.5 > scores["count"] > 0 and scores["neverSeen"] == 0.0
    plus = index.ngram_scores(asker, context_after(" += 1;", 0, "cpp"), ["buffer", "count"], after=True)
    assert plus["count"] > plus["buffer"]
    # the asking file's own uses are not evidence: only it has `z` before `= count`
    own = index.ngram_scores(asker, [b"=", b"count"], ["z", "n"], after=True)
    assert own["z"] == 0.0 < own["n"]
    assert index.ngram_scores(asker, [b"=", b"count"], ["z"], after=True, exclude_self=False)["z"] > 0
    # the contexts after a word are kept apart from those before it: `buffer` precedes `->`, `size` follows it
    assert dict(index.ngram_words(asker, [b"->"])) == {"size": 4}
    assert index.ngram_scores(asker, [b"->"], ["buffer", "size"], after=True)["size"] < \
        index.ngram_scores(asker, [b"->"], ["buffer", "size"], after=True)["buffer"]


def test_identifier_counts_exclude_the_asking_file(tmp_path: Path) -> None:
    a = write(tmp_path, "a.cpp", "int shared_name = 1; int only_here = shared_name;")
    write(tmp_path, "b.cpp", "extern int shared_name;")
    index = WorkspaceIndex([tmp_path])
    index.build()
    got = {p.name: p.count for p in index.identifiers(a, "")}
    assert got == {"shared_name": 1}
    got = {p.name: p.count for p in index.identifiers(a, "SH", exclude_self=False)}
    assert got == {"shared_name": 3}


# ------------------------------------------------------------------------------------------------ open documents
def test_open_document_replaces_the_disk_copy(tmp_path: Path) -> None:
    write(tmp_path, "a.js", "const diskOnlyName = 1;\nexports.diskExport = 1;")
    other = tmp_path / "b.js"
    write(tmp_path, "b.js", "const other = 1;")
    index = WorkspaceIndex([tmp_path])
    index.build()

    def offered() -> set[str]:
        return {p.name for p in index.identifiers(other, "")}

    assert "diskOnlyName" in offered()
    index.open_document(tmp_path / "a.js", "const editorName = 2;")
    assert "diskOnlyName" not in offered() and "editorName" in offered()
    assert index.module_exports(other, "./a") == []
    # disk events for an open file change nothing: the editor's text is the truth
    write(tmp_path, "a.js", "const savedElsewhere = 1;")
    index.update_file(tmp_path / "a.js")
    assert "savedElsewhere" not in offered() and "editorName" in offered()
    index.close_document(tmp_path / "a.js")
    assert "savedElsewhere" in offered() and "editorName" not in offered()


def test_update_and_remove_file(tmp_path: Path) -> None:
    path = write(tmp_path, "a.cpp", "int first_name;")
    asker = tmp_path / "z.cpp"
    index = WorkspaceIndex([tmp_path])
    index.build()
    write(tmp_path, "a.cpp", "int second_name;")
    index.update_file(path)
    assert {p.name for p in index.identifiers(asker, "")} == {"second_name"}
    write(tmp_path, "new.cpp", "int third_name;")
    index.update_file(tmp_path / "new.cpp")
    write(tmp_path, ".gitignore", "gen/\n")
    write(tmp_path, "gen/made.cpp", "int generated_name;")
    index.update_file(tmp_path / "gen/made.cpp")  # a watcher event in an ignored folder
    write(tmp_path, "node_modules/x/y.cpp", "int dependency_name;")
    index.update_file(tmp_path / "node_modules/x/y.cpp")
    path.unlink()
    index.remove_file(path)
    assert {p.name for p in index.identifiers(asker, "")} == {"third_name"}
    assert index.ngram_words(asker, [b"int"]) == [("third_name", 1)]
    (tmp_path / "new.cpp").unlink()
    write(tmp_path, "b.cpp", "int fourth_name;")
    index.build()  # a rebuild drops what disappeared without a watcher event
    assert {p.name for p in index.identifiers(asker, "")} == {"fourth_name"}


# ------------------------------------------------------------------------------------------------ concurrency
def _project(root: Path, files: int) -> None:
    for i in range(files):
        write(root, f"pkg{i % 10}/mod{i}.js",
              f"const dep{i} = require('./mod{i + 10}');\nclass Thing{i} {{ run{i}() {{ return this.value{i}; }} }}\n"
              f"exports.make{i} = function () {{ return new Thing{i}(); }};\nsharedCounter.tick(sharedName);\n")


def test_queries_during_a_background_build(tmp_path: Path) -> None:
    _project(tmp_path, 600)
    index = WorkspaceIndex([tmp_path])
    seen: list[tuple[int, int]] = []
    index.start_build(progress=lambda done, total: seen.append((done, total)))
    errors: list[BaseException] = []
    partial = []

    def query() -> None:
        try:
            asker = tmp_path / "pkg0/new.js"
            while index.building:
                partial.append(len(index.identifiers(asker, "Thing", limit=1000)))
                index.ngram_scores(asker, [b"sharedCounter", b"."], ["tick", "run1"])
                index.member_completion(asker, "sharedCounter.", len("sharedCounter."))
                index.members("Thing1", "javascript")
                # paced as requests are: a loop that never lets go of the interpreter makes every file read of
                # the build wait a thread switch to get it back (minutes on a slow machine), which no editor does
                time.sleep(0.001)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    worker = threading.Thread(target=query)
    worker.start()
    assert index.wait(60)
    worker.join(10)
    assert not errors
    assert seen and seen[-1] == (600, 600)
    assert len(index.identifiers(tmp_path / "x.js", "Thing", limit=1000)) == 600
    assert index.member_uses("sharedCounter", "javascript") == [("tick", 600)]
    assert {m.name for m in index.members("Thing7", "javascript")} == {"run7"}


def test_build_can_be_cancelled(tmp_path: Path) -> None:
    _project(tmp_path, 300)
    index = WorkspaceIndex([tmp_path])
    calls = []
    report = index.build(progress=lambda d, t: calls.append(d), should_stop=lambda: len(calls) >= 1)
    assert report.cancelled and 0 < report.files < 300


def test_new_spellings_get_ids_in_the_order_they_first_occur():
    """Not in a set's order, which changes with the string hash seed from one process to the next: ties
    between equally frequent project names are broken by id, so the lists would differ from run to run."""
    from codecomp.engine.workspace.tables import Vocabulary

    vocab = Vocabulary(frozenset())
    ids = vocab.encode([b"zeta", b"alpha", b"zeta", b"mid", b"42", b"alpha"])
    zeta, alpha, mid = ids[0], ids[1], ids[3]
    assert zeta < alpha < mid
    assert ids[2] == zeta and ids[5] == alpha and ids[4] == Vocabulary.NUMBER
    assert [vocab.word(int(i)) for i in (zeta, alpha, mid)] == ["zeta", "alpha", "mid"]
    # many at once: a set's order would put them in that order only by chance
    words = [f"w{i}_{'x' * (i % 5)}".encode() for i in range(40, 0, -1)]
    more = vocab.encode(words + words[::3])
    assert more[:len(words)].tolist() == sorted(more[:len(words)].tolist())


def test_js_new_finds_what_the_plain_pattern_finds() -> None:
    """`x = new T` is searched from each `= new` and the name checked before it; the answers are those of the
    plain pattern (the name, blanks, `=`, blanks, `new`, the class), the last match before the cursor."""
    import re

    from codecomp.engine.workspace.receiver import _js_new

    def plain(code: bytes, name: str):
        pattern = re.compile(rb"(?<![.\w$])" + re.escape(name.encode())
                             + rb"\s*=\s*new\s+((?:[A-Za-z_$][\w$]*\.)*[A-Za-z_$][\w$]*)")
        found = list(pattern.finditer(code))
        return (found[-1].group(1).decode().rsplit(".", 1)[-1], None, "new") if found else None

    texts = ["a = new A(); b = new B(); a = new ns.C();", "a == new X(); a === new Y();", "x.a = new T();",
             "ab = new X(); b = new Y();", "a\n=\n new\tZ.W()", "$a = new D(); _a = new E();", "a += new F();",
             "a != new G()", "a=new H", "const a = new I(), b = new J();", "b = new K(); a. = new L();"]
    for text in texts:
        for name in ("a", "b", "$a", "_a", "x", "W"):
            assert _js_new(text.encode(), name) == plain(text.encode(), name), (text, name)
    assert _js_new(b"a = new ns.C();", "a") == ("C", None, "new")
