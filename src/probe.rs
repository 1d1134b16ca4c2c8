//! `gpt-api health` (a module of the binary, declared in main.rs): a liveness probe for
//! containers. One blocking HTTP/1.1 GET over a std `TcpStream` with short timeouts; healthy
//! means status 200. Needs nothing from the gateway (no runtime, no HTTP client crate).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Connect, write and read each get this long.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Where to probe: `host:port` and the request path.
#[derive(Debug, PartialEq, Eq)]
pub struct ProbeTarget {
    pub authority: String,
    pub path: String,
}

impl ProbeTarget {
    /// `/health` on the address the gateway listens on; a wildcard address is probed on
    /// loopback, where it also listens.
    pub fn for_listen(listen: SocketAddr) -> Result<Self, String> {
        if listen.port() == 0 {
            return Err(
                "server.listen has port 0 (a free port picked at start): pass --url".into(),
            );
        }
        let ip = match listen.ip() {
            ip if !ip.is_unspecified() => ip,
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        };
        Ok(Self {
            authority: SocketAddr::new(ip, listen.port()).to_string(),
            path: "/health".into(),
        })
    }

    /// `http://host[:port][/path]`; without a path, `/health`.
    pub fn from_url(url: &str) -> Result<Self, String> {
        let Some(rest) = url.strip_prefix("http://") else {
            return Err(format!("'{url}' must start with http://"));
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.is_empty() {
            return Err(format!("'{url}' has no host"));
        }
        let authority = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.contains(']'))
        {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let path = if path.is_empty() { "/health" } else { path };
        Ok(Self {
            authority,
            path: path.to_string(),
        })
    }

    /// `http://authority/path`, for messages.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.authority, self.path)
    }
}

/// GETs the target; `Ok` with the status line when it answered 200, else why not.
pub fn probe(target: &ProbeTarget) -> Result<String, String> {
    let address = target
        .authority
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", target.authority))?
        .next()
        .ok_or_else(|| format!("{} resolves to no address", target.authority))?;
    let mut stream = TcpStream::connect_timeout(&address, TIMEOUT).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| e.to_string())?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: gpt-api-health\r\nConnection: close\r\n\r\n",
        target.path, target.authority
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let status_line = read_status_line(&mut stream)?;
    let status = status_line.split(' ').nth(1).unwrap_or_default();
    if status_line.starts_with("HTTP/1.") && status == "200" {
        Ok(status_line)
    } else {
        Err(format!("answered '{status_line}'"))
    }
}

/// The response's first line (up to 256 bytes).
fn read_status_line(stream: &mut impl Read) -> Result<String, String> {
    let mut head = Vec::with_capacity(256);
    let mut buffer = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 256 {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
            Err(e) => return Err(e.to_string()),
        }
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line).trim_end().to_string();
    if line.is_empty() {
        return Err("closed the connection without an answer".into());
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_from_listen_addresses_and_urls() {
        let target = ProbeTarget::for_listen("0.0.0.0:8080".parse().unwrap()).unwrap();
        assert_eq!(target.url(), "http://127.0.0.1:8080/health");
        let target = ProbeTarget::for_listen("[::]:9000".parse().unwrap()).unwrap();
        assert_eq!(target.url(), "http://[::1]:9000/health");
        assert!(ProbeTarget::for_listen("127.0.0.1:0".parse().unwrap()).is_err());
        let target = ProbeTarget::from_url("http://localhost:8080").unwrap();
        assert_eq!(target.url(), "http://localhost:8080/health");
        let target = ProbeTarget::from_url("http://gw/ready").unwrap();
        assert_eq!(target.url(), "http://gw:80/ready");
        let target = ProbeTarget::from_url("http://[::1]:81/health").unwrap();
        assert_eq!(target.authority, "[::1]:81");
        assert!(ProbeTarget::from_url("https://gw/health").is_err());
    }

    #[test]
    fn healthy_only_on_200() {
        use std::net::TcpListener;
        for (answer, healthy) in [
            ("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", true),
            ("HTTP/1.1 503 Service Unavailable\r\n\r\n", false),
            ("", false),
        ] {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let target = ProbeTarget::for_listen(listener.local_addr().unwrap()).unwrap();
            let server = std::thread::spawn(move || {
                let (mut client, _) = listener.accept().unwrap();
                let mut request = [0u8; 512];
                let n = client.read(&mut request).unwrap();
                client.write_all(answer.as_bytes()).unwrap();
                String::from_utf8_lossy(&request[..n]).to_string()
            });
            let result = probe(&target);
            let request = server.join().unwrap();
            assert!(request.starts_with("GET /health HTTP/1.1\r\n"), "{request}");
            assert_eq!(result.is_ok(), healthy, "{answer:?}: {result:?}");
        }
    }
}
