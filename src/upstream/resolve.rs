//! Upstream host names to addresses, per worker and without blocking it: `getaddrinfo` runs
//! on monoio's blocking pool; answers are cached and refreshed in the background when stale.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::time::{Duration, Instant};

const FRESH_FOR: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct Resolver {
    cache: RefCell<HashMap<(String, u16), Cached>>,
}

struct Cached {
    addresses: Rc<[SocketAddr]>,
    resolved_at: Instant,
    refreshing: bool,
}

impl Resolver {
    /// The addresses of `host:port`. IP literals need no lookup; a stale entry is still
    /// used while a refresh runs in the background.
    pub async fn resolve(
        self: &Rc<Self>,
        host: &str,
        port: u16,
    ) -> Result<Rc<[SocketAddr]>, String> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(Rc::from([SocketAddr::new(ip, port)]));
        }
        let key = (host.to_string(), port);
        let stale = {
            let mut cache = self.cache.borrow_mut();
            match cache.get_mut(&key) {
                Some(entry) if entry.resolved_at.elapsed() < FRESH_FOR || entry.refreshing => {
                    return Ok(entry.addresses.clone());
                }
                Some(entry) => {
                    entry.refreshing = true;
                    Some(entry.addresses.clone())
                }
                None => None,
            }
        };
        match stale {
            Some(addresses) => {
                let resolver = self.clone();
                monoio::spawn(async move {
                    let _ = resolver.lookup(key).await;
                });
                Ok(addresses)
            }
            None => self.lookup(key).await,
        }
    }

    async fn lookup(&self, key: (String, u16)) -> Result<Rc<[SocketAddr]>, String> {
        let query = key.clone();
        let found = monoio::spawn_blocking(move || {
            query
                .to_socket_addrs()
                .map(|found| found.collect::<Vec<_>>())
        })
        .await
        .map_err(|_| "DNS lookup task failed".to_string())?;
        let mut cache = self.cache.borrow_mut();
        match found {
            Ok(addresses) if !addresses.is_empty() => {
                let addresses: Rc<[SocketAddr]> = Rc::from(addresses);
                cache.insert(
                    key,
                    Cached {
                        addresses: addresses.clone(),
                        resolved_at: Instant::now(),
                        refreshing: false,
                    },
                );
                Ok(addresses)
            }
            failed => {
                let message = match failed {
                    Err(e) => format!("DNS lookup of {} failed: {e}", key.0),
                    Ok(_) => format!("DNS lookup of {} found no address", key.0),
                };
                // Keep serving the old answer, if any, rather than failing every request.
                match cache.get_mut(&key) {
                    Some(entry) => {
                        entry.refreshing = false;
                        entry.resolved_at = Instant::now();
                        Ok(entry.addresses.clone())
                    }
                    None => Err(message),
                }
            }
        }
    }
}
