//! Prometheus metrics, served as text on a separate listener (`--metrics-bind`), off by
//! default: they describe the service's traffic and should not be public.
//!
//! `prometheus-client` holds the registry, the counters and gauges, and writes the text format
//! (0.0.4, the one every Prometheus reads). The request series are the exception, kept here
//! and handed to it at each scrape (a [`Collector`]): its `Family` takes a lock and hashes the
//! labels on every observation and its `Histogram` locks a mutex, once per request on every
//! worker thread, where a table that finds a series without a lock and buckets of atomics cost
//! a few increments.

use std::{
    sync::{
        LazyLock, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, NoLabelSet},
    metrics::{MetricType, counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default, Debug)]
struct Histogram {
    /// Observations per bucket alone, not cumulative as Prometheus shows them: one increment
    /// per request rather than one per bucket at or above it. The encoder adds them up.
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        // Past the last bound only `count` (the `+Inf` bucket) holds it.
        if let Some(i) = BUCKETS.iter().position(|le| secs <= *le) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

/// One series of the request metrics: its labels and its histogram (whose count is the
/// request counter).
#[derive(Debug)]
struct Series {
    method: &'static str,
    route: &'static str,
    status: u16,
    latency: Histogram,
}

/// Room for every (method, route, status) series the service can produce: the labels are
/// bounded (eight methods, the route table's templates and four fallbacks, the statuses
/// spa-auth answers), and far fewer occur.
const SERIES_SLOTS: usize = 4096;

/// The request series, found by open addressing over slots that are filled once and never
/// emptied: a lookup is a hash and a few atomic loads, without a lock or an allocation; only
/// a series' first request allocates it.
#[derive(Debug)]
struct RequestSeries {
    slots: Box<[OnceLock<Box<Series>>]>,
}

impl Default for RequestSeries {
    fn default() -> Self {
        RequestSeries {
            slots: (0..SERIES_SLOTS).map(|_| OnceLock::new()).collect(),
        }
    }
}

impl RequestSeries {
    fn get(&self, method: &'static str, route: &'static str, status: u16) -> Option<&Series> {
        // FNV-1a over the labels' text, not their addresses: two copies of one route's
        // template must land on the same series.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in method
            .bytes()
            .chain(route.bytes())
            .chain(status.to_le_bytes())
        {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        let start = (h as usize) % SERIES_SLOTS;
        (0..SERIES_SLOTS).find_map(|i| {
            let slot = &self.slots[(start + i) % SERIES_SLOTS];
            let series = slot.get_or_init(|| {
                Box::new(Series {
                    method,
                    route,
                    status,
                    latency: Histogram::default(),
                })
            });
            (series.status == status && series.method == method && series.route == route)
                .then_some(&**series)
        })
    }

    fn sorted(&self) -> Vec<&Series> {
        let mut all: Vec<&Series> = self
            .slots
            .iter()
            .filter_map(|s| s.get())
            .map(|s| &**s)
            .collect();
        all.sort_by_key(|s| (s.method, s.route, s.status));
        all
    }
}

impl Collector for RequestSeries {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let series = self.sorted();
        let labels = |s: &Series| {
            (
                [("method", s.method), ("route", s.route)],
                [("status", s.status)],
            )
        };
        let mut requests = encoder.encode_descriptor(
            "spa_auth_http_requests",
            "HTTP requests by method, route and status.",
            None,
            MetricType::Counter,
        )?;
        for s in &series {
            let labels = labels(s);
            requests
                .encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(
                    &s.latency.count.load(Ordering::Relaxed),
                    None,
                )?;
        }
        let mut latency = encoder.encode_descriptor(
            "spa_auth_http_request_duration_seconds",
            "Time to answer, by method, route and status.",
            None,
            MetricType::Histogram,
        )?;
        for s in &series {
            let h = &s.latency;
            let count = h.count.load(Ordering::Relaxed);
            let mut buckets = [(f64::INFINITY, 0); BUCKETS.len() + 1];
            let mut bounded = 0;
            for (i, le) in BUCKETS.iter().enumerate() {
                let n = h.buckets[i].load(Ordering::Relaxed);
                buckets[i] = (*le, n);
                bounded += n;
            }
            buckets[BUCKETS.len()].1 = count.saturating_sub(bounded);
            let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let labels = labels(s);
            latency
                .encode_family(&labels)?
                .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
        }
        Ok(())
    }
}

/// A fixed set of labels: a client inventing methods must not grow the metrics without bound.
fn method_label(m: &str) -> &'static str {
    match m {
        "GET" => "GET",
        "POST" => "POST",
        "DELETE" => "DELETE",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    }
}

type KindLabel = [(&'static str, &'static str); 1];

pub struct Metrics {
    registry: Registry,
    requests: std::sync::Arc<RequestSeries>,
    logins_ok: Counter,
    logins_failed: Counter,
    logins_throttled: Counter,
    sessions_created: Counter,
    sessions_ended: Counter,
    db_errors: Counter,
    password_hashes: Counter,
    mail_sent: Counter,
    mail_failed: Counter,
    /// The same hashes by verifier kind, so that one can see which work a failed login did
    /// (the decoy of an unknown name imitates the stored hashes; see `decoy`). A `Family`:
    /// a lock per hash is nothing beside the hash.
    hashes_by_kind: Family<KindLabel, Counter>,
    hash_queue: Gauge,
    cache_entries: Gauge,
}

/// One registry per process: counters are bumped from deep inside handlers, and threading a
/// handle through every call would add noise for no isolation anyone needs.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::default);

pub enum Login {
    Ok,
    Failed,
    Throttled,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = std::sync::Arc::new(RequestSeries::default());
        registry.register_collector(Box::new(requests.clone()));
        let logins = Family::<[(&'static str, &'static str); 1], Counter>::default();
        let [logins_ok, logins_failed, logins_throttled] =
            ["ok", "failed", "throttled"].map(|r| logins.get_or_create(&[("result", r)]).clone());
        registry.register("spa_auth_logins", "Login attempts by result", logins);
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let sessions_created = counter(
            &mut registry,
            "spa_auth_sessions_created",
            "Sessions opened",
        );
        let sessions_ended = counter(
            &mut registry,
            "spa_auth_sessions_ended",
            "Sessions ended before expiry (logout, revocation, password change, deactivation)",
        );
        let db_errors = counter(
            &mut registry,
            "spa_auth_database_errors",
            "Requests that failed on a database error",
        );
        let password_hashes = counter(
            &mut registry,
            "spa_auth_password_hashes",
            "Password hashes computed (verifications and new hashes)",
        );
        let hashes_by_kind = Family::<KindLabel, Counter>::default();
        registry.register(
            "spa_auth_password_hashes_by_kind",
            "Password hashes computed, by verifier kind (algorithm or Django hasher)",
            hashes_by_kind.clone(),
        );
        let mail_sent = counter(
            &mut registry,
            "spa_auth_mail_sent",
            "Messages delivered to the SMTP server (or the log transport)",
        );
        let mail_failed = counter(
            &mut registry,
            "spa_auth_mail_failed",
            "Messages given up: refused for good, or after every retry",
        );
        let hash_queue = Gauge::default();
        registry.register(
            "spa_auth_hash_queue_depth",
            "Password checks waiting for a hashing slot",
            hash_queue.clone(),
        );
        let cache_entries = Gauge::default();
        registry.register(
            "spa_auth_session_cache_entries",
            "Sessions cached by this instance",
            cache_entries.clone(),
        );
        let build = Family::<[(&'static str, &'static str); 1], Gauge>::default();
        build
            .get_or_create(&[("version", env!("CARGO_PKG_VERSION"))])
            .set(1);
        registry.register(
            "spa_auth_build_info",
            "The running build: its version, in a label (the value is always 1)",
            build,
        );
        super::process::register(&mut registry);
        Metrics {
            registry,
            requests,
            logins_ok,
            logins_failed,
            logins_throttled,
            sessions_created,
            sessions_ended,
            db_errors,
            password_hashes,
            mail_sent,
            mail_failed,
            hashes_by_kind,
            hash_queue,
            cache_entries,
        }
    }
}

impl Metrics {
    /// One answered request. `route` is a label the HTTP layer takes from its route table (a
    /// path template such as `/api/auth/sessions/{id}`, or a fixed fallback): `'static`, so
    /// that only labels the code names can become series, never a path a client made up.
    pub fn request(&self, method: &str, route: &'static str, status: u16, took: Duration) {
        if let Some(series) = self.requests.get(method_label(method), route, status) {
            series.latency.observe(took);
        }
    }

    pub fn login(&self, outcome: Login) {
        let c = match outcome {
            Login::Ok => &self.logins_ok,
            Login::Failed => &self.logins_failed,
            Login::Throttled => &self.logins_throttled,
        };
        c.inc();
    }

    pub fn sessions_created(&self, n: u64) {
        self.sessions_created.inc_by(n);
    }

    pub fn sessions_ended(&self, n: u64) {
        self.sessions_ended.inc_by(n);
    }

    /// One password hash computed (argon2 or an imported Django format), by `kind`: the
    /// algorithm (`argon2id`, ...) or the Django hasher (`django_pbkdf2_sha256`, ...).
    pub fn password_hash(&self, kind: &'static str) {
        self.password_hashes.inc();
        self.hashes_by_kind.get_or_create(&[("kind", kind)]).inc();
    }

    pub fn password_hashes(&self) -> u64 {
        self.password_hashes.get()
    }

    /// Password hashes of one kind computed so far.
    pub fn password_hashes_of(&self, kind: &'static str) -> u64 {
        self.hashes_by_kind
            .get(&[("kind", kind)])
            .map_or(0, |c| c.get())
    }

    /// One message the SMTP server (or the `log` transport) took.
    pub fn mail_sent(&self) {
        self.mail_sent.inc();
    }

    /// One message given up: refused for good, or still refused after every retry.
    pub fn mail_failed(&self) {
        self.mail_failed.inc();
    }

    pub fn db_error(&self) {
        self.db_errors.inc();
    }

    /// Prometheus text exposition format 0.0.4 ([`CONTENT_TYPE`]).
    pub fn render(&self, hash_queue: usize, cache_entries: usize) -> String {
        self.hash_queue
            .set(i64::try_from(hash_queue).unwrap_or(i64::MAX));
        self.cache_entries
            .set(i64::try_from(cache_entries).unwrap_or(i64::MAX));
        let mut out = String::new();
        // Writing to a `String` cannot fail; a collector that could would lose its lines only.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

/// The `Content-Type` of what [`Metrics::render`] writes.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.request("GET", "/api/me", 200, Duration::from_millis(2));
        m.request(
            "DELETE",
            "/api/auth/sessions/{id}",
            404,
            Duration::from_millis(20),
        );
        m.login(Login::Failed);
        m.password_hash("argon2id");
        m.password_hash("django_pbkdf2_sha256");
        m.password_hash("argon2id");
        m.mail_sent();
        m.mail_sent();
        m.mail_failed();
        let text = m.render(3, 7);
        assert!(text.contains("spa_auth_mail_sent_total 2\n"), "{text}");
        assert!(text.contains("spa_auth_mail_failed_total 1\n"));
        assert!(text.contains("spa_auth_password_hashes_total 3\n"));
        assert!(text.contains("spa_auth_password_hashes_by_kind_total{kind=\"argon2id\"} 2\n"));
        assert!(
            text.contains(
                "spa_auth_password_hashes_by_kind_total{kind=\"django_pbkdf2_sha256\"} 1\n"
            )
        );
        assert!(text.contains(
            "spa_auth_http_requests_total{method=\"GET\",route=\"/api/me\",status=\"200\"} 1"
        ));
        assert!(text.contains("route=\"/api/auth/sessions/{id}\",status=\"404\",le=\"0.025\"} 1"));
        assert!(text.contains("route=\"/api/auth/sessions/{id}\",status=\"404\",le=\"0.01\"} 0"));
        assert!(text.contains("route=\"/api/auth/sessions/{id}\",status=\"404\",le=\"+Inf\"} 1"));
        assert!(text.contains("spa_auth_logins_total{result=\"failed\"} 1"));
        assert!(text.contains("spa_auth_logins_total{result=\"ok\"} 0"));
        assert!(text.contains("spa_auth_hash_queue_depth 3"));
        assert!(text.contains("spa_auth_session_cache_entries 7"));
        assert!(text.contains("# TYPE spa_auth_http_request_duration_seconds histogram"));
        assert!(text.contains("# TYPE spa_auth_http_requests_total counter"));
    }

    #[test]
    fn a_series_is_found_again_by_its_labels_not_their_addresses() {
        let m = Metrics::default();
        let route = String::from("/api/me").leak();
        m.request("GET", "/api/me", 200, Duration::from_millis(2));
        m.request("GET", route, 200, Duration::from_millis(2));
        m.request("GET", "/api/me", 401, Duration::from_millis(2));
        let series = m.requests.sorted();
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].latency.count.load(Ordering::Relaxed), 2);
    }
}
