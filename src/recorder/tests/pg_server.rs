//! A throwaway PostgreSQL server for tests: `initdb` in a temp dir (as the `postgres` user
//! when running as root, since PostgreSQL refuses root), trust auth, a free port,
//! controlled with `pg_ctl` so that it can be stopped and started to fake an outage.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::support::TempDir;

pub(super) struct PgServer {
    bin: PathBuf,
    dir: TempDir,
    port: u16,
    as_postgres_user: bool,
}

impl PgServer {
    /// Fails the test where no PostgreSQL binaries are installed (`scripts/test.sh` installs
    /// them): a PostgreSQL test is never skipped.
    pub(super) fn start() -> Self {
        let Some(bin) = find_bin_dir() else {
            panic!("no PostgreSQL binaries (initdb, pg_ctl): apt-get install postgresql");
        };
        let dir = TempDir::new("pg");
        let as_postgres_user = is_root();
        if as_postgres_user {
            run(Command::new("chown").arg("postgres:").arg(dir.path()));
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let server = Self {
            bin,
            dir,
            port,
            as_postgres_user,
        };
        let data = server.data_dir();
        let mut initdb = server.command("initdb");
        initdb
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data);
        run(&mut initdb);
        server.resume();
        server
    }

    pub(super) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (fast shutdown: open connections are cut).
    pub(super) fn stop(&self) {
        let mut stop = self.command("pg_ctl");
        stop.args(["stop", "-m", "fast", "-w", "-D"])
            .arg(self.data_dir());
        run(&mut stop);
    }

    /// Starts it (again) and waits until it accepts connections.
    pub(super) fn resume(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let mut start = self.command("pg_ctl");
        start
            .args(["start", "-w", "-o", &options, "-l"])
            .arg(self.dir.path().join("server.log"))
            .arg("-D")
            .arg(self.data_dir());
        run(&mut start);
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if !self.as_postgres_user {
            return Command::new(program);
        }
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let mut stop = self.command("pg_ctl");
        stop.args(["stop", "-m", "immediate", "-D"])
            .arg(self.data_dir());
        let _ = stop.stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

fn find_bin_dir() -> Option<PathBuf> {
    let has_tools = |dir: &Path| dir.join("initdb").exists() && dir.join("pg_ctl").exists();
    if has_tools(Path::new("/usr/local/bin")) {
        return Some(PathBuf::from("/usr/local/bin"));
    }
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|dir| PathBuf::from(dir.trim()));
    // Debian keeps them off PATH, one directory per major version: the newest first.
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    debian.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    from_pg_config
        .into_iter()
        .chain(debian.into_iter().map(|(_, dir)| dir))
        .find(|dir| has_tools(dir))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

fn run(command: &mut Command) {
    let output = command.output().expect("run a PostgreSQL tool");
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
