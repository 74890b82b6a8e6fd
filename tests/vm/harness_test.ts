import assert from "node:assert/strict";
import { deriveSources } from "./kernel_cache.ts";
import { bzImageRelease, localKernel, MPTCP_NEXT_KERNEL_ENV } from "./local_kernel.ts";
import { oneLineToDeb822 } from "./apt_sources.ts";
import { topoOrder } from "./modules.ts";
import { runScript, shellQuote } from "./initramfs.ts";
import { cleanConsole, qemuArgs } from "./qemu.ts";
import { declaredKernels, parseDenoSummary, runsOn, summaryLines } from "./summary.ts";

const HOST_SOURCES = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;

Deno.test("deriveSources() moves every suite to the target and keeps URIs and keys", () => {
  assert.equal(
    deriveSources(HOST_SOURCES, "trixie"),
    `Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie trixie-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: trixie-security
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`,
  );
});

Deno.test("deriveSources() refuses sources without a binary stanza", () => {
  assert.throws(() => deriveSources("Types: deb-src\nURIs: x\nSuites: bookworm\n", "trixie"));
});

Deno.test("topoOrder() puts dependencies first, once, and skips built-in modules", async () => {
  const deps: Record<string, string[] | "builtin"> = {
    "9p": ["9pnet", "netfs"],
    "9pnet": ["netfs"],
    "9pnet_virtio": ["9pnet", "virtio"],
    netfs: [],
    virtio: "builtin",
  };
  const order = await topoOrder(["9pnet-virtio", "9p"], (m) => Promise.resolve(deps[m]));
  assert.deepEqual(order, ["netfs", "9pnet", "9pnet_virtio", "9p"]);
});

Deno.test("topoOrder() reports a dependency cycle instead of looping", async () => {
  const deps: Record<string, string[]> = { a: ["b"], b: ["a"] };
  await assert.rejects(topoOrder(["a"], (m) => Promise.resolve(deps[m])), /cycle: a → b → a/);
});

Deno.test("parseDenoSummary() reads the last summary line, steps and ignored included", async (t) => {
  await t.step("passing run", () => {
    assert.deepEqual(parseDenoSummary("x\nok | 4 passed | 0 failed (851ms)\n"), {
      passed: 4,
      failed: 0,
      ignored: 0,
    });
  });
  await t.step("failing run with steps and ignored tests", () => {
    const out =
      "ok | 1 passed | 0 failed (1s)\nFAILED | 2 passed (2 steps) | 1 failed | 1 ignored (11ms)";
    assert.deepEqual(parseDenoSummary(out), { passed: 2, failed: 1, ignored: 1 });
  });
  await t.step("no summary at all", () => {
    assert.equal(parseDenoSummary("kernel panic\n"), undefined);
  });
});

Deno.test("runsOn() follows a file's @vm-kernels line and defaults to every kernel", () => {
  assert.deepEqual(declaredKernels("// @vm-kernels 6.12, 6.1\n"), ["6.12", "6.1"]);
  assert.equal(runsOn("/** doc */\n// @vm-kernels 6.12\nDeno.test()", "6.1"), false);
  assert.equal(runsOn("// @vm-kernels 6.12\n", "6.12"), true);
  assert.equal(runsOn("Deno.test()", "6.1"), true);
});

Deno.test("summaryLines() counts a failed boot as a failure, never as a pass", () => {
  const lines = summaryLines([
    { label: "trixie 6.12", passed: 4, failed: 0, ignored: 1, durationMs: 15_000 },
    {
      label: "bookworm 6.1",
      passed: 0,
      failed: 0,
      ignored: 0,
      durationMs: 3_000,
      failure: "timed out",
    },
  ]);
  assert.deepEqual(lines, [
    "vm trixie 6.12: 4 passed, 0 failed, 1 skipped (15.0 s)",
    "vm bookworm 6.1: 0 passed, 1 failed (3.0 s) FAILURE: timed out",
    "4 passed, 1 failed, 1 skipped",
  ]);
});

Deno.test("cleanConsole() keeps what a terminal would show", () => {
  assert.equal(cleanConsole("\x1bc\x1b[?7l\x1b[2JSeaBIOS\r"), "SeaBIOS");
  assert.equal(cleanConsole("name ...\rname ... ok (5ms)\r"), "name ... ok (5ms)");
});

Deno.test("runScript() quotes the command and environment for sh", () => {
  const sh = runScript({ argv: ["deno", "test", "it's.ts"], cwd: "/work/main", env: { A: "x y" } });
  assert.match(sh, /^export A='x y'$/m);
  assert.match(sh, /^cd '\/work\/main' \|\| exit 254$/m);
  assert.match(sh, /^exec 'deno' 'test' 'it'\\''s\.ts'$/m);
  assert.equal(shellQuote("a'b"), `'a'\\''b'`);
  assert.throws(
    () => runScript({ argv: ["true"], cwd: "/", env: { "A B": "1" } }),
    /bad environment/,
  );
});

Deno.test("runScript() writes the requested guest files before the command", () => {
  const sh = runScript({ argv: ["true"], cwd: "/", env: {}, files: { "/w/e/a_test.ts": "x'y" } });
  const write = sh.indexOf("printf '%s' 'x'\\''y' > '/w/e/a_test.ts'");
  assert.ok(write > sh.indexOf("mkdir -p '/w/e'") && write < sh.indexOf("exec 'true'"), sh);
});

Deno.test("qemuArgs() boots with TCG and exports the root read-only over 9p", () => {
  const args = qemuArgs({ vmlinuz: "/k", initrd: "/i", nonce: "n", timeoutMs: 1 }).join(" ");
  assert.match(args, /-accel tcg -cpu max -m 2G -smp 2/);
  assert.match(args, /-nographic -no-reboot/);
  assert.match(args, /-fsdev local,id=root,path=\/,readonly=on,[^ ]*multidevs=remap/);
  assert.match(args, /-device virtio-9p-pci,fsdev=root,mount_tag=hostroot/);
});

Deno.test("oneLineToDeb822() turns a debootstrap root's sources.list into stanzas deriveSources reads", () => {
  const text = oneLineToDeb822(
    "# comment\ndeb http://deb.debian.org/debian bookworm main contrib\n" +
      "deb-src http://deb.debian.org/debian bookworm main\n" +
      "deb [arch=amd64 signed-by=/k.gpg] http://security.debian.org/debian-security bookworm-security main\n",
  );
  assert.equal(
    deriveSources(text, "trixie"),
    "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main contrib\n\n" +
      "Types: deb\nURIs: http://security.debian.org/debian-security\nSuites: trixie-security\n" +
      "Components: main\nSigned-By: /k.gpg\n",
  );
});

Deno.test("bzImageRelease reads the release out of the x86 boot header", () => {
  const image = new Uint8Array(0x600);
  image.set(new TextEncoder().encode("HdrS"), 0x202);
  new DataView(image.buffer).setUint16(0x20e, 0x300, true);
  image.set(new TextEncoder().encode("7.3.4-mptcp-bpf (root@x) #1 SMP\0"), 0x500);
  assert.equal(bzImageRelease(image), "7.3.4-mptcp-bpf");
  assert.throws(() => bzImageRelease(new Uint8Array(0x600)), /not an x86 bzImage/);
});

Deno.test("a missing local kernel image fails naming the path, never skips", async () => {
  const path = "/nonexistent/sockform-test/bzImage";
  await assert.rejects(
    () => localKernel("mptcp-next", "7.3", path),
    (e: Error) => e.message.includes(path) && e.message.includes(MPTCP_NEXT_KERNEL_ENV),
  );
});
