# Sourced by scripts/bench.sh, bench/callgrind.sh, bench/threads.sh and bench/cores.sh: the one
# nginx reverse-proxy setup they measure against (no access log, keep-alive to the upstream, no
# buffering either way).

# nginx_http_block DIR UPSTREAM LISTEN: the config's http block, temp paths under DIR, proxying
# everything to UPSTREAM (host:port), listening on LISTEN (nginx's `listen` arguments).
nginx_http_block() {
    local dir=$1 upstream=$2 listen=$3
    cat <<CONF
http {
    access_log off;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    keepalive_requests 1000000;
    upstream mock {
        server $upstream;
        keepalive 1024;
        keepalive_requests 1000000;
    }
    server {
        listen $listen;
        location / {
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_request_buffering off;
        }
    }
}
CONF
}

# nginx_proxy_conf DIR UPSTREAM PORT WORKERS: the whole config of the measured nginx (WORKERS
# processes, pid and error log under DIR, listening on 127.0.0.1:PORT with SO_REUSEPORT).
nginx_proxy_conf() {
    local dir=$1 upstream=$2 port=$3 workers=$4
    cat <<CONF
worker_processes $workers;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
worker_rlimit_nofile $(ulimit -n);
events { worker_connections 16384; }
CONF
    nginx_http_block "$dir" "$upstream" "127.0.0.1:$port reuseport backlog=4096"
}
