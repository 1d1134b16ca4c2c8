use super::*;
use std::time::Duration;

const VALID: &str = r#"
[server]
listen = "127.0.0.1:0"
workers = 2

[routing]
retries = 1
continuation = "restart"

[[client_key]]
name = "team-a"
key = "sk-a"
models = ["gpt-*"]

[[client_key]]
name = "team-b"
key_env = "TEAM_B_KEY"

[[upstream]]
name = "primary"
base_url = "http://127.0.0.1:9001/v1"
api_key = "sk-up"

[[upstream]]
name = "secure"
base_url = "https://api.example.com/v1/"
api_key_env = "UPSTREAM_KEY"

[[model]]
name = "gpt-4o-mini"
fallbacks = ["backup"]
retries = 3
targets = [
  { upstream = "primary", weight = 3 },
  { upstream = "secure", model = "gpt-4o-mini-2024", weight = 1, continuation = "prefill", extra_body = { continue_final_message = true } },
]

[[model]]
name = "backup"
silent_after_ms = 250
targets = [{ upstream = "primary", continuation = "auto" }]
"#;

fn env(name: &str) -> Option<String> {
    match name {
        "TEAM_B_KEY" => Some("sk-b".into()),
        "UPSTREAM_KEY" => Some("sk-secret".into()),
        _ => None,
    }
}

fn problems(text: &str) -> Vec<String> {
    parse(text, &env)
        .err()
        .unwrap_or_default()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_valid_config_becomes_typed_settings() {
    let config = parse(VALID, &env).expect("valid config");
    assert_eq!(config.server.workers, 2);
    let model = config.model(config.model_id("gpt-4o-mini").unwrap());
    assert_eq!(model.routing.retries, 3, "model override wins");
    assert_eq!(
        model.routing.continuation,
        Continuation::Restart,
        "[routing] default applies"
    );
    assert_eq!(&*model.targets[0].upstream_model, "gpt-4o-mini");
    assert_eq!(&*model.targets[1].upstream_model, "gpt-4o-mini-2024");
    assert_eq!(&*model.targets[1].label, "secure/gpt-4o-mini-2024");
    assert_eq!(model.targets[1].continuation, Continuation::Prefill);
    assert_eq!(
        model.targets[1].extra_body,
        vec![("continue_final_message".to_string(), "true".to_string())]
    );
    assert_eq!(model.fallbacks, vec![config.model_id("backup").unwrap()]);
    assert_eq!(
        model.routing.silent_after,
        Duration::from_millis(1000),
        "default"
    );
    let backup = config.model(config.model_id("backup").unwrap());
    assert_eq!(backup.routing.silent_after, Duration::from_millis(250));
    assert_eq!(backup.targets[0].continuation, Continuation::Auto);
    let secure = &config.upstreams[1];
    assert_eq!(
        secure.url,
        UpstreamUrl {
            tls: true,
            host: "api.example.com".into(),
            port: 443,
            base_path: "/v1".into()
        }
    );
    assert_eq!(secure.api_key.as_ref().unwrap().expose(), "sk-secret");
    assert_eq!(format!("{:?}", secure.api_key), "Some(Secret(***))");
    assert_eq!(config.client_keys[1].name, "team-b");
}

#[test]
fn unknown_keys_are_errors() {
    let text = VALID.replace("workers = 2", "workers = 2\nworkres = 3");
    assert!(
        problems(&text)[0].contains("workres"),
        "{:?}",
        problems(&text)
    );
    let text = VALID.replace("retries = 3", "retries = 3\ntimeout = 1");
    assert!(
        problems(&text)[0].contains("timeout"),
        "{:?}",
        problems(&text)
    );
}

#[test]
fn every_problem_is_reported_with_its_location() {
    let text = VALID
        .replace(
            "upstream = \"primary\", weight = 3",
            "upstream = \"nowhere\", weight = 0",
        )
        .replace(
            "fallbacks = [\"backup\"]",
            "fallbacks = [\"backup\", \"missing\"]",
        )
        .replace("http://127.0.0.1:9001/v1", "ftp://127.0.0.1/v1")
        .replace("key_env = \"TEAM_B_KEY\"", "key_env = \"UNSET_VAR\"");
    let found = problems(&text);
    for expected in [
        "model[0].targets[0].upstream: unknown upstream 'nowhere'",
        "model[0].targets[0].weight: must be greater than 0",
        "model[0].fallbacks[1]: unknown model 'missing'",
        "upstream[0].base_url: 'ftp://127.0.0.1/v1' must start with http:// or https://",
        "client_key[1].key_env: environment variable UNSET_VAR is not set",
    ] {
        assert!(
            found.iter().any(|p| p == expected),
            "missing {expected:?} in {found:#?}"
        );
    }
}

#[test]
fn fallback_cycles_are_refused() {
    let text = VALID.replace(
        "name = \"backup\"\n",
        "name = \"backup\"\nfallbacks = [\"gpt-4o-mini\"]\n",
    );
    let found = problems(&text);
    assert!(
        found.iter().any(|p| p.contains("fallback cycle")),
        "{found:#?}"
    );
}

#[test]
fn upstream_urls() {
    use super::validate::parse_upstream_url;
    let url = parse_upstream_url("http://localhost:8000").unwrap();
    assert_eq!(
        (url.port, url.base_path.as_str(), url.host_header()),
        (8000, "", "localhost:8000".to_string())
    );
    let url = parse_upstream_url("https://[::1]:8443/openai/v1").unwrap();
    assert_eq!(
        (url.host.as_str(), url.port, url.base_path.as_str()),
        ("::1", 8443, "/openai/v1")
    );
    assert!(parse_upstream_url("http://host:notaport/v1").is_err());
    assert!(parse_upstream_url("http://user@host/v1").is_err());
}

#[test]
fn unknown_keys_wrong_types_and_bad_values_are_reported_in_one_run() {
    let text = VALID
        .replace("retries = 1\n", "retires = 1\n")
        .replace("workers = 2", "workers = \"two\"")
        .replace("base_url = \"https://api.example.com/v1/\"\n", "")
        .replace(
            "upstream = \"primary\", weight = 3",
            "upstream = \"vlm\", weight = -1",
        )
        .replace("models = [\"gpt-*\"]", "models = [\"gpt-*\", 3]");
    let found = problems(&text);
    let expected = [
        "routing.retires: unknown key",
        "server.workers: expected a whole number, found string",
        "upstream[1].base_url: required key missing",
        "model[0].targets[0].weight: must be a whole number from 0 to 4294967295",
        "model[0].targets[0].upstream: unknown upstream 'vlm'",
        "client_key[0].models: expected an array of strings",
    ];
    for expected in expected {
        assert!(
            found.iter().any(|p| p == expected),
            "missing {expected:?} in {found:#?}"
        );
    }
    assert_eq!(found.len(), expected.len(), "{found:#?}");
}

#[test]
fn one_problem_gives_one_message() {
    let text = VALID
        .replace("continuation = \"restart\"", "continuation = \"sometimes\"")
        .replace("key_env = \"TEAM_B_KEY\"", "key_env = \"TEAM_A_KEY\"")
        .replace("[routing]\n", "[routing]\nbreaker_failures = 0\n");
    assert_eq!(
        problems(&text),
        [
            "routing.breaker_failures: must be greater than 0",
            "routing.continuation: 'sometimes' is not one of \"prefill\", \"restart\", \"auto\", \"none\"",
            "client_key[1].key_env: environment variable TEAM_A_KEY is not set",
        ]
    );
}

#[test]
fn syntax_errors_keep_the_toml_layout() {
    let found = problems("[server]\nlisten = { a = 1,\n b = 2 }\n");
    assert_eq!(found.len(), 1, "{found:#?}");
    let lines: Vec<&str> = found[0].lines().collect();
    assert!(
        lines[0].starts_with("TOML parse error at line 2"),
        "{found:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.trim_start_matches([' ', '|']).starts_with('^')),
        "no marker line in {found:#?}"
    );
}

#[test]
fn defaults_come_from_one_place() {
    let config = parse(
        "[[upstream]]\nname = \"u\"\nbase_url = \"http://h/v1\"\n[[model]]\nname = \"m\"\ntargets = [{ upstream = \"u\" }]\n",
        &env,
    )
    .expect("minimal config");
    let routing = &config.models[0].routing;
    assert_eq!(routing.retries, defaults::RETRIES);
    assert_eq!(
        routing.backoff_max,
        std::time::Duration::from_millis(defaults::BACKOFF_MAX_MS)
    );
    assert_eq!(routing.continuation, Continuation::None);
    assert_eq!(config.models[0].targets[0].weight, defaults::TARGET_WEIGHT);
    assert_eq!(config.database.url, defaults::DATABASE_URL);
    assert_eq!(config.server.listen.to_string(), defaults::LISTEN);
}

#[test]
fn the_header_field_limit_is_bounded() {
    assert_eq!(parse(VALID, &env).unwrap().server.max_headers, 100);
    for value in ["0", "10001"] {
        let text = VALID.replace(
            "workers = 2",
            &format!("workers = 2\nmax_headers = {value}"),
        );
        assert_eq!(
            problems(&text),
            vec!["server.max_headers: must be between 1 and 10000"]
        );
    }
}

#[test]
fn the_admin_key_comes_from_the_environment() {
    let config = parse(VALID, &env).unwrap();
    assert!(config.admin_key.is_none(), "no [admin]: no admin endpoints");
    let with_admin = format!("[admin]\nkey_env = \"TEAM_B_KEY\"\n{VALID}");
    let config = parse(&with_admin, &env).unwrap();
    assert_eq!(config.admin_key.as_ref().map(Secret::expose), Some("sk-b"));
    let unset = format!("[admin]\nkey_env = \"NOT_SET\"\n{VALID}");
    assert_eq!(
        problems(&unset),
        ["admin.key_env: environment variable NOT_SET is not set"]
    );
    let unknown = format!("[admin]\nkey = \"inline\"\n{VALID}");
    assert_eq!(problems(&unknown), ["admin.key: unknown key"]);
}

#[test]
fn globs() {
    use super::runtime::glob_matches;
    assert!(glob_matches("emb-*", "emb-small"));
    assert!(glob_matches("*", "anything"));
    assert!(glob_matches("gpt-*-mini", "gpt-4o-mini"));
    assert!(!glob_matches("gpt-*-mini", "gpt-4o"));
    assert!(glob_matches("exact", "exact"));
    assert!(!glob_matches("exact", "exactly"));
}

#[test]
fn limits_prices_and_budgets_are_checked() {
    let keyed = VALID.replace(
        "models = [\"gpt-*\"]",
        "models = [\"gpt-*\"]\nrpm = 600\ntpm = 0\nbudget = { usd = 5, period = \"fortnight\" }",
    );
    assert_eq!(
        problems(&keyed),
        [
            "client_key[0].budget.period: 'fortnight' is not one of \"day\", \"week\", \"month\"",
            "client_key[0].tpm: must be greater than 0",
        ]
    );
    let unpriced = VALID.replace(
        "models = [\"gpt-*\"]",
        "models = [\"gpt-*\"]\nbudget = { usd = 5, period = \"day\" }",
    );
    assert_eq!(
        problems(&unpriced),
        ["client_key[0].budget: a USD budget needs a price on every model the key may use; without one: gpt-4o-mini"]
    );
    let priced = unpriced.replace(
        "fallbacks = [\"backup\"]",
        "fallbacks = [\"backup\"]\nprice = { input_per_mtok = 0.15, output_per_mtok = 0.6 }",
    );
    let config = parse(&priced, &env).unwrap();
    let price = config.models[0].price.expect("priced");
    assert_eq!((price.input_per_mtok, price.output_per_mtok), (0.15, 0.6));
    let budget = config.client_keys[0].limits.budget.expect("budget");
    assert_eq!(budget.amount, BudgetAmount::Usd(5.0));
    let fleet = format!("[limits]\nredis_url = \"http://x\"\nlocal_share = 1.5\n{VALID}");
    assert_eq!(
        problems(&fleet),
        [
            "limits.redis_url: must start with redis://, rediss:// or unix:",
            "limits.local_share: must be more than 0 and at most 1",
        ]
    );
}

/// The test environment plus a Bedrock upstream's credentials and a Bedrock client's secret.
fn aws_env(name: &str) -> Option<String> {
    match name {
        "AWS_ID" => Some("AKIDUPSTREAM".into()),
        "AWS_SECRET" => Some("upstream-secret".into()),
        "AWS_TOKEN" => Some("session-token".into()),
        "CLIENT_AWS_SECRET" => Some("client-secret".into()),
        _ => env(name),
    }
}

fn aws_problems(text: &str) -> Vec<String> {
    parse(text, &aws_env)
        .err()
        .unwrap_or_default()
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// `VALID` with `upstreams` appended (they become `upstream[2]`, `upstream[3]`, ...).
fn with_upstreams(upstreams: &str) -> String {
    format!("{VALID}\n{upstreams}")
}

const BEDROCK: &str = r#"
[[upstream]]
name = "aws"
kind = "bedrock"
region = "eu-west-3"
aws_access_key_id_env = "AWS_ID"
aws_secret_access_key_env = "AWS_SECRET"
"#;

#[test]
fn gemini_and_cohere_default_to_their_provider_url() {
    let text = with_upstreams(
        "[[upstream]]\nname = \"g\"\nkind = \"gemini\"\napi_key = \"AIza\"\n\
         [[upstream]]\nname = \"c\"\nkind = \"cohere\"\napi_key = \"co\"\n\
         [[upstream]]\nname = \"g-local\"\nkind = \"gemini\"\nbase_url = \"http://127.0.0.1:9009/v1beta\"\n",
    );
    let config = parse(&text, &env).expect("valid config");
    let [gemini, cohere, local] = &config.upstreams[2..] else {
        panic!("three more upstreams");
    };
    assert_eq!(gemini.kind, UpstreamKind::Gemini);
    assert_eq!(
        gemini.url,
        UpstreamUrl {
            tls: true,
            host: "generativelanguage.googleapis.com".into(),
            port: 443,
            base_path: "/v1beta".into()
        }
    );
    assert_eq!(cohere.kind, UpstreamKind::Cohere);
    assert_eq!(
        (cohere.url.host.as_str(), cohere.url.base_path.as_str()),
        ("api.cohere.com", "/v2")
    );
    assert_eq!(
        (
            local.url.tls,
            local.url.host_header(),
            local.url.base_path.as_str()
        ),
        (false, "127.0.0.1:9009".to_string(), "/v1beta"),
        "an explicit base_url wins"
    );
}

#[test]
fn bedrock_reads_its_region_and_credentials() {
    let config = parse(&with_upstreams(BEDROCK), &aws_env).expect("valid config");
    let aws = &config.upstreams[2];
    let UpstreamKind::Bedrock {
        region,
        credentials,
    } = &aws.kind
    else {
        panic!("a bedrock kind, got {:?}", aws.kind);
    };
    assert_eq!(region, "eu-west-3");
    assert_eq!(credentials.access_key_id.expose(), "AKIDUPSTREAM");
    assert_eq!(credentials.secret_access_key.expose(), "upstream-secret");
    assert_eq!(credentials.session_token, None);
    assert_eq!(
        (
            aws.url.tls,
            aws.url.host.as_str(),
            aws.url.base_path.as_str()
        ),
        (true, "bedrock-runtime.eu-west-3.amazonaws.com", "")
    );
    assert!(
        !format!("{credentials:?}").contains("upstream-secret"),
        "secrets stay out of Debug"
    );

    let with_token = BEDROCK.replace(
        "aws_secret_access_key_env",
        "aws_session_token_env = \"AWS_TOKEN\"\naws_secret_access_key_env",
    );
    let config = parse(&with_upstreams(&with_token), &aws_env).expect("valid config");
    let UpstreamKind::Bedrock { credentials, .. } = &config.upstreams[2].kind else {
        panic!("a bedrock kind");
    };
    assert_eq!(
        credentials.session_token.as_ref().map(Secret::expose),
        Some("session-token")
    );

    let local = BEDROCK.replace("region =", "base_url = \"http://127.0.0.1:9010\"\nregion =");
    let config = parse(&with_upstreams(&local), &aws_env).expect("valid config");
    assert_eq!(
        config.upstreams[2].url.host_header(),
        "127.0.0.1:9010",
        "an explicit base_url wins"
    );
}

#[test]
fn bedrock_problems_name_the_key() {
    let no_region = BEDROCK.replace("region = \"eu-west-3\"\n", "");
    assert_eq!(
        aws_problems(&with_upstreams(&no_region)),
        ["upstream[2].region: required for kind = \"bedrock\""]
    );
    let unset = BEDROCK.replace("\"AWS_SECRET\"", "\"NO_SUCH_SECRET\"");
    assert_eq!(
        aws_problems(&with_upstreams(&unset)),
        ["upstream[2].aws_secret_access_key_env: environment variable NO_SUCH_SECRET is not set"]
    );
    let unset_token = BEDROCK.replace(
        "region =",
        "aws_session_token_env = \"NO_SUCH_TOKEN\"\nregion =",
    );
    assert_eq!(
        aws_problems(&with_upstreams(&unset_token)),
        ["upstream[2].aws_session_token_env: environment variable NO_SUCH_TOKEN is not set"]
    );
    let no_id = BEDROCK.replace("aws_access_key_id_env = \"AWS_ID\"\n", "");
    assert_eq!(
        aws_problems(&with_upstreams(&no_id)),
        ["upstream[2].aws_access_key_id_env: required for kind = \"bedrock\""]
    );
}

#[test]
fn kind_specific_keys_are_refused_elsewhere() {
    let text = VALID.replace(
        "api_key = \"sk-up\"",
        "api_key = \"sk-up\"\nregion = \"us-east-1\"\naws_session_token_env = \"AWS_TOKEN\"",
    );
    assert_eq!(
        aws_problems(&text),
        [
            "upstream[0].region: only applies to kind = \"bedrock\"",
            "upstream[0].aws_session_token_env: only applies to kind = \"bedrock\"",
        ]
    );
    let gemini =
        with_upstreams("[[upstream]]\nname = \"g\"\nkind = \"gemini\"\nregion = \"us-east-1\"\n");
    assert_eq!(
        aws_problems(&gemini),
        ["upstream[2].region: only applies to kind = \"bedrock\""]
    );
}

#[test]
fn kinds_without_a_provider_url_still_need_base_url() {
    for kind in ["openai", "azure", "anthropic"] {
        let text = with_upstreams(&format!(
            "[[upstream]]\nname = \"u\"\nkind = \"{kind}\"\napi_key = \"k\"\n"
        ));
        assert_eq!(
            problems(&text),
            ["upstream[2].base_url: required key missing"],
            "{kind}"
        );
    }
    let text = VALID.replace(
        "api_key = \"sk-up\"",
        "api_key = \"sk-up\"\nkind = \"vertex\"",
    );
    assert_eq!(
        problems(&text),
        ["upstream[0].kind: unknown kind 'vertex': expected openai, azure, anthropic, gemini, bedrock or cohere"]
    );
}

#[test]
fn a_client_key_may_be_an_aws_key_alone() {
    let aws_client = "[[client_key]]\nname = \"aws-client\"\naws_access_key_id = \"AKIDCLIENT\"\naws_secret_access_key_env = \"CLIENT_AWS_SECRET\"\n";
    // After the other keys: it becomes `client_key[2]`.
    let text = VALID.replacen("[[upstream]]", &format!("{aws_client}\n[[upstream]]"), 1);
    let config = parse(&text, &aws_env).expect("valid config");
    let key = &config.client_keys[2];
    assert_eq!(key.name, "aws-client");
    assert!(key.key.is_none(), "it only signs");
    let aws = key.aws.as_ref().expect("aws credentials");
    assert_eq!(
        (aws.access_key_id.as_str(), aws.secret.expose()),
        ("AKIDCLIENT", "client-secret")
    );

    let id_only = text.replace("aws_secret_access_key_env = \"CLIENT_AWS_SECRET\"\n", "");
    assert_eq!(
        aws_problems(&id_only),
        ["client_key[2].aws_secret_access_key_env: required with aws_access_key_id"]
    );
    let secret_only = text.replace("aws_access_key_id = \"AKIDCLIENT\"\n", "");
    assert_eq!(
        aws_problems(&secret_only),
        ["client_key[2].aws_access_key_id: required with aws_secret_access_key_env"]
    );
    let unset = text.replace("\"CLIENT_AWS_SECRET\"", "\"NO_SUCH_SECRET\"");
    assert_eq!(
        aws_problems(&unset),
        ["client_key[2].aws_secret_access_key_env: environment variable NO_SUCH_SECRET is not set"]
    );
}
