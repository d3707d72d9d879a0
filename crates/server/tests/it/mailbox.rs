//! Mail fixtures: a real SMTP capture server (python3-aiosmtpd), reading
//! the spool folder, the delivery worker, and links out of messages.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::TestApp;

const WAIT: Duration = Duration::from_secs(20);

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    l.local_addr().expect("addr").port()
}

/// `aiosmtpd` with the Mailbox handler: each message becomes a file in `dir/new/`.
pub struct SmtpCapture {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl SmtpCapture {
    pub async fn start() -> SmtpCapture {
        Self::start_on(free_port()).await
    }

    /// Start on `port`; fails the test loudly when the server does not come up.
    pub async fn start_on(port: u16) -> SmtpCapture {
        let dir = tempfile::tempdir().expect("maildir");
        let child = Command::new("/usr/bin/python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.path().join("box"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start /usr/bin/python3 -m aiosmtpd (Debian package python3-aiosmtpd)");
        let mut capture = SmtpCapture { child, port, dir };
        let deadline = Instant::now() + WAIT;
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            if let Ok(Some(status)) = capture.child.try_wait() {
                panic!("aiosmtpd exited at start ({status}); is python3-aiosmtpd installed for /usr/bin/python3?");
            }
            assert!(Instant::now() < deadline, "aiosmtpd did not listen on port {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        capture
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn messages(&self) -> Vec<String> {
        read_dir_texts(&self.dir.path().join("box").join("new"))
    }

    /// Wait until `n` messages arrived; returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<String> {
        wait_until(|| {
            let m = self.messages();
            (m.len() >= n).then_some(m)
        })
        .await
        .unwrap_or_else(|| panic!("{n} message(s) did not arrive; got {}", self.messages().len()))
    }
}

impl Drop for SmtpCapture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_dir_texts(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read_to_string(p).ok()).collect()
}

async fn wait_until<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `.eml` files of the spool folder, oldest first.
pub fn spool(app: &TestApp) -> Vec<String> {
    read_dir_texts(&app.data_dir().join("mail"))
}

pub async fn wait_spool(app: &TestApp, n: usize) -> Vec<String> {
    wait_until(|| {
        let m = spool(app);
        (m.len() >= n).then_some(m)
    })
    .await
    .unwrap_or_else(|| panic!("{n} spooled message(s) did not appear; got {}", spool(app).len()))
}

/// Start this app's delivery worker (as `muster serve` does).
pub fn start_worker(app: &TestApp) {
    muster_server::mail::worker::spawn(app.store().clone(), app.state.config.clone());
}

/// Undo quoted-printable soft breaks and `=3D`, enough to read links.
pub fn unfold(msg: &str) -> String {
    msg.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=")
}

/// The reset link in a message, if any.
pub fn reset_link(msg: &str) -> Option<String> {
    let text = unfold(msg);
    let marker = "/reset-password?token=";
    let p = text.find(marker)?;
    let start = text[..p].rfind("http")?;
    let token_start = p + marker.len();
    let len = text[token_start..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .unwrap_or(text.len() - token_start);
    Some(text[start..token_start + len].to_owned())
}

/// Header value (first line only) of a message.
pub fn header(msg: &str, name: &str) -> Option<String> {
    let prefix = format!("{}:", name.to_lowercase());
    msg.lines()
        .take_while(|l| !l.trim().is_empty())
        .find(|l| l.to_lowercase().starts_with(&prefix))
        .map(|l| l[prefix.len()..].trim().to_owned())
}

/// The messages sent to `addr`.
pub fn to(msgs: &[String], addr: &str) -> Vec<String> {
    msgs.iter()
        .filter(|m| header(m, "To").is_some_and(|t| t.contains(addr)))
        .cloned()
        .collect()
}
