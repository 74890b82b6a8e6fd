import assert from "node:assert/strict";
import { parseIpAddrJson } from "./interfaces.ts";

Deno.test("parseIpAddrJson() keeps IPv4/IPv6 addresses, canonical, with their scope", () => {
  const text = JSON.stringify([
    {
      ifindex: 7,
      ifname: "sf-a0",
      flags: ["BROADCAST", "UP", "LOWER_UP"],
      addr_info: [
        { family: "inet", local: "10.1.2.1", prefixlen: 24, scope: "global" },
        { family: "inet6", local: "FE80:0::1", prefixlen: 64, scope: "link" },
      ],
    },
    { ifindex: 8, ifname: "sf-b0", flags: ["BROADCAST"] },
  ]);
  assert.deepEqual(parseIpAddrJson(text), [
    {
      name: "sf-a0",
      ifindex: 7,
      up: true,
      addresses: [
        { address: "10.1.2.1", family: "ipv4", prefixLength: 24, scope: "global" },
        { address: "fe80::1", family: "ipv6", prefixLength: 64, scope: "link" },
      ],
    },
    { name: "sf-b0", ifindex: 8, up: false, addresses: [] },
  ]);
});
