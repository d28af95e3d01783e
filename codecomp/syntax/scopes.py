"""Scopes and symbols: which identifiers are declared where, and which identifier tokens refer to them.

One iterative walk over the tree (no recursion: deep nesting is fine) opens scopes, records declarations and
collects candidate references; a second pass resolves every reference to the innermost visible declaration of
its name.  The rules are per language (see `_CppRules` and `_JsRules`) and deliberately simple: this feeds
completion ranking, renaming suggestions and the naming model, not a compiler.  Broken code never raises, and
since half-typed code is the normal case in an editor, the flat children of ERROR nodes are read for braces,
parameter lists, `class X {` and `for (` so that the scopes being typed in still exist (`_Builder.error_children`).

Resolution:
- JavaScript bindings are visible throughout their scope (hoisting, and the temporal dead zone still binds);
  `var` declarations go to the nearest function scope, `let`/`const`/`class` and function declarations to the
  enclosing block (function declarations visible in all of it).
- C++ names are visible from their declaration on, except class members, which are visible in the whole class
  body (and in out-of-class member definitions `Foo::bar`, which look names up in `Foo`'s scope).
- Member accesses (`x.y`, `p->y`) are not references, except `this->y` / `this.y` and C++ member initialisers,
  which resolve to a member of the enclosing class.
- `visible_at(byte)` lists what can be named at a position: declarations in enclosing scopes, variables only
  when declared before the position (hoisted ones always), inner declarations shadowing outer ones.  JS class
  fields and methods are not nameable without `this.`, so they are not listed (C++ members are, inside the class).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from tree_sitter import Node

from .tokens import PAUSE_EVERY, TokenKind, kind_tables

if TYPE_CHECKING:
    from .parsed import ParsedFile


@dataclass(slots=True)
class Scope:
    """A lexical region.  kind: "file" | "function" | "block" | "class" | "namespace"."""

    id: int
    parent: int
    kind: str
    start_byte: int
    end_byte: int


@dataclass(slots=True)
class Symbol:
    """A declared name.  kind: "variable" | "parameter" | "function" | "class" | "field" | "method".

    `decl_token` and `occurrences` are indices into `ParsedFile.tokens` (occurrences include the declaration).
    `hoisted`: visible in its whole scope rather than only after the declaration.
    """

    name: str
    kind: str
    scope: int
    decl_token: int
    occurrences: list[int] = field(default_factory=list)
    hoisted: bool = False


@dataclass
class ScopeInfo:
    """Scopes (ids = list positions, pre-order, 0 = the file) and the symbols declared in them."""

    scopes: list[Scope]
    symbols: list[Symbol]
    _decl_end: list[int] = field(default_factory=list, repr=False)    # end byte of each symbol's declaration
    _open_end: list[bool] = field(default_factory=list, repr=False)   # scope still open at its end byte
    _links: dict[int, int] = field(default_factory=dict, repr=False)  # function scope -> class scope (Foo::bar)
    _by_scope: list[list[int]] = field(default_factory=list, repr=False)
    _by_token: dict[int, int] = field(default_factory=dict, repr=False)
    _members_lexical: bool = field(default=True, repr=False)  # C++ yes; JS members need `this.`

    def __post_init__(self) -> None:
        if not self._by_scope:
            self._by_scope = [[] for _ in self.scopes]
            for i, sym in enumerate(self.symbols):
                self._by_scope[sym.scope].append(i)
        if not self._by_token:
            for i, sym in enumerate(self.symbols):
                for t in sym.occurrences:
                    self._by_token[t] = i
        # Scopes opened inside error-recovery regions may be numbered out of source order, so searches go through
        # an order sorted by (start, depth): among scopes starting at one byte the deepest comes last.
        depth = [0] * len(self.scopes)
        for s in self.scopes:
            if s.parent >= 0:
                depth[s.id] = depth[s.parent] + 1
        self._order = sorted(range(len(self.scopes)), key=lambda i: (self.scopes[i].start_byte, depth[i]))
        self._starts = [self.scopes[i].start_byte for i in self._order]

    def _contains(self, scope: Scope, byte: int) -> bool:
        if scope.id == 0:
            return True
        if scope.start_byte < byte < scope.end_byte:
            return True
        return byte == scope.end_byte and self._open_end[scope.id]

    def scope_at(self, byte: int) -> int:
        """Id of the innermost scope around `byte` (0, the file scope, when no other)."""
        if not self.scopes:
            return 0
        k = bisect_right(self._starts, byte) - 1
        i = self._order[k] if k >= 0 else 0
        # Scopes nest, so the innermost scope containing `byte` is the last-starting one or one of its ancestors.
        while i > 0 and not self._contains(self.scopes[i], byte):
            i = self.scopes[i].parent
        return max(i, 0)

    def chain(self, scope: int) -> list[int]:
        """`scope` and the scopes searched after it, innermost first."""
        out: list[int] = []
        while scope >= 0:
            out.append(scope)
            link = self._links.get(scope)
            if link is not None:
                out.append(link)
            scope = self.scopes[scope].parent
        return out

    def visible_at(self, byte: int) -> list[Symbol]:
        """Symbols that can be named at `byte`, innermost scope first and, within a scope, the latest declaration
        first (the closest names come first); shadowed declarations are left out."""
        if not self.scopes:
            return []
        seen: set[str] = set()
        out: list[Symbol] = []
        for s in self.chain(self.scope_at(byte)):
            if not self._members_lexical and self.scopes[s].kind == "class":
                continue
            for i in reversed(self._by_scope[s]):
                sym = self.symbols[i]
                if sym.name in seen:
                    continue
                if sym.hoisted or self._decl_end[i] < byte:
                    seen.add(sym.name)
                    out.append(sym)
        return out

    def symbol_of_token(self, token: int) -> Symbol | None:
        """The symbol that token index `token` declares or refers to, if any."""
        i = self._by_token.get(token)
        return None if i is None else self.symbols[i]


# --------------------------------------------------------------------------------------------------------------
# The walk


class _Builder:
    """State of one scope analysis."""

    def __init__(self, parsed: ParsedFile, lexical_before_use: bool, members_lexical: bool) -> None:
        self.source = parsed.source
        self.tokens = parsed.tokens
        self.ident_at = {t.start_byte: i for i, t in enumerate(parsed.tokens) if t.kind == TokenKind.IDENTIFIER}
        self.lexical_before_use = lexical_before_use
        self.members_lexical = members_lexical
        self.scopes: list[Scope] = []
        self.fn_scope: list[int] = []          # nearest function/file scope of each scope
        self.template: set[int] = set()        # C++ template parameter scopes
        self.open_end: list[bool] = []
        self.symbols: list[Symbol] = []
        self.table: list[dict[str, int]] = []  # per scope: name -> symbol index
        self.decl_at: dict[int, int] = {}      # start byte of a declaring identifier -> symbol index
        self.excluded: set[int] = set()        # start bytes of identifiers that are not references
        self.member_refs: set[int] = set()     # start bytes of `this->x` style member references
        self.refs: list[tuple[int, int, bool]] = []  # (token index, scope, is member reference)
        self.class_scope_of: dict[str, int] = {}     # class name -> its body scope (first seen)
        self.pending_class_body: dict[int, str] = {}  # body node id -> class name
        self.links: dict[int, int] = {}
        self.pending_links: list[tuple[int, str]] = []

    def open_scope(self, kind: str, node: Node, parent: int) -> int:
        return self.open_range(kind, node.start_byte, node.end_byte, parent)

    def open_range(self, kind: str, start: int, end: int, parent: int) -> int:
        sid = len(self.scopes)
        self.scopes.append(Scope(sid, parent, kind, start, end))
        self.fn_scope.append(sid if kind in ("function", "file") or parent < 0 else self.fn_scope[parent])
        self.table.append({})
        # A scope whose text ends with a real closing brace (or `;`) is left once the cursor is past it; one
        # that ends with an expression (arrow body) or at a MISSING brace is still being typed at its end.
        last = self.source[end - 1:end]
        self.open_end.append(last not in (b"}", b";"))
        return sid

    def declare(self, name_node: Node | None, kind: str, scope: int, hoisted: bool = False) -> None:
        if name_node is None:
            return
        start = name_node.start_byte
        tok = self.ident_at.get(start)
        if tok is None or start in self.decl_at:
            return
        name = self.tokens[tok].text
        table = self.table[scope]
        idx = table.get(name)
        if idx is None:
            idx = len(self.symbols)
            table[name] = idx
            self.symbols.append(Symbol(name, kind, scope, tok, [], hoisted))
        self.decl_at[start] = idx

    def leaf(self, node: Node, node_type: str, scope: int, ref_types: frozenset[str]) -> None:
        start = node.start_byte
        idx = self.decl_at.get(start)
        if idx is not None:
            tok = self.ident_at.get(start)
            if tok is not None:
                self.symbols[idx].occurrences.append(tok)
            return
        if start in self.excluded:
            return
        member = start in self.member_refs
        if not member and node_type not in ref_types:
            return
        tok = self.ident_at.get(start)
        if tok is not None:
            self.refs.append((tok, scope, member))

    def finish(self) -> ScopeInfo:
        for sid, cls in self.pending_links:
            target = self.class_scope_of.get(cls)
            if target is not None and target != sid:
                self.links[sid] = target
        decl_end = [self.tokens[s.decl_token].end_byte for s in self.symbols]
        tokens = self.tokens
        for tok, scope, member in self.refs:
            idx = self._resolve(tokens[tok].text, scope, tokens[tok].start_byte, member)
            if idx is not None:
                self.symbols[idx].occurrences.append(tok)
        for sym in self.symbols:
            sym.occurrences.sort()
        return ScopeInfo(self.scopes, self.symbols, decl_end, self.open_end, self.links,
                         _members_lexical=self.members_lexical)

    def _resolve(self, name: str, scope: int, byte: int, member: bool) -> int | None:
        s = scope
        while s >= 0:
            for cand in (s, self.links.get(s)):
                if cand is None:
                    continue
                is_class = self.scopes[cand].kind == "class"
                if (member and not is_class) or (is_class and not member and not self.members_lexical):
                    continue
                idx = self.table[cand].get(name)
                if idx is not None:
                    sym = self.symbols[idx]
                    if (sym.hoisted or not self.lexical_before_use
                            or self.tokens[sym.decl_token].start_byte <= byte):
                        return idx
                if member and self.scopes[cand].kind == "class":
                    return None  # `this->x` only looks in the nearest class
            s = self.scopes[s].parent
        return None


    def error_children(self, node: Node, scope: int, lang: str) -> list[int]:
        """Scopes for the children of an ERROR node, whose structure error recovery flattened.

        This is the usual shape of code being typed, so the common constructs are recovered from the flat child
        list: braces open and close block scopes; a parameter list followed by `{` opens a function scope
        holding the parameters and the body; `class Name {` opens a class scope; `for (` opens a block holding
        its loop variables; `let x` / `int x` style declarators that lost their declaration node still declare.
        Scopes left unclosed run to the end of the ERROR node (and the blanks after it) and stay open there.
        """
        children = node.children
        out: list[int] = []
        opened: list[int] = []
        cur = scope
        pending: int | None = None    # function or class scope waiting for its `{`
        for_scope: int | None = None  # `for (` scope waiting for the loop body's `{`
        cpp = lang == "cpp"
        params = "function_declarator" if cpp else "formal_parameters"
        class_name_type = "type_identifier" if cpp else "identifier"
        n = len(children)
        for i, c in enumerate(children):
            ct = c.type
            if ct == "{":
                if pending is not None:
                    sid, pending = pending, None
                    self.scopes[sid].end_byte = node.end_byte
                elif for_scope is not None and for_scope == cur:
                    for_scope = None
                    out.append(cur)
                    continue
                else:
                    sid = self.open_range("block", c.start_byte, node.end_byte, cur)
                self.open_end[sid] = True
                opened.append(sid)
                cur = sid
                out.append(cur)
            elif ct == "}" and opened:
                out.append(cur)
                sid = opened.pop()
                self.scopes[sid].end_byte = c.end_byte
                self.open_end[sid] = False
                cur = self.scopes[sid].parent
            elif ct == params:
                in_class = self.scopes[cur].kind == "class"
                if cpp:
                    names, _ = _cpp_declarator_names(c)
                    if names and names[0][1] is None:
                        if in_class or names[0][0].type == "field_identifier":
                            self.declare(names[0][0], "method", cur, hoisted=True)
                        else:
                            self.declare(names[0][0], "function", cur)
                elif i >= 1:
                    prev = children[i - 1]
                    if prev.type == "identifier" and i >= 2 and children[i - 2].type == "function":
                        self.declare(prev, "function", cur, hoisted=True)
                    elif prev.type in ("property_identifier", "private_property_identifier") and in_class:
                        self.declare(prev, "method", cur, hoisted=True)
                pending = self.open_range("function", c.start_byte, c.end_byte, cur)
                self.open_end[pending] = False
                out.append(pending)
            elif ct in ("class", "struct", "union") and i + 1 < n and children[i + 1].type == class_name_type:
                name = children[i + 1]
                self.declare(name, "class", cur)
                pending = self.open_range("class", c.start_byte, c.end_byte, cur)
                self.open_end[pending] = False
                self.class_scope_of.setdefault(name.text.decode("utf-8", "replace"), pending)
                out.append(cur)
            elif ct == "for":
                sid = self.open_range("block", c.start_byte, node.end_byte, cur)
                self.open_end[sid] = True
                opened.append(sid)
                cur = for_scope = sid
                out.append(cur)
            else:
                if ct == ";" and (pending is None or self.scopes[pending].kind == "function"):
                    pending = None
                if not cpp and i >= 1 and children[i - 1].type in ("let", "const", "var"):
                    var = children[i - 1].type == "var"
                    owner = self.fn_scope[cur] if var else cur
                    for name in _js_pattern_names(c):
                        self.declare(name, "variable", owner, hoisted=var)
                elif cpp and c.is_named and node.field_name_for_child(i) == "declarator":
                    for name, qual in _cpp_declarator_names(c)[0]:
                        if qual is None:
                            self.declare(name, "variable", cur)
                out.append(cur)
        # Unclosed scopes are where the user is typing: let them also cover the whitespace after the ERROR node,
        # so a cursor on the next (empty) line is still inside.
        end = node.end_byte
        source = self.source
        while end < len(source) and source[end] in b" \t\r\n":
            end += 1
        for sid in opened:
            parent = self.scopes[sid].parent
            # Stay nested inside the enclosing scope (the file scope covers everything anyway).
            self.scopes[sid].end_byte = end if parent <= 0 else min(end, self.scopes[parent].end_byte)
        return out


def _field(node: Node, name: str) -> Node | None:
    return node.child_by_field_name(name)


# --------------------------------------------------------------------------------------------------------------
# C++


_CPP_NAME_TYPES = frozenset({"identifier", "field_identifier", "type_identifier"})
_CPP_REF_TYPES = frozenset({"identifier", "type_identifier"})
_CPP_FUNCTION_BODY_PARENTS = frozenset({"function_definition", "lambda_expression", "catch_clause"})
_CPP_BLOCKS = frozenset({"for_statement", "for_range_loop", "if_statement", "while_statement", "switch_statement",
                         "catch_clause"})
_CPP_CLASSES = frozenset({"class_specifier", "struct_specifier", "union_specifier"})
_CPP_PARAMS = frozenset({"parameter_declaration", "optional_parameter_declaration",
                         "variadic_parameter_declaration"})


def _cpp_declarator_names(node: Node | None) -> tuple[list[tuple[Node, Node | None]], bool]:
    """Name nodes a C++ declarator introduces, each with its qualifier node (`Foo` of `Foo::bar`) or None,
    and whether the declarator declares a function."""
    names: list[tuple[Node, Node | None]] = []
    is_function = False
    stack: list[tuple[Node, Node | None]] = [(node, None)] if node is not None else []
    while stack:
        n, qual = stack.pop()
        t = n.type
        if t in _CPP_NAME_TYPES:
            names.append((n, qual))
        elif t == "function_declarator":
            is_function = True
            inner = _field(n, "declarator")
            if inner is not None:
                stack.append((inner, qual))
        elif t == "qualified_identifier":
            inner = _field(n, "name")
            if inner is not None:
                stack.append((inner, _field(n, "scope")))
        elif t == "template_function":
            inner = _field(n, "name")
            if inner is not None:
                stack.append((inner, qual))
        elif t in ("reference_declarator", "structured_binding_declarator", "parenthesized_declarator"):
            stack.extend((c, qual) for c in reversed(n.named_children))
        else:
            inner = _field(n, "declarator")
            if inner is not None:
                stack.append((inner, qual))
    return names, is_function


class _CppRules:
    """Scope and declaration rules for C++."""

    ref_types = _CPP_REF_TYPES
    handled = frozenset({
        "compound_statement", "declaration", "field_declaration", "function_definition", "function_declarator",
        "lambda_expression", "enum_specifier", "field_declaration_list", "enumerator", "type_definition",
        "alias_declaration", "namespace_definition", "template_declaration", "type_parameter_declaration",
        "variadic_type_parameter_declaration", "optional_type_parameter_declaration", "preproc_def",
        "preproc_function_def", "qualified_identifier", "field_expression", "field_initializer",
    }) | _CPP_PARAMS | _CPP_BLOCKS | _CPP_CLASSES

    def __init__(self, b: _Builder) -> None:
        self.b = b

    def _decl_scope(self, scope: int) -> int:
        """Where a name declared in `scope` lives: template parameter scopes hand it to their parent."""
        while scope in self.b.template:
            scope = self.b.scopes[scope].parent
        return scope

    def visit(self, node: Node, t: str, scope: int, parent_type: str) -> int:
        """Record what `node` declares; return the scope its children live in."""
        b = self.b
        if t == "compound_statement":
            return scope if parent_type in _CPP_FUNCTION_BODY_PARENTS else b.open_scope("block", node, scope)
        if t == "declaration" or t == "field_declaration":
            is_field = t == "field_declaration"
            owner = self._decl_scope(scope)
            for d in node.children_by_field_name("declarator"):
                names, is_fn = _cpp_declarator_names(d)
                for name, qual in names:
                    if qual is not None:
                        b.excluded.add(name.start_byte)
                        continue
                    if is_field or b.scopes[owner].kind == "class":
                        b.declare(name, "method" if is_fn else "field", owner, hoisted=True)
                    else:
                        b.declare(name, "function" if is_fn else "variable", owner)
            return scope
        if t == "function_definition":
            owner = self._decl_scope(scope)
            inner = b.open_scope("function", node, scope)
            names, _ = _cpp_declarator_names(_field(node, "declarator"))
            in_class = b.scopes[owner].kind == "class"
            for name, qual in names[:1]:
                if qual is not None:
                    b.declare(name, "method", owner)
                    if qual.type == "template_type":  # `Foo<T>::bar`
                        qual = _field(qual, "name") or qual
                    if qual.type in ("namespace_identifier", "type_identifier", "identifier"):
                        b.pending_links.append((inner, qual.text.decode("utf-8", "replace")))
                elif in_class or name.type == "field_identifier":
                    b.declare(name, "method", owner, hoisted=True)
                else:
                    b.declare(name, "function", owner)
            return inner
        if t == "function_declarator":
            # A prototype's parameters live in their own small scope; a definition's are in the function scope.
            if parent_type == "function_definition" or parent_type == "ERROR":
                return scope
            return b.open_scope("function", node, scope)
        if t in _CPP_PARAMS:
            names, _ = _cpp_declarator_names(_field(node, "declarator"))
            for name, qual in names:
                b.declare(name, "parameter", scope)
            return scope
        if t == "lambda_expression":
            return b.open_scope("function", node, scope)
        if t in _CPP_BLOCKS:
            inner = b.open_scope("block", node, scope)
            if t == "for_range_loop":
                names, _ = _cpp_declarator_names(_field(node, "declarator"))
                for name, _q in names:
                    b.declare(name, "variable", inner)
            return inner
        if t in _CPP_CLASSES or t == "enum_specifier":
            name = _field(node, "name")
            body = _field(node, "body")
            if name is not None and name.type == "type_identifier" and body is not None:
                owner = self._decl_scope(scope)
                b.declare(name, "class", owner, hoisted=b.scopes[owner].kind == "class")
                if t != "enum_specifier":
                    b.pending_class_body[body.id] = name.text.decode("utf-8", "replace")
            return scope
        if t == "field_declaration_list":
            inner = b.open_scope("class", node, scope)
            cls = b.pending_class_body.pop(node.id, None)
            if cls is not None:
                b.class_scope_of.setdefault(cls, inner)
            return inner
        if t == "enumerator":
            b.declare(_field(node, "name"), "variable", self._decl_scope(scope))
            return scope
        if t == "type_definition":
            for d in node.children_by_field_name("declarator"):
                for name, qual in _cpp_declarator_names(d)[0]:
                    if qual is None:
                        b.declare(name, "class", self._decl_scope(scope))
            return scope
        if t == "alias_declaration":
            b.declare(_field(node, "name"), "class", self._decl_scope(scope))
            return scope
        if t == "namespace_definition":
            return b.open_scope("namespace", node, scope)
        if t == "template_declaration":
            inner = b.open_scope("block", node, scope)
            b.template.add(inner)
            return inner
        if t in ("type_parameter_declaration", "variadic_type_parameter_declaration"):
            for c in node.named_children:
                if c.type == "type_identifier":
                    b.declare(c, "class", scope)
            return scope
        if t == "optional_type_parameter_declaration":
            b.declare(_field(node, "name"), "class", scope)
            return scope
        if t == "preproc_def":
            b.declare(_field(node, "name"), "variable", scope)
            return scope
        if t == "preproc_function_def":
            b.declare(_field(node, "name"), "function", scope)
            inner = b.open_scope("function", node, scope)
            params = _field(node, "parameters")
            if params is not None:
                for c in params.named_children:
                    if c.type == "identifier":
                        b.declare(c, "parameter", inner)
            return inner
        if t == "qualified_identifier":
            # `ns::name`: the name belongs to another scope, it is not a use of a local of the same name.
            n: Node | None = _field(node, "name")
            while n is not None and n.type in ("template_type", "template_function", "qualified_identifier"):
                n = _field(n, "name")
            if n is not None and n.type in _CPP_NAME_TYPES:
                b.excluded.add(n.start_byte)
            return scope
        if t == "field_expression":
            arg = _field(node, "argument")
            fld = _field(node, "field")
            if arg is not None and arg.type == "this" and fld is not None and fld.type == "field_identifier":
                b.member_refs.add(fld.start_byte)
            return scope
        if t == "field_initializer":
            for c in node.named_children:
                if c.type == "field_identifier":
                    b.member_refs.add(c.start_byte)
            return scope
        return scope


# --------------------------------------------------------------------------------------------------------------
# JavaScript


_JS_REF_TYPES = frozenset({"identifier", "shorthand_property_identifier"})
_JS_FUNCTIONS = frozenset({"function_declaration", "generator_function_declaration", "function_expression",
                           "generator_function", "arrow_function", "method_definition", "function"})
_JS_BODY_PARENTS = _JS_FUNCTIONS | {"catch_clause"}
_JS_BLOCKS = frozenset({"for_statement", "for_in_statement", "catch_clause", "switch_statement"})


def _js_pattern_names(node: Node | None) -> list[Node]:
    """Identifier nodes bound by a JS binding pattern (identifier, object/array pattern, defaults, rest)."""
    out: list[Node] = []
    stack = [node] if node is not None else []
    while stack:
        n = stack.pop()
        t = n.type
        if t in ("identifier", "shorthand_property_identifier_pattern"):
            out.append(n)
        elif t in ("object_pattern", "array_pattern", "rest_pattern"):
            stack.extend(reversed(n.named_children))
        elif t == "pair_pattern":
            v = _field(n, "value")
            if v is not None:
                stack.append(v)
        elif t in ("assignment_pattern", "object_assignment_pattern"):
            v = _field(n, "left")
            if v is not None:
                stack.append(v)
    return out


class _JsRules:
    """Scope and declaration rules for JavaScript."""

    ref_types = _JS_REF_TYPES
    handled = frozenset({
        "statement_block", "lexical_declaration", "variable_declaration", "formal_parameters",
        "class_declaration", "class", "class_body", "field_definition", "import_clause", "import_specifier",
        "export_specifier", "member_expression",
    }) | _JS_FUNCTIONS | _JS_BLOCKS

    def __init__(self, b: _Builder) -> None:
        self.b = b

    def visit(self, node: Node, t: str, scope: int, parent_type: str) -> int:
        b = self.b
        if t == "statement_block":
            return scope if parent_type in _JS_BODY_PARENTS else b.open_scope("block", node, scope)
        if t == "lexical_declaration" or t == "variable_declaration":
            if t == "variable_declaration":
                owner, hoisted = b.fn_scope[scope], True
            else:
                owner, hoisted = scope, False
            for d in node.named_children:
                if d.type == "variable_declarator":
                    for name in _js_pattern_names(_field(d, "name")):
                        b.declare(name, "variable", owner, hoisted)
            return scope
        if t in _JS_FUNCTIONS:
            inner = b.open_scope("function", node, scope)
            name = _field(node, "name")
            if t in ("function_declaration", "generator_function_declaration"):
                b.declare(name, "function", scope, hoisted=True)
            elif t == "method_definition":
                # Methods of object literals (`{ m() {} }`) are properties, not names in any scope.
                if (name is not None and name.type in ("property_identifier", "private_property_identifier")
                        and b.scopes[scope].kind == "class"):
                    b.declare(name, "method", scope, hoisted=True)
            elif name is not None:
                b.declare(name, "function", inner, hoisted=True)
            param = _field(node, "parameter")
            if param is not None:
                for n in _js_pattern_names(param):
                    b.declare(n, "parameter", inner)
            return inner
        if t == "formal_parameters":
            for p in node.named_children:
                for n in _js_pattern_names(p):
                    b.declare(n, "parameter", scope)
            return scope
        if t == "class_declaration" or t == "class":
            name = _field(node, "name")
            if name is not None:
                b.declare(name, "class", scope)
            return scope
        if t == "class_body":
            return b.open_scope("class", node, scope)
        if t == "field_definition":
            prop = _field(node, "property")
            if prop is not None and prop.type in ("property_identifier", "private_property_identifier"):
                b.declare(prop, "field", scope, hoisted=True)
            return scope
        if t in _JS_BLOCKS:
            inner = b.open_scope("block", node, scope)
            if t == "catch_clause":
                for n in _js_pattern_names(_field(node, "parameter")):
                    b.declare(n, "parameter", inner)
            elif t == "for_in_statement":
                kind = _field(node, "kind")
                if kind is not None:
                    var = kind.type == "var"
                    owner = b.fn_scope[scope] if var else inner
                    for n in _js_pattern_names(_field(node, "left")):
                        b.declare(n, "variable", owner, hoisted=var)
            return inner
        if t == "import_clause":
            for c in node.named_children:
                if c.type == "identifier":
                    b.declare(c, "variable", scope, hoisted=True)
                elif c.type == "namespace_import":
                    for n in c.named_children:
                        if n.type == "identifier":
                            b.declare(n, "variable", scope, hoisted=True)
            return scope
        if t == "import_specifier":
            name, alias = _field(node, "name"), _field(node, "alias")
            if alias is not None:
                if name is not None:
                    b.excluded.add(name.start_byte)
                b.declare(alias, "variable", scope, hoisted=True)
            else:
                b.declare(name, "variable", scope, hoisted=True)
            return scope
        if t == "export_specifier":
            # `export {a as b}`: `b` is an exported name, not a use.
            alias = _field(node, "alias")
            if alias is not None:
                b.excluded.add(alias.start_byte)
            return scope
        if t == "member_expression":
            obj, prop = _field(node, "object"), _field(node, "property")
            if obj is not None and obj.type == "this" and prop is not None:
                b.member_refs.add(prop.start_byte)
            return scope
        return scope


# --------------------------------------------------------------------------------------------------------------


def compute_scopes(parsed: ParsedFile, pause: Callable[[], None] | None = None) -> ScopeInfo:
    """Scope analysis of a parsed file; never raises on broken code.  `pause`: see `tokens.tokenize` (called
    every `PAUSE_EVERY` nodes)."""
    lang = parsed.lang
    b = _Builder(parsed, lexical_before_use=lang == "cpp", members_lexical=lang == "cpp")
    rules: _CppRules | _JsRules = _CppRules(b) if lang == "cpp" else _JsRules(b)
    visit: Callable[[Node, str, int, str], int] = rules.visit
    ref_types = rules.ref_types
    # Per kind-id tables: only identifier leaves matter, only the node types the rules know need a visit, and
    # string-like literals (except JS template strings, whose substitutions hold code) need no descent.
    tables = kind_tables(lang)
    names = tables.names
    n_kinds = len(names)
    ident = [k is TokenKind.IDENTIFIER for k in tables.kinds]
    handled = [name in rules.handled for name in names]
    skip = [a and name != "template_string" for a, name in zip(tables.atomic, names)]
    root = parsed.tree.root_node
    file_scope = b.open_scope("file", root, -1)
    b.scopes[file_scope].start_byte = 0
    b.scopes[file_scope].end_byte = len(parsed.source)
    root_type = root.type
    stack: list[tuple[Node, int, str]] = [(c, file_scope, root_type) for c in reversed(root.children)]
    leaf = b.leaf
    pop, extend = stack.pop, stack.extend
    steps = 0
    while stack:
        if pause is not None:
            steps += 1
            if not steps % PAUSE_EVERY:
                pause()
        node, scope, parent_type = pop()
        kid = node.kind_id
        if kid >= n_kinds:  # ERROR
            children = node.children
            if children:
                scopes = b.error_children(node, scope, lang)
                extend([(children[i], scopes[i], "ERROR") for i in range(len(children) - 1, -1, -1)])
            continue
        if skip[kid]:
            continue
        children = node.children
        if not children:
            if ident[kid]:
                leaf(node, names[kid], scope, ref_types)
            continue
        t = names[kid]
        inner = visit(node, t, scope, parent_type) if handled[kid] else scope
        extend([(c, inner, t) for c in reversed(children)])
    return b.finish()
