# Slot selection and mark-good on the GPT attribute bits, with cgpt (busybox sh; sourced by /init and
# by test/bootkit-gptprio.test.ts, which runs it on image files against `imgbuild slot`).
#   priority = bits 48-51, tries = 52-55, successful = 56 (cgpt show -P/-T/-S, cgpt add -P/-T/-S)

USR_TYPE=5dfbf5f4-2848-4bac-aa5e-0d9a20b745a6

# gptprio_next DISK: Flatcar's gptprio.next. USR-type partitions in table order; take one if
# (tries > 0 || successful) && priority > best (best starts at 0, so ties keep the lower index).
# Sets PARTS (the USR partition numbers), BITS (" N:P<p>T<t>S<s>" each), BEST (partition number),
# BESTPRIO, BESTTRIES, BESTK (1-based position among the USR partitions). Returns 1 when none can boot.
# Writes nothing; gptprio_take does.
gptprio_next() {
  PARTS=$(cgpt find -n -t $USR_TYPE "$1" | sort -n)
  BEST= BESTPRIO=0 BESTTRIES=0 BESTK=0 BITS=
  _k=0
  for _n in $PARTS; do
    _k=$((_k + 1))
    _p=$(cgpt show -i "$_n" -P "$1")
    _t=$(cgpt show -i "$_n" -T "$1")
    _s=$(cgpt show -i "$_n" -S "$1")
    BITS="$BITS $_n:P${_p}T${_t}S${_s}"
    if { [ "$_t" -gt 0 ] || [ "$_s" -eq 1 ]; } && [ "$_p" -gt "$BESTPRIO" ]; then
      BEST=$_n BESTPRIO=$_p BESTTRIES=$_t BESTK=$_k
    fi
  done
  [ -n "$BEST" ]
}

# gptprio_take DISK: if the chosen partition has tries left, uses one up on the disk at once.
gptprio_take() {
  [ "$BESTTRIES" -gt 0 ] || return 0
  cgpt add -i "$BEST" -T $((BESTTRIES - 1)) "$1"
}

# gptprio_mark_good DISK N: what an updater does after a healthy boot of partition N: successful=1,
# tries=0, then cgpt's prioritize, by hand because `cgpt prioritize` refuses non-ChromeOS types: the
# other USR partitions are grouped by priority (priority 0 is no group and stays 0), N goes on top,
# and the groups are renumbered from min(number of groups, 15) downward, never below 1.
# Two slots: N gets 2 and the other 1 when the other had a priority, else N gets 1.
gptprio_mark_good() {
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
