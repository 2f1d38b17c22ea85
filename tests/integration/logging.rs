//! Secrets never reach the logs, even at TRACE; the audit events do. JSON lines carry each
//! field once; text written to a pipe has no colour codes.
//!
//! The subscriber is global to the process; nextest runs every test in a process of its own.

use spa_auth_tests::{Db, StatusCode, basic_credentials, db_test, spawn_app, with_trace_logs};

const PASSWORD: &str = "s3cret-Horse-battery";
const WRONG_PASSWORD: &str = "wr0ng-Staple-donkey";

fn run(db: Db) {
    let (token, text) = with_trace_logs(async {
        let app = spawn_app(db).await;
        app.create_user("alice", PASSWORD).await;

        let token = app.login_ok("alice", PASSWORD).await;
        assert_eq!(app.me(Some(&token)).await.status(), StatusCode::OK);
        assert_eq!(
            app.logout(Some(&token)).await.status(),
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            app.me(Some(&token)).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            app.login("alice", WRONG_PASSWORD).await.status(),
            StatusCode::UNAUTHORIZED
        );
        token
    });
    assert!(
        text.contains("\"level\":\"TRACE\"") || text.contains("\"level\":\"DEBUG\""),
        "the subscriber did not record below INFO; the test would prove little:\n{text}"
    );
    let secrets = [
        ("the password", PASSWORD.to_owned()),
        ("the wrong password", WRONG_PASSWORD.to_owned()),
        ("the session token", token.clone()),
        (
            "the Basic credentials",
            basic_credentials("alice", PASSWORD),
        ),
        (
            "the wrong Basic credentials",
            basic_credentials("alice", WRONG_PASSWORD),
        ),
    ];
    for (what, secret) in secrets {
        if let Some(line) = text.lines().find(|l| l.contains(&secret)) {
            panic!("{what} is in the log: {line}");
        }
    }
    for header in ["Cookie:", "cookie:", "Authorization:", "authorization:"] {
        if let Some(line) = text.lines().find(|l| l.contains(header)) {
            panic!("a {header} header is in the log: {line}");
        }
    }
    for event in ["login_succeeded", "login_failed", "logout"] {
        assert!(
            text.lines()
                .any(|l| l.contains(&format!("\"event\":\"{event}\""))),
            "no audit event {event} in the log:\n{text}"
        );
    }
}

mod secrets_never_reach_the_logs {
    #[test]
    fn sqlite() {
        super::run(spa_auth_tests::Db::Sqlite)
    }

    #[test]
    fn postgres() {
        super::run(spa_auth_tests::Db::Postgres)
    }
}

/// JSON lines as a collector reads them: the request's outcome is one line with every field,
/// the request id (here the client's own) comes once, from the span, on it and on every line
/// logged inside the request.
fn json_lines(db: Db) {
    let ((), text) = with_trace_logs(async {
        let app = spawn_app(db).await;
        app.create_user("alice", PASSWORD).await;
        for (path, id) in [("/healthz", "probe-7f3a"), ("/api/me", "me-19c2")] {
            let resp = app
                .client
                .get(app.url(path))
                .header("x-request-id", id)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.headers()["x-request-id"], id);
        }
        let resp = app
            .client
            .post(app.url("/api/auth/login"))
            .basic_auth("alice", Some(PASSWORD))
            .header("x-request-id", "login-4d1e")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    });
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let finished = |id: &str| {
        let mut found = lines
            .iter()
            .filter(|l| l["message"] == "request finished" && l["span"]["request_id"] == id);
        let line = found
            .next()
            .unwrap_or_else(|| panic!("no request line for {id}:\n{text}"));
        assert!(found.next().is_none(), "two request lines for {id}");
        line
    };
    for (id, method, path, status) in [
        ("probe-7f3a", "GET", "/healthz", 200),
        ("me-19c2", "GET", "/api/me", 401),
        ("login-4d1e", "POST", "/api/auth/login", 200),
    ] {
        let line = finished(id);
        assert_eq!(line["method"], method, "{line}");
        assert_eq!(line["path"], path, "{line}");
        assert_eq!(line["status"], status, "{line}");
        assert!(
            line["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
            "{line}"
        );
        assert_eq!(line["level"], "INFO", "{line}");
    }
    let login_audit = lines
        .iter()
        .find(|l| l["event"] == "login_succeeded")
        .unwrap_or_else(|| panic!("no login_succeeded line:\n{text}"));
    assert_eq!(
        login_audit["span"]["request_id"], "login-4d1e",
        "{login_audit}"
    );
    for (raw, line) in text.lines().zip(&lines) {
        assert!(
            line.get("spans").is_none(),
            "the span list repeats the span: {raw}"
        );
        assert!(
            raw.matches("\"request_id\"").count() <= 1,
            "a field twice: {raw}"
        );
        for field in ["\"method\"", "\"path\"", "\"status\"", "\"latency_ms\""] {
            assert!(raw.matches(field).count() <= 1, "{field} twice: {raw}");
        }
    }
}

mod json_lines_carry_each_request_field_once {
    #[test]
    fn sqlite() {
        super::json_lines(spa_auth_tests::Db::Sqlite)
    }

    #[test]
    fn postgres() {
        super::json_lines(spa_auth_tests::Db::Postgres)
    }
}

/// What `spa-auth serve` writes to a pipe (text lines) with `RUST_LOG=rust_log` while
/// `requests` runs against its base URL.
async fn text_log<F>(db: Db, rust_log: &str, requests: impl FnOnce(String) -> F) -> String
where
    F: std::future::Future<Output = ()>,
{
    use std::io::Read;
    let test_db = spa_auth_tests::TestDb::create(db).await;
    let mut child = spa_auth_tests::command()
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            &test_db.url,
        ])
        .env("RUST_LOG", rust_log)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cannot start spa-auth");
    let port = spa_auth_tests::announced_port(&mut child).await;
    requests(format!("http://127.0.0.1:{port}")).await;
    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let mut stdout = child.stdout.take().expect("piped");
    let out = tokio::task::spawn_blocking(move || {
        let mut out = String::new();
        stdout.read_to_string(&mut out).map(|_| out)
    })
    .await
    .unwrap()
    .unwrap();
    child.wait().unwrap();
    out
}

db_test!(
    async fn text_logs_to_a_pipe_have_no_colour_codes(db) {
        let out = text_log(db, "info", |base| async move {
            let resp = reqwest::get(format!("{base}/healthz")).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
        })
        .await;
        assert!(
            out.lines().any(|l| l.contains("request finished") && l.contains("path=\"/healthz\"")),
            "no request line:\n{out}"
        );
        assert!(!out.contains('\x1b'), "colour codes in a log that is not a terminal:\n{out:?}");
    }
);

// The request's id reaches its text lines through a label where nothing else reads a span
// (`telemetry::request_label`), through a span where a `RUST_LOG` directive names it: the
// lines are the same, the audit line inside the request included.
db_test!(
    async fn text_lines_read_the_same_with_the_request_in_a_span_or_a_label(db) {
        const ODD_ID: &str = r#"quote"and\back"#;
        async fn requests(base: String) {
            let client = reqwest::Client::new();
            for (path, id, status) in [
                ("/healthz", "probe-1", StatusCode::OK),
                ("/api/me", "me-2", StatusCode::UNAUTHORIZED),
                ("/api/nowhere", "nf-3", StatusCode::NOT_FOUND),
            ] {
                let resp = client
                    .get(format!("{base}{path}"))
                    .header("x-request-id", id)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), status, "{path}");
            }
            let resp = client
                .post(format!("{base}/api/auth/login"))
                .basic_auth("nobody", Some(WRONG_PASSWORD))
                .header("x-request-id", ODD_ID)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        }
        // The request's lines, the timestamp and the latency (which vary) cut out.
        let lines = |out: &str| -> Vec<String> {
            out.lines()
                .filter(|l| l.contains(" request{"))
                .map(|l| {
                    let l = &l["2026-11-30T13:24:25.435072Z".len()..];
                    match l.split_once(" latency_ms=") {
                        Some((head, tail)) => {
                            let rest = tail.split_once(' ').map_or("", |(_, rest)| rest);
                            format!("{head} latency_ms=_ {rest}")
                        }
                        None => l.to_owned(),
                    }
                })
                .collect()
        };
        let labelled = text_log(db, "info", requests).await;
        let in_span = text_log(db, "info,spa_auth[request]=info", requests).await;
        let (labelled, in_span) = (lines(&labelled), lines(&in_span));
        assert_eq!(labelled.len(), 5, "{labelled:#?}");
        let audit = format!("request{{request_id={ODD_ID:?}}}: ");
        assert!(
            labelled.iter().any(|l| l.contains(&audit) && l.contains("login_failed")),
            "no audit line inside the request: {labelled:#?}"
        );
        assert_eq!(labelled, in_span);
    }
);
