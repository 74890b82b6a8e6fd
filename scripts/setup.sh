#!/usr/bin/env bash
# Installs the Debian packages sockform needs, by name, only when something is missing.
# Runs before `deno task demo` and `deno task test`, so a fresh machine needs no manual step.
set -euo pipefail
need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for pkg in libbpf1 libbpf-dev linux-libc-dev clang-19 iproute2 iperf3 qemu-system-x86 busybox-static mptcpd bpftool kmod xz-utils cpio python3 curl; do
  have_pkg "$pkg" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "sockform setup: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
