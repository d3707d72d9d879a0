# Sourced by the scripts that test the REST API from outside (scripts/schemathesis,
# scripts/jsonapi-client-test): serve muster on a temporary SQLite database on a
# free port, with the failed-key limit off, and make the admin's API key.
#
#   api_server_start PYTHON   sets $base, $key, $work and $server_pid;
#                             the server stops and $work goes when the script exits.
#
# MUSTER_BIN runs that binary (e.g. target/release/muster) instead of building
# the debug one.

api_server_cleanup() {
    if [[ -n "${server_pid:-}" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [[ -n "${work:-}" ]]; then rm -rf "$work"; fi
}

api_server_start() {
    local python="$1"
    if [[ -n "${MUSTER_BIN:-}" ]]; then
        muster="$MUSTER_BIN"
    else
        cargo build --quiet -p muster-server --bin muster
        muster="$root/target/debug/muster"
    fi
    work="$(mktemp -d)"
    server_pid=""
    trap api_server_cleanup EXIT INT TERM

    local port
    port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    export MUSTER_DATA_DIR="$work/data"
    export MUSTER_BIND="127.0.0.1:$port"
    export MUSTER_ADMIN_PASSWORD="Api-Tests-Admin-Password-42"
    export MUSTER_LOG="${MUSTER_LOG:-warn}"
    base="http://127.0.0.1:$port"

    "$muster" migrate >/dev/null
    # schemathesis sends invalid keys on purpose (ignored_auth): with the limit on,
    # its valid requests would soon be answered 429. The limit has its own tests.
    "$python" - "$MUSTER_DATA_DIR/muster.db" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
db.execute(
    "INSERT INTO settings (key, value, updated_at) VALUES ('api_key_failures_per_minute', '0', ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    (int(time.time() * 1000),),
)
db.commit()
PY

    "$muster" serve >"$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 120); do
        if curl -fsS "$base/healthz" >/dev/null 2>&1; then break; fi
        if ! kill -0 "$server_pid" 2>/dev/null; then
            cat "$work/server.log" >&2
            echo "$(basename "$0"): muster serve exited" >&2
            exit 1
        fi
        sleep 0.5
    done
    curl -fsS "$base/healthz" >/dev/null

    key="$("$muster" apikey create --username admin 2>/dev/null)"
}

# Fail when the server logged an internal error (a 5xx is a bug).
api_server_check_log() {
    if grep -q "internal error" "$work/server.log"; then
        echo "$(basename "$0"): the server logged internal errors:" >&2
        grep "internal error" "$work/server.log" | head -20 >&2
        return 1
    fi
}
