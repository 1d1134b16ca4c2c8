//! Who is asking, and may they use this model: client keys (plain or SHA-256, compared in
//! constant time) and their model globs; and the admin key of `/admin/...`.

use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::config::{ClientKey, Config, KeyMatcher, Secret};
use crate::dialect::Dialect;
use crate::error::AppError;
use crate::http::fields::{self, Fields};
use crate::http::query;
use crate::http::request::Request;
use crate::sigv4;

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
fn bearer(fields: &Fields) -> Option<&str> {
    fields.text("authorization").and_then(|value| {
        value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
    })
}

/// Whether the request carries the admin key (compared in constant time).
pub fn is_admin(admin_key: &Secret, fields: &Fields) -> bool {
    bearer(fields).is_some_and(|presented| {
        constant_time_eq(admin_key.expose().as_bytes(), presented.as_bytes())
    })
}

/// The client key of a request sent to the gateway's own OpenAI-style endpoints.
pub fn identify<'a>(config: &'a Config, fields: &Fields) -> Result<ClientIdentity<'a>, AppError> {
    if config.client_keys.is_empty() {
        return Ok(ClientIdentity::Open);
    }
    // Anthropic's SDKs send the key as `x-api-key`.
    let presented = bearer(fields).or_else(|| fields.text("x-api-key").map(str::trim));
    identify_key(config, presented)
}

/// The client key of a proxied request, from its dialect's own auth: a Gemini client's
/// `x-goog-api-key` (or `?key=`), a Bedrock client's SigV4 signature, the others' bearer
/// key (or `x-api-key`).
pub fn identify_request<'a>(
    config: &'a Config,
    request: &Request,
    dialect: Dialect,
) -> Result<ClientIdentity<'a>, AppError> {
    if config.client_keys.is_empty() {
        return Ok(ClientIdentity::Open);
    }
    match dialect {
        Dialect::Converse => identify_signer(config, request),
        Dialect::Gemini => {
            let from_query = || {
                query::pairs(request.query())?
                    .into_iter()
                    .find(|(name, _)| name == "key")
                    .map(|(_, key)| key)
            };
            match request.fields.text("x-goog-api-key").map(str::trim) {
                Some(key) => identify_key(config, Some(key)),
                None => identify_key(config, from_query().as_deref()),
            }
        }
        _ => identify(config, &request.fields),
    }
}

/// The key whose SigV4 credentials signed the request.
fn identify_signer<'a>(
    config: &'a Config,
    request: &Request,
) -> Result<ClientIdentity<'a>, AppError> {
    let headers: Vec<(&str, &str)> = request
        .fields
        .iter()
        .filter_map(|(name, value)| Some((name, fields::text(value)?)))
        .collect();
    let secret_for = |access_key_id: &str| {
        let aws = config.client_keys.iter().find_map(|key| {
            key.aws
                .as_ref()
                .filter(|aws| aws.access_key_id == access_key_id)
        })?;
        Some(aws.secret.expose().to_string())
    };
    let signed = sigv4::Request {
        method: request.method.as_str(),
        path: request.path(),
        query: request.query(),
        headers: &headers,
        body: &request.body,
    };
    let signer = sigv4::verify(&signed, secret_for, SystemTime::now()).map_err(|error| {
        AppError::InvalidSignature {
            status: error.status(),
            aws_type: error.error_type(),
            message: error.to_string(),
        }
    })?;
    let found = config.client_keys.iter().enumerate().find(|(_, key)| {
        key.aws
            .as_ref()
            .is_some_and(|aws| aws.access_key_id == signer.access_key_id)
    });
    match found {
        Some((index, key)) => Ok(ClientIdentity::Key { index, key }),
        None => Err(AppError::InvalidApiKey),
    }
}

/// The configured key that `presented` is.
fn identify_key<'a>(
    config: &'a Config,
    presented: Option<&str>,
) -> Result<ClientIdentity<'a>, AppError> {
    let presented = presented.ok_or(AppError::InvalidApiKey)?;
    let mut hex = None;
    // Every key is compared (no early exit), each in constant time.
    let mut found = None;
    for (index, key) in config.client_keys.iter().enumerate() {
        let matches = match &key.key {
            Some(KeyMatcher::Plain(secret)) => {
                constant_time_eq(secret.expose().as_bytes(), presented.as_bytes())
            }
            Some(KeyMatcher::Sha256(hash)) => {
                let digest =
                    hex.get_or_insert_with(|| to_hex(&Sha256::digest(presented.as_bytes())));
                constant_time_eq(hash.expose().as_bytes(), digest.as_bytes())
            }
            // A key that only signs (SigV4) has no key to present.
            None => false,
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

    const CONFIG: &str = r#"
[[client_key]]
name = "plain"
key = "sk-gemini"

[[client_key]]
name = "signer"
aws_access_key_id = "AKIDCLIENT"
aws_secret_access_key_env = "CLIENT_SECRET"

[[upstream]]
name = "u"
base_url = "http://127.0.0.1:9001/v1"

[[model]]
name = "m"
targets = [{ upstream = "u" }]
"#;

    const BODY: &[u8] = br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#;
    const CONVERSE_PATH: &str = "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse";

    fn config() -> Config {
        let env = |name: &str| (name == "CLIENT_SECRET").then(|| "client-secret".to_string());
        crate::config::parse(CONFIG, &env).expect("test config")
    }

    /// The request these parts make, read by the connection loop's parser.
    fn request(path: &str, query: &str, headers: &[(&str, &str)], body: &[u8]) -> Request {
        let target = match query {
            "" => path.to_string(),
            query => format!("{path}?{query}"),
        };
        let mut head = format!("POST {target} HTTP/1.1\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let limits = crate::http::request::RequestLimits {
            max_header_bytes: 16 * 1024,
            max_headers: 32,
            max_body_bytes: 1024,
            header_timeout: std::time::Duration::from_secs(1),
            body_timeout: std::time::Duration::from_secs(1),
        };
        let mut buffer = bytes::BytesMut::from(head.as_bytes());
        let head = crate::http::request::parse_head(&mut buffer, &limits)
            .expect("a valid head")
            .expect("a complete head");
        head.into_request(
            bytes::Bytes::copy_from_slice(body),
            std::time::Instant::now(),
        )
    }

    /// The name of the key a request identifies as, or why it does not.
    fn who(config: &Config, request: &Request, dialect: Dialect) -> Result<String, AppError> {
        match identify_request(config, request, dialect)? {
            ClientIdentity::Open => Ok("open".into()),
            ClientIdentity::Key { index, key } => Ok(format!("{index}:{}", key.name)),
        }
    }

    #[test]
    fn gemini_clients_send_their_key_as_x_goog_api_key_or_in_the_query() {
        let config = config();
        let path = "/v1beta/models/m:generateContent";
        let header = request(path, "", &[("x-goog-api-key", "sk-gemini")], b"{}");
        assert_eq!(who(&config, &header, Dialect::Gemini), Ok("0:plain".into()));
        let query = request(path, "alt=sse&key=sk-gemini", &[], b"{}");
        assert_eq!(who(&config, &query, Dialect::Gemini), Ok("0:plain".into()));
        for wrong in [
            request(path, "", &[("x-goog-api-key", "sk-other")], b"{}"),
            request(path, "key=sk-other", &[], b"{}"),
            // A key that only signs has no key to present, not even an empty one.
            request(path, "key=", &[], b"{}"),
            request(path, "", &[], b"{}"),
        ] {
            assert_eq!(
                who(&config, &wrong, Dialect::Gemini),
                Err(AppError::InvalidApiKey)
            );
        }
    }

    /// The headers an AWS SDK sends for a Converse call signed with `secret`.
    fn signed_headers(access_key_id: &str, secret: &str) -> Vec<(String, String)> {
        let credentials = sigv4::Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret.into(),
            session_token: None,
        };
        let content_type = [("content-type", "application/json")];
        let signed = sigv4::Request {
            method: "POST",
            path: CONVERSE_PATH,
            query: "",
            headers: &content_type,
            body: BODY,
        };
        let host = "127.0.0.1:8080";
        let mut headers = vec![
            ("host".to_string(), host.to_string()),
            ("content-type".to_string(), "application/json".to_string()),
        ];
        headers.extend(sigv4::sign(
            &credentials,
            "us-east-1",
            "bedrock",
            host,
            &signed,
            SystemTime::now(),
        ));
        headers
    }

    fn converse_request(headers: &[(String, String)], body: &[u8]) -> Request {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        request(CONVERSE_PATH, "", &headers, body)
    }

    #[test]
    fn converse_clients_are_known_by_their_signature() {
        let config = config();
        let signed = converse_request(&signed_headers("AKIDCLIENT", "client-secret"), BODY);
        assert_eq!(
            who(&config, &signed, Dialect::Converse),
            Ok("1:signer".into())
        );

        let wrong_secret = converse_request(&signed_headers("AKIDCLIENT", "guessed"), BODY);
        let Err(AppError::InvalidSignature {
            status,
            aws_type,
            message,
        }) = who(&config, &wrong_secret, Dialect::Converse)
        else {
            panic!("a wrong secret is refused");
        };
        assert_eq!((status, aws_type), (403, "InvalidSignatureException"));
        assert!(message.starts_with("The request signature we calculated does not match"));

        // The body is signed too: a changed body is a wrong signature.
        let changed = converse_request(
            &signed_headers("AKIDCLIENT", "client-secret"),
            br#"{"messages":[]}"#,
        );
        assert!(matches!(
            who(&config, &changed, Dialect::Converse),
            Err(AppError::InvalidSignature { status: 403, .. })
        ));

        let unknown = converse_request(&signed_headers("AKIDOTHER", "client-secret"), BODY);
        assert!(matches!(
            who(&config, &unknown, Dialect::Converse),
            Err(AppError::InvalidSignature {
                status: 403,
                aws_type: "UnrecognizedClientException",
                ..
            })
        ));

        // A plain key is no signature.
        let bearer = request(
            CONVERSE_PATH,
            "",
            &[("authorization", "Bearer sk-gemini")],
            BODY,
        );
        assert!(matches!(
            who(&config, &bearer, Dialect::Converse),
            Err(AppError::InvalidSignature { .. })
        ));
    }
}
