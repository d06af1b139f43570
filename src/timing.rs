//! Timing logs for finding where time goes, off unless `NETLOOM_TIMING` is
//! set in the environment: phases and per-operation totals are summed while
//! netloom runs and printed to stderr by [`report`].
use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Totals per label: (count, summed time, longest).
static TOTALS: Mutex<BTreeMap<&'static str, (u64, Duration, Duration)>> =
    Mutex::new(BTreeMap::new());

/// Whether `NETLOOM_TIMING` is set (read once).
pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("NETLOOM_TIMING").is_some())
}

/// Add `took` to the total of `label`.
pub fn record(label: &'static str, took: Duration) {
    if !enabled() {
        return;
    }
    let mut t = TOTALS.lock().unwrap_or_else(|e| e.into_inner());
    let e = t.entry(label).or_default();
    e.0 += 1;
    e.1 += took;
    e.2 = e.2.max(took);
}

/// Run `f` and record its time under `label`.
pub async fn timed<T>(label: &'static str, f: impl std::future::Future<Output = T>) -> T {
    let start = Instant::now();
    let out = f.await;
    record(label, start.elapsed());
    out
}

/// Print the totals to stderr (nothing when timing is off).
pub fn report() {
    if !enabled() {
        return;
    }
    let t = TOTALS.lock().unwrap_or_else(|e| e.into_inner());
    for (label, (n, sum, max)) in t.iter() {
        eprintln!(
            "timing {label:<16} n={n:<6} total={:.3}s mean={:.3}ms max={:.3}ms",
            sum.as_secs_f64(),
            sum.as_secs_f64() * 1000.0 / (*n).max(1) as f64,
            max.as_secs_f64() * 1000.0
        );
    }
}
