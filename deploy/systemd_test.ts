/**
 * The systemd units in deploy/systemd, checked with `systemd-analyze verify`: unit syntax, known
 * directives and values, executables that exist, and the timer's unit. verify exits 0 on unknown
 * directives and bad values (it only warns), so any output fails the check too. The units name
 * Deno at /usr/local/bin/deno (where `npm install -g deno@2.9.6` puts it); the copies verified
 * here name this Deno instead, and that is the only change.
 */
import assert from "node:assert/strict";
import { programCommand } from "../providers/system/programs.ts";
import { privateBpffs } from "../lab/bpffs.ts";

const UNITS = new URL("./systemd/", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;
const DENO = "/usr/local/bin/deno";

interface Verdict {
  success: boolean;
  output: string;
}

async function verify(units: Record<string, string>): Promise<Verdict> {
  const dir = await Deno.makeTempDir({ prefix: "sf-units-" });
  try {
    const paths = Object.entries(units).map(([name, text]) => {
      Deno.writeTextFileSync(`${dir}/${name}`, text.replaceAll(DENO, Deno.execPath()));
      return `${dir}/${name}`;
    });
    const out = await programCommand(["systemd-analyze", "verify", "--man=no", ...paths], {
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    return { success: out.success, output: (decode(out.stdout) + decode(out.stderr)).trim() };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function shipped(): Record<string, string> {
  const units: Record<string, string> = {};
  for (const entry of Deno.readDirSync(UNITS)) {
    units[entry.name] = Deno.readTextFileSync(`${UNITS}${entry.name}`);
  }
  return units;
}

Deno.test("systemd-analyze verify passes the agent service, the apply service and its timer", async () => {
  const units = shipped();
  assert.deepEqual(Object.keys(units).sort(), [
    "sockform-agent.service",
    "sockform-apply.service",
    "sockform-apply.timer",
  ]);
  assert.deepEqual(await verify(units), { success: true, output: "" });
});

Deno.test("the units run the CLI as its contract says", () => {
  const units = shipped();
  const execStart = (name: string) => units[name].match(/^ExecStart=(.*)$/m)?.[1];
  assert.equal(
    execStart("sockform-agent.service"),
    `${DENO} run -A main.ts agent --stack /etc/sockform/stack.ts --metrics-listen 127.0.0.1:9464`,
  );
  assert.match(
    execStart("sockform-apply.service") ?? "",
    / apply -s \/etc\/sockform\/stack.ts --auto-approve /,
  );
  // verify does not follow a timer's Unit=, so check that it names the shipped service.
  assert.match(units["sockform-apply.timer"], /^Unit=sockform-apply\.service$/m);
  // The path-manager agents sockform starts are state: stopping or finishing a run must not kill them.
  for (const name of ["sockform-agent.service", "sockform-apply.service"]) {
    assert.match(units[name], /^KillMode=process$/m, name);
  }
});

Deno.test("systemd-analyze verify rejects broken units", async (t) => {
  const units = shipped();
  const agent = units["sockform-agent.service"];
  await t.step("a misspelt directive", async () => {
    const broken = agent.replace("KillMode=process", "KilMode=process");
    const verdict = await verify({ "sockform-agent.service": broken });
    assert.match(verdict.output, /Unknown key 'KilMode'/);
  });
  await t.step("a missing executable", async () => {
    const broken = agent.replaceAll(DENO, "/nonexistent/deno");
    const verdict = await verify({ "sockform-agent.service": broken });
    assert.equal(verdict.success, false);
    assert.match(verdict.output, /\/nonexistent\/deno/);
  });
});

Deno.test("the apply unit's command line runs: its flags on an empty stack in a private bpffs (root)", async () => {
  const line = shipped()["sockform-apply.service"].match(/^ExecStart=(.*)$/m)?.[1] ?? "";
  const bpffs = privateBpffs();
  const dir = await Deno.makeTempDir({ prefix: "sf-apply-unit-" });
  try {
    const stack = `${dir}/stack.ts`;
    await Deno.writeTextFile(
      stack,
      `import { Stack } from "${ROOT}mod.ts";\nexport default new Stack("timer", []);\n`,
    );
    // The unit's WorkingDirectory is the repository (/opt/sockform); here it is this checkout.
    const argv = line.split(" ").map((word) =>
      word === DENO ? Deno.execPath() : word === "/etc/sockform/stack.ts" ? stack : word
    );
    const out = await programCommand([...argv, "--state-root", bpffs.root], {
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const said = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.ok(out.success, said);
    assert.match(said, /No changes/);
  } finally {
    bpffs.cleanup();
    await Deno.remove(dir, { recursive: true });
  }
});
