/** Unit tests of turning naming code actions into quick-pick entries. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { isNameAction, namePicks, proposedName } from "../src/names";

test("only refactor.rename actions that are not disabled are offered, in order", () => {
  const actions = [
    { title: "Rename `x` to `count`", kind: "refactor.rename" },
    { title: "Extract function", kind: "refactor.extract" },
    { title: "Rename `x` to `total`", kind: "refactor.rename.codecomp" },
    { title: "Rename `x` to `n`", kind: "refactor.rename", disabled: { reason: "clashes with a name in scope" } },
    { title: "Rename `x` to `i`" },
  ];
  const picks = namePicks(actions);
  assert.deepEqual(
    picks.map((p) => p.label),
    ["count", "total"],
  );
  assert.equal(picks[0].action, actions[0]);
});

test("refactor.rewrite actions count only when they are renames", () => {
  assert.equal(isNameAction({ title: "Rename `x` to `count`", kind: "refactor.rewrite" }), true);
  assert.equal(isNameAction({ title: "Convert to arrow function", kind: "refactor.rewrite" }), false);
  assert.deepEqual(
    namePicks([
      { title: "Rename `acc` to `total`", kind: "refactor.rewrite" },
      { title: "Inline variable", kind: "refactor.rewrite" },
    ]).map((p) => p.label),
    ["total"],
  );
});

test("kinds given as objects (VS Code CodeActionKind) are understood", () => {
  assert.equal(isNameAction({ title: "t", kind: { value: "refactor.rename" } }), true);
  assert.equal(isNameAction({ title: "t", kind: { value: "refactor.renamer" } }), false);
});

test("the proposed name is read from the title", () => {
  assert.equal(proposedName("Rename `x` to `count`"), "count");
  assert.equal(proposedName("Rename to total (0.83)"), "total");
  assert.equal(proposedName("Rename to $élan"), "$élan");
  assert.equal(proposedName("something else"), "something else");
});
