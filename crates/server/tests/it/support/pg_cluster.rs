//! A throwaway PostgreSQL cluster of one test's own: `initdb` as the postgres
//! user into a temporary folder, its own port and socket folder, `fsync=off`,
//! started and stopped with `pg_ctl`. Never the shared server on 5432: a test
//! may stop this one under a running muster.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct PgCluster {
    pub dir: tempfile::TempDir,
    pub port: u16,
    bin: PathBuf,
    running: bool,
}

/// The folder of `initdb` and `pg_ctl` (Debian keeps them out of PATH).
fn bin_dir() -> PathBuf {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return dir;
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed (/usr/lib/postgresql)")
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().expect("no initdb under /usr/lib/postgresql/*/bin")
}

fn as_postgres(bin: &Path, tool: &str) -> Command {
    let mut c = Command::new("runuser");
    c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
    c
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl PgCluster {
    /// initdb and start; trust authentication on loopback for the `postgres` role.
    pub fn start() -> PgCluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let status = Command::new("chown")
            .arg("postgres:postgres")
            .arg(dir.path())
            .status()
            .expect("chown");
        assert!(status.success(), "chown the cluster folder to postgres");
        let bin = bin_dir();
        let out = as_postgres(&bin, "initdb")
            .arg("-D")
            .arg(dir.path().join("data"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
            .output()
            .expect("initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut cluster = PgCluster {
            dir,
            port: free_port(),
            bin,
            running: false,
        };
        cluster.resume();
        cluster
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Start (again) on the same port.
    pub fn resume(&mut self) {
        let opts = format!(
            "-c fsync=off -c full_page_writes=off -c listen_addresses=127.0.0.1 -p {} -k {}",
            self.port,
            self.dir.path().display()
        );
        let out = as_postgres(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(["-w", "-t", "30", "-o", &opts, "start"])
            .output()
            .expect("pg_ctl start");
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
        );
        self.running = true;
    }

    /// Stop the server, ending every connection (`-m fast`).
    pub fn stop(&mut self) {
        self.stop_with("fast");
    }

    fn stop_with(&mut self, mode: &str) {
        if !self.running {
            return;
        }
        let _ = as_postgres(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-w", "-t", "30", "-m", mode, "stop"])
            .output();
        self.running = false;
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop_with("immediate");
    }
}
