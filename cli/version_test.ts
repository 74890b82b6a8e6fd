import assert from "node:assert/strict";
import { buildCli } from "./commands.ts";
import { versionText } from "./version.ts";
import { TOOL_VERSION } from "../engine/version.ts";

Deno.test("version: Terraform's text and -json shapes, the version from engine/version.ts", () => {
  assert.match(versionText(false), new RegExp(`^sockform v${TOOL_VERSION}\non linux_\\w+$`));
  const j = JSON.parse(versionText(true));
  assert.deepEqual(Object.keys(j), ["sockform_version", "platform"]);
  assert.equal(j.sockform_version, TOOL_VERSION);
});

Deno.test("version: `version` is a command and `-v, --version` a global flag", () => {
  const cli = buildCli();
  const version = cli.commands.find((c) => c.name() === "version");
  assert.ok(version?.options.some((o) => o.long === "--json"));
  const flag = cli.options.find((o) => o.long === "--version");
  assert.equal(flag?.short, "-v");
});
