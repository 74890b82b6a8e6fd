/**
 * The kernel drivers, by resource kind. Each kind's driver registers here.
 *
 * @module
 */
import type { KindDriver } from "../engine/types.ts";

const drivers = new Map<string, KindDriver>();

/** Adds a kind's kernel driver (called by each driver module on import). */
export function registerDriver(driver: KindDriver): void {
  drivers.set(driver.kind, driver as KindDriver);
}

/** The kernel driver for `kind`, or undefined. */
export function kernelDriver(kind: string): KindDriver | undefined {
  return drivers.get(kind);
}
