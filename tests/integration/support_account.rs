//! Helpers shared by the account-security tests (csrf, throttling, account, roles, hygiene,
//! limits, spa, metrics, proptests): sessions opened without hashing, requests with arbitrary
//! headers, a second instance on the same database, and the real CLI binary.

use std::{process::Stdio, time::Duration};

use reqwest::Method;
use spa_auth::{
    sessions::ClientInfo,
    {http::state::AppState, server::Application},
};
use spa_auth_tests::{Response, StatusCode, TestApp, base_args, header, parse_settings};
use tokio::sync::oneshot;

/// Throttle limits far above what any test reaches, for tests about something else.
pub const NO_THROTTLE: [&str; 6] = [
    "--throttle-per-pair",
    "100000",
    "--throttle-per-ip",
    "100000",
    "--throttle-per-account",
    "100000",
];

/// Opens a session for `user_id` straight through the service's own session store (no
/// password hashing, so tests that need many sessions stay fast); returns the cookie token.
pub async fn open_session(app: &TestApp, user_id: uuid::Uuid, user_agent: &str) -> String {
    open_session_in(&app.state, user_id, user_agent).await
}

pub async fn open_session_in(state: &AppState, user_id: uuid::Uuid, user_agent: &str) -> String {
    let client = ClientInfo {
        user_agent: Some(user_agent.into()),
        ip: Some("127.0.0.1".into()),
    };
    let (token, _) = state
        .sessions
        .create(user_id, &client)
        .await
        .expect("cannot open a session");
    token.expose().to_owned()
}

/// Sends `method path` with the session cookie (if any) and extra headers.
pub async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> Response {
    send_body(app, method, path, token, headers, None).await
}

/// Like [`send`], with a JSON body.
pub async fn send_body(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    json: Option<&serde_json::Value>,
) -> Response {
    let mut req = app.client.request(method.clone(), app.url(path));
    if let Some(t) = token {
        req = req.header(header::COOKIE, app.cookie_header(t));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(body) = json {
        req = req.json(body);
    }
    req.send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path} failed: {e}"))
}

/// `POST /api/auth/password` with the given session and JSON body.
pub async fn change_password(
    app: &TestApp,
    token: &str,
    current: &str,
    new: &str,
    headers: &[(&str, &str)],
) -> Response {
    let body = serde_json::json!({"current_password": current, "new_password": new});
    send_body(
        app,
        Method::POST,
        "/api/auth/password",
        Some(token),
        headers,
        Some(&body),
    )
    .await
}

/// `POST /api/auth/login` with Basic credentials and extra headers.
pub async fn login_with(
    app: &TestApp,
    username: &str,
    password: &str,
    headers: &[(&str, &str)],
) -> Response {
    let mut req = app
        .client
        .post(app.url("/api/auth/login"))
        .basic_auth(username, Some(password));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("login request failed")
}

/// `GET /api/me` and the user's roles, asserting 200.
pub async fn roles_of(app: &TestApp, token: &str) -> Vec<String> {
    let resp = app.me(Some(token)).await;
    assert_eq!(resp.status(), StatusCode::OK, "GET /api/me");
    let body: serde_json::Value = resp.json().await.expect("me body");
    body["roles"]
        .as_array()
        .expect("roles is an array")
        .iter()
        .map(|r| r.as_str().expect("role is a string").to_owned())
        .collect()
}

/// Another instance of the service on the database of `app`, with extra arguments.
pub struct Instance {
    pub address: String,
    pub port: u16,
    pub metrics_port: Option<u16>,
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Instance {
    pub async fn start(database_url: &str, extra: &[&str]) -> Instance {
        let mut args = base_args(database_url);
        args.extend(extra.iter().map(|s| s.to_string()));
        let settings = parse_settings(&args);
        let app = Application::build(&settings)
            .await
            .unwrap_or_else(|e| panic!("the second instance did not start: {e}"));
        let port = app.port();
        let metrics_port = app.metrics_port();
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        Instance {
            address: format!("http://127.0.0.1:{port}"),
            port,
            metrics_port,
            state,
            shutdown: Some(tx),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Runs the real `spa-auth` binary against the database of `app`; returns stdout, panicking
/// unless it succeeds. The CLI returns only once every instance has seen its change.
pub async fn cli(app: &TestApp, args: &[&str]) -> String {
    let bin = spa_auth_tests::spa_auth_binary();
    assert!(
        bin.exists(),
        "{} does not exist: build it first (cargo build -p spa-auth --bins)",
        bin.display()
    );
    let mut cmd = std::process::Command::new(&bin);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("SPA_AUTH_") || key == "DATABASE_URL" {
            cmd.env_remove(key);
        }
    }
    cmd.args(args)
        .args(["--database-url", &app.test_db.url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let run = tokio::task::spawn_blocking(move || cmd.output());
    let out = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the CLI did not finish within 30 s")
        .expect("the CLI task panicked")
        .expect("cannot run the CLI");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "spa-auth {args:?} failed ({}): {stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The three headers every response must carry.
pub fn assert_hygiene(resp: &Response, what: &str) {
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
    ] {
        let got = resp.headers().get(name).and_then(|v| v.to_str().ok());
        assert_eq!(
            got,
            Some(value),
            "{what}: {name} is {got:?} (status {})",
            resp.status()
        );
    }
}

/// A response header as a string, if present.
pub fn header_str<'r>(resp: &'r Response, name: &str) -> Option<&'r str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}
