/**
 * Turning the server's naming code actions into quick-pick entries.
 * Free of the `vscode` API so it can be unit-tested with plain objects shaped like LSP code actions.
 */

/** The code action kind for name suggestions. */
export const NAME_ACTION_KIND = "refactor.rename";
/** Servers may also file renames under `refactor.rewrite`; those count when their title starts with "Rename". */
export const REWRITE_KIND = "refactor.rewrite";
/** What the client asks for: the parent kind, so both of the above come back. */
export const REQUEST_KIND = "refactor";

/** The parts of an LSP CodeAction (or a VS Code one) this module reads. */
export interface ActionLike {
  title: string;
  kind?: string | { value: string };
  isPreferred?: boolean;
  disabled?: { reason: string };
}

export interface NamePick<T extends ActionLike> {
  label: string;
  description?: string;
  action: T;
}

function kindValue(kind: ActionLike["kind"]): string | undefined {
  if (kind === undefined) {
    return undefined;
  }
  return typeof kind === "string" ? kind : kind.value;
}

function isKindOrBelow(k: string, parent: string): boolean {
  return k === parent || k.startsWith(parent + ".");
}

/**
 * True for a `refactor.rename` action (or a kind below it, `refactor.rename.codecomp`), and for a
 * `refactor.rewrite` action whose title starts with "Rename".
 */
export function isNameAction(a: ActionLike): boolean {
  const k = kindValue(a.kind);
  if (k === undefined) {
    return false;
  }
  return isKindOrBelow(k, NAME_ACTION_KIND) || (isKindOrBelow(k, REWRITE_KIND) && /^\s*Rename\b/.test(a.title));
}

/**
 * Extracts the proposed name from a title such as "Rename `x` to `count`" or "Rename to count (0.83)":
 * the last back-quoted word, else the word after " to ". Falls back to the whole title.
 */
export function proposedName(title: string): string {
  const quoted = [...title.matchAll(/[`'"]([^`'"]+)[`'"]/g)].map((m) => m[1]);
  if (quoted.length > 0) {
    return quoted[quoted.length - 1];
  }
  const m = /\bto\s+([\p{L}\p{N}_$]+)/u.exec(title);
  return m ? m[1] : title;
}

/** Quick-pick entries for the usable naming actions, in the server's order (best first). */
export function namePicks<T extends ActionLike>(actions: readonly T[]): NamePick<T>[] {
  return actions
    .filter((a) => isNameAction(a) && a.disabled === undefined)
    .map((a) => ({ label: proposedName(a.title), description: a.title, action: a }));
}
