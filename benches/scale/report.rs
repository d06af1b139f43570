//! The results: a table of medians per method and N, ratios, cost per
//! container, the machine, and the one summary line.
use std::fmt::Write as _;

use crate::method::{Method, Trial};

/// Median of the present values, if any.
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

/// Median of one field over the trials of `method` at `n`.
fn med(
    trials: &[Trial],
    method: Method,
    n: usize,
    f: impl Fn(&Trial) -> Option<f64>,
) -> Option<f64> {
    median(
        trials
            .iter()
            .filter(|t| t.method == method && t.n == n)
            .filter_map(f)
            .collect(),
    )
}

/// Seconds with 3 decimals, or `-` where nothing was measured.
fn s(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.3}"))
}

/// The whole report as text.
pub fn render(trials: &[Trial], ns: &[usize], methods: &[Method], reps: usize) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "medians of {reps} rep(s); reach = from build start until c1 got a reply from cN; \
         down = until no link and no netns is left"
    );
    let _ = writeln!(
        o,
        "{:<9} {:>5} {:>5} {:>9} {:>9} {:>11} {:>8} {:>9} {:>8} {:>7}",
        "method",
        "N",
        "ok",
        "return_s",
        "reach_s",
        "ms/contnr",
        "noop_s",
        "verify_s",
        "down_s",
        "rss_mb"
    );
    for &n in ns {
        for &m in methods {
            let of = |t: &&Trial| t.method == m && t.n == n;
            let total = trials.iter().filter(of).count();
            let ok = trials
                .iter()
                .filter(of)
                .filter(|t| t.errors.is_empty())
                .count();
            let reach = med(trials, m, n, |t| t.reach);
            let rss = med(trials, m, n, |t| t.rss_kb.map(|k| k as f64 / 1024.0));
            let _ = writeln!(
                o,
                "{:<9} {:>5} {:>5} {:>9} {:>9} {:>11} {:>8} {:>9} {:>8} {:>7}",
                m.name(),
                n,
                format!("{ok}/{total}"),
                s(med(trials, m, n, |t| t.up_return)),
                s(reach),
                reach.map_or_else(|| "-".into(), |r| format!("{:.2}", r * 1000.0 / n as f64)),
                s(med(trials, m, n, |t| t.noop)),
                s(med(trials, m, n, |t| t.verify)),
                s(med(trials, m, n, |t| t.down)),
                rss.map_or_else(|| "-".into(), |r| format!("{r:.1}")),
            );
        }
    }
    let others = methods.iter().filter(|m| **m != Method::Netloom).count();
    if methods.contains(&Method::Netloom) && others > 0 {
        let _ = writeln!(o, "ratios of reach_s (netloom / other):");
    }
    for &n in ns
        .iter()
        .filter(|_| methods.contains(&Method::Netloom) && others > 0)
    {
        let nl = med(trials, Method::Netloom, n, |t| t.reach);
        let mut line = format!("  N={n}:");
        for other in [Method::IpBatch, Method::Cni, Method::Naive] {
            if !methods.contains(&other) {
                continue;
            }
            let r = match (nl, med(trials, other, n, |t| t.reach)) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
                (None, _) => "netloom failed".into(),
                _ => format!("{} failed", other.name()),
            };
            let _ = write!(line, " netloom/{}={r}", other.name());
        }
        let _ = writeln!(o, "{line}");
    }
    let failures: Vec<&Trial> = trials.iter().filter(|t| !t.errors.is_empty()).collect();
    if !failures.is_empty() {
        let _ = writeln!(o, "failures:");
        for t in failures {
            let _ = writeln!(
                o,
                "  {} N={}: {}",
                t.method.name(),
                t.n,
                t.errors.join("; ")
            );
        }
    }
    o
}

/// The summary line for the largest N measured: `scale N=1000 up_s=...`.
/// `n/a` = method not run; `failed` = run but never measured.
pub fn summary(trials: &[Trial], ns: &[usize], methods: &[Method]) -> String {
    let n = ns.iter().copied().max().unwrap_or(0);
    let val = |m: Method, f: &dyn Fn(&Trial) -> Option<f64>, digits: usize| -> String {
        if !methods.contains(&m) {
            return "n/a".into();
        }
        med(trials, m, n, f).map_or_else(|| "failed".into(), |v| format!("{v:.digits$}"))
    };
    format!(
        "scale N={n} up_s={} noop_s={} verify_s={} down_s={} ip_batch_s={} cni_s={} naive_s={} rss_mb={}",
        val(Method::Netloom, &|t| t.reach, 3),
        val(Method::Netloom, &|t| t.noop, 3),
        val(Method::Netloom, &|t| t.verify, 3),
        val(Method::Netloom, &|t| t.down, 3),
        val(Method::IpBatch, &|t| t.reach, 3),
        val(Method::Cni, &|t| t.reach, 3),
        val(Method::Naive, &|t| t.reach, 3),
        val(Method::Netloom, &|t| t.rss_kb.map(|k| k as f64 / 1024.0), 1),
    )
}
