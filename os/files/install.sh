#!/bin/sh
# Installs imgbuild's units into an OS tree (its usr/):
#   sh os/files/install.sh ROOTDIR
# imgbuild-bless.service (marks the running slot good after boot-complete.target),
# imgbuild-health.target (add your checks to it), imgbuild-health-usr.service (the check every image
# gets) and imgbuild-marker.service (the console line the test harness reads), enabled by symlinks in
# /usr/lib/systemd/system/*.wants|requires, so /etc needs nothing; attest and
# imgbuild-attest-console.service (measured boot: docs/boot.md § 10, needs tpm2-tools). The tree needs
# cgpt, dmsetup and util-linux (findmnt). docs/boot.md describes them.
set -eu
[ $# -eq 1 ] && [ -d "$1/usr" ] || { echo "usage: $0 ROOTDIR (a tree with usr/)" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
cp -a --remove-destination "$here/usr/." "$1/usr/"
# the blessing rules are the test initramfs's own file, linked here: install its contents
rm -f "$1/usr/lib/imgbuild/bless-rules.sh"
cp "$here/usr/lib/imgbuild/bless-rules.sh" "$1/usr/lib/imgbuild/bless-rules.sh"
chmod 0644 "$1/usr/lib/imgbuild/bless-rules.sh"
if [ "$(id -u)" -eq 0 ]; then
  (cd "$here" && find usr ! -type d) | while read -r f; do chown -h 0:0 "$1/$f"; done
fi
