//! Latency statistics: nearest-rank percentiles over a set of samples.

use std::time::Duration;

/// A summary of latency samples, in microseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub min_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
}

/// The nearest-rank percentile `p` (0 < p ≤ 100) of sorted samples: the
/// smallest sample such that at least p% of the samples are ≤ it.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let p = p.clamp(0.0, 100.0);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Summary {
    pub fn of_durations(samples: &[Duration]) -> Summary {
        let us: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
        Summary::of(&us)
    }

    pub fn of(samples: &[f64]) -> Summary {
        let mut s: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
        s.sort_by(f64::total_cmp);
        let mean = if s.is_empty() { f64::NAN } else { s.iter().sum::<f64>() / s.len() as f64 };
        Summary {
            count: s.len(),
            min_us: s.first().copied().unwrap_or(f64::NAN),
            p50_us: percentile(&s, 50.0),
            p90_us: percentile(&s, 90.0),
            p99_us: percentile(&s, 99.0),
            max_us: s.last().copied().unwrap_or(f64::NAN),
            mean_us: mean,
        }
    }
}

/// Parse a duration as wrk prints it (`812.00us`, `1.25ms`, `2.01s`, `1.00m`)
/// into microseconds.
pub fn parse_wrk_duration(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, factor) = if let Some(n) = s.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1e6)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60e6)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3600e6)
    } else {
        return None;
    };
    num.trim().parse::<f64>().ok().map(|v| v * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&s, 50.0), 50.0);
        assert_eq!(percentile(&s, 99.0), 99.0);
        assert_eq!(percentile(&s, 100.0), 100.0);
        assert_eq!(percentile(&s, 0.0), 1.0);
        assert_eq!(percentile(&s, 0.5), 1.0);
        assert_eq!(percentile(&s, 99.5), 100.0);
        // Not a multiple of 100: rank = ceil(p/100 * n).
        let s = [10.0, 20.0, 30.0];
        assert_eq!(percentile(&s, 50.0), 20.0);
        assert_eq!(percentile(&s, 34.0), 20.0);
        assert_eq!(percentile(&s, 33.0), 10.0);
        assert_eq!(percentile(&s, 99.0), 30.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn summary_sorts_and_ignores_non_finite() {
        let mut v: Vec<f64> = (1..=1000).rev().map(f64::from).collect();
        v.push(f64::NAN);
        let s = Summary::of(&v);
        assert_eq!(s.count, 1000);
        assert_eq!((s.min_us, s.max_us), (1.0, 1000.0));
        assert_eq!((s.p50_us, s.p90_us, s.p99_us), (500.0, 900.0, 990.0));
        assert!((s.mean_us - 500.5).abs() < 1e-9);
        let d = Summary::of_durations(&[Duration::from_micros(1500), Duration::from_millis(3)]);
        assert_eq!((d.p50_us, d.p99_us), (1500.0, 3000.0));
    }

    #[test]
    fn wrk_durations() {
        assert_eq!(parse_wrk_duration("812.00us"), Some(812.0));
        assert_eq!(parse_wrk_duration("1.25ms"), Some(1250.0));
        let close = |s: &str, v: f64| parse_wrk_duration(s).is_some_and(|x| (x - v).abs() < 1e-6);
        assert!(close("2.01s", 2_010_000.0));
        assert_eq!(parse_wrk_duration("1.00m"), Some(60_000_000.0));
        assert_eq!(parse_wrk_duration("12"), None);
        assert_eq!(parse_wrk_duration("abcms"), None);
    }
}
