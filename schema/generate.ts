/**
 * JSON Schemas for resource specs, generated from the kinds' zod schemas
 * (zod 4's `z.toJSONSchema`), one file per kind: `schema/<Kind>.schema.json`.
 * Editors validate spec files kept as JSON against them (see the README).
 *
 * `deno task schema` rewrites the files; `schema/generate_test.ts` fails when
 * a committed file is stale or a kind has none.
 *
 * @module
 */
import { z } from "../deps.ts";
import { socketLookupRedirectSchema } from "../resources/socket_lookup_redirect/schema.ts";
import { pathManagerSchema } from "../resources/path_manager/schema.ts";
import { tcpTuningSchema } from "../resources/tcp_tuning/schema.ts";
import { mptcpifyHookSchema } from "../resources/mptcpify_hook/schema.ts";
import { congestionControlSchema } from "../resources/congestion_control/schema.ts";
import { policyChainSchema } from "../resources/policy_chain/schema.ts";
import { schedulerSchema } from "../resources/scheduler/schema.ts";

/** The spec schema of each kind, by kind name. */
const SPEC_SCHEMAS: Record<string, z.ZodType> = {
  SocketLookupRedirect: socketLookupRedirectSchema,
  PathManager: pathManagerSchema,
  TcpTuning: tcpTuningSchema,
  MptcpifyHook: mptcpifyHookSchema,
  CongestionControl: congestionControlSchema,
  PolicyChain: policyChainSchema,
  Scheduler: schedulerSchema,
};

/** One generated schema file: its path under the repo and its text. */
export interface SchemaFile {
  kind: string;
  path: string;
  text: string;
}

/**
 * The schema files as `deno task schema` writes them.
 *
 * @example Listing the generated files
 * ```ts
 * import { schemaFiles } from "./generate.ts";
 *
 * console.log(schemaFiles().map((f) => f.path)); // ["schema/SocketLookupRedirect.schema.json", …]
 * ```
 */
export function schemaFiles(): SchemaFile[] {
  return Object.entries(SPEC_SCHEMAS).map(([kind, schema]) => {
    // The input side: what a user writes, before defaults and transforms apply.
    const generated = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" });
    const json = {
      ...generated,
      title: `sockform ${kind} spec`,
      $comment: `Generated from the ${kind} zod schema by \`deno task schema\`; do not edit.`,
    };
    return { kind, path: `schema/${kind}.schema.json`, text: `${JSON.stringify(json, null, 2)}\n` };
  });
}

if (import.meta.main) {
  const root = new URL("../", import.meta.url);
  for (const file of schemaFiles()) {
    await Deno.writeTextFile(new URL(file.path, root), file.text);
    console.log(`wrote ${file.path}`);
  }
}
