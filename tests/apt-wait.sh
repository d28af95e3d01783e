#!/usr/bin/env bash
# apt-get "$@", waiting while another package manager (unattended upgrades, a second run) holds apt's locks:
# at most APT_WAIT_SECONDS (default 300), trying again every APT_WAIT_STEP seconds (default 5), with a message.
# DPkg::Lock::Timeout covers dpkg's lock during install; `update` takes the lists lock, which that option ignores.
# Any other failure is reported at once. Used by tests/run.sh.
set -u
deadline=$((SECONDS + ${APT_WAIT_SECONDS:-300}))
until out=$(apt-get -o DPkg::Lock::Timeout="${APT_WAIT_SECONDS:-300}" "$@" 2>&1); do
  if ! grep -q "Could not get lock" <<<"$out" || [ $SECONDS -ge $deadline ]; then
    printf '%s\n' "$out" >&2
    exit 1
  fi
  echo "   apt is locked by another package manager; waiting for it (up to ${APT_WAIT_SECONDS:-300} s)" >&2
  sleep "${APT_WAIT_STEP:-5}"
done
[ -z "$out" ] || printf '%s\n' "$out"
