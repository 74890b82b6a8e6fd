/**
 * The fresh-machine guard: every program started anywhere in the project
 * (product, demo, tests, benchmarks, VM harness, shell scripts) is known to
 * providers/system/programs.ts, and its Debian package (checked with `dpkg -S`) is
 * in the list scripts/setup.sh installs. A tool installed by hand on a
 * developer's machine but missing from setup fails here, not on a user's
 * first run.
 */
import assert from "node:assert/strict";
import {
  isProgram,
  programCommand,
  PROGRAMS,
  requireArgv,
  requireProgram,
  SYSTEM_DIRS,
} from "./programs.ts";

const ROOT = new URL("../..", import.meta.url).pathname;

// Words in TypeScript string literals that name an executable on a Debian root
// but are never started by the project (ip subcommands, field names, ...).
// deno-fmt-ignore
const NOT_STARTED = new Set([
  "as", "comm", "dir", "env", "false", "file", "gzip", "id", "init", "issues", "join", "kill",
  "link", "nice", "reboot", "reset", "route", "size", "ssh", "test", "top", "true", "write", "yes",
  // Deno.build.arch's value; util-linux ships an `x86_64` (setarch) on some Debian roots.
  "x86_64",
]);
// What the README asks of a fresh machine before its two commands (Node.js and npm).
const PRECONDITIONS = new Set(["npx", "node", "npm"]);
// Shell words that are keywords or builtins rather than programs.
// deno-fmt-ignore
const SHELL_WORDS = new Set([
  "if", "then", "else", "elif", "fi", "for", "in", "do", "done", "while", "until", "case", "esac",
  "function", "return", "exit", "local", "export", "set", "unset", "shift", "trap", "read", "echo",
  "printf", "cd", "exec", "source", ".", "eval", "wait", "true", "false", "test", "[", "[[",
  "command", "type", "declare", "readonly", "break", "continue", "{", "}", "!", "kill", "pwd",
  "umask", "ulimit",
]);

function trackedFiles(): string[] {
  const out = programCommand(["git", "ls-files"], { cwd: ROOT, stdout: "piped" })
    .outputSync();
  return new TextDecoder().decode(out.stdout).split("\n").filter((f) =>
    f && !f.startsWith("bpf/gen/")
  );
}

function executableOnRoot(word: string): boolean {
  return SYSTEM_DIRS.some((dir) => {
    try {
      return Deno.statSync(`${dir}/${word}`).isFile;
    } catch {
      return false;
    }
  });
}

// Each one-word string literal, and the first word of a command line written
// as one string and split ("tc qdisc add dev".split(" ")).
function tsLiterals(text: string): string[] {
  const words = [...text.matchAll(/["'`]([A-Za-z][\w.+-]*)["'`]/g)].map((m) => m[1]);
  const split = [...text.matchAll(/["'`]([A-Za-z][\w.+-]*) [^"'`]*["'`]\.split\(/g)];
  return words.concat(split.map((m) => m[1]));
}

// The first word of each simple command in a shell script (loosely).
function shellCommandWords(text: string): string[] {
  const words: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/(^|\s)#.*$/, "");
    for (const part of line.split(/;|\|\||&&|\||\$\(|\(|`/)) {
      const tokens = part.trim().split(/\s+/).filter((t) => !/^\w+=/.test(t));
      if (tokens[0] && /^[A-Za-z][\w.+-]*$/.test(tokens[0])) words.push(tokens[0]);
    }
  }
  return words;
}

function setupPackages(): Set<string> {
  const text = Deno.readTextFileSync(`${ROOT}scripts/debian-packages.txt`);
  return new Set(text.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#")));
}

function dpkgQuery(format: string, pkg: string): string {
  const out = programCommand(["dpkg-query", "-W", `-f=${format}`, pkg], {
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  return new TextDecoder().decode(out.stdout);
}

// The packages owning each program's file, from one `dpkg -S` over every
// merged-/usr alias dpkg may know it by (/sbin/ip vs /usr/sbin/ip) and the
// target of an alternatives symlink (awk → mawk).
function owningPackages(programs: readonly string[]): Map<string, string> {
  const programOf = new Map<string, string>();
  for (const program of programs) {
    for (const dir of SYSTEM_DIRS) {
      const path = `${dir}/${program}`;
      programOf.set(path, program);
      try {
        programOf.set(Deno.realPathSync(path), program);
      } catch {
        // Not in this directory.
      }
    }
  }
  const out = programCommand(["dpkg", "-S", ...programOf.keys()], {
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  const owners = new Map<string, string>();
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const m = line.match(/^([\w.+-]+)(?::\w+)?: (\/.*)$/);
    const program = m && programOf.get(m[2]);
    if (program && !owners.has(program)) owners.set(program, m[1]);
  }
  return owners;
}

// Whether `owner` is `pkg` or one of its direct (pre-)dependencies (python3 → python3-minimal).
function providedBy(owner: string, pkg: string): boolean {
  if (owner === pkg) return true;
  const deps = dpkgQuery("${Depends}, ${Pre-Depends}", pkg);
  return deps.split(/[,|]/).map((d) => d.trim().split(/[\s:(]/)[0]).includes(owner);
}

function inMinbase(pkg: string): boolean {
  return /^yes |required$/.test(dpkgQuery("${Essential} ${Priority}", pkg).trim());
}

Deno.test("every program the project starts is registered in providers/system/programs.ts", () => {
  const unknown: string[] = [];
  for (const file of trackedFiles()) {
    // The registry and this test name programs and packages as data.
    if (file.endsWith(".ts") && !file.startsWith("providers/system/programs")) {
      const text = Deno.readTextFileSync(`${ROOT}${file}`);
      for (const word of tsLiterals(text)) {
        if (!isProgram(word) && !NOT_STARTED.has(word) && executableOnRoot(word)) {
          unknown.push(`${file}: "${word}"`);
        }
      }
    }
  }
  assert.deepEqual(
    [...new Set(unknown)],
    [],
    "register these in providers/system/programs.ts (or list them in NOT_STARTED if they are not programs)",
  );
});

Deno.test("only providers/system/programs.ts constructs Deno.Command for external programs", () => {
  const offenders = trackedFiles().filter((f) => f.endsWith(".ts"))
    .filter((f) =>
      f !== "providers/system/programs.ts" && f !== "providers/system/programs_test.ts"
    )
    .filter((f) =>
      /new Deno\.Command\((?!Deno\.execPath\(\))/.test(Deno.readTextFileSync(`${ROOT}${f}`))
    );
  assert.deepEqual(offenders, []);
});

Deno.test("shell scripts start only registered or base-system programs", () => {
  const started: [string, string][] = [];
  const scripts = trackedFiles().filter((f) => f.endsWith(".sh") || f === ".ci/run");
  for (const file of scripts) {
    for (const word of shellCommandWords(Deno.readTextFileSync(`${ROOT}${file}`))) {
      const exempt = SHELL_WORDS.has(word) || PRECONDITIONS.has(word) || isProgram(word);
      if (!exempt && executableOnRoot(word)) started.push([file, word]);
    }
  }
  const owners = owningPackages(started.map(([, word]) => word));
  const problems = started.filter(([, word]) => !inMinbase(owners.get(word) ?? ""))
    .map(([file, word]) => `${file}: ${word} (${owners.get(word) ?? "no package"})`);
  assert.deepEqual([...new Set(problems)], []);
});

Deno.test("each registered program's Debian package is in setup's list and owns it (dpkg -S)", async (t) => {
  const listed = setupPackages();
  const owners = owningPackages(Object.keys(PROGRAMS));
  for (const [program, pkg] of Object.entries(PROGRAMS)) {
    await t.step(program, () => {
      assert.ok(
        listed.has(pkg),
        `${program}: package ${pkg} is not in scripts/debian-packages.txt`,
      );
      const owner = owners.get(program);
      assert.ok(owner, `${program} is not installed from any package (run deno task setup)`);
      assert.ok(providedBy(owner, pkg), `${program} belongs to ${owner}, not ${pkg}`);
    });
  }
});

Deno.test("a missing program names its Debian package", async () => {
  const empty = await Deno.makeTempDir({ prefix: "sf-programs-" });
  try {
    assert.throws(
      () => requireProgram("mptcpize", [empty]),
      { message: "mptcpize not found (Debian package mptcpize; run deno task setup)" },
    );
    assert.throws(() => requireArgv(["not-a-program", "x"]), /not registered/);
    assert.match(requireProgram("ip"), /\/ip$/);
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});
