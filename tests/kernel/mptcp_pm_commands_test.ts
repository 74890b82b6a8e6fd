// The userspace-PM command sender against the kernel, in the two-path lab's
// client netns (userspace PM) with one held-open MPTCP connection: a
// SUBFLOW_CREATE from path B shows up in the kernel's MPTCP diag, SET_FLAGS
// marks it backup there, SUBFLOW_DESTROY removes it, and a command the
// kernel refuses throws an error naming the command, the token and the errno.
import assert from "node:assert/strict";
import { LAB_PATHS } from "../../lab/two_path_lab.ts";
import { PmCommands } from "../../providers/mptcp_agent/pm_commands.ts";
import { type MptcpConnection, takeSnapshot } from "../../providers/mptcp_agent/snapshot.ts";
import { TestResources } from "../helpers/netns.ts";
import { runBurst } from "../../lab/mptcp_burst.ts";
import { policyLab } from "../helpers/policy_lab.ts";

const [PATH_A, PATH_B] = LAB_PATHS;
const PORT = 7501;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The one live connection once `check` holds on it (bounded), as diag lists it. */
async function connectionUntil(netns: string, check: (c: MptcpConnection) => boolean) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const [conn] = takeSnapshot(netns).connections.values();
    if ((conn && check(conn)) || Date.now() > deadline) return conn;
    await sleep(100);
  }
}

Deno.test("PM commands: SUBFLOW_CREATE, SET_FLAGS backup, SUBFLOW_DESTROY as diag sees them; refusals name command and errno", async () => {
  await using res = new TestResources();
  const { lab } = await policyLab(res, "sf-pmc", { holdPort: PORT });
  const burst = await runBurst(lab.client, PATH_A.serverAddress, PORT, {
    count: 1,
    keepEvery: 1,
    seconds: 10,
  });
  res.defer("stop burst", () => burst.stop());
  using pm = PmCommands.open(lab.client.path);
  const first = await connectionUntil(lab.client.path, () => true);
  assert.ok(first, "one live connection");
  const remote = { address: PATH_A.serverAddress, port: PORT };

  pm.subflowCreate(first.token, { address: PATH_B.clientAddress, id: 2 }, remote);
  const two = await connectionUntil(lab.client.path, (c) => c.subflows.length === 2);
  const joined = two.subflows.find((s) => s.local === PATH_B.clientAddress);
  assert.ok(joined, "the join from path B is in diag");
  assert.equal(joined.localId, 2);
  assert.equal(joined.backupLocal, false);

  const local = { address: joined.local, port: joined.localPort };
  pm.setBackup(first.token, local, remote, true);
  const backup = await connectionUntil(
    lab.client.path,
    (c) => c.subflows.some((s) => s.local === PATH_B.clientAddress && s.backupLocal),
  );
  assert.ok(backup.subflows.find((s) => s.local === PATH_B.clientAddress)?.backupLocal, "backup");

  pm.subflowDestroy(first.token, local, remote);
  const one = await connectionUntil(lab.client.path, (c) => c.subflows.length === 1);
  assert.deepEqual(one.subflows.map((s) => s.local), [PATH_A.clientAddress], "destroyed");

  const bogus = (first.token ^ 0x5a5a5a5a) >>> 0;
  assert.throws(
    () => pm.subflowCreate(bogus, { address: PATH_B.clientAddress, id: 2 }, remote),
    new RegExp(`mptcp_pm SUBFLOW_CREATE token ${bogus.toString(16)}: E[A-Z]+`),
  );
  assert.throws(() => pm.remove(bogus, 2), /mptcp_pm REMOVE token [0-9a-f]+: E[A-Z]+/);
});
