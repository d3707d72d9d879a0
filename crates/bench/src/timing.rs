//! Does *forgot password* answer faster for an unknown account than for an
//! existing one? (issue 18, finding 6: 2.47 ms vs 1.94 ms medians, z = 6.65.)
//!
//! `n` requests for existing, enabled accounts (each asked once, so the limit
//! of 3 links per quarter hour never applies) and `n` for unknown addresses of
//! the same shape (the same domain and length), sent one at a time in a
//! shuffled order, so that drift of the machine and the mail worker's work
//! after a real request fall on both groups alike. Reported: both medians,
//! the Mann-Whitney U statistic as a z score (rank-based: latencies have long
//! tails) and Welch's t. |z| < 1.96 means no difference at the 5% level.
//! A statistical check in the bench, never a timed unit test: on a shared
//! 2-core machine a test with a fixed threshold would be flaky.

use std::time::{Duration, Instant};

use crate::Args;
use crate::report::Row;
use crate::scenarios::{CSRF, Target, client};

/// The two samples and the statistics that compare them.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub existing_ms: Vec<f64>,
    pub unknown_ms: Vec<f64>,
}

pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len().is_multiple_of(2) {
        (s[m - 1] + s[m]) / 2.0
    } else {
        s[m]
    }
}

fn mean_var(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    if v.len() < 2 {
        return (v.first().copied().unwrap_or(0.0), 0.0);
    }
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

/// Mann-Whitney U of `a` against `b` as a z score (normal approximation, ties
/// ranked by their mean rank, with the tie correction). Positive: `a` is slower.
pub fn mann_whitney_z(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, true))
        .chain(b.iter().map(|&x| (x, false)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut rank_sum_a = 0.0;
    let mut ties = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        let t = (j - i + 1) as f64;
        ties += t * t * t - t;
        rank_sum_a += all[i..=j].iter().filter(|x| x.1).count() as f64 * rank;
        i = j + 1;
    }
    let u = rank_sum_a - n1 * (n1 + 1.0) / 2.0;
    let n = n1 + n2;
    let sigma = (n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)))).sqrt();
    if sigma == 0.0 { 0.0 } else { (u - n1 * n2 / 2.0) / sigma }
}

/// Welch's t of `a` against `b`. Positive: `a` is slower on average.
pub fn welch_t(a: &[f64], b: &[f64]) -> f64 {
    let (ma, va) = mean_var(a);
    let (mb, vb) = mean_var(b);
    let se = (va / a.len().max(1) as f64 + vb / b.len().max(1) as f64).sqrt();
    if se == 0.0 { 0.0 } else { (ma - mb) / se }
}

/// A small xorshift: the order of the requests only needs to be unpredictable
/// to the machine's rhythms, not to an adversary.
struct Shuffle(u64);

impl Shuffle {
    fn new() -> Shuffle {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64);
        Shuffle(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }

    /// A lowercase letter or digit.
    fn alnum(&mut self) -> char {
        let set = b"abcdefghijklmnopqrstuvwxyz0123456789";
        char::from(set[(self.next() % set.len() as u64) as usize])
    }
}

impl Comparison {
    pub fn rows(&self, t: &Target) -> Vec<Row> {
        let z = mann_whitney_z(&self.existing_ms, &self.unknown_ms);
        let welch = welch_t(&self.existing_ms, &self.unknown_ms);
        let (e, u) = (median(&self.existing_ms), median(&self.unknown_ms));
        let n = format!("{} + {}", self.existing_ms.len(), self.unknown_ms.len());
        let mut median_row = t.row(
            "forgot password, existing vs unknown account: median difference",
            e - u,
            "ms",
        );
        median_row.note = format!("existing {e:.3} ms, unknown {u:.3} ms, {n} requests in shuffled order");
        let mut z_row = t.row("forgot password, existing vs unknown account: Mann-Whitney z", z, "z");
        z_row.target = "|z| < 1.96".to_owned();
        z_row.met = Some(z.abs() < 1.96);
        z_row.note = format!("Welch t = {welch:.2}");
        vec![median_row, z_row]
    }
}

/// Up to `n` primary emails of enabled users of the admin's organization, through the API.
async fn existing_emails(base: &str, auth: &str, n: usize) -> Result<Vec<String>, String> {
    let http = client();
    let mut emails = Vec::new();
    let mut page = 1;
    while emails.len() < n {
        let url = format!("{base}/api/users?filter[view]=active&page[size]=100&page[number]={page}");
        let body: serde_json::Value = http
            .get(url)
            .header("authorization", auth)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let data = body["data"].as_array().cloned().unwrap_or_default();
        if data.is_empty() {
            break;
        }
        emails.extend(
            data.iter()
                .filter_map(|u| u["attributes"]["email"].as_str().map(str::to_owned))
                .filter(|e| !e.starts_with("admin")),
        );
        page += 1;
    }
    emails.truncate(n);
    if emails.len() < n {
        return Err(format!(
            "forgot-password timing needs {n} users in Main; seed more (found {})",
            emails.len()
        ));
    }
    Ok(emails)
}

/// Time `n` + `n` forgot-password requests against the running server at `base`.
pub async fn forgot_password(args: &Args, t: &Target, base: &str, n: usize) -> Result<Comparison, String> {
    let key = t.admin_key(args)?;
    let existing = existing_emails(base, &format!("Bearer {key}"), n).await?;
    let mut rng = Shuffle::new();
    // same domain and length as a real address, a local part nobody has
    let unknown: Vec<String> = existing
        .iter()
        .map(|e| {
            let (local, domain) = e.rsplit_once('@').unwrap_or((e, "example.com"));
            let fake: String = std::iter::once('q')
                .chain((1..local.len()).map(|_| rng.alnum()))
                .collect();
            format!("{fake}@{domain}")
        })
        .collect();
    let mut order: Vec<(bool, String)> = existing
        .into_iter()
        .map(|e| (true, e))
        .chain(unknown.into_iter().map(|u| (false, u)))
        .collect();
    rng.shuffle(&mut order);

    let http = client();
    let url = format!("{base}/forgot-password");
    // warm up the connection and the server's caches on an address of neither group
    for _ in 0..10 {
        let _ = http
            .post(&url)
            .header("cookie", format!("muster_csrf={CSRF}"))
            .form(&[("login", "warm-up@bench.invalid"), ("csrf", CSRF)])
            .send()
            .await;
    }
    let mut cmp = Comparison {
        existing_ms: Vec::new(),
        unknown_ms: Vec::new(),
    };
    for (is_existing, login) in &order {
        let started = Instant::now();
        let resp = http
            .post(&url)
            .header("cookie", format!("muster_csrf={CSRF}"))
            .form(&[("login", login.as_str()), ("csrf", CSRF)])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let _ = resp.bytes().await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if !status.is_success() {
            return Err(format!("POST /forgot-password answered {status}"));
        }
        if *is_existing {
            cmp.existing_ms.push(ms);
        } else {
            cmp.unknown_ms.push(ms);
        }
    }
    // let the worker deliver the mails before the next scenario
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(cmp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let a: Vec<f64> = (0..100).map(|i| 2.0 + f64::from(i) / 100.0).collect();
        let b: Vec<f64> = (0..100).map(|i| 1.0 + f64::from(i) / 100.0).collect();
        assert!(mann_whitney_z(&a, &b) > 6.0);
        assert!(mann_whitney_z(&b, &a) < -6.0);
        assert!(mann_whitney_z(&a, &a).abs() < 1e-9);
        assert!(welch_t(&a, &b) > 6.0);
        assert!(welch_t(&a, &a).abs() < 1e-9);
        // fully interleaved samples: no difference
        let c: Vec<f64> = (0..100).map(|i| f64::from(2 * i)).collect();
        let d: Vec<f64> = (0..100).map(|i| f64::from(2 * i + 1)).collect();
        assert!(mann_whitney_z(&c, &d).abs() < 0.2);
    }

    #[test]
    fn shuffle_keeps_every_item() {
        let mut v: Vec<u32> = (0..300).collect();
        Shuffle::new().shuffle(&mut v);
        let mut s = v.clone();
        s.sort_unstable();
        assert_eq!(s, (0..300).collect::<Vec<_>>());
    }
}
