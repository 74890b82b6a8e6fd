/**
 * `sockform version` / `--version`, as `terraform version` prints it.
 *
 * @module
 */
import { TOOL_VERSION } from "../engine/version.ts";

function platform(): string {
  const arch = Deno.build.arch === "x86_64" ? "amd64" : "arm64";
  return `${Deno.build.os}_${arch}`;
}

/**
 * The version text: `sockform v0.1.0` and the platform line, or with `json`
 * the shape of `terraform version -json`.
 *
 * @example Print the version
 * ```ts
 * console.log(versionText(false)); // "sockform v0.1.0\non linux_amd64"
 * ```
 */
export function versionText(json: boolean): string {
  if (json) {
    return JSON.stringify({ sockform_version: TOOL_VERSION, platform: platform() }, null, 2);
  }
  return `sockform v${TOOL_VERSION}\non ${platform()}`;
}
