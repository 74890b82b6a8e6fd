/**
 * SocketLookupRedirect on the real kernel: each test gets its own netns (with
 * documentation prefixes local on lo) and its own private bpffs, starts real
 * listener processes that reply with their name, and proves with real
 * connections which socket the sk_lookup program handed them to.
 */
import assert from "node:assert/strict";
import {
  applyStack,
  destroyStack,
  kernelStore,
  plan,
  PlanError,
  showStack,
  SocketLookupRedirect,
  Stack,
} from "../../mod.ts";
import type { SocketLookupRedirectSpecInput } from "../../resources/socket_lookup_redirect.ts";
import type { StateStore } from "../../engine/store.ts";
import { listLinks } from "../../providers/libbpf/info.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { type SlrLab, withSlrLab } from "../helpers/slr_lab.ts";

const REFUSED = "ERR:ConnectionRefusedError";

/** The sockets this process holds open (`socket:[inode]` links in /proc/self/fd). */
function ownSockets(): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    try {
      const target = Deno.readLinkSync(`/proc/self/fd/${e.name}`);
      if (target.startsWith("socket:")) out.push(target);
    } catch { /* the fd of the directory listing itself */ }
  }
  return out.sort();
}

/**
 * A lab netns plus a state store on a private bpffs, both removed afterwards.
 * Also checks that plan/apply left no duplicate of a destination socket open
 * in this process (it would keep a dead listener's socket alive).
 */
function withLab(fn: (lab: SlrLab, store: StateStore) => Promise<void>): Promise<void> {
  return withSlrLab(async (lab) => {
    const fs = privateBpffs();
    try {
      const before = ownSockets();
      await fn(lab, kernelStore(fs.root));
      assert.deepEqual(ownSockets(), before, "sockets left open in the test process");
    } finally {
      fs.cleanup();
    }
  });
}

function stackOf(lab: SlrLab, spec: Omit<SocketLookupRedirectSpecInput, "netns">): Stack {
  return new Stack("kt", [new SocketLookupRedirect("web", { netns: lab.path, ...spec })]);
}

/** sk_lookup links attached to the lab's netns, as the kernel lists them. */
function linksOn(lab: SlrLab): number {
  return listLinks().filter((l) => l.netnsIno === lab.ino).length;
}

/** A random unprivileged port other than those in `not`. */
function randomPort(not: number[]): number {
  for (;;) {
    const p = 1024 + (crypto.getRandomValues(new Uint16Array(1))[0] % 60000);
    if (!not.includes(p)) return p;
  }
}

Deno.test("a connection to 192.0.2.10:80 is accepted by the bound destination's socket", async () => {
  await withLab(async (lab, store) => {
    await lab.serve("tcp", "127.0.0.1", 8080, "nginx");
    await lab.serve("tcp", "127.0.0.1", 8081, "decoy");
    assert.equal(await lab.ask("tcp", "192.0.2.10", 80), REFUSED, "nothing listens there yet");
    const stack = stackOf(lab, {
      bindings: [{ protocol: "tcp", prefix: "192.0.2.0/24", ports: 80, to: "nginx" }],
      destinations: {
        nginx: { listener: "tcp://127.0.0.1:8080" },
        decoy: { listener: "tcp://127.0.0.1:8081" },
      },
    });
    const outcome = await applyStack(stack, store);
    assert.equal(outcome.applied, 1);
    assert.equal(linksOn(lab), 1);
    assert.equal(await lab.ask("tcp", "192.0.2.10", 80), "nginx");
    assert.equal(await lab.ask("tcp", "192.0.2.10", 81), REFUSED, "an unbound port is not steered");
    assert.equal(await lab.ask("tcp", "127.0.0.1", 8081), "decoy", "normal lookups still work");

    await destroyStack(stack, store);
    assert.equal(linksOn(lab), 0);
    assert.equal(await lab.ask("tcp", "192.0.2.10", 80), REFUSED);
  });
});

Deno.test("port 80 is shared by disjoint prefixes, each going to its own listener", async () => {
  await withLab(async (lab, store) => {
    await lab.serve("tcp", "127.0.0.1", 8080, "A");
    const b = await lab.serve("tcp", "127.0.0.1", 8081, "B");
    await applyStack(
      stackOf(lab, {
        bindings: [
          { protocol: "tcp", prefix: "192.0.2.0/24", ports: 80, to: "a" },
          { protocol: "tcp", prefix: "198.51.100.0/24", ports: 80, to: "b" },
        ],
        // One by address, one by {pid, fd}: both ways of naming a socket.
        destinations: { a: { listener: "tcp://127.0.0.1:8080" }, b: { pid: b.pid, fd: b.fd } },
      }),
      store,
    );
    assert.equal(await lab.ask("tcp", "192.0.2.10", 80), "A");
    assert.equal(await lab.ask("tcp", "192.0.2.77", 80), "A");
    assert.equal(await lab.ask("tcp", "198.51.100.10", 80), "B");
    assert.equal(await lab.ask("tcp", "198.51.100.200", 80), "B");
  });
});

Deno.test('an "all ports" binding receives connections to random ports; specific ports and longer prefixes win', async () => {
  await withLab(async (lab, store) => {
    await lab.serve("tcp", "127.0.0.1", 8080, "A");
    await lab.serve("tcp", "127.0.0.1", 8081, "B");
    await lab.serve("tcp", "127.0.0.1", 9000, "proxy");
    await applyStack(
      stackOf(lab, {
        bindings: [
          { protocol: "tcp", prefix: "192.0.2.0/24", ports: "all", to: "proxy" },
          { protocol: "tcp", prefix: "192.0.2.0/24", ports: 80, to: "a" },
          { protocol: "tcp", prefix: "192.0.2.128/25", ports: 80, to: "b" },
        ],
        destinations: {
          a: { listener: "tcp://127.0.0.1:8080" },
          b: { listener: "tcp://127.0.0.1:8081" },
          proxy: { listener: "tcp://127.0.0.1:9000" },
        },
      }),
      store,
    );
    const ports: number[] = [];
    for (let i = 0; i < 4; i++) ports.push(randomPort([80, ...ports]));
    for (const port of ports) {
      assert.equal(await lab.ask("tcp", "192.0.2.10", port), "proxy", `port ${port}`);
    }
    assert.equal(await lab.ask("tcp", "192.0.2.10", 80), "A", "a specific port beats all ports");
    assert.equal(await lab.ask("tcp", "192.0.2.200", 80), "B", "the longer prefix wins");
    assert.equal(await lab.ask("tcp", "192.0.2.200", ports[0]), "proxy");
    assert.equal(await lab.ask("tcp", "198.51.100.10", ports[0]), REFUSED, "outside the prefix");
  });
});

Deno.test("UDP datagrams to a bound prefix reach the UDP destination socket", async () => {
  await withLab(async (lab, store) => {
    await lab.serve("udp", "127.0.0.1", 5353, "dns");
    await lab.serve("tcp", "127.0.0.1", 5353, "tcp-dns");
    await applyStack(
      stackOf(lab, {
        bindings: [
          { protocol: "udp", prefix: "192.0.2.0/24", ports: 53, to: "dns" },
          { protocol: "udp", prefix: "198.51.100.0/24", ports: [5000, 5999], to: "dns" },
        ],
        destinations: { dns: { listener: "udp://127.0.0.1:5353" } },
      }),
      store,
    );
    assert.equal(await lab.ask("udp", "192.0.2.10", 53), "dns");
    assert.equal(await lab.ask("udp", "198.51.100.10", 5555), "dns");
    assert.equal(await lab.ask("tcp", "192.0.2.10", 53), REFUSED, "a udp binding leaves tcp alone");
  });
});

Deno.test("IPv6 prefixes are steered to IPv6 listeners (TCP and UDP)", async () => {
  await withLab(async (lab, store) => {
    await lab.serve("tcp", "::1", 9000, "v6-web");
    await lab.serve("udp", "::1", 5353, "v6-dns");
    await lab.serve("tcp", "127.0.0.1", 8080, "v4-web");
    await applyStack(
      stackOf(lab, {
        bindings: [
          { protocol: "tcp", prefix: "2001:db8::/64", ports: 80, to: "web6" },
          { protocol: "udp", prefix: "2001:db8::/64", ports: [5000, 5999], to: "dns6" },
          { protocol: "tcp", prefix: "192.0.2.0/24", ports: 80, to: "web4" },
        ],
        destinations: {
          web6: { listener: "tcp://[::1]:9000" },
          dns6: { listener: "udp://[::1]:5353" },
          web4: { listener: "tcp://127.0.0.1:8080" },
        },
      }),
      store,
    );
    assert.equal(await lab.ask("tcp", "2001:db8::10", 80), "v6-web");
    assert.equal(await lab.ask("tcp", "2001:db8::abcd", 80), "v6-web");
    assert.equal(await lab.ask("udp", "2001:db8::10", 5353), "v6-dns");
    assert.equal(await lab.ask("tcp", "192.0.2.10", 80), "v4-web", "IPv4 beside IPv6");
  });
});

Deno.test("an IPv6 ::/0 binding never catches IPv4 connections on the same port", async () => {
  await withLab(async (lab, store) => {
    await lab.serve("tcp", "::1", 9000, "v6-any");
    await lab.serve("tcp", "127.0.0.1", 8080, "v4-all-ports");
    await applyStack(
      stackOf(lab, {
        bindings: [
          { protocol: "tcp", prefix: "::/0", ports: 80, to: "v6" },
          { protocol: "tcp", prefix: "192.0.2.0/24", ports: "all", to: "v4" },
        ],
        destinations: {
          v6: { listener: "tcp://[::1]:9000" },
          v4: { listener: "tcp://127.0.0.1:8080" },
        },
      }),
      store,
    );
    assert.equal(await lab.ask("tcp", "2001:db8::10", 80), "v6-any");
    // Without the key's family byte, ::/0 port 80 would beat the IPv4 all-ports binding.
    assert.equal(await lab.ask("tcp", "192.0.2.10", 80), "v4-all-ports");
  });
});

Deno.test("per-destination counters are readable through showStack()", async () => {
  await withLab(async (lab, store) => {
    await lab.serve("tcp", "127.0.0.1", 8080, "A");
    const b = await lab.serve("tcp", "127.0.0.1", 8081, "B");
    const stack = stackOf(lab, {
      bindings: [
        { protocol: "tcp", prefix: "192.0.2.0/24", ports: 80, to: "a" },
        { protocol: "tcp", prefix: "198.51.100.0/24", ports: 80, to: "b" },
      ],
      destinations: {
        a: { listener: "tcp://127.0.0.1:8080" },
        b: { listener: "tcp://127.0.0.1:8081" },
      },
    });
    await applyStack(stack, store);
    for (let i = 0; i < 3; i++) assert.equal(await lab.ask("tcp", "192.0.2.10", 80), "A");
    assert.equal(await lab.ask("tcp", "198.51.100.10", 80), "B");
    const [before] = await showStack(stack, store);
    assert.deepEqual([before.address, before.deployed, before.inSync], [
      "SocketLookupRedirect.web",
      true,
      true,
    ]);
    const first = before.details as { counters: Record<string, unknown>; bindings: number };
    assert.equal(first.bindings, 2);
    assert.deepEqual(first.counters, {
      a: { lookups: 3, redirected: 3, noSocket: 0, refused: 0 },
      b: { lookups: 1, redirected: 1, noSocket: 0, refused: 0 },
    });

    // B's socket closes: the binding still matches, finds no socket, and is refused.
    await b.stop();
    assert.equal(await lab.ask("tcp", "198.51.100.10", 80), REFUSED);
    const [after] = await showStack(stack, store);
    assert.deepEqual([after.deployed, after.inSync], [true, false]);
    assert.match(
      after.problem ?? "",
      /destinations\.b: no TCP listener on 127\.0\.0\.1:8081 in netns/,
    );
    assert.deepEqual((after.details as typeof first).counters, {
      a: { lookups: 3, redirected: 3, noSocket: 0, refused: 0 },
      b: { lookups: 2, redirected: 1, noSocket: 1, refused: 1 },
    });
    assert.equal((after.details as { refused: number }).refused, 1);
  });
});

Deno.test("plan refuses destinations the kernel could not steer to, naming the field", async (t) => {
  await withLab(async (lab, store) => {
    const udp = await lab.serve("udp", "127.0.0.1", 5353, "dns");
    const tcp = await lab.serve("tcp", "127.0.0.1", 8080, "A");
    const planError = async (spec: Omit<SocketLookupRedirectSpecInput, "netns">) => {
      try {
        await plan(stackOf(lab, spec), store);
      } catch (e) {
        assert.ok(e instanceof PlanError, String(e));
        return e.message;
      }
      assert.fail("planned");
    };
    await t.step("a listener that is not there names the address and the netns", async () => {
      const message = await planError({
        bindings: [{ protocol: "tcp", prefix: "192.0.2.0/24", ports: 80, to: "a" }],
        destinations: { a: { listener: "tcp://127.0.0.1:9999" } },
      });
      assert.equal(
        message,
        `web.destinations.a: no TCP listener on 127.0.0.1:9999 in netns ${lab.path}`,
      );
    });
    await t.step("a { pid, fd } socket of the wrong protocol", async () => {
      const message = await planError({
        bindings: [{ protocol: "tcp", prefix: "192.0.2.0/24", ports: 80, to: "a" }],
        destinations: { a: { pid: udp.pid, fd: udp.fd } },
      });
      assert.match(message, /^web\.bindings\[0\]\.to: a tcp binding cannot go to a \(pid \d+: udp/);
    });
    await t.step("a { pid, fd } IPv4 socket behind an IPv6 prefix", async () => {
      const message = await planError({
        bindings: [{ protocol: "tcp", prefix: "2001:db8::/64", ports: 80, to: "a" }],
        destinations: { a: { pid: tcp.pid, fd: tcp.fd } },
      });
      assert.match(message, /^web\.bindings\[0\]\.to: mixed families: ipv6 prefix 2001:db8::\/64/);
    });
    await t.step("a netns that does not exist", async () => {
      const ghost = `/run/netns/sf-ghost-${crypto.randomUUID().slice(0, 8)}`;
      try {
        await plan(
          new Stack("kt", [
            new SocketLookupRedirect("web", { netns: ghost, bindings: [], destinations: {} }),
          ]),
          store,
        );
        assert.fail("planned");
      } catch (e) {
        assert.ok(e instanceof PlanError, String(e));
        assert.equal(e.message, `web.netns: network namespace ${ghost} does not exist`);
      }
    });
  });
});
