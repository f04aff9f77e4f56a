//! Latency histograms, error counts and the final report (human-readable and JSON).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use paddock_client::ErrorCode;

use crate::args::{Config, Stop};
use crate::workload::OpKind;

/// Highest latency the histograms track exactly: one hour, in microseconds (more is clamped).
const MAX_TRACKED_US: u64 = 3_600_000_000;

/// ZooKeeper's name for an error code (`-101` → `NONODE`), or `UNKNOWN`.
pub fn error_name(code: i32) -> String {
    match ErrorCode::from_code(code) {
        Some(c) => c.name().into(),
        None => "UNKNOWN".into(),
    }
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKED_US, 3).expect("valid histogram bounds")
}

/// What one session (or, merged, the whole run) measured.
///
/// A histogram is ~190 KB (1 µs to an hour at 3 significant digits), written whole when it is
/// made: a session's are made before the run starts ([`Recorder::for_kinds`]), since 1,024
/// sessions making theirs at their first answers put ~0.6 GB of fresh pages on the load
/// generator's cores in the run's first second. Kinds never recorded have none.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    /// Latency of successful requests in microseconds, by [`OpKind::index`].
    hists: [Option<Histogram<u64>>; 3],
    /// Failed requests by ZooKeeper code.
    pub errors: BTreeMap<i32, u64>,
}

impl Recorder {
    /// A recorder with the histograms of `kinds` already made (the others are made when first
    /// recorded).
    pub fn for_kinds(kinds: &[OpKind]) -> Recorder {
        let mut r = Recorder::default();
        for k in kinds {
            r.hists[k.index()].get_or_insert_with(new_histogram);
        }
        r
    }

    /// A successful request of `kind` that took `latency`.
    pub fn record(&mut self, kind: OpKind, latency: Duration) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.hists[kind.index()]
            .get_or_insert_with(new_histogram)
            .saturating_record(us);
    }

    /// `n` requests that failed with `code`.
    pub fn error(&mut self, code: i32, n: u64) {
        if n > 0 {
            *self.errors.entry(code).or_default() += n;
        }
    }

    pub fn merge(&mut self, other: &Recorder) {
        for (mine, theirs) in self.hists.iter_mut().zip(&other.hists) {
            if let Some(theirs) = theirs {
                mine.get_or_insert_with(new_histogram)
                    .add(theirs)
                    .expect("histograms with the same bounds");
            }
        }
        for (&code, &n) in &other.errors {
            self.error(code, n);
        }
    }

    /// Successful requests.
    pub fn ok(&self) -> u64 {
        self.hists.iter().flatten().map(|h| h.len()).sum()
    }

    /// Failed requests.
    pub fn failed(&self) -> u64 {
        self.errors.values().sum()
    }

    /// All kinds together.
    pub fn overall(&self) -> Latency {
        let mut all = new_histogram();
        for h in self.hists.iter().flatten() {
            all.add(h).expect("same bounds");
        }
        Latency::of(&all)
    }

    /// Each kind that was sent.
    pub fn per_kind(&self) -> Vec<(OpKind, Latency)> {
        OpKind::ALL
            .iter()
            .filter_map(|&k| match &self.hists[k.index()] {
                Some(h) if !h.is_empty() => Some((k, Latency::of(h))),
                _ => None,
            })
            .collect()
    }
}

/// A latency summary, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Latency {
        let ms = |us: u64| us as f64 / 1000.0;
        if h.is_empty() {
            return Latency {
                count: 0,
                p50: 0.0,
                p99: 0.0,
                p999: 0.0,
                max: 0.0,
                mean: 0.0,
            };
        }
        Latency {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.50)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }

    fn human(&self) -> String {
        format!(
            "p50 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  mean {:.3}",
            self.p50, self.p99, self.p999, self.max, self.mean
        )
    }

    fn json(&self) -> String {
        format!(
            "{{\"p50\":{:.3},\"p99\":{:.3},\"p999\":{:.3},\"max\":{:.3},\"mean\":{:.3}}}",
            self.p50, self.p99, self.p999, self.max, self.mean
        )
    }
}

/// A session whose stream failed during the run.
#[derive(Debug, Clone)]
pub struct LostSession {
    pub index: usize,
    pub server: String,
    pub error: crate::session::SessionError,
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct Report {
    pub config: Config,
    /// `/bench-<run id>`.
    pub parent: String,
    /// From the start signal until the last session's last answer.
    pub elapsed: Duration,
    pub recorder: Recorder,
    pub lost: Vec<LostSession>,
    /// Events the `--watchers` sessions received (`None` without watchers).
    pub watch_events: Option<u64>,
}

impl Report {
    /// Prints a run's outcome as the bench binaries do — the summary on stdout, or with `json`
    /// the JSON line on stdout and the summary on stderr; an error on stderr prefixed with
    /// `program` — and gives their exit status: success only when no session was lost.
    pub fn finish(
        program: &str,
        result: anyhow::Result<Report>,
        json: bool,
    ) -> std::process::ExitCode {
        match result {
            Ok(report) => {
                if json {
                    eprint!("{}", report.human());
                    println!("{}", report.json());
                } else {
                    print!("{}", report.human());
                }
                if report.lost.is_empty() {
                    std::process::ExitCode::SUCCESS
                } else {
                    std::process::ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("{program}: {e:#}");
                std::process::ExitCode::FAILURE
            }
        }
    }

    pub fn ops_per_sec(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.recorder.ok() as f64 / s
        } else {
            0.0
        }
    }

    fn errors_human(&self) -> String {
        if self.recorder.errors.is_empty() {
            return "none".into();
        }
        self.recorder
            .errors
            .iter()
            .map(|(&c, n)| format!("{} ({c}): {n}", error_name(c)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The human-readable summary (several lines, ending with a newline).
    pub fn human(&self) -> String {
        let c = &self.config;
        let mut out = String::new();
        let mixed = if c.workload == crate::args::Workload::Mixed {
            format!(" ({}% reads)", c.read_pct)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "workload    {}{mixed}, {} session{} on {}, pipeline {}{}, {} B values, {} keys, seed {}, under {}",
            c.workload.name(),
            c.sessions,
            if c.sessions == 1 { "" } else { "s" },
            c.servers.join(","),
            c.pipeline,
            match c.rate {
                Some(r) => format!(", rate {r} ops/s"),
                None => String::new(),
            },
            c.value_size,
            c.keys,
            c.seed,
            self.parent,
        );
        let _ = writeln!(
            out,
            "throughput  {} ops in {:.2} s = {:.1} ops/s",
            self.recorder.ok(),
            self.elapsed.as_secs_f64(),
            self.ops_per_sec()
        );
        let _ = writeln!(out, "latency ms  {}", self.recorder.overall().human());
        let kinds = self.recorder.per_kind();
        if kinds.len() > 1 {
            for (k, l) in kinds {
                let _ = writeln!(out, "  {:<8}  {} ops, {}", k.name(), l.count, l.human());
            }
        }
        if let Some(n) = self.watch_events {
            let _ = writeln!(out, "watch events {n} received by {} watchers", c.watchers);
        }
        let _ = writeln!(out, "errors      {}", self.errors_human());
        for l in &self.lost {
            let _ = writeln!(
                out,
                "LOST        session {} on {}: {}",
                l.index, l.server, l.error
            );
        }
        out
    }

    /// The one-line JSON result.
    pub fn json(&self) -> String {
        let c = &self.config;
        let mut o = String::from("{");
        let _ = write!(
            o,
            "\"workload\":{},\"read_pct\":{},\"servers\":[{}],\"sessions\":{},\"pipeline\":{},\
             \"value_size\":{},\"keys\":{},\"seed\":{},",
            json_str(c.workload.name()),
            c.read_pct,
            c.servers
                .iter()
                .map(|s| json_str(s))
                .collect::<Vec<_>>()
                .join(","),
            c.sessions,
            c.pipeline,
            c.value_size,
            c.keys,
            c.seed,
        );
        if let Some(r) = c.rate {
            let _ = write!(o, "\"rate\":{r},");
        }
        match c.stop {
            Stop::After(d) => {
                let _ = write!(o, "\"duration_s\":{},", d.as_secs_f64());
            }
            Stop::Ops(n) => {
                let _ = write!(o, "\"ops_requested\":{n},");
            }
        }
        let _ = write!(
            o,
            "\"parent\":{},\"elapsed_s\":{:.3},\"ops\":{},\"ops_per_sec\":{:.1},\"latency_ms\":{},",
            json_str(&self.parent),
            self.elapsed.as_secs_f64(),
            self.recorder.ok(),
            self.ops_per_sec(),
            self.recorder.overall().json(),
        );
        let per_kind = self
            .recorder
            .per_kind()
            .into_iter()
            .map(|(k, l)| {
                format!(
                    "{}:{{\"ops\":{},\"latency_ms\":{}}}",
                    json_str(k.name()),
                    l.count,
                    l.json()
                )
            })
            .collect::<Vec<_>>()
            .join(",");
        let errors = self
            .recorder
            .errors
            .iter()
            .map(|(&code, n)| format!("{}:{n}", json_str(&error_name(code))))
            .collect::<Vec<_>>()
            .join(",");
        let error_codes = self
            .recorder
            .errors
            .iter()
            .map(|(&code, n)| format!("\"{code}\":{n}"))
            .collect::<Vec<_>>()
            .join(",");
        if let Some(n) = self.watch_events {
            let _ = write!(
                o,
                "\"watchers\":{},\"watch_keys\":{},\"watch_events\":{n},",
                c.watchers, c.watch_keys
            );
        }
        let _ = write!(
            o,
            "\"per_op\":{{{per_kind}}},\"errors\":{{{errors}}},\"error_codes\":{{{error_codes}}},\"errors_total\":{},\"sessions_lost\":{}}}",
            self.recorder.failed(),
            self.lost.len()
        );
        o
    }
}

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for ch in s.chars() {
        match ch {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Args, Workload};
    use clap::Parser;

    #[test]
    fn error_names_are_zookeepers() {
        assert_eq!(error_name(-101), "NONODE");
        assert_eq!(error_name(-110), "NODEEXISTS");
        assert_eq!(error_name(-4), "CONNECTIONLOSS");
        assert_eq!(error_name(-112), "SESSIONEXPIRED");
        assert_eq!(error_name(-127), "THROTTLED");
        assert_eq!(error_name(0), "OK");
        assert_eq!(error_name(-9999), "UNKNOWN");
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut r = Recorder::default();
        // 1..=1000 ms, one each: p50 = 500 ms, p99 = 990 ms, p99.9 = 999 ms, max = 1000 ms.
        for ms in 1..=1000u64 {
            r.record(OpKind::Set, Duration::from_millis(ms));
        }
        let l = r.overall();
        assert_eq!(l.count, 1000);
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.001 + 0.001;
        assert!(close(l.p50, 500.0), "{l:?}");
        assert!(close(l.p99, 990.0), "{l:?}");
        assert!(close(l.p999, 999.0), "{l:?}");
        assert!(close(l.max, 1000.0), "{l:?}");
        assert!(close(l.mean, 500.5), "{l:?}");
    }

    #[test]
    fn sub_millisecond_latencies_keep_microsecond_precision() {
        let mut r = Recorder::default();
        for _ in 0..99 {
            r.record(OpKind::Get, Duration::from_micros(180));
        }
        r.record(OpKind::Get, Duration::from_micros(2500));
        // A zero latency is recorded as 1 us, not lost.
        r.record(OpKind::Get, Duration::ZERO);
        let l = r.overall();
        assert_eq!(l.count, 101);
        assert_eq!(l.p50, 0.180);
        // 3 significant digits: 2500 us and 2501 us share a bucket.
        assert!((l.max - 2.5).abs() <= 0.0025, "{l:?}");
    }

    #[test]
    fn only_the_kinds_asked_for_are_made_ahead_and_others_when_recorded() {
        let mut r = Recorder::for_kinds(&[OpKind::Get]);
        assert!(r.hists[OpKind::Get.index()].is_some());
        assert!(r.hists[OpKind::Set.index()].is_none());
        assert_eq!((r.ok(), r.overall().count), (0, 0));
        assert!(r.per_kind().is_empty(), "made but empty: not reported");
        r.record(OpKind::Create, Duration::from_millis(2));
        let mut all = Recorder::default();
        all.merge(&r);
        all.merge(&Recorder::default());
        let kinds: Vec<_> = all.per_kind().iter().map(|(k, l)| (*k, l.count)).collect();
        assert_eq!(kinds, vec![(OpKind::Create, 1)]);
    }

    #[test]
    fn merge_adds_latencies_and_errors() {
        let mut a = Recorder::default();
        a.record(OpKind::Get, Duration::from_millis(1));
        a.error(-101, 2);
        let mut b = Recorder::default();
        b.record(OpKind::Set, Duration::from_millis(3));
        b.record(OpKind::Set, Duration::from_millis(3));
        b.error(-101, 1);
        b.error(-127, 4);
        b.error(-4, 0);
        a.merge(&b);
        assert_eq!(a.ok(), 3);
        assert_eq!(a.failed(), 7);
        assert_eq!(a.errors, BTreeMap::from([(-127, 4), (-101, 3)]));
        let kinds: Vec<_> = a.per_kind().iter().map(|(k, l)| (*k, l.count)).collect();
        assert_eq!(kinds, vec![(OpKind::Set, 2), (OpKind::Get, 1)]);
    }

    #[test]
    fn report_human_and_json() {
        let config = Args::try_parse_from([
            "paddock-bench",
            "--duration",
            "2",
            "--workload",
            "mixed",
            "--read-pct",
            "50",
        ])
        .unwrap()
        .validate()
        .unwrap();
        assert_eq!(config.workload, Workload::Mixed);
        let mut recorder = Recorder::default();
        for _ in 0..10 {
            recorder.record(OpKind::Get, Duration::from_millis(1));
            recorder.record(OpKind::Set, Duration::from_millis(2));
        }
        recorder.error(-101, 1);
        let report = Report {
            config,
            parent: "/bench-0000abcd".into(),
            elapsed: Duration::from_secs(2),
            recorder,
            lost: vec![],
            watch_events: None,
        };
        assert_eq!(report.ops_per_sec(), 10.0);
        let h = report.human();
        assert!(h.contains("20 ops in 2.00 s = 10.0 ops/s"), "{h}");
        assert!(h.contains("errors      NONODE (-101): 1"), "{h}");
        assert!(h.contains("  get       10 ops, p50 1.000"), "{h}");
        let j = report.json();
        assert!(!j.contains('\n'));
        assert!(
            j.starts_with("{\"workload\":\"mixed\",\"read_pct\":50,"),
            "{j}"
        );
        assert!(j.contains("\"ops\":20,\"ops_per_sec\":10.0,"), "{j}");
        assert!(
            j.contains("\"errors\":{\"NONODE\":1},\"error_codes\":{\"-101\":1}"),
            "{j}"
        );
        assert!(
            j.contains("\"get\":{\"ops\":10,\"latency_ms\":{\"p50\":1.000,"),
            "{j}"
        );
        assert!(
            j.ends_with("\"errors_total\":1,\"sessions_lost\":0}"),
            "{j}"
        );
        assert_eq!(j.matches('{').count(), j.matches('}').count());
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_str("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"");
    }
}
