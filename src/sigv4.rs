//! AWS Signature Version 4: signing requests to Bedrock (`sign`) and checking requests that
//! AWS SDKs signed for the gateway (`verify`). Pure code over the request's parts; a leaf
//! that imports only `time`.
//!
//! The canonical request follows botocore for services other than S3: the path, as sent
//! (already percent-encoded), is normalized (dot segments and empty segments removed) and
//! percent-encoded once more, so `v1%3A0` is signed as `v1%253A0`; query pairs are
//! re-encoded the RFC 3986 way and sorted by name, then value.

use std::fmt;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use canonical::{
    amz_date, canonical_request, check_skew, hex, parse_amz_date, push_canonical_header, unhex,
};

mod canonical;

type HmacSha256 = Hmac<Sha256>;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far a request's `x-amz-date` may be from our clock, as AWS allows.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// An AWS access key, with the session token of temporary credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

/// The secret and the token stay out of logs.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// The parts of a request a signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// As on the wire: already percent-encoded.
    pub path: &'a str,
    /// As on the wire, without the `?`; empty when there is none.
    pub query: &'a str,
    /// Names in any case; a name may repeat.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// The headers to add to `request` (to `host`) so that AWS accepts it: `x-amz-date`,
/// `x-amz-security-token` with temporary credentials, and `authorization`. Signs what
/// botocore signs for Bedrock: `content-type` (when the request has one), `host`,
/// `x-amz-date`, `x-amz-security-token`.
pub fn sign(
    credentials: &Credentials,
    region: &str,
    service: &str,
    host: &str,
    request: &Request<'_>,
    now: SystemTime,
) -> Vec<(String, String)> {
    let timestamp = amz_date(now);
    let mut signed: Vec<(&str, &str)> = vec![("host", host), ("x-amz-date", &timestamp)];
    if let Some(content_type) = header_values(request.headers, "content-type").next() {
        signed.push(("content-type", content_type));
    }
    if let Some(token) = &credentials.session_token {
        signed.push(("x-amz-security-token", token));
    }
    signed.sort_unstable();
    let mut canonical_headers = String::new();
    for (name, value) in &signed {
        push_canonical_header(&mut canonical_headers, name, [*value].into_iter());
    }
    let names: Vec<&str> = signed.iter().map(|(name, _)| *name).collect();
    let names = names.join(";");
    let scope = Scope {
        date: &timestamp[..8],
        region,
        service,
    };
    let canonical = canonical_request(
        request,
        &canonical_headers,
        &names,
        &hex(&Sha256::digest(request.body)),
    );
    let signature = hex(&signing_mac(
        &credentials.secret_access_key,
        &scope,
        &timestamp,
        &canonical,
    )
    .finalize()
    .into_bytes());
    let authorization = format!(
        "{ALGORITHM} Credential={}/{}, SignedHeaders={names}, Signature={signature}",
        credentials.access_key_id, scope
    );
    let mut added = vec![("x-amz-date".to_string(), timestamp.clone())];
    if let Some(token) = &credentials.session_token {
        added.push(("x-amz-security-token".to_string(), token.clone()));
    }
    added.push(("authorization".to_string(), authorization));
    added
}

/// A path segment as AWS wants it on the wire: all but the unreserved characters escaped
/// (a Bedrock model id's `:` becomes `%3A`, as the AWS SDKs send it).
pub fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    canonical::push_encoded(&mut out, segment.as_bytes(), b"");
    out
}

/// Whose key signed the request, and for which region and service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedKey {
    pub access_key_id: String,
    pub region: String,
    pub service: String,
}

/// Checks the `authorization` header of a request as received: the canonical request is
/// rebuilt from exactly the headers the client named in `SignedHeaders`, and signed with
/// the secret `secret_for` gives for its access key id.
pub fn verify(
    request: &Request<'_>,
    secret_for: impl Fn(&str) -> Option<String>,
    now: SystemTime,
) -> Result<VerifiedKey, SignatureError> {
    let authorization = header_values(request.headers, "authorization")
        .next()
        .ok_or(SignatureError::Missing)?;
    let authorization = Authorization::parse(authorization)?;
    let Some(timestamp) = header_values(request.headers, "x-amz-date").next() else {
        return Err(SignatureError::Incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                .to_string(),
        ));
    };
    let Some(signed_at) = parse_amz_date(timestamp) else {
        return Err(SignatureError::Incomplete(format!(
            "Invalid X-Amz-Date '{timestamp}': it must be in the form YYYYMMDD'T'HHMMSS'Z'."
        )));
    };
    check_skew(timestamp, signed_at, now)?;
    if authorization.scope.date != &timestamp[..8] {
        return Err(SignatureError::Invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{timestamp}'.",
            authorization.scope.date,
            &timestamp[..8]
        )));
    }
    if !authorization.signed_headers.contains(&"host") {
        return Err(SignatureError::Incomplete(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".to_string(),
        ));
    }
    let secret = secret_for(authorization.access_key_id).ok_or(SignatureError::UnknownKey)?;

    let body_hash = hex(&Sha256::digest(request.body));
    // A client that sends the payload hash signs with that header's value: it must be the
    // body's (UNSIGNED-PAYLOAD is refused: the body is what the gateway bills).
    let payload_hash = match header_values(request.headers, "x-amz-content-sha256").next() {
        None => body_hash.as_str(),
        Some(claimed) if claimed.trim().eq_ignore_ascii_case(&body_hash) => claimed.trim(),
        Some(_) => {
            return Err(SignatureError::Invalid(
                "The provided 'x-amz-content-sha256' header does not match what was computed."
                    .to_string(),
            ))
        }
    };
    let mut canonical_headers = String::new();
    for name in &authorization.signed_headers {
        let mut values = header_values(request.headers, name).peekable();
        if values.peek().is_none() {
            return Err(SignatureError::MissingHeader(name.to_string()));
        }
        push_canonical_header(&mut canonical_headers, name, values);
    }
    let canonical = canonical_request(
        request,
        &canonical_headers,
        &authorization.signed_headers.join(";"),
        payload_hash,
    );
    let Some(signature) = unhex(authorization.signature) else {
        return Err(SignatureError::Mismatch);
    };
    // `verify_slice` compares in constant time.
    signing_mac(&secret, &authorization.scope, timestamp, &canonical)
        .verify_slice(&signature)
        .map_err(|_| SignatureError::Mismatch)?;
    Ok(VerifiedKey {
        access_key_id: authorization.access_key_id.to_string(),
        region: authorization.scope.region.to_string(),
        service: authorization.scope.service.to_string(),
    })
}

/// Why a request's signature was refused, with AWS's own wording where AWS has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    /// No `authorization` header.
    Missing,
    /// The `authorization` header or the date is malformed or incomplete.
    Incomplete(String),
    UnknownKey,
    /// Signed more than 15 minutes ago, or more than 15 minutes ahead.
    Expired(String),
    /// A header the client named in `SignedHeaders` is not in the request.
    MissingHeader(String),
    /// Well-formed, but not acceptable (scope date, payload hash).
    Invalid(String),
    Mismatch,
}

impl SignatureError {
    pub fn status(&self) -> u16 {
        match self {
            Self::Incomplete(_) => 400,
            _ => 403,
        }
    }

    /// AWS's error type (`x-amzn-ErrorType`) for it.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Missing => "MissingAuthenticationTokenException",
            Self::Incomplete(_) => "IncompleteSignatureException",
            Self::UnknownKey => "UnrecognizedClientException",
            Self::Expired(_) | Self::MissingHeader(_) | Self::Invalid(_) | Self::Mismatch => {
                "InvalidSignatureException"
            }
        }
    }
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("Missing Authentication Token"),
            Self::Incomplete(message) | Self::Expired(message) | Self::Invalid(message) => {
                f.write_str(message)
            }
            Self::UnknownKey => f.write_str("The security token included in the request is invalid."),
            Self::MissingHeader(name) => write!(
                f,
                "The request signature we calculated does not match the signature you provided: header '{name}' is in SignedHeaders but not in the request."
            ),
            Self::Mismatch => f.write_str(
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
            ),
        }
    }
}

impl std::error::Error for SignatureError {}

// === impl the canonical request ===

/// `date/region/service/aws4_request`.
struct Scope<'a> {
    date: &'a str,
    region: &'a str,
    service: &'a str,
}

impl fmt::Display for Scope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// `AWS4-HMAC-SHA256 Credential=AKID/scope, SignedHeaders=a;b, Signature=hex`.
struct Authorization<'a> {
    access_key_id: &'a str,
    scope: Scope<'a>,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

impl<'a> Authorization<'a> {
    fn parse(header: &'a str) -> Result<Self, SignatureError> {
        let header = header.trim();
        let (algorithm, parameters) = header.split_once(' ').unwrap_or((header, ""));
        if algorithm != ALGORITHM {
            return Err(SignatureError::Incomplete(format!(
                "Unsupported AWS 'algorithm': '{algorithm}'."
            )));
        }
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for parameter in parameters.split(',') {
            let (key, value) = parameter.trim().split_once('=').unwrap_or_default();
            match key {
                "Credential" => credential = Some(value),
                "SignedHeaders" => signed_headers = Some(value),
                "Signature" => signature = Some(value),
                _ => {}
            }
        }
        let mut missing = String::new();
        for (name, value) in [
            ("Credential", credential),
            ("Signature", signature),
            ("SignedHeaders", signed_headers),
        ] {
            if value.is_none_or(str::is_empty) {
                let _ = write!(
                    missing,
                    "Authorization header requires '{name}' parameter. "
                );
            }
        }
        if !missing.is_empty() {
            return Err(SignatureError::Incomplete(format!(
                "{missing}Authorization={header}"
            )));
        }
        let credential = credential.unwrap_or_default();
        let parts: Vec<&str> = credential.split('/').collect();
        let [access_key_id, date, region, service, "aws4_request"] = parts[..] else {
            return Err(SignatureError::Incomplete(format!(
                "Credential should be scoped to a valid region, service and date: '{credential}'."
            )));
        };
        Ok(Self {
            access_key_id,
            scope: Scope {
                date,
                region,
                service,
            },
            signed_headers: signed_headers.unwrap_or_default().split(';').collect(),
            signature: signature.unwrap_or_default(),
        })
    }
}

/// The HMAC over the string to sign, keyed by the key derived for the scope.
fn signing_mac(secret: &str, scope: &Scope<'_>, timestamp: &str, canonical: &str) -> HmacSha256 {
    let key = [scope.date, scope.region, scope.service, "aws4_request"]
        .iter()
        .fold(format!("AWS4{secret}").into_bytes(), |key, part| {
            mac(&key, part.as_bytes()).finalize().into_bytes().to_vec()
        });
    let string_to_sign = format!(
        "{ALGORITHM}\n{timestamp}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    mac(&key, string_to_sign.as_bytes())
}

fn mac(key: &[u8], message: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac
}

fn header_values<'h>(
    headers: &'h [(&'h str, &'h str)],
    name: &'h str,
) -> impl Iterator<Item = &'h str> + 'h {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, value)| *value)
}

#[cfg(test)]
mod tests;
