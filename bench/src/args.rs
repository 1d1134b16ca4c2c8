//! A tiny `--name value` flag parser: every flag takes a value, unknown flags are errors.

use std::str::FromStr;

/// Flags given on the command line, consumed one by one by `take`.
pub struct Args {
    flags: Vec<(String, String)>,
}

impl Args {
    /// Reads `--name value` and `--name=value` pairs; `--help` yields `Err` with no message.
    pub fn parse(raw: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut flags = Vec::new();
        let mut raw = raw.into_iter();
        while let Some(arg) = raw.next() {
            if arg == "--help" || arg == "-h" {
                return Err(String::new());
            }
            let Some(name) = arg.strip_prefix("--") else {
                return Err(format!("unexpected argument `{arg}`"));
            };
            let (name, value) = match name.split_once('=') {
                Some((name, value)) => (name.to_owned(), value.to_owned()),
                None => {
                    let value = raw
                        .next()
                        .ok_or_else(|| format!("--{name} needs a value"))?;
                    (name.to_owned(), value)
                }
            };
            flags.push((name, value));
        }
        Ok(Self { flags })
    }

    /// Removes `--name` and parses its value, or returns `default` when absent. A flag given
    /// twice takes its last value, so that a script can override the flags it adds by default.
    pub fn take<T: FromStr>(&mut self, name: &str, default: T) -> Result<T, String> {
        let Some(index) = self.flags.iter().rposition(|(flag, _)| flag == name) else {
            return Ok(default);
        };
        let (_, value) = self.flags.remove(index);
        self.flags.retain(|(flag, _)| flag != name);
        value
            .parse()
            .map_err(|_| format!("--{name}: cannot parse `{value}`"))
    }

    /// Fails on any flag that no `take` asked for.
    pub fn finish(self) -> Result<(), String> {
        match self.flags.first() {
            Some((name, _)) => Err(format!("unknown flag --{name}")),
            None => Ok(()),
        }
    }
}

/// Parses the process arguments with `build`, printing `usage` and exiting 2 on error.
pub fn parse_or_exit<T>(usage: &str, build: impl FnOnce(&mut Args) -> Result<T, String>) -> T {
    let result = Args::parse(std::env::args().skip(1)).and_then(|mut args| {
        let value = build(&mut args)?;
        args.finish()?;
        Ok(value)
    });
    match result {
        Ok(value) => value,
        Err(message) if message.is_empty() => {
            println!("{usage}");
            std::process::exit(0);
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{usage}");
            std::process::exit(2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Args;

    fn args(raw: &[&str]) -> Result<Args, String> {
        Args::parse(raw.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn takes_values_and_defaults() {
        let mut parsed = args(&["--threads", "3", "--listen=127.0.0.1:1"]).unwrap();
        assert_eq!(parsed.take("threads", 1usize), Ok(3));
        assert_eq!(parsed.take("listen", String::new()).unwrap(), "127.0.0.1:1");
        assert_eq!(parsed.take("missing", 7u32), Ok(7));
        assert!(parsed.finish().is_ok());
    }

    #[test]
    fn last_value_wins() {
        let mut parsed = args(&["--model", "a", "--threads", "2", "--model", "b"]).unwrap();
        assert_eq!(parsed.take("model", String::new()).unwrap(), "b");
        assert_eq!(parsed.take("threads", 1usize), Ok(2));
        assert!(parsed.finish().is_ok());
    }

    #[test]
    fn rejects_unknown_and_bad_values() {
        let mut parsed = args(&["--threads", "x", "--other", "1"]).unwrap();
        assert!(parsed.take("threads", 1usize).is_err());
        assert_eq!(parsed.finish().unwrap_err(), "unknown flag --other");
        assert!(args(&["--threads"]).is_err());
        assert!(args(&["positional"]).is_err());
    }
}
