//! Prometheus metrics on their own listener (`--metrics-bind`), never on the main port.
//! Counters are per process; nextest runs each test in a process of its own, so exact counts
//! are checked there and lower bounds elsewhere.

use spa_auth_tests::{Instance, StatusCode, TestApp, db_test, error_body, spawn_app_with};

fn own_process() -> bool {
    std::env::var("NEXTEST_EXECUTION_MODE").is_ok_and(|m| m == "process-per-test")
}

/// The value of the sample with exactly this name and labels.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

db_test!(
    async fn metrics_count_logins_and_requests_on_their_own_port(db) {
        // The test app has no metrics; a second instance on the same database does, so its
        // port is known from `Application::metrics_port`.
        let app: TestApp = spawn_app_with(db, |_| {}).await;
        let inst = Instance::start(&app.test_db.url, &["--metrics-bind", "127.0.0.1:0"]).await;
        let metrics_port = inst.metrics_port.expect("no metrics port");
        assert_ne!(metrics_port, inst.port);
        app.create_user("alice", "correct horse battery").await;

        let client = &app.client;
        let resp = inst.login("alice", "correct horse battery").await;
        assert_eq!(resp.status(), StatusCode::OK);
        let token = app.session_cookie(&resp).unwrap();
        let resp = inst.login("alice", "wrong password").await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        let resp = inst.me(Some(&token)).await;
        assert_eq!(resp.status(), StatusCode::OK);

        let resp = client
            .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let ct = resp.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/plain"), "{ct}");
        let text = resp.text().await.unwrap();

        let ok = sample(&text, "spa_auth_logins_total{result=\"ok\"}").expect("no ok logins");
        let failed =
            sample(&text, "spa_auth_logins_total{result=\"failed\"}").expect("no failed logins");
        let me = sample(
            &text,
            "spa_auth_http_requests_total{method=\"GET\",route=\"/api/me\",status=\"200\"}",
        )
        .expect("no /api/me request counter");
        let login_401 = sample(
            &text,
            "spa_auth_http_requests_total{method=\"POST\",route=\"/api/auth/login\",status=\"401\"}",
        )
        .expect("no failed login request counter");
        if own_process() {
            assert_eq!((ok, failed, me, login_401), (1.0, 1.0, 1.0, 1.0), "{text}");
        } else {
            assert!(ok >= 1.0 && failed >= 1.0 && me >= 1.0 && login_401 >= 1.0, "{text}");
        }
        // A histogram for the same series, with cumulative buckets ending in +Inf = count.
        let labels = "method=\"GET\",route=\"/api/me\",status=\"200\"";
        let inf = sample(
            &text,
            &format!("spa_auth_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}}"),
        )
        .expect("no +Inf bucket");
        let count = sample(
            &text,
            &format!("spa_auth_http_request_duration_seconds_count{{{labels}}}"),
        )
        .expect("no _count");
        assert_eq!(inf, count);
        assert!(
            sample(&text, &format!("spa_auth_http_request_duration_seconds_sum{{{labels}}}"))
                .is_some(),
            "no _sum"
        );
        let buckets: Vec<f64> = text
            .lines()
            .filter(|l| {
                l.starts_with(&format!("spa_auth_http_request_duration_seconds_bucket{{{labels},"))
            })
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        assert!(buckets.len() >= 5, "too few buckets: {buckets:?}");
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "buckets not cumulative: {buckets:?}");
        assert!(text.contains("# TYPE spa_auth_http_request_duration_seconds histogram"));
        // The token never shows up in metrics.
        assert!(!text.contains(&token));

        // Not on the main ports.
        for base in [&inst.address, &app.address] {
            let resp = client.get(format!("{base}/metrics")).send().await.unwrap();
            let (status, _, _) = error_body(resp).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{base}/metrics");
        }
    }
);

db_test!(
    async fn metrics_are_off_by_default(db) {
        let app = spawn_app_with(db, |_| {}).await;
        let inst = Instance::start(&app.test_db.url, &[]).await;
        assert_eq!(inst.metrics_port, None);
        let resp = app.client.get(app.url("/metrics")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
);

db_test!(
    async fn metrics_include_the_build_and_the_process(db) {
        let app = spawn_app_with(db, |_| {}).await;
        let inst = Instance::start(&app.test_db.url, &["--metrics-bind", "127.0.0.1:0"]).await;
        let metrics_port = inst.metrics_port.expect("no metrics port");
        let scrape = || async {
            app.client
                .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        };
        let text = scrape().await;
        let version = env!("CARGO_PKG_VERSION");
        assert_eq!(
            sample(&text, &format!("spa_auth_build_info{{version=\"{version}\"}}")),
            Some(1.0),
            "{text}"
        );
        assert!(text.contains("# TYPE spa_auth_build_info gauge"), "{text}");
        if cfg!(target_os = "linux") {
            // This test process is the service's process: its own numbers must match.
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let rss_kib: f64 = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .expect("VmRSS");
            let rss = sample(&text, "process_resident_memory_bytes").expect("no RSS");
            assert!(
                (rss / 1024.0 - rss_kib).abs() < rss_kib * 0.5,
                "RSS {rss} bytes, /proc says {rss_kib} KiB"
            );
            let cpu = sample(&text, "process_cpu_seconds_total").expect("no CPU seconds");
            assert!(cpu > 0.0, "{text}");
            assert!(text.contains("# TYPE process_cpu_seconds_total counter"), "{text}");
            let fds = sample(&text, "process_open_fds").expect("no open fds");
            // Ten more open files show up as about ten more descriptors (a connection may
            // open or close meanwhile).
            let files: Vec<_> = (0..10).map(|_| tempfile::tempfile().unwrap()).collect();
            let more = sample(&scrape().await, "process_open_fds").expect("no open fds");
            drop(files);
            assert!(more >= fds + 8.0 && more <= fds + 40.0, "{fds} then {more}");
            let max = sample(&text, "process_max_fds").expect("no max fds");
            assert!(max >= more, "{max}");
            let started = sample(&text, "process_start_time_seconds").expect("no start time");
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64();
            assert!(started <= now && started > now - 3600.0, "{started} vs {now}");
            assert!(sample(&text, "process_threads").is_some_and(|t| t >= 2.0), "{text}");
        }
    }
);
