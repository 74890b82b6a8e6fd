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

/** Runs `git args…` on the bare repository `gitDir` (GIT_DIR, so args[0] is the subcommand). */
async function git(args: string[], gitDir?: string): Promise<string> {
  const out = await programCommand(["git", ...args], {
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { GIT_TERMINAL_PROMPT: "0", ...(gitDir ? { GIT_DIR: gitDir } : {}) },
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
  await git(["fetch", "--quiet", "--force", "--no-tags", spec.url, spec.ref], bare);
  return await git(["rev-parse", "--verify", "FETCH_HEAD^{commit}"], bare);
}

async function checkout(spec: Extract<SourceSpec, { type: "git" }>, commit: string) {
  const dir = `${repoCache(spec)}/checkouts/${commit}`;
  if (exists(`${dir}/.git`)) return dir;
  const bare = `${repoCache(spec)}/repo.git`;
  await git(["worktree", "prune"], bare);
  await git(["worktree", "add", "--quiet", "--force", "--detach", dir, commit], bare);
  return dir;
}

/**
 * Fetches the source's current revision: for git, fetch `ref`, resolve its
 * commit and check it out (once per commit); for a file, its mtime and size.
 *
 * @example A file source
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { loadStack } from "../cli/load_stack.ts";
 *
 * async function fileStack() {
 *   const rev = await fetchRevision({ type: "file", path: "./stack.ts" });
 *   return await loadStack(rev.file, rev.commit);
 * }
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
 * @example Keep the last good commit and the current one
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function prune(spec: SourceSpec, lastGood: string, current: string): Promise<void> {
 *   await pruneCheckouts(spec, [lastGood, current]);
 * }
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
  await git(["worktree", "prune"], `${repoCache(spec)}/repo.git`);
}

/**
 * The source as shown in the status file and metrics.
 *
 * @example A file source
 * ```ts
 * describeSource({ type: "file", path: "/etc/sockform/stack.ts" }); // "file:/etc/sockform/stack.ts"
 * ```
 */
export function describeSource(spec: SourceSpec): string {
  if (spec.type === "file") return `file:${spec.path}`;
  return `git:${withoutCredentials(spec.url)}#${spec.ref}:${spec.path}`;
}

/** A URL's user and password never reach the status file or a metric label. */
function withoutCredentials(url: string): string {
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return url;
    u.username = "";
    u.password = "";
    return u.href;
  } catch {
    return url; // scp-like "host:path": no password in it
  }
}
