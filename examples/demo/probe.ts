/**
 * Connects to each HOST:PORT argument and prints which listener answered, as
 * JSON lines. Usage: deno run --allow-net probe.ts 192.0.2.10:80 ...
 *
 * @module
 */
for (const target of Deno.args) {
  const i = target.lastIndexOf(":");
  const hostname = target.slice(0, i).replace(/^\[|\]$/g, "");
  let answer: string;
  try {
    const conn = await Deno.connect({ hostname, port: Number(target.slice(i + 1)) });
    const buf = new Uint8Array(64);
    const n = await conn.read(buf);
    answer = new TextDecoder().decode(buf.subarray(0, n ?? 0)).trim();
    conn.close();
  } catch (e) {
    answer = `error: ${e instanceof Error ? e.message : e}`;
  }
  console.log(JSON.stringify({ target, answer }));
}
