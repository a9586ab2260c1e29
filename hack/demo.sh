#!/usr/bin/env bash
# The main job on the bundled example: build an image from its build file (examples/imgbuild.json:
# examples/usr, the mini layout, the boot kit), verify it against the manifest's root hash, and boot it
# once in qemu (TCG), printing the boot marker.
# Works on a fresh Debian 12 machine: installs what it needs first (root or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

out=${DEMO_OUT:-out/demo}
mkdir -p "$out"

step() { printf '\n== %s\n' "$*"; }

step "dependencies"
bash hack/install-deps.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
[ -f packages/cli/dist/bundle/imgbuild.js ] || npm run build
imgbuild() { node packages/cli/bin/imgbuild.js "$@"; }

step "build (examples/imgbuild.json; its recipe, hack/bootkit.sh, makes the Debian kernel + initramfs, cached in .cache/)"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
# the build file says everything; -o only follows DEMO_OUT (flags override the file's keys)
imgbuild build -c examples/imgbuild.json -o "$out/demo.raw" --force
hash=$(node -e 'console.log(require(process.argv[1]).slots.A.rootHash)' "$PWD/$out/demo.raw.manifest.json")

step "verify USR-A against the manifest's root hash"
imgbuild verity-verify "$out/demo.raw" --slot A --root-hash "$hash"
imgbuild verify "$out/demo.raw"
imgbuild slot status "$out/demo.raw"

step "boot in qemu (TCG: 8-10 s on an idle machine, up to 20 s on a busy one)"
imgbuild qemu "$out/demo.raw" --log "$out/serial.log"
