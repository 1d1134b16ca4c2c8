//! Vectors from AWS's SigV4 test suite (as kept in botocore's tests/unit/auth/aws4_testsuite:
//! key AKIDEXAMPLE, region us-east-1, service `service`, 2015-08-30T12:36:00Z) and a Bedrock
//! Converse request signed by botocore 1.44.8.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::canonical::{canonical_query, canonical_uri};
use super::*;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const HOST: &str = "example.amazonaws.com";
const SUITE_DATE: &str = "20150830T123600Z";

fn suite_now() -> SystemTime {
    parse_amz_date(SUITE_DATE).unwrap()
}

fn credentials(session_token: Option<&str>) -> Credentials {
    Credentials {
        access_key_id: "AKIDEXAMPLE".to_string(),
        secret_access_key: SECRET.to_string(),
        session_token: session_token.map(str::to_string),
    }
}

fn suite_authorization(signed_headers: &str, signature: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders={signed_headers}, Signature={signature}"
    )
}

fn request<'a>(
    method: &'a str,
    target: &'a str,
    headers: &'a [(&'a str, &'a str)],
    body: &'a [u8],
) -> Request<'a> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Request {
        method,
        path,
        query,
        headers,
        body,
    }
}

fn authorization_of(added: &[(String, String)]) -> &str {
    &added
        .iter()
        .find(|(name, _)| name == "authorization")
        .unwrap()
        .1
}

/// One request of the suite and the signature it expects.
struct SuiteCase {
    name: &'static str,
    method: &'static str,
    /// Path and query.
    target: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static [u8],
    signed_headers: &'static str,
    signature: &'static str,
}

#[test]
fn signs_the_suites_requests() {
    let cases = [
        SuiteCase {
            name: "get-vanilla",
            method: "GET",
            target: "/",
            headers: &[],
            body: b"",
            signed_headers: "host;x-amz-date",
            signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        },
        SuiteCase {
            name: "get-vanilla-query-order-encoded",
            method: "GET",
            target: "/?Param-3=Value3&Param=Value2&%E1%88%B4=Value1",
            headers: &[],
            body: b"",
            signed_headers: "host;x-amz-date",
            signature: "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac",
        },
        SuiteCase {
            name: "get-vanilla-empty-query-key",
            method: "GET",
            target: "/?Param1=value1",
            headers: &[],
            body: b"",
            signed_headers: "host;x-amz-date",
            signature: "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
        },
        SuiteCase {
            name: "get-unreserved",
            method: "GET",
            target: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            headers: &[],
            body: b"",
            signed_headers: "host;x-amz-date",
            signature: "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
        },
        SuiteCase {
            name: "get-utf8",
            method: "GET",
            target: "/\u{1234}",
            headers: &[],
            body: b"",
            signed_headers: "host;x-amz-date",
            signature: "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
        },
        SuiteCase {
            name: "normalize-path/get-slashes",
            method: "GET",
            target: "//example//",
            headers: &[],
            body: b"",
            signed_headers: "host;x-amz-date",
            signature: "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
        },
        SuiteCase {
            name: "normalize-path/get-relative-relative",
            method: "GET",
            target: "/example1/example2/../..",
            headers: &[],
            body: b"",
            signed_headers: "host;x-amz-date",
            signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        },
        SuiteCase {
            name: "normalize-path/get-space",
            method: "GET",
            target: "/example space/",
            headers: &[],
            body: b"",
            signed_headers: "host;x-amz-date",
            signature: "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
        },
        SuiteCase {
            name: "post-vanilla-empty-query-value",
            method: "POST",
            target: "/?Param1=value1",
            headers: &[],
            body: b"",
            signed_headers: "host;x-amz-date",
            signature: "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
        },
        SuiteCase {
            name: "post-x-www-form-urlencoded",
            method: "POST",
            target: "/",
            headers: &[("Content-Type", "application/x-www-form-urlencoded")],
            body: b"Param1=value1",
            signed_headers: "content-type;host;x-amz-date",
            signature: "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
        },
    ];
    for case in cases {
        let added = sign(
            &credentials(None),
            "us-east-1",
            "service",
            HOST,
            &request(case.method, case.target, case.headers, case.body),
            suite_now(),
        );
        assert_eq!(added[0], ("x-amz-date".to_string(), SUITE_DATE.to_string()));
        assert_eq!(
            authorization_of(&added),
            suite_authorization(case.signed_headers, case.signature),
            "{}",
            case.name
        );
    }
}

#[test]
fn signs_the_session_token() {
    let token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
    let added = sign(
        &credentials(Some(token)),
        "us-east-1",
        "service",
        HOST,
        &request("GET", "/", &[], b""),
        suite_now(),
    );
    assert_eq!(
        added[1],
        ("x-amz-security-token".to_string(), token.to_string())
    );
    assert_eq!(
        authorization_of(&added),
        suite_authorization(
            "host;x-amz-date;x-amz-security-token",
            "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"
        )
    );
}

/// Requests as the suite sends them, with its signatures: verified from the client's
/// SignedHeaders, repeated headers joined in order, values trimmed.
#[test]
fn verifies_the_suites_requests() {
    let cases = [
        SuiteCase {
            name: "post-header-key-sort",
            method: "POST",
            target: "/",
            headers: &[("My-Header1", "value1")],
            body: b"",
            signed_headers: "host;my-header1;x-amz-date",
            signature: "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
        },
        SuiteCase {
            name: "get-header-value-trim",
            method: "GET",
            target: "/",
            headers: &[("My-Header1", " value1"), ("My-Header2", " \"a   b   c\"")],
            body: b"",
            signed_headers: "host;my-header1;my-header2;x-amz-date",
            signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
        },
        SuiteCase {
            name: "get-header-key-duplicate",
            method: "GET",
            target: "/",
            headers: &[
                ("My-Header1", "value2"),
                ("My-Header1", "value2"),
                ("My-Header1", "value1"),
            ],
            body: b"",
            signed_headers: "host;my-header1;x-amz-date",
            signature: "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
        },
        SuiteCase {
            name: "get-header-value-order",
            method: "GET",
            target: "/",
            headers: &[
                ("My-Header1", "value4"),
                ("My-Header1", "value1"),
                ("My-Header1", "value3"),
                ("My-Header1", "value2"),
            ],
            body: b"",
            signed_headers: "host;my-header1;x-amz-date",
            signature: "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
        },
    ];
    for case in cases {
        let authorization = suite_authorization(case.signed_headers, case.signature);
        let mut headers = vec![("Host", HOST), ("X-Amz-Date", SUITE_DATE)];
        headers.extend_from_slice(case.headers);
        headers.push(("Authorization", &authorization));
        let verified = verify(
            &request(case.method, case.target, &headers, case.body),
            |key| (key == "AKIDEXAMPLE").then(|| SECRET.to_string()),
            suite_now(),
        );
        assert_eq!(
            verified,
            Ok(VerifiedKey {
                access_key_id: "AKIDEXAMPLE".to_string(),
                region: "us-east-1".to_string(),
                service: "service".to_string(),
            }),
            "{}",
            case.name
        );
    }
}

// === a Bedrock request signed by botocore ===

const BEDROCK_HOST: &str = "bedrock-runtime.us-east-1.amazonaws.com";
/// The model id's `:` as botocore sends it; signed as `%253A`.
const BEDROCK_PATH: &str = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse";
const BEDROCK_BODY: &[u8] = br#"{"messages": [{"role": "user", "content": [{"text": "Hello, Bedrock!"}]}], "inferenceConfig": {"maxTokens": 64}}"#;
const BEDROCK_TOKEN: &str = "FwoGZXIvYXdzEXAMPLETOKEN";
const BEDROCK_DATE: &str = "20261202T093000Z";
const BEDROCK_AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261202/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=6a8882b05512883a40e7cdbdbafe90be704eb8de5b43ddbb829845233031f97e";

fn bedrock_now() -> SystemTime {
    parse_amz_date(BEDROCK_DATE).unwrap()
}

/// The headers botocore sent, in its order (the unsigned ones too).
fn bedrock_headers(authorization: &str) -> Vec<(&str, &str)> {
    vec![
        ("Content-Type", "application/json"),
        (
            "User-Agent",
            "Botocore/1.44.8 ua/2.1 os/linux lang/python#3.11.7",
        ),
        ("X-Amz-Date", BEDROCK_DATE),
        ("X-Amz-Security-Token", BEDROCK_TOKEN),
        ("Authorization", authorization),
        (
            "amz-sdk-invocation-id",
            "1fd9bcd2-57a1-43ab-9638-73e1e8b5c3fd",
        ),
        ("amz-sdk-request", "attempt=1; max=3"),
        ("Content-Length", "112"),
        ("Host", BEDROCK_HOST),
    ]
}

fn bedrock_secret(key: &str) -> Option<String> {
    (key == "AKIDEXAMPLE").then(|| SECRET.to_string())
}

#[test]
fn signs_a_converse_request_as_botocore_does() {
    let added = sign(
        &credentials(Some(BEDROCK_TOKEN)),
        "us-east-1",
        "bedrock",
        BEDROCK_HOST,
        &request(
            "POST",
            BEDROCK_PATH,
            &[("content-type", "application/json")],
            BEDROCK_BODY,
        ),
        bedrock_now(),
    );
    assert_eq!(authorization_of(&added), BEDROCK_AUTHORIZATION);
}

#[test]
fn verifies_a_converse_request_botocore_signed() {
    let headers = bedrock_headers(BEDROCK_AUTHORIZATION);
    let converse = request("POST", BEDROCK_PATH, &headers, BEDROCK_BODY);
    let verified = verify(
        &converse,
        bedrock_secret,
        bedrock_now() + Duration::from_secs(14 * 60),
    );
    assert_eq!(verified.unwrap().service, "bedrock");

    let mut tampered = converse;
    tampered.body = br#"{"messages": [{"role": "user", "content": [{"text": "Hello, Bedrock?"}]}], "inferenceConfig": {"maxTokens": 64}}"#;
    let refused = verify(&tampered, bedrock_secret, bedrock_now()).unwrap_err();
    assert_eq!(refused, SignatureError::Mismatch);
    assert_eq!(refused.status(), 403);
    assert!(refused.to_string().starts_with(
        "The request signature we calculated does not match the signature you provided."
    ));

    let mut other_model = converse;
    other_model.path = "/model/anthropic.claude-3-haiku-20240307-v1:0/converse";
    assert_eq!(
        verify(&other_model, bedrock_secret, bedrock_now()),
        Err(SignatureError::Mismatch),
        "the path is signed as sent, not decoded"
    );

    let mut hashed = headers.clone();
    let body_hash = hex(&Sha256::digest(BEDROCK_BODY));
    hashed.push(("X-Amz-Content-SHA256", &body_hash));
    let with_hash = request("POST", BEDROCK_PATH, &hashed, BEDROCK_BODY);
    assert!(verify(&with_hash, bedrock_secret, bedrock_now()).is_ok());

    assert_eq!(
        verify(&converse, |_| None, bedrock_now()),
        Err(SignatureError::UnknownKey)
    );
    assert_eq!(
        verify(
            &converse,
            |_| Some("another secret".to_string()),
            bedrock_now()
        ),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn refuses_requests_signed_too_long_ago_or_ahead() {
    let headers = bedrock_headers(BEDROCK_AUTHORIZATION);
    let converse = request("POST", BEDROCK_PATH, &headers, BEDROCK_BODY);
    let late = verify(
        &converse,
        bedrock_secret,
        bedrock_now() + Duration::from_secs(16 * 60),
    );
    assert_eq!(
        late.unwrap_err().to_string(),
        "Signature expired: 20261202T093000Z is now earlier than 20261202T093100Z (20261202T094600Z - 15 min.)"
    );
    let early = verify(
        &converse,
        bedrock_secret,
        bedrock_now() - Duration::from_secs(16 * 60),
    );
    assert_eq!(
        early.unwrap_err().to_string(),
        "Signature not yet current: 20261202T093000Z is still later than 20261202T092900Z (20261202T091400Z + 15 min.)"
    );
}

#[test]
fn refuses_incomplete_requests() {
    let now = bedrock_now();
    let check = |headers: &[(&str, &str)]| {
        verify(
            &request("POST", BEDROCK_PATH, headers, BEDROCK_BODY),
            bedrock_secret,
            now,
        )
    };
    assert_eq!(
        check(&[("Host", BEDROCK_HOST)]),
        Err(SignatureError::Missing)
    );

    // The signed security token left out.
    let mut headers = bedrock_headers(BEDROCK_AUTHORIZATION);
    headers.retain(|(name, _)| *name != "X-Amz-Security-Token");
    assert_eq!(
        check(&headers),
        Err(SignatureError::MissingHeader(
            "x-amz-security-token".to_string()
        ))
    );

    let mut headers = bedrock_headers(BEDROCK_AUTHORIZATION);
    headers.retain(|(name, _)| *name != "X-Amz-Date");
    let error = check(&headers).unwrap_err();
    assert_eq!(
        (error.status(), error.error_type()),
        (400, "IncompleteSignatureException")
    );

    let no_signature = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261202/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date";
    let error = check(&bedrock_headers(no_signature)).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("Authorization header requires 'Signature' parameter."),
        "{error}"
    );

    let bearer = check(&bedrock_headers("Bearer sk-123")).unwrap_err();
    assert_eq!(bearer.error_type(), "IncompleteSignatureException");

    let other_day = BEDROCK_AUTHORIZATION.replace("/20261202/", "/20261201/");
    assert!(matches!(
        check(&bedrock_headers(&other_day)),
        Err(SignatureError::Invalid(message)) if message.starts_with("Date in Credential scope does not match")
    ));

    let host_unsigned = BEDROCK_AUTHORIZATION.replace("content-type;host;", "content-type;");
    assert_eq!(
        check(&bedrock_headers(&host_unsigned))
            .unwrap_err()
            .error_type(),
        "IncompleteSignatureException"
    );

    let mut headers = bedrock_headers(BEDROCK_AUTHORIZATION);
    headers.push(("x-amz-content-sha256", "UNSIGNED-PAYLOAD"));
    assert!(matches!(check(&headers), Err(SignatureError::Invalid(_))));
}

#[test]
fn canonical_parts_follow_botocore() {
    assert_eq!(canonical_uri(""), "/");
    assert_eq!(canonical_uri("/a/./b/../c/"), "/a/c/");
    assert_eq!(
        canonical_uri("/model/x%3A0/converse"),
        "/model/x%253A0/converse"
    );
    assert_eq!(canonical_query("b=2&a=%7e&a=1&c"), "a=1&a=~&b=2&c=");
    assert_eq!(canonical_query("q=a b+c%zz"), "q=a%20b%2Bc%25zz");
    assert_eq!(
        amz_date(UNIX_EPOCH + Duration::from_secs(951_782_400)),
        "20000229T000000Z"
    );
    assert_eq!(
        parse_amz_date("20000229T000000Z"),
        Some(UNIX_EPOCH + Duration::from_secs(951_782_400))
    );
    assert_eq!(parse_amz_date("2000-02-29T00:00:00Z"), None);
    assert_eq!(unhex("0aFf"), Some(vec![0x0a, 0xff]));
    assert_eq!(unhex("0a\u{e9}"), None);
}

#[test]
fn debug_hides_the_secret() {
    let shown = format!("{:?}", credentials(Some("token")));
    assert!(shown.contains("AKIDEXAMPLE") && !shown.contains(SECRET) && !shown.contains("token"));
}
