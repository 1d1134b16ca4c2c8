//! The shape of the config file, checked on the parsed TOML document before serde sees it,
//! so that one run reports every unknown key, wrong type and missing required key (serde
//! stops at the first). Each offending value is reported, then removed, so the typed
//! structs can still be built and their values checked too.

use toml::{Table, Value};

use super::validate::Problems;

#[derive(Clone, Copy)]
enum Kind {
    /// A string that must be present and not empty (names and references).
    Required,
    Str,
    Bool,
    /// A whole number from 0 to the bound.
    Count(u64),
    /// A number (whole or not) from 0 up.
    Amount,
    StrList,
    /// Any table (`extra_body`: sent upstream as JSON).
    AnyTable,
    /// A table of strings (`headers`).
    StrTable,
    /// `[section]`: a table with these keys.
    Section(&'static [&'static [Field]]),
    /// `[[section]]` or an array of inline tables, each with these keys.
    List(&'static [&'static [Field]]),
}

struct Field(&'static str, Kind);

const U32: Kind = Kind::Count(u32::MAX as u64);
const U64: Kind = Kind::Count(i64::MAX as u64);

const SERVER: &[Field] = &[
    Field("listen", Kind::Str),
    Field("workers", U64),
    Field("pin_cores", Kind::Bool),
    Field("max_body_bytes", U64),
    Field("shutdown_grace_ms", U64),
    Field("header_timeout_ms", U64),
    Field("body_timeout_ms", U64),
    Field("max_header_bytes", U64),
    Field("max_headers", U64),
    Field("max_connections", U64),
    Field("share_port", Kind::Bool),
    Field("access_log", Kind::Bool),
];

const DATABASE: &[Field] = &[
    Field("url", Kind::Str),
    Field("store_content", Kind::Bool),
    Field("batch_size", U64),
    Field("flush_interval_ms", U64),
    Field("memory_records", U64),
    Field("spill_path", Kind::Str),
];

const ROUTING: &[Field] = &[
    Field("retries", U32),
    Field("backoff_base_ms", U64),
    Field("backoff_max_ms", U64),
    Field("max_retry_after_ms", U64),
    Field("breaker_failures", U32),
    Field("breaker_cooldown_ms", U64),
    Field("first_token_timeout_ms", U64),
    Field("stream_idle_timeout_ms", U64),
    Field("silent_after_ms", U64),
    Field("continuation", Kind::Str),
];

const BUDGET: &[Field] = &[
    Field("usd", Kind::Amount),
    Field("tokens", U64),
    Field("period", Kind::Str),
];

const CLIENT_KEY: &[Field] = &[
    Field("name", Kind::Required),
    Field("key", Kind::Str),
    Field("key_env", Kind::Str),
    Field("key_sha256", Kind::Str),
    Field("models", Kind::StrList),
    Field("rpm", U32),
    Field("tpm", U32),
    Field("max_concurrent", U32),
    Field("budget", Kind::Section(&[BUDGET])),
    Field("aws_access_key_id", Kind::Str),
    Field("aws_secret_access_key_env", Kind::Str),
];

const PRICE: &[Field] = &[
    Field("input_per_mtok", Kind::Amount),
    Field("output_per_mtok", Kind::Amount),
    Field("cached_input_per_mtok", Kind::Amount),
];

const ADMIN: &[Field] = &[Field("key_env", Kind::Str)];

const LIMITS: &[Field] = &[
    Field("redis_url", Kind::Str),
    Field("redis_url_env", Kind::Str),
    Field("local_share", Kind::Amount),
];

const UPSTREAM: &[Field] = &[
    Field("name", Kind::Required),
    Field("base_url", Kind::Str),
    Field("api_key", Kind::Str),
    Field("api_key_env", Kind::Str),
    Field("ca_file", Kind::Str),
    Field("connect_timeout_ms", U64),
    Field("timeout_ms", U64),
    Field("kind", Kind::Str),
    Field("headers", Kind::StrTable),
    Field("api_version", Kind::Str),
    Field("anthropic_version", Kind::Str),
    Field("region", Kind::Str),
    Field("aws_access_key_id_env", Kind::Str),
    Field("aws_secret_access_key_env", Kind::Str),
    Field("aws_session_token_env", Kind::Str),
];

const TARGET: &[Field] = &[
    Field("upstream", Kind::Required),
    Field("model", Kind::Str),
    Field("weight", U32),
    Field("continuation", Kind::Str),
    Field("extra_body", Kind::AnyTable),
];

const MODEL: &[Field] = &[
    Field("name", Kind::Required),
    Field("fallbacks", Kind::StrList),
    Field("targets", Kind::List(&[TARGET])),
    Field("price", Kind::Section(&[PRICE])),
];

const TOP: &[Field] = &[
    Field("server", Kind::Section(&[SERVER])),
    Field("database", Kind::Section(&[DATABASE])),
    Field("routing", Kind::Section(&[ROUTING])),
    Field("admin", Kind::Section(&[ADMIN])),
    Field("limits", Kind::Section(&[LIMITS])),
    Field("client_key", Kind::List(&[CLIENT_KEY])),
    Field("upstream", Kind::List(&[UPSTREAM])),
    // A model may override any `[routing]` key.
    Field("model", Kind::List(&[MODEL, ROUTING])),
];

/// Reports what does not fit the schema and removes it from `document`.
pub(super) fn check(document: &mut Table, problems: &mut Problems) {
    check_table(document, &[TOP], "", problems);
}

fn check_table(table: &mut Table, groups: &[&[Field]], prefix: &str, problems: &mut Problems) {
    let keys: Vec<String> = table.keys().cloned().collect();
    for key in keys {
        let location = format!("{prefix}{key}");
        let field = groups.iter().flat_map(|g| g.iter()).find(|f| f.0 == key);
        let Some(Field(_, kind)) = field else {
            problems.add(location, "unknown key");
            table.remove(&key);
            continue;
        };
        let fits = table
            .get_mut(&key)
            .is_some_and(|value| check_value(value, *kind, &location, problems));
        if !fits {
            table.remove(&key);
        }
    }
    for field in groups.iter().flat_map(|g| g.iter()) {
        if matches!(field.1, Kind::Required) && !table.contains_key(field.0) {
            problems.add(format!("{prefix}{}", field.0), "required key missing");
        }
    }
}

/// Whether `value` may stay; a problem has been reported when it may not.
fn check_value(value: &mut Value, kind: Kind, location: &str, problems: &mut Problems) -> bool {
    let mut wrong_type = |expected: &str, value: &Value| {
        let found = value.type_str();
        problems.add(location, format!("expected {expected}, found {found}"));
        false
    };
    match (kind, &mut *value) {
        (Kind::Required, Value::String(text)) if text.is_empty() => {
            problems.add(location, "must not be empty");
            false
        }
        (Kind::Required | Kind::Str, Value::String(_)) | (Kind::Bool, Value::Boolean(_)) => true,
        (Kind::Required | Kind::Str, value) => wrong_type("a string", value),
        (Kind::Bool, value) => wrong_type("true or false", value),
        (Kind::Count(max), Value::Integer(n)) => {
            let fits = u64::try_from(*n).is_ok_and(|n| n <= max);
            if !fits {
                problems.add(location, format!("must be a whole number from 0 to {max}"));
            }
            fits
        }
        (Kind::Count(_), value) => wrong_type("a whole number", value),
        (Kind::Amount, Value::Integer(n)) if *n >= 0 => {
            *value = Value::Float(*n as f64);
            true
        }
        (Kind::Amount, Value::Float(x)) if x.is_finite() && *x >= 0.0 => true,
        (Kind::Amount, Value::Integer(_) | Value::Float(_)) => {
            problems.add(location, "must be a number from 0 up");
            false
        }
        (Kind::Amount, value) => wrong_type("a number", value),
        (Kind::StrList, Value::Array(items)) => {
            let strings = items.iter().all(Value::is_str);
            if !strings {
                problems.add(location, "expected an array of strings");
            }
            strings
        }
        (Kind::StrList, value) => wrong_type("an array of strings", value),
        (Kind::AnyTable, Value::Table(_)) => true,
        (Kind::AnyTable, value) => wrong_type("a table", value),
        (Kind::StrTable, Value::Table(table)) => {
            let strings = table.values().all(Value::is_str);
            if !strings {
                problems.add(location, "expected a table of strings");
            }
            strings
        }
        (Kind::StrTable, value) => wrong_type("a table of strings", value),
        (Kind::Section(groups), Value::Table(table)) => {
            check_table(table, groups, &format!("{location}."), problems);
            true
        }
        (Kind::Section(_), value) => wrong_type("a table", value),
        (Kind::List(groups), Value::Array(items)) => {
            for (i, item) in items.iter_mut().enumerate() {
                let location = format!("{location}[{i}]");
                match item {
                    Value::Table(table) => {
                        check_table(table, groups, &format!("{location}."), problems)
                    }
                    other => {
                        let found = other.type_str();
                        problems.add(location, format!("expected a table, found {found}"));
                        // Keeps the indices of the entries after it.
                        *other = Value::Table(Table::new());
                    }
                }
            }
            true
        }
        (Kind::List(_), value) => wrong_type("an array of tables", value),
    }
}
