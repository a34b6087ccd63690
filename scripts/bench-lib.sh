# bench-lib.sh - what the bench scripts share; sourced, not run.
# The caller defines RUNS, OUT (results dir, with logs/) and log().

# timed NAME CMD PREPARE WARMUP: the median of $RUNS runs of CMD (hyperfine,
# PREPARE before each, one warm-up run when WARMUP is 1), in seconds, or
# FAIL; CMD's output goes to $OUT/logs/NAME.build.log.
timed() {
  local name=$1 cmd=$2 prep=$3 warm=$4 json=$OUT/logs/$1.json
  local opts=(--runs "$RUNS" --style basic --export-json "$json")
  [[ -n $prep ]] && opts+=(--prepare "$prep")
  [[ $warm == 1 ]] && opts+=(--warmup 1)
  if ! hyperfine "${opts[@]}" "$cmd >> $OUT/logs/$name.build.log 2>&1" > "$OUT/logs/$name.txt" 2>&1; then
    log "  $name FAILED: $(tail -3 "$OUT/logs/$name.txt"; tail -5 "$OUT/logs/$name.build.log" 2> /dev/null)"
    echo FAIL
    return 0
  fi
  jq -r '.results[0].median' "$json"
}
