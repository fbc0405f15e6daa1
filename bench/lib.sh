# lib.sh - shell helpers shared by the bench/ scripts (sourced, not run).

# bench_build BUILD TARGET... configures BUILD (Release) when it has never been, then builds
# the targets in it; what cmake prints goes to stderr. $root is the repository's top.
bench_build() {
    bench_tree=$1
    shift
    [ -f "$bench_tree/CMakeCache.txt" ] || cmake -S "$root" -B "$bench_tree" -DCMAKE_BUILD_TYPE=Release >&2
    cmake --build "$bench_tree" -j "$(nproc)" --target "$@" >&2
}

# free_port prints a tcp port on 127.0.0.1 that nothing listens on.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# port_open PORT tells whether something accepts connections on 127.0.0.1:PORT.
port_open() {
    python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$1"
}

# wait_until TRIES CMD... retries CMD every 100 ms, TRIES times at most.
wait_until() {
    n=$1
    shift
    while [ "$n" -gt 0 ]; do
        "$@" 2>/dev/null && return 0
        sleep 0.1
        n=$((n - 1))
    done
    return 1
}

# wait_alive_until PID TRIES CMD... is wait_until for a server just started as PID: it gives up
# at once when PID has exited (it could not bind its port, say), and CMD's success counts only
# while PID lives, so that another server on the port is not taken for it.
wait_alive_until() {
    alive_pid=$1
    alive_tries=$2
    shift 2
    while [ "$alive_tries" -gt 0 ]; do
        sleep 0.1
        kill -0 "$alive_pid" 2>/dev/null || return 1
        "$@" 2>/dev/null && kill -0 "$alive_pid" 2>/dev/null && return 0
        alive_tries=$((alive_tries - 1))
    done
    return 1
}

# stop_pid PID stops a process this script started: TERM, then KILL after 10 s.
stop_pid() {
    [ -n "${1:-}" ] || return 0
    kill -TERM "$1" 2>/dev/null || return 0
    n=100
    while [ "$n" -gt 0 ] && kill -0 "$1" 2>/dev/null; do
        sleep 0.1
        n=$((n - 1))
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# cpu_ticks PID prints the user + system clock ticks the process has used.
cpu_ticks() {
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

# median_table reads `result <peer> <metric> <value>` lines and prints `<peer> <metric> <median>`.
median_table() {
    sort -k2,2 -k3,3 -k4,4g | awk '
        { key = $2 " " $3; v[key, ++n[key]] = $4 }
        END {
            for (key in n) {
                k = n[key]
                m = k % 2 ? v[key, (k + 1) / 2] : (v[key, k / 2] + v[key, k / 2 + 1]) / 2
                print key, m
            }
        }'
}

# nginx_start DIR PORT BODY starts Debian's nginx as the HTTP floor: one process (no master,
# so the one worker is $!), answering every request with `return 200 BODY` (JSON) on
# 127.0.0.1:PORT, with its configuration, logs and temporary files all in DIR. It sets
# $nginx_pid; 1 when nginx is not installed. Stop it with stop_pid "$nginx_pid".
nginx_start() {
    nginx_pid=
    command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || return 1
    mkdir -p "$1/nginx"
    cat >"$1/nginx/nginx.conf" <<NGINX
daemon off;
master_process off;
worker_processes 1;
pid $1/nginx/nginx.pid;
error_log $1/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $1/nginx/body;
    proxy_temp_path $1/nginx/proxy;
    fastcgi_temp_path $1/nginx/fastcgi;
    uwsgi_temp_path $1/nginx/uwsgi;
    scgi_temp_path $1/nginx/scgi;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$2;
        default_type application/json;
        location / { return 200 '$3'; }
    }
}
NGINX
    PATH=$PATH:/usr/sbin nginx -p "$1/nginx" -e "$1/nginx/error.log" -c "$1/nginx/nginx.conf" &
    nginx_pid=$!
}
