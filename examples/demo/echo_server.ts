/**
 * A tiny TCP listener for the demo: replies with its name and closes.
 * Usage: deno run --allow-net echo_server.ts NAME HOST PORT
 *
 * @module
 */
const [name, hostname, port] = Deno.args;
const listener = Deno.listen({ hostname, port: Number(port) });
console.log("ready");
for await (const conn of listener) {
  await conn.write(new TextEncoder().encode(`${name}\n`)).catch(() => {});
  conn.close();
}
