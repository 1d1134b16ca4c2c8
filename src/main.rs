//! `gpt-api [run]` runs the gateway, `gpt-api check` validates a config, `gpt-api health`
//! probes a running gateway (`cli.rs` has the usage). Start-up: load config, start the log
//! writer, start the workers, wait for a signal, drain.

mod cli;
mod probe;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cli::{Command, Subcommand};
use gpt_api::config::{self, Config};
use gpt_api::context::{Deployment, SharedState};
use gpt_api::log::{self, Value};
use gpt_api::metrics::LogFigures;
use gpt_api::server;
use gpt_api_recorder as recorder;
use probe::ProbeTarget;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

#[global_allocator]
static GLOBAL: gpt_api_common::alloc::Allocator = gpt_api_common::alloc::Allocator;

/// Exit status for a bad command line (as most Unix tools).
const USAGE_ERROR: u8 = 2;

fn main() -> ExitCode {
    let (subcommand, config, url) = match cli::parse(std::env::args().skip(1)) {
        // Written, not println!: `gpt-api --help | head -1` must not panic on a closed pipe.
        Ok(Command::Help) => {
            let _ = writeln!(std::io::stdout(), "{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            let _ = writeln!(std::io::stdout(), "gpt-api {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Ok(Command::Gateway {
            subcommand,
            config,
            url,
        }) => (subcommand, config, url),
        Err(message) => {
            eprintln!("gpt-api: {message} (see gpt-api --help)");
            return ExitCode::from(USAGE_ERROR);
        }
    };
    let config_path = config
        .or_else(|| std::env::var_os("GPT_API_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| "gpt_api.toml".into());
    if subcommand == Subcommand::Health {
        return health(url.as_deref(), &config_path);
    }
    let config = match config::load(&config_path) {
        Ok(config) => Arc::new(config),
        Err(problems) => {
            for problem in &problems {
                eprintln!("{}: {problem}", config_path.display());
            }
            if problems.len() > 1 {
                eprintln!("{} problems in {}", problems.len(), config_path.display());
            }
            return ExitCode::from(if subcommand == Subcommand::Check {
                1
            } else {
                USAGE_ERROR
            });
        }
    };
    if subcommand == Subcommand::Check {
        println!("config ok");
        return ExitCode::SUCCESS;
    }
    match run(config, &config_path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            log::error("startup_failed", &[("reason", Value::Str(&message))]);
            ExitCode::FAILURE
        }
    }
}

/// `gpt-api health`: 0 when `/health` answers 200, 1 otherwise (one line saying why).
fn health(url: Option<&str>, config_path: &Path) -> ExitCode {
    let target = match url {
        Some(url) => ProbeTarget::from_url(url),
        None => config::listen_address(config_path)
            .map_err(|e| format!("{}: {e}", config_path.display()))
            .and_then(ProbeTarget::for_listen),
    };
    let result = target.and_then(|target| {
        probe::probe(&target)
            .map(|status| format!("{}: {status}", target.url()))
            .map_err(|e| format!("{}: {e}", target.url()))
    });
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(line) => {
            eprintln!("gpt-api health: {line}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: Arc<Config>, config_path: &Path) -> Result<(), String> {
    let database = &config.database;
    let (records, recorder) = recorder::start(database.clone())?;
    warn_if_open(&config);
    let stats = recorder.stats();
    let queue = records.clone();
    let log_figures = Box::new(move || LogFigures {
        healthy: stats.keeping_records(),
        database_connected: stats.connected(),
        queue_depth: queue.queue_depth(),
        written: stats.written(),
        buffered: stats.buffered(),
        spilled: stats.spilled(),
        failed_flushes: stats.failed_flushes(),
    });
    let shared = Arc::new(SharedState::new(
        Deployment::new(config.clone())?,
        log_figures,
        recorder.admin(),
    ));
    let admin = recorder.admin();
    gpt_api::limits::restore_spend(&config, &shared.ledgers, |query| admin.ask_blocking(query));
    if let Some(url) = &config.limits.redis_url {
        let keys_of = Arc::clone(&shared);
        let keys = Box::new(move || {
            let config = keys_of.current().config.clone();
            let keys = config.client_keys.iter();
            keys.map(|key| (key.clone(), keys_of.ledgers.for_key(&key.name)))
                .collect()
        });
        gpt_api::limits::fleet::start(url, Arc::clone(&shared.fleet), keys)?;
    }
    if config.admin_key.is_some() {
        // The console's live figures cover the traffic from the start (a key added by a
        // reload starts them at the first look).
        shared.watch_live_figures();
    }
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP]).map_err(|e| e.to_string())?;
    let server = server::start(records, Arc::clone(&shared))?;
    if !server.wait_until_listening(Duration::from_secs(10)) {
        return Err("workers did not start listening".into());
    }
    let database_name = database.url.rsplit('@').next().unwrap_or_default();
    let address = server.address.to_string();
    let mut fields = vec![
        ("addr", Value::Str(&address)),
        ("workers", Value::Int(config.server.workers as u64)),
        ("driver", Value::Str(server.driver)),
    ];
    if let Some(reason) = &server.driver_reason {
        fields.push(("driver_reason", Value::Str(reason)));
    }
    fields.push(("pin_cores", Value::Bool(config.server.pin_cores)));
    fields.push(("database", Value::Str(database_name)));
    log::info("listening", &fields);
    for signal in signals.forever() {
        if signal != SIGHUP {
            log::info("shutting_down", &[("signal", Value::Int(signal as u64))]);
            break;
        }
        reload(&shared, config_path);
    }
    let started = Instant::now();
    server.shutdown();
    drop(shared); // holds a sender clone through the metrics closure
    recorder.shutdown(Instant::now() + Duration::from_secs(10));
    log::info(
        "stopped",
        &[("drain_ms", Value::Int(started.elapsed().as_millis() as u64))],
    );
    Ok(())
}

/// SIGHUP: a valid new config is deployed (new requests see its upstreams, models and keys;
/// requests in flight finish on the old one); an invalid one is refused and the old stays.
fn reload(shared: &SharedState, config_path: &Path) {
    let deployment = config::load(config_path)
        .map_err(|problems| {
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })
        .map(Arc::new)
        .and_then(Deployment::new);
    match deployment {
        Ok(deployment) => {
            let ignored = config::restart_only_changes(&shared.startup, &deployment.config);
            if !ignored.is_empty() {
                let keys = ignored.join(", ");
                let message = format!("changed keys that take effect after a restart: {keys}");
                log::warn(
                    "config_reload_partial",
                    &[("message", Value::Str(&message))],
                );
            }
            warn_if_open(&deployment.config);
            let models = deployment.config.models.len() as u64;
            shared.publish(deployment);
            log::info(
                "config_reloaded",
                &[
                    ("path", Value::Str(&config_path.display().to_string())),
                    ("models", Value::Int(models)),
                ],
            );
        }
        Err(problems) => log::error(
            "config_reload_rejected",
            &[("problems", Value::Str(&problems))],
        ),
    }
}

fn warn_if_open(config: &Config) {
    if config.client_keys.is_empty() {
        log::warn("open_gateway", &[("message", Value::Str("no [[client_key]] configured: anyone who can reach the port can use every model"))]);
    }
}
