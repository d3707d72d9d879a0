//! `muster serve` as a child process on 127.0.0.1:0, for tests that need the
//! real binary: a database that goes away, logs on standard error, a backup
//! while it runs.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct ServeProcess {
    pub child: Child,
    pub base: String,
    pub stderr_path: PathBuf,
    /// What it printed on standard output before "muster listening on …".
    pub stdout_before: Vec<String>,
}

/// The `muster` binary with a data dir, quiet logs, and no database URL from the environment.
pub fn muster(data_dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_muster"));
    c.arg("--data-dir")
        .arg(data_dir)
        .env("MUSTER_LOG", "warn")
        .env_remove("MUSTER_DATABASE_URL")
        .env_remove("MUSTER_LOG_FORMAT")
        .env("MUSTER_ADMIN_PASSWORD", super::ADMIN_PASSWORD);
    c
}

impl ServeProcess {
    /// Start `cmd serve --bind 127.0.0.1:0` (cmd from [`muster`], adjusted) and wait for its address.
    /// Standard error goes to `<data dir>/serve.stderr` (read it with [`ServeProcess::stderr`]).
    pub fn start(mut cmd: Command, data_dir: &Path) -> ServeProcess {
        std::fs::create_dir_all(data_dir).unwrap();
        let stderr_path = data_dir.join("serve.stderr");
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut child = cmd
            .args(["serve", "--bind", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(stdout).lines();
        let mut base = None;
        let mut stdout_before = Vec::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(addr) = line.strip_prefix("muster listening on ") {
                base = Some(addr.trim().to_owned());
                break;
            }
            stdout_before.push(line);
        }
        // keep reading standard output so the child never blocks on a full pipe
        std::thread::spawn(move || for _ in lines {});
        let base = base.unwrap_or_else(|| {
            panic!(
                "muster serve did not start: {}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            )
        });
        ServeProcess {
            child,
            base,
            stderr_path,
            stdout_before,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Still running?
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGTERM and wait; true when it exited 0.
    pub fn stop(&mut self) -> bool {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().map(|s| s.success()).unwrap_or(false)
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
