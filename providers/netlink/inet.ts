/**
 * Re-export: address text/bytes helpers are pure and shared with resources/.
 *
 * @module
 */
export * from "../../resources/common/inet.ts";
