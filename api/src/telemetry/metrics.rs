//! Prometheus metrics, served as text on a separate listener (`--metrics-bind`), off by
//! default: they describe the service's traffic and should not be public.

use std::{
    collections::{BTreeMap, HashMap},
    fmt::Write,
    sync::{
        LazyLock, Mutex, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    /// Observations per bucket alone, not cumulative as Prometheus shows them: one increment
    /// per request rather than one per bucket at or above it. `render` adds them up.
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

type RequestKey = (&'static str, &'static str, u16);

#[derive(Default)]
pub struct Metrics {
    requests: RwLock<HashMap<RequestKey, Histogram>>,
    logins_ok: AtomicU64,
    logins_failed: AtomicU64,
    logins_throttled: AtomicU64,
    sessions_created: AtomicU64,
    sessions_ended: AtomicU64,
    db_errors: AtomicU64,
    password_hashes: AtomicU64,
    mail_sent: AtomicU64,
    mail_failed: AtomicU64,
    /// The same hashes by verifier kind, so that one can see which work a failed login did
    /// (the decoy of an unknown name imitates the stored hashes; see `decoy`).
    hashes_by_kind: Mutex<BTreeMap<&'static str, u64>>,
}

/// One registry per process: counters are bumped from deep inside handlers, and threading a
/// handle through every call would add noise for no isolation anyone needs.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::default);

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

pub enum Login {
    Ok,
    Failed,
    Throttled,
}

impl Metrics {
    /// One answered request. `route` is a label the HTTP layer takes from its route table (a
    /// path template such as `/api/auth/sessions/{id}`, or a fixed fallback): `'static`, so
    /// that only labels the code names can become series, never a path a client made up.
    pub fn request(&self, method: &str, route: &'static str, status: u16, took: Duration) {
        let key = (method_label(method), route, status);
        if let Ok(map) = self.requests.read()
            && let Some(h) = map.get(&key)
        {
            h.observe(took);
            return;
        }
        if let Ok(mut map) = self.requests.write() {
            map.entry(key).or_default().observe(took);
        }
    }

    pub fn login(&self, outcome: Login) {
        let c = match outcome {
            Login::Ok => &self.logins_ok,
            Login::Failed => &self.logins_failed,
            Login::Throttled => &self.logins_throttled,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn sessions_created(&self, n: u64) {
        self.sessions_created.fetch_add(n, Ordering::Relaxed);
    }

    pub fn sessions_ended(&self, n: u64) {
        self.sessions_ended.fetch_add(n, Ordering::Relaxed);
    }

    /// One password hash computed (argon2 or an imported Django format), by `kind`: the
    /// algorithm (`argon2id`, ...) or the Django hasher (`django_pbkdf2_sha256`, ...).
    pub fn password_hash(&self, kind: &'static str) {
        self.password_hashes.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut by_kind) = self.hashes_by_kind.lock() {
            *by_kind.entry(kind).or_default() += 1;
        }
    }

    pub fn password_hashes(&self) -> u64 {
        self.password_hashes.load(Ordering::Relaxed)
    }

    /// Password hashes of one kind computed so far.
    pub fn password_hashes_of(&self, kind: &str) -> u64 {
        self.hashes_by_kind
            .lock()
            .ok()
            .and_then(|by_kind| by_kind.get(kind).copied())
            .unwrap_or(0)
    }

    /// One message the SMTP server (or the `log` transport) took.
    pub fn mail_sent(&self) {
        self.mail_sent.fetch_add(1, Ordering::Relaxed);
    }

    /// One message given up: refused for good, or still refused after every retry.
    pub fn mail_failed(&self) {
        self.mail_failed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn db_error(&self) {
        self.db_errors.fetch_add(1, Ordering::Relaxed);
    }

    fn render_hashes_by_kind(&self) -> String {
        let mut out = String::new();
        if let Ok(by_kind) = self.hashes_by_kind.lock() {
            for (kind, n) in by_kind.iter() {
                let _ = writeln!(
                    out,
                    "spa_auth_password_hashes_by_kind_total{{kind=\"{kind}\"}} {n}"
                );
            }
        }
        out
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn render(&self, hash_queue: usize, cache_entries: usize) -> String {
        let mut out = String::new();
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP spa_auth_http_requests_total HTTP requests by method, route and status.\n\
             # TYPE spa_auth_http_requests_total counter"
        );
        let mut hist = String::from(
            "# HELP spa_auth_http_request_duration_seconds Time to answer, by method, route and status.\n\
             # TYPE spa_auth_http_request_duration_seconds histogram\n",
        );
        if let Ok(map) = self.requests.read() {
            let mut keys: Vec<_> = map.keys().collect();
            keys.sort();
            for key @ (method, route, status) in keys {
                let Some(h) = map.get(key) else { continue };
                let labels = format!("method=\"{method}\",route=\"{route}\",status=\"{status}\"");
                let count = get(&h.count);
                let _ = writeln!(out, "spa_auth_http_requests_total{{{labels}}} {count}");
                let mut n = 0;
                for (i, le) in BUCKETS.iter().enumerate() {
                    n += get(&h.buckets[i]);
                    let _ = writeln!(
                        hist,
                        "spa_auth_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {n}"
                    );
                }
                let sum = get(&h.sum_micros) as f64 / 1e6;
                let _ = writeln!(
                    hist,
                    "spa_auth_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}\n\
                     spa_auth_http_request_duration_seconds_sum{{{labels}}} {sum}\n\
                     spa_auth_http_request_duration_seconds_count{{{labels}}} {count}"
                );
            }
        }
        out.push_str(&hist);
        let _ = writeln!(
            out,
            "# HELP spa_auth_logins_total Login attempts by result.\n\
             # TYPE spa_auth_logins_total counter\n\
             spa_auth_logins_total{{result=\"ok\"}} {}\n\
             spa_auth_logins_total{{result=\"failed\"}} {}\n\
             spa_auth_logins_total{{result=\"throttled\"}} {}\n\
             # HELP spa_auth_sessions_created_total Sessions opened.\n\
             # TYPE spa_auth_sessions_created_total counter\n\
             spa_auth_sessions_created_total {}\n\
             # HELP spa_auth_sessions_ended_total Sessions ended before expiry (logout, revocation, password change, deactivation).\n\
             # TYPE spa_auth_sessions_ended_total counter\n\
             spa_auth_sessions_ended_total {}\n\
             # HELP spa_auth_database_errors_total Requests that failed on a database error.\n\
             # TYPE spa_auth_database_errors_total counter\n\
             spa_auth_database_errors_total {}\n\
             # HELP spa_auth_password_hashes_total Password hashes computed (verifications and new hashes).\n\
             # TYPE spa_auth_password_hashes_total counter\n\
             spa_auth_password_hashes_total {}\n\
             # HELP spa_auth_password_hashes_by_kind_total Password hashes computed, by verifier kind (algorithm or Django hasher).\n\
             # TYPE spa_auth_password_hashes_by_kind_total counter\n\
             {}\
             # HELP spa_auth_mail_sent_total Messages delivered to the SMTP server (or the log transport).\n\
             # TYPE spa_auth_mail_sent_total counter\n\
             spa_auth_mail_sent_total {}\n\
             # HELP spa_auth_mail_failed_total Messages given up: refused for good, or after every retry.\n\
             # TYPE spa_auth_mail_failed_total counter\n\
             spa_auth_mail_failed_total {}\n\
             # HELP spa_auth_hash_queue_depth Password checks waiting for a hashing slot.\n\
             # TYPE spa_auth_hash_queue_depth gauge\n\
             spa_auth_hash_queue_depth {hash_queue}\n\
             # HELP spa_auth_session_cache_entries Sessions cached by this instance.\n\
             # TYPE spa_auth_session_cache_entries gauge\n\
             spa_auth_session_cache_entries {cache_entries}",
            get(&self.logins_ok),
            get(&self.logins_failed),
            get(&self.logins_throttled),
            get(&self.sessions_created),
            get(&self.sessions_ended),
            get(&self.db_errors),
            get(&self.password_hashes),
            self.render_hashes_by_kind(),
            get(&self.mail_sent),
            get(&self.mail_failed),
        );
        out
    }
}

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
        assert!(text.contains("spa_auth_mail_sent_total 2\n"));
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
        assert!(text.contains("spa_auth_logins_total{result=\"failed\"} 1"));
        assert!(text.contains("spa_auth_hash_queue_depth 3"));
        assert!(text.contains("spa_auth_session_cache_entries 7"));
    }
}
