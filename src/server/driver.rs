//! Which I/O driver the workers run on (io_uring, or monoio's epoll "legacy" driver) and, when
//! it is the fallback, why: the `listening` line says it, so an operator whose container
//! blocks io_uring learns it from the first log line instead of from a slower gateway.
//! Decided once at start from `GPT_API_DRIVER` and a probe ring; depends on nothing else.

use std::io;

/// The variable an operator sets to pick the driver: `auto` (default), `legacy`, `io_uring`.
pub const DRIVER_VARIABLE: &str = "GPT_API_DRIVER";

const MISSING_OPCODES: &str = "io_uring lacks opcodes monoio needs (kernel older than 5.6?) \
     or MONOIO_FORCE_LEGACY_DRIVER is set";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    IoUring,
    Legacy,
}

impl Driver {
    pub fn name(self) -> &'static str {
        match self {
            Driver::IoUring => "io_uring",
            Driver::Legacy => "legacy",
        }
    }
}

/// The driver every worker builds its runtime on, and the reason when it is not io_uring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriverChoice {
    pub driver: Driver,
    pub reason: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Setting {
    Auto,
    Legacy,
    IoUring,
}

/// Reads `GPT_API_DRIVER` and probes io_uring: `io_uring_setup` on a two-entry ring (its
/// error is the reason), then the opcodes monoio needs. `GPT_API_DRIVER=io_uring` on a
/// machine without it is an error, not a silent fallback.
pub fn choose() -> Result<DriverChoice, String> {
    let setting = parse_setting(std::env::var(DRIVER_VARIABLE).ok().as_deref())?;
    if setting == Setting::Legacy {
        return Ok(DriverChoice {
            driver: Driver::Legacy,
            reason: Some(format!("{DRIVER_VARIABLE}=legacy")),
        });
    }
    let unavailable = match io_uring::IoUring::new(2) {
        Err(error) => Some(setup_failure(&error, seccomp_filter_active())),
        // monoio's own check: the probe opcodes it uses (and MONOIO_FORCE_LEGACY_DRIVER).
        Ok(_) if !monoio::utils::detect_uring() => Some(MISSING_OPCODES.to_owned()),
        Ok(_) => None,
    };
    match (unavailable, setting) {
        (None, _) => Ok(DriverChoice {
            driver: Driver::IoUring,
            reason: None,
        }),
        (Some(reason), Setting::IoUring) => Err(format!(
            "{DRIVER_VARIABLE}=io_uring but io_uring is unavailable: {reason}"
        )),
        (Some(reason), _) => Ok(DriverChoice {
            driver: Driver::Legacy,
            reason: Some(reason),
        }),
    }
}

fn parse_setting(value: Option<&str>) -> Result<Setting, String> {
    match value.map(str::trim) {
        None | Some("" | "auto") => Ok(Setting::Auto),
        Some("legacy" | "epoll") => Ok(Setting::Legacy),
        Some("io_uring" | "uring") => Ok(Setting::IoUring),
        Some(other) => Err(format!(
            "{DRIVER_VARIABLE}={other:?}: expected auto, legacy or io_uring"
        )),
    }
}

/// `io_uring_setup`'s error with the likely cause an operator can act on. A seccomp filter
/// answers with whatever errno its profile says (Docker's EPERM, Podman's ENOSYS), so
/// whether one is active decides the hint, not the errno.
fn setup_failure(error: &io::Error, seccomp_filter: bool) -> String {
    let cause = match error.raw_os_error() {
        _ if seccomp_filter => {
            " (a seccomp filter is active: a container's default profile refuses io_uring)"
        }
        Some(libc::EPERM) => " (refused by sysctl kernel.io_uring_disabled?)",
        Some(libc::ENOSYS) => " (no io_uring in this kernel, or an emulator such as qemu-user)",
        Some(libc::ENOMEM) => " (locked-memory limit too low: raise ulimit -l)",
        _ => "",
    };
    format!("io_uring_setup: {error}{cause}")
}

/// `Seccomp: 2` in /proc/self/status: this process runs under a seccomp filter.
fn seccomp_filter_active() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .any(|line| line.split_whitespace().eq(["Seccomp:", "2"]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_defaults_to_auto_and_refuses_unknown_values() {
        assert_eq!(parse_setting(None), Ok(Setting::Auto));
        assert_eq!(parse_setting(Some("")), Ok(Setting::Auto));
        assert_eq!(parse_setting(Some("legacy")), Ok(Setting::Legacy));
        assert_eq!(parse_setting(Some("io_uring")), Ok(Setting::IoUring));
        assert_eq!(
            parse_setting(Some("iouring2")),
            Err("GPT_API_DRIVER=\"iouring2\": expected auto, legacy or io_uring".to_owned())
        );
    }

    #[test]
    fn a_refused_setup_names_the_syscall_its_error_and_the_likely_cause() {
        let eperm = io::Error::from_raw_os_error(libc::EPERM);
        let enosys = io::Error::from_raw_os_error(libc::ENOSYS);
        assert_eq!(
            setup_failure(&eperm, true),
            "io_uring_setup: Operation not permitted (os error 1) (a seccomp filter is active: \
             a container's default profile refuses io_uring)"
        );
        assert!(setup_failure(&enosys, true).ends_with(
            "(a seccomp filter is active: a container's default profile refuses io_uring)"
        ));
        assert_eq!(
            setup_failure(&eperm, false),
            "io_uring_setup: Operation not permitted (os error 1) (refused by sysctl \
             kernel.io_uring_disabled?)"
        );
        assert!(setup_failure(&enosys, false)
            .starts_with("io_uring_setup: Function not implemented (os error 38) (no io_uring"));
        let other = setup_failure(&io::Error::from_raw_os_error(libc::EINVAL), false);
        assert_eq!(other, "io_uring_setup: Invalid argument (os error 22)");
    }
}
