//! Counters for operators, exposed at `/metrics` in Prometheus' text format: requests per route
//! and status, their latencies, e-mail deliveries and worker passes. Gauges that describe the
//! database (outbox depth, pool use) are read when scraped, not kept here.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct RouteStats {
    statuses: BTreeMap<u16, u64>,
    /// Cumulative counts per bucket, Prometheus-style.
    buckets: [u64; BUCKETS.len()],
    sum_seconds: f64,
    count: u64,
}

/// What one delivery attempt came to.
#[derive(Clone, Copy, Debug)]
pub enum Delivery {
    Sent,
    Retry,
    Failed,
}

#[derive(Default)]
pub struct Metrics {
    in_flight: AtomicI64,
    routes: Mutex<BTreeMap<(String, String), RouteStats>>,
    sent: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    passes: AtomicU64,
    pass_failures: AtomicU64,
    last_pass_unix: AtomicI64,
}

/// Gauges read from the database at scrape time.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub database_up: bool,
    /// Outbox messages per state.
    pub outbox: BTreeMap<String, i64>,
    /// Age of the oldest message due for delivery and not yet sent.
    pub oldest_due_seconds: f64,
    pub pool_connections: u32,
    pub pool_idle: u32,
    pub pool_max: u32,
    /// SQLite: writes committed together (`db::group`), and the transactions they took.
    pub grouped_writes: u64,
    pub group_commits: u64,
    /// PostgreSQL: reads run on a second connection beside a request's own (`db::beside`).
    pub reads_beside: u64,
}

/// The method as a label: the standard ones by name, anything else as `other`.
pub fn method_label(method: &str) -> String {
    match method {
        "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method.into(),
        _ => "other".into(),
    }
}

impl Metrics {
    pub fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a finished request under its route pattern (never its concrete path, which may
    /// hold a personal link).
    pub fn request_finished(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let stats = routes
            .entry((method.to_string(), route.to_string()))
            .or_default();
        *stats.statuses.entry(status).or_default() += 1;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                stats.buckets[i] += 1;
            }
        }
        stats.sum_seconds += secs;
        stats.count += 1;
    }

    pub fn delivery(&self, outcome: Delivery) {
        match outcome {
            Delivery::Sent => &self.sent,
            Delivery::Retry => &self.retried,
            Delivery::Failed => &self.failed,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    pub fn worker_pass(&self, ok: bool) {
        self.passes.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.pass_failures.fetch_add(1, Ordering::Relaxed);
        }
        self.last_pass_unix
            .store(chrono::Utc::now().timestamp(), Ordering::Relaxed);
    }

    /// The exposition, version 0.0.4 of the text format.
    pub fn render(&self, db: &Snapshot) -> String {
        let mut out = String::with_capacity(16 * 1024);
        family(
            &mut out,
            "orakel_build_info",
            "gauge",
            "The running version.",
        );
        let _ = writeln!(
            out,
            "orakel_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        single(
            &mut out,
            "orakel_database_up",
            "gauge",
            "Whether the database answered this scrape.",
            u8::from(db.database_up),
        );
        family(
            &mut out,
            "orakel_db_pool_connections",
            "gauge",
            "Database connections open, idle, and the most allowed.",
        );
        for (state, n) in [
            ("open", db.pool_connections),
            ("idle", db.pool_idle),
            ("max", db.pool_max),
        ] {
            let _ = writeln!(out, "orakel_db_pool_connections{{state=\"{state}\"}} {n}");
        }
        family(
            &mut out,
            "orakel_outbox_messages",
            "gauge",
            "E-mail messages in the outbox by state (queued and sending are still to go out).",
        );
        for state in ["queued", "sending", "sent", "failed"] {
            let n = db.outbox.get(state).copied().unwrap_or(0);
            let _ = writeln!(out, "orakel_outbox_messages{{state=\"{state}\"}} {n}");
        }
        single(
            &mut out,
            "orakel_outbox_oldest_due_seconds",
            "gauge",
            "How long the oldest message due for delivery has waited (0 when none waits).",
            format!("{:.3}", db.oldest_due_seconds),
        );
        family(
            &mut out,
            "orakel_mail_deliveries_total",
            "counter",
            "Delivery attempts by this process: sent, retry (temporary failure) or failed (for good).",
        );
        for (result, n) in [
            ("sent", &self.sent),
            ("retry", &self.retried),
            ("failed", &self.failed),
        ] {
            let _ = writeln!(
                out,
                "orakel_mail_deliveries_total{{result=\"{result}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        single(
            &mut out,
            "orakel_worker_passes_total",
            "counter",
            "Worker passes (delivery and schedule) by this process.",
            self.passes.load(Ordering::Relaxed),
        );
        single(
            &mut out,
            "orakel_worker_pass_failures_total",
            "counter",
            "Worker passes that failed (the database away, for instance).",
            self.pass_failures.load(Ordering::Relaxed),
        );
        single(
            &mut out,
            "orakel_worker_last_pass_timestamp_seconds",
            "gauge",
            "When this process's worker last finished a pass (Unix time; 0 before the first).",
            self.last_pass_unix.load(Ordering::Relaxed),
        );
        single(
            &mut out,
            "orakel_sqlite_grouped_writes_total",
            "counter",
            "Experts' saves committed through SQLite's group commit.",
            db.grouped_writes,
        );
        single(
            &mut out,
            "orakel_sqlite_group_commits_total",
            "counter",
            "Transactions those saves were committed in (writes per commit = the ratio).",
            db.group_commits,
        );
        single(
            &mut out,
            "orakel_postgres_reads_beside_total",
            "counter",
            "Reads run on a second PostgreSQL connection at the same time as a request's own (a report's previous round).",
            db.reads_beside,
        );
        single(
            &mut out,
            "orakel_http_requests_in_flight",
            "gauge",
            "Requests being answered now.",
            self.in_flight.load(Ordering::Relaxed),
        );

        let routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        family(
            &mut out,
            "orakel_http_requests_total",
            "counter",
            "Requests answered, by method, route pattern and status.",
        );
        for ((method, route), stats) in routes.iter() {
            let route = escape(route);
            for (status, n) in &stats.statuses {
                let _ = writeln!(
                    out,
                    "orakel_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        family(
            &mut out,
            "orakel_http_request_duration_seconds",
            "histogram",
            "Time to answer, by method and route pattern.",
        );
        for ((method, route), stats) in routes.iter() {
            let route = escape(route);
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            for (bound, n) in BUCKETS.iter().zip(stats.buckets) {
                let _ = writeln!(
                    out,
                    "orakel_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "orakel_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                stats.count
            );
            let _ = writeln!(
                out,
                "orakel_http_request_duration_seconds_sum{{{labels}}} {:.6}",
                stats.sum_seconds
            );
            let _ = writeln!(
                out,
                "orakel_http_request_duration_seconds_count{{{labels}}} {}",
                stats.count
            );
        }
        out
    }
}

/// A metric family of one unlabelled value.
fn single(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    family(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// The HELP and TYPE lines that open a metric family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value as the text format wants it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_land_in_cumulative_buckets() {
        let m = Metrics::default();
        m.request_started();
        m.request_finished("GET", "/p/{token}", 200, Duration::from_millis(3));
        m.request_started();
        m.request_finished("GET", "/p/{token}", 404, Duration::from_millis(30));
        let text = m.render(&Snapshot::default());
        assert!(text.contains(
            "orakel_http_requests_total{method=\"GET\",route=\"/p/{token}\",status=\"200\"} 1"
        ));
        assert!(text.contains(
            "orakel_http_request_duration_seconds_bucket{method=\"GET\",route=\"/p/{token}\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "orakel_http_request_duration_seconds_bucket{method=\"GET\",route=\"/p/{token}\",le=\"0.05\"} 2"
        ));
        assert!(text.contains(
            "orakel_http_request_duration_seconds_count{method=\"GET\",route=\"/p/{token}\"} 2"
        ));
        assert!(text.contains("orakel_http_requests_in_flight 0"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
