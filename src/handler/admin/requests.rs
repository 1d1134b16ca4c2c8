//! The console's request-log queries: `GET /admin/requests?…` (a page of the log) and
//! `GET /admin/requests/{id}` (one request whole), their parameters checked here on the
//! worker, their SQL run by the recorder (`gpt_api_recorder`'s `console` module).

use std::time::UNIX_EPOCH;

use crate::admin::{AdminQuery, RequestFilter, StatusFilter, DEFAULT_PAGE, MAX_PAGE};
use crate::error::AppError;
use crate::http::query;

/// `key`, `model`, `upstream`, `endpoint`, `status` (`502`, `5xx`, `error`), `since`,
/// `until`, `error` (text in the error), `before` (an id: the page after it), `limit`.
pub fn page_query(text: &str) -> Result<AdminQuery, AppError> {
    let pairs =
        query::pairs(text).ok_or_else(|| AppError::InvalidParameter("a broken %-escape".into()))?;
    let mut filter = RequestFilter {
        limit: DEFAULT_PAGE,
        ..RequestFilter::default()
    };
    for (name, value) in pairs {
        if value.is_empty() {
            continue;
        }
        match name.as_str() {
            "key" => filter.client_key = Some(value),
            "model" => filter.model = Some(value),
            "upstream" => filter.upstream = Some(value),
            "endpoint" => filter.endpoint = Some(value),
            "error" => filter.error_contains = Some(value),
            "before" => filter.before = Some(value),
            "status" => filter.status = Some(status(&value)?),
            "since" => filter.since_micros = Some(micros(&name, &value)?),
            "until" => filter.until_micros = Some(micros(&name, &value)?),
            "limit" => {
                filter.limit = value
                    .parse()
                    .ok()
                    .filter(|limit| (1..=MAX_PAGE).contains(limit))
                    .ok_or_else(|| {
                        AppError::InvalidParameter(format!(
                            "limit must be a whole number from 1 to {MAX_PAGE}, not '{value}'"
                        ))
                    })?;
            }
            _ => {
                return Err(AppError::InvalidParameter(format!(
                    "unknown parameter '{name}' (expected key, model, upstream, endpoint, \
                     status, since, until, error, before, limit)"
                )))
            }
        }
    }
    Ok(AdminQuery::Requests(filter))
}

/// `/admin/requests/{id}`.
pub fn detail_query(path: &str) -> Result<AdminQuery, AppError> {
    let id = path.strip_prefix("/admin/requests/").unwrap_or_default();
    let id = query::pairs(id)
        .and_then(|pairs| pairs.into_iter().next())
        .map(|(id, _)| id)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| AppError::NotFound(path.to_owned()))?;
    Ok(AdminQuery::Request(id))
}

fn status(value: &str) -> Result<StatusFilter, AppError> {
    let parsed = match value.strip_suffix("xx") {
        _ if value == "error" => Some(StatusFilter::Errors),
        Some(class) => class
            .parse()
            .ok()
            .filter(|class| (1..=5).contains(class))
            .map(StatusFilter::Class),
        None => value
            .parse()
            .ok()
            .filter(|status| (100..=599).contains(status))
            .map(StatusFilter::Exact),
    };
    parsed.ok_or_else(|| {
        AppError::InvalidParameter(format!(
            "status must be a status (502), a class (5xx) or 'error', not '{value}'"
        ))
    })
}

fn micros(name: &str, value: &str) -> Result<u64, AppError> {
    crate::time::parse_timestamp(value)
        .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
        .map(|since| since.as_micros() as u64)
        .ok_or_else(|| {
            AppError::InvalidParameter(format!(
                "{name} must be an RFC 3339 time (2026-12-02T00:00:00Z), a date or Unix \
                 seconds, not '{value}'"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(text: &str) -> RequestFilter {
        match page_query(text) {
            Ok(AdminQuery::Requests(filter)) => filter,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn a_query_becomes_a_filter() {
        let parsed = filter(
            "key=team-a&model=gpt%2F4o&status=5xx&since=2026-12-02T05:00:00Z&until=1796191200\
             &error=upstream%20returned&before=abc&limit=20&endpoint=",
        );
        assert_eq!(parsed.client_key.as_deref(), Some("team-a"));
        assert_eq!(parsed.model.as_deref(), Some("gpt/4o"));
        assert_eq!(parsed.status, Some(StatusFilter::Class(5)));
        assert_eq!(parsed.since_micros, Some(1_796_187_600_000_000));
        assert_eq!(parsed.until_micros, Some(1_796_191_200_000_000));
        assert_eq!(parsed.error_contains.as_deref(), Some("upstream returned"));
        assert_eq!(parsed.before.as_deref(), Some("abc"));
        assert_eq!((parsed.limit, parsed.endpoint), (20, None));
        assert_eq!(filter("").limit, DEFAULT_PAGE);
        assert_eq!(filter("status=502").status, Some(StatusFilter::Exact(502)));
        assert_eq!(filter("status=error").status, Some(StatusFilter::Errors));
    }

    #[test]
    fn bad_parameters_are_named() {
        for (query, named) in [
            ("status=6xx", "status"),
            ("status=abc", "status"),
            ("since=yesterday", "since"),
            ("limit=0", "limit"),
            ("limit=501", "limit"),
            ("colour=red", "colour"),
        ] {
            let error = page_query(query).expect_err(query);
            assert_eq!(error.code(), "invalid_parameter", "{query}");
            assert!(
                error.message().contains(named),
                "{query}: {}",
                error.message()
            );
        }
        assert_eq!(
            detail_query("/admin/requests/0196abc").unwrap(),
            AdminQuery::Request("0196abc".into())
        );
    }
}
