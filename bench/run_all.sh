#!/usr/bin/env bash
# Run every benchmark with --quick (or the arguments given, e.g. nothing for
# full sizes: `bench/run_all.sh --database-url URL`) and print the last stdout
# line (the JSON result) of each. Progress goes to stderr; a failing script is
# reported and the others still run. Exit status: 1 if any script failed.
#
#   bench/run_all.sh                  # all scripts, --quick
#   bench/run_all.sh --full           # all scripts, full sizes
#   bench/run_all.sh --quick --database-url postgresql+psycopg://...
#
# list_page, get_by_id and the rules_* and access_* scripts also run on embedded SQLite
# (`--database-url sqlite`); create_api, bulk_create, add_field, compile_model and load are PostgreSQL-only
# (load starts `metacrm serve` and a bare server, and drives 50 clients against each).
set -u
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
ARGS=()
MODE="--quick"
for arg in "$@"; do
    case "$arg" in
        --full) MODE="" ;;
        --quick) MODE="--quick" ;;
        *) ARGS+=("$arg") ;;
    esac
done
status=0
# Every bench/*.py but the shared helpers (_*.py), in name order.
for script in $(cd bench && ls [a-z]*.py | sed 's/\.py$//'); do
    echo "== $script ${MODE}" >&2
    out="$("$PY" "bench/$script.py" $MODE "${ARGS[@]}")"
    rc=$?
    if [ $rc -ne 0 ]; then
        echo "{\"bench\": \"$script\", \"error\": \"exit status $rc\"}"
        status=1
    else
        printf '%s\n' "$out" | tail -n 1
    fi
done
exit $status
