//! `gpt-api [--config FILE]` runs the gateway; `gpt-api check [--config FILE]` validates a
//! config. Start-up: load config, start the log writer, start the workers, wait for a
//! signal, drain.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gpt_api::config::{self, Config};
use gpt_api::log::{self, Value};
use gpt_api::metrics::LogFigures;
use gpt_api::recorder;
use gpt_api::server::{self, worker::Deployment, worker::SharedState};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: gpt-api [--config FILE]        run the gateway
       gpt-api check [--config FILE]  validate a config and list every problem
The config defaults to $GPT_API_CONFIG, then ./gpt_api.toml.";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).peekable();
    let check_only = args.next_if(|arg| arg == "check").is_some();
    let mut config_path = std::env::var_os("GPT_API_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| "gpt_api.toml".into());
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--config" | "-c", Some(path)) => config_path = path.into(),
            ("--version" | "-V", _) => {
                println!("gpt-api {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let config = match config::load(&config_path) {
        Ok(config) => Arc::new(config),
        Err(problems) => {
            for problem in &problems {
                eprintln!("{}: {problem}", config_path.display());
            }
            eprintln!("{} problem(s) in {}", problems.len(), config_path.display());
            return ExitCode::from(if check_only { 1 } else { 2 });
        }
    };
    if check_only {
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

fn run(config: Arc<Config>, config_path: &Path) -> Result<(), String> {
    let database = &config.database;
    let (records, recorder) = recorder::start(database.clone())?;
    warn_if_open(&config);
    let stats = recorder.stats();
    let queue = records.clone();
    let log_figures = Box::new(move || LogFigures {
        healthy: stats.connected() || stats.spilled() > 0 || stats.buffered() > 0,
        queue_depth: queue.queue_depth(),
        written: stats.written(),
        buffered: stats.buffered(),
        spilled: stats.spilled(),
        failed_flushes: stats.failed_flushes(),
    });
    let shared = Arc::new(SharedState::new(
        Deployment::new(config.clone())?,
        log_figures,
    ));
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
            let current = shared.current();
            if !same_restart_settings(&current.config, &deployment.config) {
                log::warn(
                    "config_reload_partial",
                    &[(
                        "message",
                        Value::Str("[server] and [database] changes take effect after a restart"),
                    )],
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

fn same_restart_settings(old: &Config, new: &Config) -> bool {
    let (a, b) = (&old.server, &new.server);
    a.listen == b.listen
        && a.workers == b.workers
        && a.pin_cores == b.pin_cores
        && old.database.url == new.database.url
}

fn warn_if_open(config: &Config) {
    if config.client_keys.is_empty() {
        log::warn("open_gateway", &[("message", Value::Str("no [[client_key]] configured: anyone who can reach the port can use every model"))]);
    }
}
