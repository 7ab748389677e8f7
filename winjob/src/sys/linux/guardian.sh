# The kill-on-drop guardian (see guardian.rs). Run as
#   /bin/sh -c SCRIPT winjob-guardian RMDIR SLEEP
# with an empty environment; RMDIR and SLEEP are absolute paths of rmdir(1)
# and sleep(1), or empty where none was found. Everything else is a shell
# builtin: no PATH lookup, no other program.
trap '' HUP INT QUIT TERM PIPE
RMDIR=$1
SLEEP=$2
# Waits $1 seconds; fails (so that no loop spins) without sleep(1).
pause() { [ -n "$SLEEP" ] && "$SLEEP" "$1" 2>/dev/null; }
# Kills every process of cgroup $1 and of the cgroups below it.
kill_tree() {
  while IFS= read -r p; do kill -s KILL "$p"; done < "$1/cgroup.procs"
  for d in "$1"/*/ "$1"/.[!.]*/; do [ -d "$d" ] && kill_tree "${d%/}"; done
}
# Removes cgroup $1 and those below it, depth first: members may have made
# sub-cgroups (a winjob inside the job makes a job root with jobs).
rm_tree() {
  for d in "$1"/*/ "$1"/.[!.]*/; do [ -d "$d" ] && rm_tree "${d%/}"; done
  [ -n "$RMDIR" ] && "$RMDIR" "$1" 2>/dev/null
}
end_v2() {
  if [ -e "$1/cgroup.kill" ]; then echo 1 > "$1/cgroup.kill"; else kill_tree "$1"; fi
}
end_v1() {
  echo FROZEN > "$1/freezer.state"
  kill_tree "$1"
  echo THAWED > "$1/freezer.state"
}
# A job left running: removed once its last process has exited, checked
# every second at first, then less and less often (at most every 64 s);
# the subshell ends when the directory is gone, or if it cannot wait.
remove_when_empty() {
  ( t=1
    while [ -d "$1" ] && ! rm_tree "$1"; do
      pause $t || break
      [ $t -lt 64 ] && t=$((t * 2))
    done ) </dev/null 2>/dev/null &
}
end_job() {
  kind=${1%% *}; arg=${1#* }
  case $kind in
    keep) remove_when_empty "$arg"; return ;;
    v2) end_v2 "$arg" ;;
    v1) end_v1 "$arg" ;;
  esac
  # Again until it can be removed, 200 times at most: a child forked at the
  # moment of the kill can survive cgroup.kill (v1: the freeze) and keep
  # the cgroup populated.
  n=0
  while [ -d "$arg" ] && ! rm_tree "$arg" && [ $n -lt 200 ]; do
    pause 0.05 || break
    n=$((n + 1))
    case $kind in v2) end_v2 "$arg" ;; v1) end_v1 "$arg" ;; esac
  done
}
# One variable a job, job_ID: each message costs the same however many jobs
# there are. At EOF the live ones are found by their names in `set`'s list
# (a value has no newline: names with control characters are refused).
while IFS= read -r line; do
  case $line in
    +*) rest=${line#+}; eval "job_${rest%% *}=\${rest#* }" ;;
    -*) unset "job_${line#-}" ;;
    "r "*) remove_when_empty "${line#r }" ;;
  esac
done
set | while IFS= read -r v; do
  case $v in job_[0-9]*=*) eval "end_job \"\$${v%%=*}\"" ;; esac
done 2>/dev/null
