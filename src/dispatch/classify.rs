//! Failure classes: what a failed attempt means for the next one. Every failure the request
//! path meets (a status, a send error, a body that broke, a stream that stalled or ended
//! early) is classified here, so the project's failover contract is in one place.

use std::time::{Duration, SystemTime};

use crate::upstream::{BodyError, SendError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// 5xx, 429, 408, refused or reset before the response: retry the same target.
    Transient { retry_after: Option<Duration> },
    /// Connect timeout, no response or no first token in time: next target, no retry.
    Silent,
    /// 401, 403, 404 from the upstream: next target, and cool this one down.
    Misconfigured,
    /// 400 `context_length_exceeded`: skip to the fallback models.
    TooLong,
    /// A continuation request the target answered with a 4xx of the client's kind (it
    /// does not take prefill, say): next target; the target itself is healthy.
    Refused,
    /// Under `continuation = "auto"`, the target refused the prefill: the same target once
    /// more, as a restart; the target itself is healthy.
    PrefillRefused,
}

/// A failed attempt: its class and the text that ends up as "Last error: …".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

impl FailureKind {
    /// The class as the request log's timeline names it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Transient { .. } => "transient",
            Self::Silent => "silent",
            Self::Misconfigured => "misconfigured",
            Self::TooLong => "too_long",
            Self::Refused => "refused",
            Self::PrefillRefused => "prefill_refused",
        }
    }
}

impl Failure {
    pub fn is_timeout(&self) -> bool {
        self.kind == FailureKind::Silent
    }

    fn new(kind: FailureKind, message: &str) -> Self {
        Self {
            kind,
            message: message.to_string(),
        }
    }

    /// No data event within the first-token timeout: a silent upstream.
    pub fn first_token_timeout() -> Self {
        Self::new(FailureKind::Silent, "timed out waiting for first token")
    }

    pub fn ended_before_first_token() -> Self {
        Self::new(TRANSIENT, "stream ended before the first token")
    }

    /// The upstream ended a stream without a finish reason: a break, not an answer.
    pub fn closed_before_finish() -> Self {
        Self::new(TRANSIENT, "upstream closed the stream before it finished")
    }

    pub fn idle_timeout() -> Self {
        Self::new(FailureKind::Silent, "stream idle timeout")
    }

    /// A target whose continuation mode is `none`, met while continuing a broken stream.
    pub fn cannot_continue() -> Self {
        Self::new(FailureKind::Silent, "this target cannot continue a stream")
    }

    /// The upstream reported an error inside its stream (Anthropic's `overloaded_error`, a
    /// Responses `error` event): the stream is broken; another try may well succeed.
    pub fn error_event(message: &str) -> Self {
        Self::new(
            TRANSIENT,
            &format!("upstream sent an error event: {message}"),
        )
    }

    /// A restarted stream said something else than what the client already has.
    pub fn diverged() -> Self {
        Self::new(
            FailureKind::Silent,
            "the restarted stream diverged from the text already delivered",
        )
    }
}

const TRANSIENT: FailureKind = FailureKind::Transient { retry_after: None };

/// A continuation request answered without a stream: a failure whatever its status (the
/// client already has a stream). `prefill_under_auto`: it was `"auto"`'s prefill try.
pub fn classify_continuation_answer(status: u16, body: &[u8], prefill_under_auto: bool) -> Failure {
    if let Some(failure) = classify_status(status, None, body) {
        let refused_prefill = prefill_under_auto && failure.kind == FailureKind::TooLong;
        if !refused_prefill {
            return failure;
        }
    }
    let kind = if prefill_under_auto && (400..500).contains(&status) && status != 429 {
        FailureKind::PrefillRefused
    } else {
        FailureKind::Refused
    };
    let message = if (200..300).contains(&status) {
        "upstream answered the continuation without a stream".to_string()
    } else {
        format!("upstream returned {status} to the continuation request")
    };
    Failure { kind, message }
}

/// Classifies a non-success upstream answer; `None` means it is the client's own fault
/// (any other 4xx), to be returned as it is.
pub fn classify_status(status: u16, retry_after: Option<&str>, body: &[u8]) -> Option<Failure> {
    let kind = match status {
        401 | 403 | 404 => FailureKind::Misconfigured,
        408 | 429 | 500..=599 => FailureKind::Transient {
            retry_after: retry_after.and_then(parse_retry_after),
        },
        400 if memchr::memmem::find(body, b"context_length_exceeded").is_some() => {
            FailureKind::TooLong
        }
        _ => return None,
    };
    Some(Failure {
        kind,
        message: format!("upstream returned {status}"),
    })
}

/// A failure before the response head. A connection that closes before any response byte
/// is a blip (same target) when it closes quickly, and a silent upstream (next target) when
/// it held the request longer than `silent_after` first.
pub fn classify_send_error(error: &SendError, silent_after: Duration) -> Failure {
    let kind = match error {
        SendError::TimedOut(_) => FailureKind::Silent,
        SendError::Closed { after_write, .. } if *after_write > silent_after => {
            return Failure {
                kind: FailureKind::Silent,
                message: format!(
                    "{} after holding the request {} ms",
                    error.message(),
                    after_write.as_millis()
                ),
            };
        }
        SendError::Connection(_) | SendError::Closed { .. } | SendError::Protocol(_) => TRANSIENT,
    };
    Failure {
        kind,
        message: error.message(),
    }
}

/// A body that broke off: a reset is transient, a stall is a silent upstream.
pub fn classify_body_error(error: &BodyError) -> Failure {
    let kind = match error {
        BodyError::TimedOut => FailureKind::Silent,
        BodyError::Reset(_) | BodyError::Malformed => TRANSIENT,
    };
    Failure {
        kind,
        message: error.to_string(),
    }
}

/// `Retry-After` as delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Exponential backoff with jitter: `base * 2^retry`, scaled by 0.75–1.25, capped.
pub fn backoff(base: Duration, max: Duration, retry: u32) -> Duration {
    let exponential = base.saturating_mul(1u32 << retry.min(16));
    exponential.mul_f64(0.75 + fastrand::f64() * 0.5).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_their_failure_classes() {
        let kind = |status, body: &[u8]| classify_status(status, None, body).map(|f| f.kind);
        assert_eq!(
            kind(503, b""),
            Some(FailureKind::Transient { retry_after: None })
        );
        assert_eq!(
            kind(429, b""),
            Some(FailureKind::Transient { retry_after: None })
        );
        assert_eq!(
            kind(408, b""),
            Some(FailureKind::Transient { retry_after: None })
        );
        assert_eq!(kind(401, b""), Some(FailureKind::Misconfigured));
        assert_eq!(kind(404, b""), Some(FailureKind::Misconfigured));
        assert_eq!(
            kind(400, br#"{"error":{"code":"context_length_exceeded"}}"#),
            Some(FailureKind::TooLong)
        );
        assert_eq!(kind(400, br#"{"error":{"code":"invalid_value"}}"#), None);
        assert_eq!(kind(422, b""), None);
        assert_eq!(
            classify_status(502, None, b"").unwrap().message,
            "upstream returned 502"
        );
    }

    #[test]
    fn a_close_before_the_response_is_a_blip_only_when_quick() {
        let closed = |ms| SendError::Closed {
            reason: "connection closed before the response".into(),
            after_write: Duration::from_millis(ms),
        };
        let silent_after = Duration::from_millis(1000);
        assert_eq!(
            classify_send_error(&closed(5), silent_after).kind,
            TRANSIENT
        );
        let held = classify_send_error(&closed(1500), silent_after);
        assert_eq!(held.kind, FailureKind::Silent);
        assert_eq!(
            held.message,
            "connection failed: connection closed before the response after holding the request 1500 ms"
        );
    }

    #[test]
    fn refused_continuations() {
        let refused = |status, body: &[u8], auto| classify_continuation_answer(status, body, auto);
        let prefill = br#"{"error":{"code":"invalid_prefill"}}"#;
        assert_eq!(
            refused(400, prefill, true).kind,
            FailureKind::PrefillRefused
        );
        assert_eq!(
            refused(400, prefill, true).message,
            "upstream returned 400 to the continuation request"
        );
        assert_eq!(refused(422, b"", true).kind, FailureKind::PrefillRefused);
        assert_eq!(refused(400, prefill, false).kind, FailureKind::Refused);
        assert_eq!(refused(200, b"{}", true).kind, FailureKind::Refused);
        assert_eq!(refused(429, b"", true).kind, TRANSIENT);
        assert_eq!(refused(503, b"", true).kind, TRANSIENT);
        assert_eq!(refused(401, b"", true).kind, FailureKind::Misconfigured);
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
        let transient = classify_status(429, Some("1"), b"").unwrap();
        assert_eq!(
            transient.kind,
            FailureKind::Transient {
                retry_after: Some(Duration::from_secs(1))
            }
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(500);
        let max = Duration::from_secs(8);
        for _ in 0..100 {
            let first = backoff(base, max, 0);
            assert!(first >= Duration::from_millis(375) && first <= Duration::from_millis(625));
            let third = backoff(base, max, 2);
            assert!(third >= Duration::from_millis(1500) && third <= Duration::from_millis(2500));
            assert!(backoff(base, max, 10) <= max);
        }
    }
}
