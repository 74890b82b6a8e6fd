import assert from "node:assert/strict";
import {
  expandFromInterfaces,
  globMatch,
  type InterfaceView,
  isLinkLocal,
} from "./from_interfaces.ts";

Deno.test("globMatch() matches * and ? and nothing else specially", () => {
  assert.ok(globMatch("eth*", "eth0"));
  assert.ok(globMatch("eth*", "eth"));
  assert.ok(globMatch("wwan?", "wwan0"));
  assert.ok(!globMatch("wwan?", "wwan10"));
  assert.ok(!globMatch("veth.a", "veth-a"));
  assert.ok(globMatch("veth.a", "veth.a"));
  assert.ok(!globMatch("eth*", "veth0"));
});

Deno.test("isLinkLocal() spots fe80::/10 and 169.254/16", () => {
  assert.ok(isLinkLocal("fe80::1"));
  assert.ok(isLinkLocal("febf::1"));
  assert.ok(!isLinkLocal("fec0::1"));
  assert.ok(isLinkLocal("169.254.3.4"));
  assert.ok(!isLinkLocal("10.254.3.4"));
});

const interfaces: InterfaceView[] = [
  { name: "lo", ifindex: 1, addresses: [{ address: "127.0.0.1", family: "ipv4", scope: "host" }] },
  {
    name: "eth0",
    ifindex: 2,
    addresses: [
      { address: "10.0.0.1", family: "ipv4", scope: "global" },
      { address: "fd00::1", family: "ipv6", scope: "global" },
      { address: "fe80::1", family: "ipv6", scope: "link" },
    ],
  },
  {
    name: "docker0",
    ifindex: 3,
    addresses: [{ address: "172.17.0.1", family: "ipv4", scope: "global" }],
  },
  {
    name: "wwan0",
    ifindex: 4,
    addresses: [{ address: "100.64.0.2", family: "ipv4", scope: "global" }],
  },
];

const spec = {
  include: ["*"],
  exclude: ["docker*"],
  families: ["ipv4", "ipv6"] as ("ipv4" | "ipv6")[],
  flags: ["subflow"] as ("subflow" | "signal")[],
  skipLinkLocal: true,
};

Deno.test("expandFromInterfaces() keeps matching, non-loopback, non-link-local addresses", () => {
  const eps = expandFromInterfaces(spec, interfaces);
  assert.deepEqual(eps.map((e) => [e.address, e.dev, e.ifindex]), [
    ["10.0.0.1", "eth0", 2],
    ["fd00::1", "eth0", 2],
    ["100.64.0.2", "wwan0", 4],
  ]);
  assert.equal(eps[0].path, "fromInterfaces.eth0[10.0.0.1]");
  assert.deepEqual(eps[0].flags, ["subflow"]);
});

Deno.test("expandFromInterfaces() honours families and skipLinkLocal", () => {
  const v6 = expandFromInterfaces(
    { ...spec, families: ["ipv6"], skipLinkLocal: false },
    interfaces,
  );
  assert.deepEqual(v6.map((e) => e.address), ["fd00::1", "fe80::1"]);
  const eth = expandFromInterfaces({ ...spec, include: ["eth*"], families: ["ipv4"] }, interfaces);
  assert.deepEqual(eth.map((e) => e.address), ["10.0.0.1"]);
});
