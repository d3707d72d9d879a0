//! Memory of a process from /proc.

use std::process::Child;
use std::time::Duration;

/// `VmRSS` (resident now) or `VmHWM` (peak resident) in KiB.
pub fn kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
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
