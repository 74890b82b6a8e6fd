/**
 * The part of a BPF kind's driver that is the same for every kind: its
 * resource directory is read back by `observePinDir` and deleted by
 * `deletePinDir`, pins and metadata. A driver spreads it into its table and
 * keeps only what is specific to its hook.
 *
 * @module
 */
import type { DeleteRequest, DriverContext, Observed, ResourceRef } from "../../engine/types.ts";
import type { UpgradeExtra } from "../../engine/meta.ts";
import { META_PIN } from "../state/meta.ts";
import { deletePinDir } from "../state/pin_dir.ts";
import { observePinDir } from "./observe.ts";

/** What a kind tells the toolkit about its resource directory. */
export interface PinDirLayout<State, Extra> {
  /** Reads the state the kind's pins hold. */
  readState: (dir: string) => State;
  /** Reads any sockform's metadata `extra` in the current layout. */
  upgrade: UpgradeExtra<Extra>;
  /** Every pin of a resource but the metadata, which goes too. */
  pins: readonly string[];
}

/** A BPF kind's `observe` and `delete`. */
export interface PinDirKind<State, Extra> {
  observe(ctx: DriverContext, ref: ResourceRef): Promise<Observed<State, Extra> | null>;
  delete(req: Pick<DeleteRequest<State, Extra>, "ref" | "tx">): Promise<void>;
}

/**
 * `observe` and `delete` for a kind whose resource is a pin directory. The
 * delete unpins everything but holds the fds until commit: rollback re-pins
 * them, commit closes them (which detaches the links); a kill in between
 * closes them too.
 *
 * @example The TcpTuning driver's table
 * ```ts
 * import { PIN, readState } from "../tcp_tuning/kernel.ts";
 * import { upgradeTcpTuningExtra } from "../../resources/tcp_tuning/diff.ts";
 *
 * // Spread into the driver, next to its kind, resolve, create and update.
 * const common = pinDirKind({ readState, upgrade: upgradeTcpTuningExtra, pins: [PIN.link, PIN.prog] });
 * Object.keys(common); // ["observe", "delete"]
 * ```
 */
export function pinDirKind<State, Extra>(
  layout: PinDirLayout<State, Extra>,
): PinDirKind<State, Extra> {
  return {
    observe: (_ctx, ref) => observePinDir(ref, layout.readState, layout.upgrade),
    delete: ({ ref, tx }) => {
      deletePinDir(ref, [...layout.pins, META_PIN], tx);
      return Promise.resolve();
    },
  };
}
