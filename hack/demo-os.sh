#!/usr/bin/env bash
# The example OS end to end: build Debian 12 + systemd 254 (os/debian/build.sh, cached) and an image
# with a writable ROOT and a system extension from examples/os/imgbuild.json, boot it (slot A), update
# it to version 2, boot again (slot B, blessed by the OS), and show the slots. Root on a Debian 12 machine; 4-9 minutes the first time (the OS recipe 2.5-6 min),
# 1.5-2.5 min with the OS cached (two TCG boots of 31-51 s each on an idle machine; docs/boot.md).
set -euo pipefail
cd "$(dirname "$0")/.."

out=${DEMO_OUT:-out/demo-os}
mkdir -p "$out"
step() { printf '\n== %s\n' "$*"; }
imgbuild() { node packages/cli/dist/bin.js "$@"; }
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}

step "dependencies"
bash hack/install-deps.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
[ -f packages/cli/dist/bin.js ] || npm run build

step "build version 1 from examples/os/imgbuild.json (its recipe: os/debian/build.sh --version 1, mmdebstrap + dracut, cached in .cache/os; flatcar layout; ROOT from the OS's /etc and /var with the hello extension)"
imgbuild build -c examples/os/imgbuild.json -o "$out/os.raw" --force
imgbuild verify "$out/os.raw" | tail -3

step "boot 1: slot A (TCG: 31-51 s on an idle machine, up to 2 min on a busy one)"
imgbuild qemu "$out/os.raw" --memory 2048 --smp 2 --timeout 300 --log "$out/boot1.log"

step "update to version 2, boot 2: slot B, blessed by imgbuild-bless.service"
eval "$(bash os/debian/build.sh --version 2 | tail -5)"
v2_usr=$usr v2_kernel=$kernel v2_initrd=$initrd
imgbuild update "$out/os.raw" --from "$v2_usr" --kernel "$v2_kernel" --initrd "$v2_initrd"
imgbuild qemu "$out/os.raw" --memory 2048 --smp 2 --timeout 300 --log "$out/boot2.log"
imgbuild slot status "$out/os.raw"
