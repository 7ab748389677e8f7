trap '' HUP INT QUIT TERM PIPE
ids=''
end_v2() {
  if [ -e "$1/cgroup.kill" ]; then echo 1 > "$1/cgroup.kill"
  else for p in $(cat "$1/cgroup.procs"); do kill -s KILL "$p"; done
  fi
}
end_v1() {
  echo FROZEN > "$1/freezer.state"
  for p in $(cat "$1/cgroup.procs"); do kill -s KILL "$p"; done
  echo THAWED > "$1/freezer.state"
}
remove_when_empty() {
  ( while [ -d "$1" ] && ! rmdir "$1"; do sleep 1; done ) </dev/null 2>/dev/null &
}
end_job() {
  kind=${1%% *}; arg=${1#* }
  case $kind in
    pg) kill -s KILL -- "-$arg"; return ;;
    keep) remove_when_empty "$arg"; return ;;
    v2) end_v2 "$arg" ;;
    v1) end_v1 "$arg" ;;
  esac
  # Again until it can be removed: a child forked at the moment of the kill
  # can survive cgroup.kill (v1: the freeze) and keep the cgroup populated.
  n=0
  while [ -d "$arg" ] && ! rmdir "$arg" && [ $n -lt 200 ]; do
    sleep 0.05; n=$((n + 1))
    case $kind in v2) end_v2 "$arg" ;; v1) end_v1 "$arg" ;; esac
  done
}
while IFS= read -r line; do
  case $line in
    +*) rest=${line#+}; id=${rest%% *}; eval "job_$id=\${rest#* }"
        case " $ids " in *" $id "*) ;; *) ids="$ids $id" ;; esac ;;
    -*) id=${line#-}; unset "job_$id"; kept=''
        for i in $ids; do [ "$i" = "$id" ] || kept="$kept $i"; done; ids=$kept ;;
    "r "*) remove_when_empty "${line#r }" ;;
  esac
done
for id in $ids; do eval "end_job \"\$job_$id\""; done 2>/dev/null
