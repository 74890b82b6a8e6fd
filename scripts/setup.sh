#!/usr/bin/env bash
# Installs the Debian packages sockform needs, by name, only when something is missing.
# Runs before `deno task demo` and `deno task test`, so a fresh machine needs no manual step.
# The list is scripts/debian-packages.txt; providers/system/programs.ts maps each program to one of them.
set -euo pipefail
list="$(dirname "$0")/debian-packages.txt"
need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
while read -r pkg; do
  case "$pkg" in '' | '#'*) continue ;; esac
  have_pkg "$pkg" || need+=("$pkg")
done <"$list"
if [ ${#need[@]} -gt 0 ]; then
  echo "sockform setup: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
