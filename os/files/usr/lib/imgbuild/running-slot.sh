# The slot this system runs from, from its own kernel command line (the UKI it was started from names
# only its slot): imgbuild.slot=A|B and verity.usr=PARTUUID=<uuid>. Sourced by bless, marker and
# update-staged. A versioned slot's UKI (labels <name>_<version>, docs/boot.md) names its version
# instead (imgbuild.version=): the slot is then A or B by its place among the disk's /usr partitions.
# Sets SLOT, PARTUUID, PART (/dev/vda3), DISK (/dev/vda), PARTNO (3), VERSION (versioned slots);
# returns 1 with WHY set otherwise.
USR_SLOT_TYPE=5dfbf5f4-2848-4bac-aa5e-0d9a20b745a6
running_slot() {
  SLOT= PARTUUID= PART= DISK= PARTNO= WHY= VERSION=
  for _w in $(cat /proc/cmdline); do
    case "$_w" in
      imgbuild.slot=*) SLOT=${_w#*=} ;;
      imgbuild.version=*) VERSION=${_w#*=} ;;
      verity.usr=PARTUUID=*) PARTUUID=${_w#verity.usr=PARTUUID=} ;;
    esac
  done
  case "$SLOT" in A|B) ;; *) [ -n "$VERSION" ] || { WHY="no imgbuild.slot=A|B or imgbuild.version= on the kernel command line"; return 1; } ;; esac
  [ -n "$PARTUUID" ] || { WHY="no verity.usr=PARTUUID= on the kernel command line"; return 1; }
  PARTUUID=$(echo "$PARTUUID" | tr 'A-F' 'a-f')
  PART=$(readlink -f "/dev/disk/by-partuuid/$PARTUUID" 2>/dev/null) || true
  [ -b "$PART" ] || { WHY="no partition with PARTUUID $PARTUUID"; return 1; }
  _name=${PART##*/}
  PARTNO=$(cat "/sys/class/block/$_name/partition" 2>/dev/null) || true
  _disk=$(basename "$(readlink -f "/sys/class/block/$_name/..")")
  DISK=/dev/$_disk
  [ -n "$PARTNO" ] && [ -b "$DISK" ] || { WHY="cannot find the disk holding $PART"; return 1; }
  if [ -z "$SLOT" ]; then
    # the selector's rule for versioned slots: the first /usr partition in table order is A
    _first=$(cgpt find -n -t "$USR_SLOT_TYPE" "$DISK" | sort -n | head -1)
    if [ "$_first" = "$PARTNO" ]; then SLOT=A; else SLOT=B; fi
  fi
}
