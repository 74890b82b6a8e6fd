#!/usr/bin/env bash
# The pristine-machine check (`deno task fresh-check`, as root): runs the README's two commands
# verbatim in a minimal Debian root where nothing was ever installed by hand.
#
# - The root is `debootstrap --variant=minbase` of this machine's suite and mirror, plus only what
#   the project's machine kind comes with: nodejs, npm, git, ca-certificates, its extra CA files and
#   its apt settings. It is built once and cached as a tarball; every run unpacks a pristine copy.
# - proc, sys (with its cgroup2 mount), dev, a tmpfs /run and a bpffs are mounted inside; the root is
#   bound onto itself because `ip netns` needs / to be a mount point. Mounts are slaves, so nothing
#   made inside propagates to the host. The mptcp-next VM test kernel's directory (see
#   tests/vm/local_kernel.ts) is bound read-only at the same path, so that VM suite can run inside.
# - A clean clone of the current commit (HEAD; uncommitted changes are not part of it) is copied in.
# - Prints each command's exit code and the test summary line; removes everything on exit or Ctrl-C.
#
# Environment: SOCKFORM_FRESH_CACHE (default /var/cache/sockform/fresh-machine),
# SOCKFORM_FRESH_ONLY=1|2 to run only the first or second README command.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cache="${SOCKFORM_FRESH_CACHE:-/var/cache/sockform/fresh-machine}"
includes="nodejs,npm,git,ca-certificates"
mptcp_next_kernel="${SOCKFORM_MPTCP_NEXT_KERNEL:-/work/shared/kernels/mptcp-next/bzImage}"
mptcp_next_dir="$(dirname "$mptcp_next_kernel")"
[ "$(id -u)" = 0 ] || { echo "fresh_machine_check: run as root" >&2; exit 1; }

host_sources() { # "URI SUITE" per deb stanza of this machine's sources, deb822 or one-line
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    awk '/^URIs:/{u=$2} /^Suites:/{for(i=2;i<=NF;i++) s=s" "$i} /^$/{if(u)for(i=split(s,a," ");i>0;i--)print u, a[i]; u="";s=""} END{if(u)for(i=split(s,a," ");i>0;i--)print u, a[i]}' \
      /etc/apt/sources.list.d/debian.sources
  else
    awk '$1=="deb"{print ($2 ~ /^\[/ ? $3" "$4 : $2" "$3)}' /etc/apt/sources.list
  fi
}
read -r mirror suite < <(host_sources | awk '$2 !~ /-/' | head -1)
tarball="$cache/$suite-minbase-${includes//,/-}.tar"

work="$(mktemp -d /var/tmp/sockform-fresh.XXXXXX)"
root="$work/root"
cleanup() {
  trap - EXIT INT TERM
  if [ -d "$root" ]; then
    for p in /proc/[0-9]*; do # processes still running inside the root
      [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill -9 "${p#/proc/}" 2>/dev/null || true
    done
    sleep 0.5
    umount -R "$root" 2>/dev/null || umount -R -l "$root" 2>/dev/null || true
  fi
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'echo "fresh_machine_check: interrupted, cleaning up" >&2; exit 130' INT TERM

build_pristine() {
  command -v debootstrap >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap
  }
  echo "fresh_machine_check: debootstrap $suite from $mirror (once; cached in $tarball)" >&2
  local build="$work/build"
  debootstrap --variant=minbase "$suite" "$build" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -20 "$work/debootstrap.log" "$build/debootstrap/debootstrap.log" >&2 2>/dev/null
    exit 1
  }
  # npm's maintainer scripts need /proc, which debootstrap's --include stage lacks:
  # install what the machine kind comes with as an ordinary apt install instead.
  cp /etc/resolv.conf "$build/etc/"
  mount -t proc proc "$build/proc"
  chroot "$build" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    bash -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends ${includes//,/ } && apt-get clean" \
    >>"$work/debootstrap.log" 2>&1 || { umount "$build/proc"; tail -20 "$work/debootstrap.log" >&2; exit 1; }
  umount "$build/proc"
  mkdir -p "$cache"
  tar -C "$build" -cpf "$tarball.partial" . && mv "$tarball.partial" "$tarball"
  rm -rf --one-file-system "$build"
}

add_machine_kind() { # what the project's machine kind has beyond minbase
  host_sources | awk '$2 ~ /-/ {print "deb", $1, $2, "main"}' >>"$root/etc/apt/sources.list"
  cp -n /etc/apt/apt.conf.d/* "$root/etc/apt/apt.conf.d/" 2>/dev/null || true
  cp /etc/resolv.conf /etc/hosts "$root/etc/"
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
  chroot "$root" update-ca-certificates >/dev/null 2>&1
}

mount_inside() {
  mount --bind "$root" "$root" && mount --make-private "$root"
  mount -t proc proc "$root/proc"
  mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys"
  mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev"
  mount -t tmpfs -o mode=755 tmpfs "$root/run"
  mount -t bpf -o mode=0700 bpf "$root/sys/fs/bpf"
  if [ -d "$mptcp_next_dir" ]; then # test infrastructure, not installed by the README's commands
    mkdir -p "$root$mptcp_next_dir"
    mount --bind "$mptcp_next_dir" "$root$mptcp_next_dir"
    mount -o remount,bind,ro "$root$mptcp_next_dir"
  fi
  local cg="$root/sys/fs/cgroup/unified"
  if [ "$(stat -f -c %T "$cg" 2>/dev/null)" != cgroup2fs ]; then
    mkdir -p "$cg" 2>/dev/null || true
    mount -t cgroup2 none "$cg"
  fi
}

readme_commands() { # the first two commands of the README's first sh block, comments removed
  awk '/^```sh/{on=1; next} /^```/{if(on) exit} on' "$repo/README.md" | sed 's/[[:space:]]*#.*$//' | head -2
}

[ -f "$tarball" ] || build_pristine
mkdir -p "$root"
tar -C "$root" -xpf "$tarball"
add_machine_kind
mount_inside
commit="$(git -C "$repo" rev-parse HEAD)"
git clone -q --no-hardlinks "$repo" "$root/root/sockform"
git -C "$root/root/sockform" checkout -q "$commit"
[ -z "$(git -C "$repo" status --porcelain)" ] || echo "fresh_machine_check: note: uncommitted changes are not checked" >&2

mapfile -t commands < <(readme_commands)
results=()
status=0
for i in "${!commands[@]}"; do
  n=$((i + 1))
  [ -n "${SOCKFORM_FRESH_ONLY:-}" ] && [ "$SOCKFORM_FRESH_ONLY" != "$n" ] && continue
  cmd="${commands[$i]}"
  echo "fresh_machine_check: [$n] $cmd" >&2
  set +e
  chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    SOCKFORM_MPTCP_NEXT_KERNEL="$mptcp_next_kernel" \
    bash -c "cd /root/sockform && $cmd" 2>&1 | tee "$work/command-$n.log"
  code=${PIPESTATUS[0]}
  set -e
  summary="$(grep -E '^(\w+: )?[0-9]+ passed, [0-9]+ failed' "$work/command-$n.log" | tail -1 || true)"
  results+=("[$n] exit $code: $cmd${summary:+ ($summary)}")
  [ "$code" = 0 ] || status=1
done
echo
echo "fresh_machine_check on a pristine $suite minbase root, commit ${commit:0:7}:"
printf '  %s\n' "${results[@]}"
exit "$status"
