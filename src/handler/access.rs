//! Who is asking, and may they use this model: client keys (plain or SHA-256, compared in
//! constant time) and their model globs; and the admin key of `/admin/...`.

use http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::config::{ClientKey, Config, KeyMatcher, Secret};
use crate::error::AppError;

pub enum ClientIdentity<'a> {
    /// No client keys are configured: everyone may use everything.
    Open,
    /// `index`: the key's place in `config.client_keys` (and its ledger's).
    Key { index: usize, key: &'a ClientKey },
}

impl ClientIdentity<'_> {
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Open => None,
            Self::Key { key, .. } => Some(&key.name),
        }
    }

    pub fn may_use(&self, model: &str) -> bool {
        match self {
            Self::Open => true,
            Self::Key { key, .. } => key.may_use(model),
        }
    }
}

/// The key of an `Authorization: Bearer <key>` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// Whether the request carries the admin key (compared in constant time).
pub fn is_admin(admin_key: &Secret, headers: &HeaderMap) -> bool {
    bearer(headers).is_some_and(|presented| {
        constant_time_eq(admin_key.expose().as_bytes(), presented.as_bytes())
    })
}

pub fn identify<'a>(
    config: &'a Config,
    headers: &HeaderMap,
) -> Result<ClientIdentity<'a>, AppError> {
    let keys = &config.client_keys;
    if keys.is_empty() {
        return Ok(ClientIdentity::Open);
    }
    // Anthropic's SDKs send the key as `x-api-key`.
    let x_api_key = || {
        headers
            .get("x-api-key")
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
    };
    let presented = bearer(headers)
        .or_else(x_api_key)
        .ok_or(AppError::InvalidApiKey)?;
    let mut hex = None;
    // Every key is compared (no early exit), each in constant time.
    let mut found = None;
    for (index, key) in keys.iter().enumerate() {
        let matches = match &key.key {
            KeyMatcher::Plain(secret) => {
                constant_time_eq(secret.expose().as_bytes(), presented.as_bytes())
            }
            KeyMatcher::Sha256(hash) => {
                let digest =
                    hex.get_or_insert_with(|| to_hex(&Sha256::digest(presented.as_bytes())));
                constant_time_eq(hash.expose().as_bytes(), digest.as_bytes())
            }
        };
        if matches && found.is_none() {
            found = Some(ClientIdentity::Key { index, key });
        }
    }
    found.ok_or(AppError::InvalidApiKey)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
