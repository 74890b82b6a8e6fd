/**
 * Imports every kernel driver so each registers itself. One line per kind.
 *
 * @module
 */
