# The slot this system runs from, from its own kernel command line (the UKI it was started from names
# only its slot): imgbuild.slot=A|B and verity.usr=PARTUUID=<uuid>. Sourced by bless and marker.
# Sets SLOT, PARTUUID, PART (/dev/vda3), DISK (/dev/vda), PARTNO (3); returns 1 with WHY set otherwise.
running_slot() {
  SLOT= PARTUUID= PART= DISK= PARTNO= WHY=
  for _w in $(cat /proc/cmdline); do
    case "$_w" in
      imgbuild.slot=*) SLOT=${_w#*=} ;;
      verity.usr=PARTUUID=*) PARTUUID=${_w#verity.usr=PARTUUID=} ;;
    esac
  done
  case "$SLOT" in A|B) ;; *) WHY="no imgbuild.slot=A|B on the kernel command line"; return 1 ;; esac
  [ -n "$PARTUUID" ] || { WHY="no verity.usr=PARTUUID= on the kernel command line"; return 1; }
  PARTUUID=$(echo "$PARTUUID" | tr 'A-F' 'a-f')
  PART=$(readlink -f "/dev/disk/by-partuuid/$PARTUUID" 2>/dev/null) || true
  [ -b "$PART" ] || { WHY="no partition with PARTUUID $PARTUUID"; return 1; }
  _name=${PART##*/}
  PARTNO=$(cat "/sys/class/block/$_name/partition" 2>/dev/null) || true
  _disk=$(basename "$(readlink -f "/sys/class/block/$_name/..")")
  DISK=/dev/$_disk
  [ -n "$PARTNO" ] && [ -b "$DISK" ] || { WHY="cannot find the disk holding $PART"; return 1; }
}
