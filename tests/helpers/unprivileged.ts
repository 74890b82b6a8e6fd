/**
 * Running the sockform CLI as `nobody` (uid/gid 65534) with no capabilities,
 * through `setpriv`: the Deno executable, its npm cache and the checkout's
 * tracked files are copied where that user can read them (the checkout may sit
 * in root's private home, as in the pristine-root check), and the user gets a
 * state root of their own on a private bpffs.
 *
 * @module
 */
import { privateBpffs } from "../../lab/bpffs.ts";
import { programCommand } from "../../providers/system/programs.ts";

const REPO = new URL("../../", import.meta.url).pathname;
/** `nobody` and `nogroup` on Debian. */
export const NOBODY = 65534;

/** What one unprivileged CLI run produced. */
export interface NobodyResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A place `nobody` can run the CLI from, with a state root it owns. */
export interface NobodyEnv {
  /** A directory owned by nobody (for stack files). */
  home: string;
  /** The copy of the checkout nobody runs (import `${repo}mod.ts` from stack files). */
  repo: string;
  /** A state root on bpffs owned by nobody. */
  ownRoot: string;
  /** A directory on the same bpffs owned by root, mode 0755. */
  rootOwned: string;
  /** Runs `deno run -A main.ts <args>` as nobody. */
  cli(args: string[]): Promise<NobodyResult>;
}

function copyTree(from: string, to: string): void {
  Deno.mkdirSync(to, { recursive: true });
  for (const e of Deno.readDirSync(from)) {
    if (e.isDirectory) copyTree(`${from}/${e.name}`, `${to}/${e.name}`);
    else if (e.isFile) Deno.copyFileSync(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

// The checkout's tracked files: enough to run main.ts and import mod.ts.
function copyCheckout(to: string): void {
  const out = programCommand(["git", "ls-files", "-z"], { cwd: REPO, stdout: "piped" })
    .outputSync();
  for (const file of new TextDecoder().decode(out.stdout).split("\0").filter(Boolean)) {
    const target = `${to}${file}`;
    Deno.mkdirSync(target.slice(0, target.lastIndexOf("/")), { recursive: true });
    Deno.copyFileSync(`${REPO}${file}`, target);
  }
}

function chownTree(path: string): void {
  Deno.chownSync(path, NOBODY, NOBODY);
  if (!Deno.lstatSync(path).isDirectory) return;
  for (const e of Deno.readDirSync(path)) chownTree(`${path}/${e.name}`);
}

function npmCache(): string {
  const dir = Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`;
  return `${dir}/npm`;
}

/**
 * Prepares a `NobodyEnv`, runs `fn`, and removes everything afterwards.
 *
 * @example
 * ```ts
 * await withNobody(async (env) => {
 *   const r = await env.cli(["plan", "-s", file, "--state-root", env.ownRoot]);
 * });
 * ```
 */
export async function withNobody(fn: (env: NobodyEnv) => Promise<void>): Promise<void> {
  const fs = privateBpffs();
  // sockform mounts bpffs 0700; a user with a state root of their own needs to reach it.
  Deno.chmodSync(fs.mount, 0o755);
  const home = Deno.makeTempDirSync({ prefix: "sf-nobody-" });
  try {
    Deno.chmodSync(home, 0o755);
    Deno.copyFileSync(Deno.execPath(), `${home}/deno`);
    copyTree(npmCache(), `${home}/deno_dir/npm`);
    copyCheckout(`${home}/repo/`);
    chownTree(home);
    const ownRoot = fs.root;
    Deno.mkdirSync(ownRoot, { mode: 0o700 });
    Deno.chownSync(ownRoot, NOBODY, NOBODY);
    const rootOwned = `${fs.mount}/root-owned`;
    Deno.mkdirSync(rootOwned, { mode: 0o755 });
    await fn({
      home,
      repo: `${home}/repo/`,
      ownRoot,
      rootOwned,
      cli: (args) => runAsNobody(home, args),
    });
  } finally {
    fs.cleanup();
    Deno.removeSync(home, { recursive: true });
  }
}

async function runAsNobody(home: string, args: string[]): Promise<NobodyResult> {
  const argv = ["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "--"];
  const out = await programCommand([
    ...argv,
    `${home}/deno`,
    "run",
    "-A",
    `${home}/repo/main.ts`,
    ...args,
  ], {
    cwd: home,
    clearEnv: true,
    env: {
      HOME: home,
      DENO_DIR: `${home}/deno_dir`,
      NO_COLOR: "1",
      PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
