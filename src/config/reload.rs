//! What a SIGHUP reload changes: upstreams, models, client keys and routing take effect for
//! new requests; `[server]` and `[database]` keep the values the process started with (the
//! listeners, workers and logging thread are built from them once). README's reload table
//! says the same.

use super::Config;

/// The restart-only keys whose value differs between the running and the reloaded config.
pub fn restart_only_changes(running: &Config, reloaded: &Config) -> Vec<&'static str> {
    let (a, b) = (&running.server, &reloaded.server);
    let (c, d) = (&running.database, &reloaded.database);
    let keys = [
        ("server.listen", a.listen != b.listen),
        ("server.workers", a.workers != b.workers),
        ("server.pin_cores", a.pin_cores != b.pin_cores),
        (
            "server.max_body_bytes",
            a.max_body_bytes != b.max_body_bytes,
        ),
        (
            "server.max_header_bytes",
            a.max_header_bytes != b.max_header_bytes,
        ),
        ("server.max_headers", a.max_headers != b.max_headers),
        (
            "server.header_timeout_ms",
            a.header_timeout != b.header_timeout,
        ),
        ("server.body_timeout_ms", a.body_timeout != b.body_timeout),
        (
            "server.max_connections",
            a.max_connections != b.max_connections,
        ),
        ("server.share_port", a.share_port != b.share_port),
        (
            "server.shutdown_grace_ms",
            a.shutdown_grace != b.shutdown_grace,
        ),
        ("server.access_log", c.access_log != d.access_log),
        ("database.url", c.url != d.url),
        ("database.store_content", c.store_content != d.store_content),
        ("database.batch_size", c.batch_size != d.batch_size),
        (
            "database.flush_interval_ms",
            c.flush_interval != d.flush_interval,
        ),
        (
            "database.memory_records",
            c.memory_records != d.memory_records,
        ),
        ("database.spill_path", c.spill_path != d.spill_path),
        (
            "limits.redis_url",
            running.limits.redis_url != reloaded.limits.redis_url,
        ),
        (
            "limits.local_share",
            running.limits.local_share != reloaded.limits.local_share,
        ),
    ];
    keys.into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_each_changed_restart_only_key() {
        let env = |_: &str| None;
        let base = "[[upstream]]\nname = \"u\"\nbase_url = \"http://127.0.0.1:1/v1\"\n[[model]]\nname = \"m\"\ntargets = [{ upstream = \"u\" }]\n";
        let running = super::super::parse(base, &env).unwrap();
        let same = super::super::parse(base, &env).unwrap();
        assert!(restart_only_changes(&running, &same).is_empty());
        let changed = format!(
            "[server]\nmax_connections = 7\n[database]\nstore_content = false\n[routing]\nretries = 0\n{base}"
        );
        let reloaded = super::super::parse(&changed, &env).unwrap();
        assert_eq!(
            restart_only_changes(&running, &reloaded),
            ["server.max_connections", "database.store_content"]
        );
    }
}
