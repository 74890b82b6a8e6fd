/**
 * A real Prometheus server for a kernel test: its config written by the test,
 * listening on loopback only, its TSDB in a temp dir, stopped and removed
 * afterwards. Independent of any prometheus service the package installed.
 *
 * @module
 */
import { programCommand } from "../../providers/system/programs.ts";
import { freePort } from "./reconcile_agent.ts";

/** A running Prometheus. */
export interface Prometheus {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Runs an instant PromQL query; returns the result vector. */
  query(
    promql: string,
  ): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  /** Kills it and removes its data dir; safe to call twice. */
  stop(): Promise<void>;
}

function config(target: string): string {
  return [
    "global:",
    "  scrape_interval: 1s",
    "  scrape_timeout: 1s",
    "scrape_configs:",
    "  - job_name: sockform",
    "    static_configs:",
    `      - targets: ["${target}"]`,
    "",
  ].join("\n");
}

/**
 * Starts Prometheus scraping `target` (host:port) every second.
 *
 * @example Scrape an agent
 * ```ts
 * const prom = await startPrometheus("127.0.0.1:9464");
 * try { await prom.query("up"); } finally { await prom.stop(); }
 * ```
 */
export function startPrometheus(target: string): Prometheus {
  const dir = Deno.makeTempDirSync({ prefix: "sf-prom-" });
  Deno.writeTextFileSync(`${dir}/prometheus.yml`, config(target));
  const port = freePort();
  const child = programCommand([
    "prometheus",
    `--config.file=${dir}/prometheus.yml`,
    `--storage.tsdb.path=${dir}/data`,
    `--web.listen-address=127.0.0.1:${port}`,
    "--log.level=warn",
  ], { stdin: "null", stdout: "null", stderr: "null" }).spawn();
  const url = `http://127.0.0.1:${port}`;
  let stopped = false;
  return {
    url,
    async query(promql) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const body = await res.json();
      if (body.status !== "success") throw new Error(`${promql}: ${JSON.stringify(body)}`);
      return body.data.result;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
      Deno.removeSync(dir, { recursive: true });
    },
  };
}
