/**
 * Imports every kernel driver so each registers itself. One line per kind.
 *
 * @module
 */
import "./socket_lookup_redirect/driver.ts";
import "./tcp_tuning/driver.ts";
import "./mptcpify_hook/driver.ts";
import "./path_manager/driver.ts";
