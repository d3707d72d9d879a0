//! Memory of a process from /proc.

use std::process::Child;
use std::time::Duration;

/// `VmRSS` (resident now) or `VmHWM` (peak resident) in KiB.
pub fn kib(pid: u32, field: &str) -> Option<u64> {
    status_field(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?, field)
}

/// The number after `field` (as `VmRSS:`) in the text of a `/proc/PID/status`.
fn status_field(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// What the resident memory is made of, in KiB: anonymous (heap, stacks,
/// SQLite's page caches), file-backed (the code, mapped files) and shared
/// memory (SQLite's WAL index).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resident {
    pub total: u64,
    pub anon: u64,
    pub file: u64,
    pub shmem: u64,
}

impl Resident {
    pub fn of(pid: u32) -> Option<Resident> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| status_field(&status, name);
        Some(Resident {
            total: field("VmRSS:")?,
            anon: field("RssAnon:").unwrap_or(0),
            file: field("RssFile:").unwrap_or(0),
            shmem: field("RssShmem:").unwrap_or(0),
        })
    }

    /// "anon 41.2 + file 17.0 + shmem 0.3 MB".
    pub fn parts(&self) -> String {
        let mb = |k: u64| k as f64 / 1024.0;
        format!(
            "anon {:.1} + file {:.1} + shmem {:.1} MB",
            mb(self.anon),
            mb(self.file),
            mb(self.shmem)
        )
    }
}

/// What SQLite holds in the server at `base`, in bytes (its `muster_sqlite_memory_bytes`
/// gauge; loopback may scrape): None on PostgreSQL or when `/metrics` does not answer.
pub async fn sqlite_memory(http: &reqwest::Client, base: &str) -> Option<u64> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let bytes: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("muster_sqlite_memory_bytes "))?
        .trim()
        .parse()
        .ok()?;
    (bytes > 0.0).then_some(bytes as u64)
}

/// Wait for `child`, polling its peak RSS; returns (success, peak KiB).
/// VmHWM only grows, so the last reading before exit is within one poll of the peak.
pub async fn wait_with_peak(mut child: Child) -> (bool, u64) {
    let pid = child.id();
    let mut peak = 0;
    loop {
        if let Some(k) = kib(pid, "VmHWM:") {
            peak = peak.max(k);
        }
        match child.try_wait() {
            Ok(Some(status)) => return (status.success(), peak),
            Ok(None) => tokio::time::sleep(Duration::from_millis(5)).await,
            Err(_) => return (false, peak),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::status_field;

    #[test]
    fn a_status_field_is_read_by_its_name() {
        let status = "Name:\tmuster\nVmHWM:\t   73412 kB\nVmRSS:\t   35120 kB\nRssAnon:\t   18000 kB\n";
        assert_eq!(status_field(status, "VmRSS:"), Some(35_120));
        assert_eq!(status_field(status, "VmHWM:"), Some(73_412));
        assert_eq!(status_field(status, "RssFile:"), None);
        assert_eq!(status_field(status, "Name:"), None, "not a number");
    }
}
