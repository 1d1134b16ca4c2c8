//! The command line (a module of the binary, declared in main.rs): `gpt-api
//! [run|check|health] [options]`, options before or after the subcommand. Hand-rolled: four
//! options do not earn an argument-parser crate. Pure (no environment, no I/O), so every
//! convention is unit-tested.

use std::path::PathBuf;

pub const USAGE: &str = "\
usage: gpt-api [run] [--config FILE]              run the gateway (the default)
       gpt-api check [--config FILE]              validate a config and list every problem
       gpt-api health [--config FILE] [--url URL] exit 0 when the gateway's /health answers 200
       gpt-api --help | --version

options:
  -c, --config FILE  the config (default: $GPT_API_CONFIG, then ./gpt_api.toml)
      --url URL      health: probe this http:// URL instead of /health on server.listen
  -h, --help         print this help and exit
  -V, --version      print the version and exit";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subcommand {
    Run,
    Check,
    Health,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Help,
    Version,
    Gateway {
        subcommand: Subcommand,
        /// `None`: the default (`$GPT_API_CONFIG`, then `./gpt_api.toml`).
        config: Option<PathBuf>,
        /// `health --url`.
        url: Option<String>,
    },
}

/// Reads the arguments after the program name; an error is one line, without the program
/// name, to be printed with it (exit 2).
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut args = args.into_iter();
    let mut subcommand = None;
    let mut config = None;
    let mut url = None;
    while let Some(arg) = args.next() {
        let (option, inline_value) = match arg.split_once('=') {
            Some((option, value)) if option.starts_with("--") => (option, Some(value.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| {
            inline_value
                .clone()
                .or_else(|| args.next())
                .filter(|value| !value.is_empty())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match option {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "-c" | "--config" => config = Some(PathBuf::from(value("--config")?)),
            "--url" => url = Some(value("--url")?),
            _ if option.starts_with('-') && option != "-" => {
                return Err(format!("unknown option '{option}'"));
            }
            _ => {
                let named = match option {
                    "run" => Subcommand::Run,
                    "check" => Subcommand::Check,
                    "health" => Subcommand::Health,
                    _ => return Err(format!("unknown command '{option}'")),
                };
                if let Some(first) = subcommand.replace(named) {
                    return Err(format!(
                        "more than one command ({} and {option})",
                        name(first)
                    ));
                }
            }
        }
    }
    let subcommand = subcommand.unwrap_or(Subcommand::Run);
    if url.is_some() && subcommand != Subcommand::Health {
        return Err("--url is an option of 'gpt-api health' only".into());
    }
    Ok(Command::Gateway {
        subcommand,
        config,
        url,
    })
}

fn name(subcommand: Subcommand) -> &'static str {
    match subcommand {
        Subcommand::Run => "run",
        Subcommand::Check => "check",
        Subcommand::Health => "health",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_line(line: &str) -> Result<Command, String> {
        parse(line.split_whitespace().map(String::from))
    }

    fn gateway(subcommand: Subcommand, config: Option<&str>, url: Option<&str>) -> Command {
        Command::Gateway {
            subcommand,
            config: config.map(PathBuf::from),
            url: url.map(String::from),
        }
    }

    #[test]
    fn options_go_before_or_after_the_command_in_both_spellings() {
        let expected = Ok(gateway(Subcommand::Check, Some("f.toml"), None));
        for line in [
            "check --config f.toml",
            "check --config=f.toml",
            "--config f.toml check",
            "--config=f.toml check",
            "-c f.toml check",
        ] {
            assert_eq!(parse_line(line), expected, "{line}");
        }
        assert_eq!(parse_line(""), Ok(gateway(Subcommand::Run, None, None)));
        assert_eq!(
            parse_line("--config a.toml"),
            Ok(gateway(Subcommand::Run, Some("a.toml"), None))
        );
        assert_eq!(
            parse_line("health --url=http://h:1/health"),
            Ok(gateway(Subcommand::Health, None, Some("http://h:1/health")))
        );
    }

    #[test]
    fn help_and_version_win() {
        for line in ["--help", "-h", "check --help", "--config f -h"] {
            assert_eq!(parse_line(line), Ok(Command::Help), "{line}");
        }
        for line in ["--version", "-V", "run -V"] {
            assert_eq!(parse_line(line), Ok(Command::Version), "{line}");
        }
        assert!(USAGE.contains("--version") && USAGE.contains("health"));
    }

    #[test]
    fn errors_are_one_line_each() {
        for (line, error) in [
            ("--bogus", "unknown option '--bogus'"),
            ("--bogus=1", "unknown option '--bogus'"),
            ("--config", "--config needs a value"),
            ("--config=", "--config needs a value"),
            ("check --url", "--url needs a value"),
            ("lint", "unknown command 'lint'"),
            ("check run", "more than one command (check and run)"),
            (
                "check --url http://h/",
                "--url is an option of 'gpt-api health' only",
            ),
        ] {
            assert_eq!(parse_line(line), Err(error.to_string()), "{line}");
        }
    }
}
