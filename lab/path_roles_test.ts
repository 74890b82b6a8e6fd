// Pure test of reading the kernel's subflow backup flags from `ss -ti` output.
import assert from "node:assert/strict";
import { parseBackupFlags } from "./path_roles.ts";

Deno.test("parseBackupFlags: ss -ti flag b per local address, device-bound sockets too", () => {
  const text = [
    "0 0 10.1.2.1:40000 10.1.2.2:5201",
    "\t cubic wscale:7,7 tcp-ulp-mptcp flags:Mmec token:0000(id:0)/1a2b(id:0) seq:1",
    "0 0 10.1.3.1%veth-b:40001 10.1.2.2:5201",
    "\t bbr tcp-ulp-mptcp flags:Jjecvb token:0000(id:0)/1a2b(id:2) seq:1",
    "0 0 10.1.2.1:40002 10.1.2.2:22",
    "\t cubic wscale:7,7 rtt:1/1",
  ].join("\n");
  assert.deepEqual(
    parseBackupFlags(text),
    new Map([["10.1.2.1", [false]], ["10.1.3.1", [true]]]),
  );
});
