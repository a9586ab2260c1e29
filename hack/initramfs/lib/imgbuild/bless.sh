# Blessing a slot after a healthy boot, on the GPT attribute bits, with cgpt (busybox sh; sourced by
# /init and by test/bootkit-bless.test.ts, which runs it on image files against `imgbuild slot
# mark-successful`). Choosing the slot is the UEFI selector's job alone (packages/efi-select).
#   priority = bits 48-51, tries = 52-55, successful = 56 (cgpt show -P/-T/-S, cgpt add -P/-T/-S)

USR_TYPE=5dfbf5f4-2848-4bac-aa5e-0d9a20b745a6
# the attempt count (bits 58, 61, 62: the selector counts the boots since the last healthy one) as a
# mask over cgpt's -A, which shows and sets bits 48-63
ATTEMPTS_MASK=0x6400

# clear_attempts DISK N: a healthy boot ends the count (and a demotion) of partition N.
clear_attempts() {
  _a=$(cgpt show -i "$2" -A "$1") || return 1
  [ $((_a & ATTEMPTS_MASK)) -eq 0 ] && return 0
  cgpt add -i "$2" -A $((_a & ~ATTEMPTS_MASK)) "$1"
}

# bless_slot DISK N: what an updater does after a healthy boot of partition N: successful=1,
# tries=0, the attempt count cleared, then cgpt's prioritize, by hand because `cgpt prioritize` refuses non-ChromeOS types: the
# other USR partitions are grouped by priority (priority 0 is no group and stays 0), N goes on top,
# and the groups are renumbered from min(number of groups, 15) downward, never below 1.
# Two slots: N gets 2 and the other 1 when the other had a priority, else N gets 1.
bless_slot() {
  _others=
  for _n in $(cgpt find -n -t $USR_TYPE "$1" | sort -n); do
    [ "$_n" = "$2" ] && continue
    _p=$(cgpt show -i "$_n" -P "$1")
    [ "$_p" -gt 0 ] && _others="$_others $_n:$_p"
  done
  _groups=$(for _e in $_others; do echo "${_e#*:}"; done | sort -rnu)
  _ng=$(($(echo "$_groups" | grep -c .) + 1))
  _top=$((_ng > 15 ? 15 : _ng))
  cgpt add -i "$2" -S 1 -T 0 -P "$_top" "$1" || return 1
  clear_attempts "$1" "$2" || return 1
  _g=$((_top - 1))
  for _gp in $_groups; do
    _np=$((_g < 1 ? 1 : _g))
    for _e in $_others; do
      if [ "${_e#*:}" = "$_gp" ] && [ "$_gp" != "$_np" ]; then
        cgpt add -i "${_e%:*}" -P "$_np" "$1" || return 1
      fi
    done
    _g=$((_g - 1))
  done
}
