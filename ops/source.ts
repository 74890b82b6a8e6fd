/**
 * Where the reconcile agent reads its stack: a local file, or a git
 * repository pulled with the `git` CLI into a cache directory. Each commit is
 * checked out into its own directory, so a loaded stack module never mixes
 * files of two commits and a new commit is imported afresh.
 *
 * @module
 */
import { programCommand } from "../providers/system/programs.ts";
import { UserError } from "../engine/errors.ts";
import { hashJson } from "../engine/hash.ts";

/** A stack source as the agent's flags give it. */
export type SourceSpec =
  | { type: "file"; path: string }
  | { type: "git"; url: string; ref: string; path: string; cacheDir: string };

/** One fetched revision of the stack. */
export interface Revision {
  /** The stack file to load. */
  file: string;
  /** The git commit, or for a file `mtime:size` (what makes it a new revision). */
  commit: string;
}

async function git(args: string[], cwd?: string): Promise<string> {
  const out = await programCommand(["git", ...args], {
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { GIT_TERMINAL_PROMPT: "0" },
  }).output();
  const dec = new TextDecoder();
  if (!out.success) {
    const why = dec.decode(out.stderr).trim().split("\n").pop() ?? `exit ${out.code}`;
    throw new UserError(`git ${args[0]} failed: ${why}`);
  }
  return dec.decode(out.stdout).trim();
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The cache directory of one repository URL: a bare repo plus one checkout per commit. */
function repoCache(spec: { url: string; cacheDir: string }): string {
  return `${spec.cacheDir}/${hashJson(spec.url).slice(0, 16)}`;
}

async function fetchCommit(spec: Extract<SourceSpec, { type: "git" }>): Promise<string> {
  const bare = `${repoCache(spec)}/repo.git`;
  if (!exists(bare)) {
    Deno.mkdirSync(repoCache(spec), { recursive: true, mode: 0o700 });
    await git(["init", "--quiet", "--bare", bare]);
  }
  await git(["--git-dir", bare, "fetch", "--quiet", "--force", "--no-tags", spec.url, spec.ref]);
  return await git(["--git-dir", bare, "rev-parse", "--verify", "FETCH_HEAD^{commit}"]);
}

async function checkout(spec: Extract<SourceSpec, { type: "git" }>, commit: string) {
  const dir = `${repoCache(spec)}/checkouts/${commit}`;
  if (exists(`${dir}/.git`)) return dir;
  const bare = `${repoCache(spec)}/repo.git`;
  await git(["--git-dir", bare, "worktree", "prune"]);
  await git(["--git-dir", bare, "worktree", "add", "--quiet", "--force", "--detach", dir, commit]);
  return dir;
}

/**
 * Fetches the source's current revision: for git, fetch `ref`, resolve its
 * commit and check it out (once per commit); for a file, its mtime and size.
 *
 * @example
 * ```ts
 * const rev = await fetchRevision({ type: "file", path: "./stack.ts" });
 * const stack = await loadStack(rev.file, rev.commit);
 * ```
 */
export async function fetchRevision(spec: SourceSpec): Promise<Revision> {
  if (spec.type === "file") {
    const info = Deno.statSync(spec.path);
    return { file: spec.path, commit: `${info.mtime?.getTime() ?? 0}:${info.size}` };
  }
  const commit = await fetchCommit(spec);
  const dir = await checkout(spec, commit);
  return { file: `${dir}/${spec.path}`, commit };
}

/**
 * Removes the checkouts of commits other than `keep` (the last good one and
 * the current one), so the cache does not grow with every commit.
 *
 * @example
 * ```ts
 * await pruneCheckouts(spec, [lastGood, current]);
 * ```
 */
export async function pruneCheckouts(spec: SourceSpec, keep: readonly string[]): Promise<void> {
  if (spec.type !== "git") return;
  const dir = `${repoCache(spec)}/checkouts`;
  if (!exists(dir)) return;
  for (const e of Deno.readDirSync(dir)) {
    if (keep.includes(e.name)) continue;
    Deno.removeSync(`${dir}/${e.name}`, { recursive: true });
  }
  await git(["--git-dir", `${repoCache(spec)}/repo.git`, "worktree", "prune"]);
}

/**
 * The source as shown in the status file and metrics.
 *
 * @example
 * ```ts
 * describeSource({ type: "file", path: "/etc/sockform/stack.ts" }); // "file:/etc/sockform/stack.ts"
 * ```
 */
export function describeSource(spec: SourceSpec): string {
  return spec.type === "file" ? `file:${spec.path}` : `git:${spec.url}#${spec.ref}:${spec.path}`;
}
