/** The tool version written into every resource's metadata. */
export const TOOL_VERSION = "0.1.0";
