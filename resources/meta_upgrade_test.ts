import assert from "node:assert/strict";
import type { ResourceMeta } from "../engine/types.ts";
import { META_SCHEMA, metaRecord, upgradeMeta } from "../engine/meta.ts";
import { upgradeSlrExtra } from "./socket_lookup_redirect/ids.ts";
import { upgradeTcpTuningExtra } from "./tcp_tuning.ts";
import { upgradeMptcpifyExtra } from "./mptcpify_hook/desired.ts";
import { upgradePmExtra } from "./path_manager/types.ts";

/** Metadata exactly as sockform wrote it before schema versions (no `schema` field). */
const OLD = {
  slr: `{"kind":"SocketLookupRedirect","name":"web","specHash":"s1","objectHash":"o1",` +
    `"toolVersion":"0.1.0","extra":{"labels":{"1":"nginx","2":"proxy"},"netns":"/run/netns/lab"}}`,
  tt: `{"kind":"TcpTuning","name":"dc","specHash":"s2","objectHash":"o2","toolVersion":"0.1.0",` +
    `"extra":{"cgroup":"/sys/fs/cgroup/unified/web","cgroupId":"4711"}}`,
  hook: `{"kind":"MptcpifyHook","name":"legacy","specHash":"s3","objectHash":"o3",` +
    `"toolVersion":"0.1.0","extra":{"cgroupPaths":{"77":"/sys/fs/cgroup/unified/legacy"}}}`,
  pm: `{"kind":"PathManager","name":"edge","specHash":"s4","objectHash":"","toolVersion":"0.1.0",` +
    `"extra":{"netns":"/run/netns/c","netnsIno":9,"original":{"endpoints":[],"limits":` +
    `{"subflows":2,"addAddrAccepted":0},"sysctls":{}},"owned":["10.0.0.1|0"],` +
    `"managed":{"limits":["subflows"],"sysctls":[]},"exclusive":true}}`,
};

const parse = (json: string) => JSON.parse(json) as ResourceMeta<unknown>;

Deno.test("upgradeMeta() reads metadata written before schema versions, for every kind", async (t) => {
  await t.step("SocketLookupRedirect", () => {
    const meta = upgradeMeta(parse(OLD.slr), upgradeSlrExtra);
    assert.equal(meta.schema, META_SCHEMA);
    assert.deepEqual(meta.extra, {
      labels: { "1": "nginx", "2": "proxy" },
      netns: "/run/netns/lab",
    });
    assert.equal(meta.specHash, "s1");
    assert.equal(meta.objectHash, "o1");
  });
  await t.step("TcpTuning", () => {
    const meta = upgradeMeta(parse(OLD.tt), upgradeTcpTuningExtra);
    assert.deepEqual(meta.extra, { cgroup: "/sys/fs/cgroup/unified/web", cgroupId: "4711" });
    assert.equal(meta.toolVersion, "0.1.0");
  });
  await t.step("MptcpifyHook", () => {
    const meta = upgradeMeta(parse(OLD.hook), upgradeMptcpifyExtra);
    assert.deepEqual(meta.extra, { cgroupPaths: { "77": "/sys/fs/cgroup/unified/legacy" } });
  });
  await t.step("PathManager", () => {
    const meta = upgradeMeta(parse(OLD.pm), upgradePmExtra);
    assert.equal(meta.extra?.netnsIno, 9);
    assert.deepEqual(meta.extra?.owned, ["10.0.0.1|0"]);
    // Written before programmable path managers: no agent, so none to observe.
    assert.equal(meta.extra?.agent, undefined);
  });
});

Deno.test("upgradeMeta() leaves out what an extra cannot hold", () => {
  const raw = parse(
    `{"kind":"TcpTuning","name":"dc","specHash":"s","objectHash":"o",` +
      `"toolVersion":"0.1.0","extra":{"cgroup":7}}`,
  );
  assert.deepEqual(upgradeMeta(raw, upgradeTcpTuningExtra).extra, { cgroup: null, cgroupId: null });
  const pm = parse(
    `{"kind":"PathManager","name":"e","specHash":"s","objectHash":"",` +
      `"toolVersion":"0.1.0","extra":{"netns":null}}`,
  );
  assert.equal(upgradeMeta(pm, upgradePmExtra).extra, null);
});

Deno.test("metaRecord() writes the engine's common fields and the schema version", () => {
  const meta = metaRecord(
    { toolVersion: "9.9.9" },
    { kind: "TcpTuning", name: "dc" },
    { specHash: "s", objectHash: "o" },
    { cgroup: "/x", cgroupId: "1" },
  );
  assert.deepEqual(meta, {
    schema: META_SCHEMA,
    kind: "TcpTuning",
    name: "dc",
    specHash: "s",
    objectHash: "o",
    toolVersion: "9.9.9",
    extra: { cgroup: "/x", cgroupId: "1" },
  });
  // What it writes reads back unchanged.
  const again = upgradeMeta(parse(JSON.stringify(meta)), upgradeTcpTuningExtra);
  assert.deepEqual(again, meta);
});
