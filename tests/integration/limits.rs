//! Request limits: body size (413), body time (408), header size (431), and bodies of the
//! wrong shape (400) or type (415). Always a JSON error, never a 5xx, and nothing changes.

use std::time::{Duration, Instant};

use reqwest::Method;
use spa_auth_tests::{Db, StatusCode, TestApp, db_test, error_body, spawn_app, spawn_app_with};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// A raw HTTP/1.1 response.
#[derive(Debug)]
pub(crate) struct Raw {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Checks a JSON `{code, message}` error of this status and code.
    pub(crate) fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        let ct = self.header("content-type").unwrap_or_default();
        assert!(ct.starts_with("application/json"), "not JSON: {self:?}");
        let json: serde_json::Value = serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {self:?}"));
        assert_eq!(json["code"], code, "{self:?}");
        assert!(
            json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{self:?}"
        );
    }
}

fn parse_raw(bytes: &[u8]) -> Raw {
    let text = String::from_utf8_lossy(bytes);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete response head: {text:?}"));
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        let mut out = String::new();
        let mut rest = rest;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(&after[..n.min(after.len())]);
            rest = after.get(n + 2..).unwrap_or_default();
        }
        out
    } else {
        rest.to_owned()
    };
    Raw {
        status,
        headers,
        body,
    }
}

/// Writes `parts` to a fresh connection, pausing `pause` between them, then reads the
/// response until the server closes the connection (at most `read_for`).
pub(crate) async fn raw_exchange(
    port: u16,
    parts: &[&[u8]],
    pause: Duration,
    read_for: Duration,
) -> Raw {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let parts: Vec<Vec<u8>> = parts.iter().map(|p| p.to_vec()).collect();
    // Written alongside the reading, so an early answer is read before writes to a closed
    // connection could reset it.
    let writing = tokio::spawn(async move {
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(pause).await;
            }
            if writer.write_all(part).await.is_err() {
                break;
            }
        }
        writer
    });
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(read_for, async {
        let mut chunk = [0u8; 4096];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if response_complete(&buf) {
                        break;
                    }
                }
            }
        }
    })
    .await;
    writing.abort();
    parse_raw(&buf)
}

/// Whether `buf` holds a whole response with a `Content-Length` body.
fn response_complete(buf: &[u8]) -> bool {
    let text = String::from_utf8_lossy(buf);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .is_some_and(|n| body.len() >= n)
}

async fn limited_app(db: Db) -> TestApp {
    spawn_app_with(db, |args| {
        args.extend(["--max-body-bytes", "1024", "--body-timeout", "1s"].map(String::from));
    })
    .await
}

fn password_head(app: &TestApp, token: &str, extra: &str) -> String {
    format!(
        "POST /api/auth/password HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nCookie: {}\r\n\
         Content-Type: application/json\r\nConnection: close\r\n{extra}\r\n",
        app.port,
        app.cookie_header(token)
    )
}

db_test!(
    async fn a_body_over_the_limit_is_a_json_413(db) {
        let app = limited_app(db).await;
        let alice = app.create_user("alice", "correct horse battery").await;
        let token = app.open_session(alice.id, "browser").await;
        let hash = app.user("alice").await.password_hash;
        let big = serde_json::json!({
            "current_password": "correct horse battery",
            "new_password": "y".repeat(1500),
        });

        // Declared with Content-Length.
        let resp = app.send_body(
            Method::POST,
            "/api/auth/password",
            Some(&big),
            Some(&token),
            &[],
        )
        .await;
        let (status, code, _) = error_body(resp).await;
        assert_eq!((status, code.as_str()), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));

        // Undeclared, chunked: the limit holds while reading.
        let body = big.to_string();
        let chunk = format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
        let head = password_head(&app, &token, "Transfer-Encoding: chunked\r\n");
        let raw = raw_exchange(
            app.port,
            &[head.as_bytes(), chunk.as_bytes()],
            Duration::ZERO,
            Duration::from_secs(5),
        )
        .await;
        raw.assert_error(413, "payload_too_large");

        // Login takes no body, and a large one is refused the same way.
        let resp = app
            .client
            .post(app.url("/api/auth/login"))
            .basic_auth("alice", Some("correct horse battery"))
            .body(vec![b'x'; 4096])
            .send()
            .await
            .unwrap();
        assert!(app.session_cookie(&resp).is_none());
        let (status, code, _) = error_body(resp).await;
        assert_eq!((status, code.as_str()), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));

        assert_eq!(app.user("alice").await.password_hash, hash);
        assert_eq!(app.me(Some(&token)).await.status(), StatusCode::OK);
        // Just under the limit is fine (here: a wrong current password, so the body was read).
        let ok = serde_json::json!({"current_password": "nope", "new_password": "z".repeat(900)});
        let resp = app.send_body(
            Method::POST,
            "/api/auth/password",
            Some(&ok),
            Some(&token),
            &[],
        )
        .await;
        let (status, code, _) = error_body(resp).await;
        assert_eq!((status, code.as_str()), (StatusCode::FORBIDDEN, "wrong_current_password"));
    }
);

db_test!(
    async fn a_trickling_body_is_a_json_408(db) {
        let app = limited_app(db).await;
        let alice = app.create_user_with_hash("alice", None).await;
        let token = app.open_session(alice.id, "browser").await;

        // Headers and part of the body, then nothing.
        let head = password_head(&app, &token, "Content-Length: 100\r\n");
        let started = Instant::now();
        let raw = raw_exchange(
            app.port,
            &[head.as_bytes(), b"{\"current_pass"],
            Duration::from_millis(50),
            Duration::from_secs(5),
        )
        .await;
        let took = started.elapsed();
        raw.assert_error(408, "request_timeout");
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(4),
            "408 after {took:?}, with a 1 s body timeout"
        );

        // A byte every 400 ms: each arrives in time, the whole does not.
        let head = password_head(&app, &token, "Content-Length: 40\r\n");
        let raw = raw_exchange(
            app.port,
            &[head.as_bytes(), b"{", b"\"", b"c", b"u", b"r", b"r"],
            Duration::from_millis(400),
            Duration::from_secs(5),
        )
        .await;
        raw.assert_error(408, "request_timeout");

        assert_eq!(app.me(Some(&token)).await.status(), StatusCode::OK);
        assert_eq!(app.healthz().await.status(), StatusCode::OK);
    }
);

db_test!(
    async fn headers_over_16_kib_are_a_json_431(db) {
        let app = spawn_app(db).await;
        let alice = app.create_user_with_hash("alice", None).await;
        let token = app.open_session(alice.id, "browser").await;

        // One big header.
        let big = "a".repeat(17 * 1024);
        let resp = app.send(Method::GET, "/api/me", Some(&token), &[("x-padding", &big)]).await;
        let (status, code, _) = error_body(resp).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "headers_too_large")
        );

        // Many small ones adding up.
        let value = "b".repeat(500);
        let names: Vec<String> = (0..40).map(|i| format!("x-pad-{i}")).collect();
        let headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), value.as_str())).collect();
        let resp = app.send(Method::GET, "/api/me", Some(&token), &headers).await;
        let (status, code, _) = error_body(resp).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "headers_too_large")
        );

        // A huge cookie next to the real one, on login.
        let cookie = format!("{}; junk={}", app.cookie_header(&token), "c".repeat(17 * 1024));
        let resp = app.login_with("alice", "whatever", &[("cookie", &cookie)]).await;
        let (status, code, _) = error_body(resp).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "headers_too_large")
        );

        // Under the limit is fine.
        let small = "a".repeat(8 * 1024);
        let resp = app.send(Method::GET, "/api/me", Some(&token), &[("x-padding", &small)]).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(app.session_for(&token).await.is_some());
    }
);

/// `POST /api/auth/password` with a raw body and content type; (status, code).
async fn post_password(
    app: &TestApp,
    token: &str,
    content_type: Option<&str>,
    body: &str,
) -> (StatusCode, String) {
    let mut req = app
        .client
        .post(app.url("/api/auth/password"))
        .header("cookie", app.cookie_header(token));
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = req.body(body.to_owned()).send().await.unwrap();
    let status = resp.status();
    if status.is_success() {
        return (status, String::new());
    }
    let (status, code, _) = error_body(resp).await;
    (status, code)
}

const VALID: &str =
    r#"{"current_password": "correct horse battery", "new_password": "a brand new secret"}"#;

db_test!(
    async fn wrong_json_types_in_the_password_body_are_a_json_400(db) {
        let app = spawn_app(db).await;
        let alice = app.create_user("alice", "correct horse battery").await;
        let token = app.open_session(alice.id, "browser").await;
        let hash = app.user("alice").await.password_hash;

        // The spec says both fields are strings; nothing else may be taken for one.
        let mut wrong = Vec::new();
        for body in [
            r#"{"current_password": 123, "new_password": "a brand new secret"}"#,
            r#"{"current_password": "correct horse battery", "new_password": true}"#,
            r#"{"current_password": "correct horse battery", "new_password": null}"#,
            r#"{"current_password": ["correct horse battery"], "new_password": "x"}"#,
            r#"{"current_password": {}, "new_password": "a brand new secret"}"#,
            // Last: if taken for a string, it changes the password and rotates the session.
            r#"{"current_password": "correct horse battery", "new_password": 73914682530417}"#,
        ] {
            let got = post_password(&app, &token, Some("application/json"), body).await;
            if got != (StatusCode::BAD_REQUEST, "bad_request".to_owned()) {
                wrong.push(format!("{body} -> {} {}", got.0, got.1));
            }
        }
        if app.user("alice").await.password_hash != hash {
            wrong.push("and the password was changed by one of them".into());
        }
        assert!(wrong.is_empty(), "wrongly typed bodies not refused with 400:\n{}", wrong.join("\n"));
    }
);

db_test!(
    async fn malformed_password_bodies_are_a_json_400_or_415(db) {
        let app = spawn_app(db).await;
        let alice = app.create_user("alice", "correct horse battery").await;
        let token = app.open_session(alice.id, "browser").await;
        let hash = app.user("alice").await.password_hash;

        let mut wrong = Vec::new();
        for body in [
            r#"{"current_password": "correct horse battery"}"#,
            r#"{"new_password": "a brand new secret"}"#,
            r#"{}"#,
            r#"[]"#,
            r#""a string""#,
            r#"null"#,
            r#"{"current_password": "correct horse battery", "new_password": "a brand new"#,
            "",
            "not json at all",
        ] {
            let got = post_password(&app, &token, Some("application/json"), body).await;
            if got != (StatusCode::BAD_REQUEST, "bad_request".to_owned()) {
                wrong.push(format!("{body:?} -> {} {}", got.0, got.1));
            }
        }
        for ct in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"] {
            let got = post_password(&app, &token, Some(ct), VALID).await;
            if got != (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type".to_owned()) {
                wrong.push(format!("Content-Type {ct} -> {} {}", got.0, got.1));
            }
        }
        let (status, _) = post_password(&app, &token, None, VALID).await;
        if !matches!(status, StatusCode::BAD_REQUEST | StatusCode::UNSUPPORTED_MEDIA_TYPE) {
            wrong.push(format!("no Content-Type -> {status}"));
        }
        assert!(wrong.is_empty(), "malformed bodies not refused as expected:\n{}", wrong.join("\n"));

        assert_eq!(app.user("alice").await.password_hash, hash, "a malformed request changed it");
        assert_eq!(app.me(Some(&token)).await.status(), StatusCode::OK);
        // A JSON content type with parameters is still JSON: this one is read and works.
        let (status, _) =
            post_password(&app, &token, Some("application/json; charset=utf-8"), VALID).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
);

db_test!(
    async fn header_limit_answers_carry_the_hygiene_headers(db) {
        let app = spawn_app(db).await;
        let big = "a".repeat(17 * 1024);
        let resp = app.send(Method::GET, "/api/me", None, &[("x-padding", &big)]).await;
        assert_eq!(resp.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        spa_auth_tests::assert_hygiene(&resp, "431 on /api/me");
        assert_eq!(
            spa_auth_tests::header_str(&resp, "cache-control"),
            Some("no-store"),
            "431 on /api/me"
        );
    }
);

db_test!(
    async fn many_small_headers_over_16_kib_are_a_json_431(db) {
        let app = spawn_app(db).await;
        // 90 headers of about 210 bytes: 18 KiB in all, each one small, and fewer than the
        // 100 fields hyper accepts, so the request reaches spa-auth's own limit.
        let value = "d".repeat(200);
        let names: Vec<String> = (0..90).map(|i| format!("x-h-{i}")).collect();
        let headers: Vec<(&str, &str)> =
            names.iter().map(|n| (n.as_str(), value.as_str())).collect();
        let resp = app.send(Method::GET, "/api/me", None, &headers).await;
        let (status, code, _) = error_body(resp).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "headers_too_large")
        );
    }
);

db_test!(
    async fn more_than_a_hundred_header_fields_are_a_431(db) {
        let app = spawn_app(db).await;
        // hyper refuses more than 100 fields before poem sees the request; its 431 has an
        // empty body (poem 3.1 does not expose hyper's max_headers). Still a 4xx, never a 5xx,
        // and the service keeps answering.
        let names: Vec<String> = (0..120).map(|i| format!("x-h-{i}")).collect();
        let headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "d")).collect();
        let resp = app.send(Method::GET, "/api/me", None, &headers).await;
        assert_eq!(resp.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        let health = app.send(Method::GET, "/healthz", None, &[]).await;
        assert_eq!(health.status(), StatusCode::OK);
    }
);

/// Reads one response from `stream`, or what arrived before the server closed it or `within`
/// passed; with the time that took.
async fn read_response(stream: &mut TcpStream, within: Duration) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(within, async {
        let mut chunk = [0u8; 4096];
        while let Ok(n @ 1..) = stream.read(&mut chunk).await {
            buf.extend_from_slice(&chunk[..n]);
            if response_complete(&buf) {
                break;
            }
        }
    })
    .await;
    (buf, started.elapsed())
}

async fn header_timeout_app(db: Db) -> TestApp {
    spawn_app_with(db, |args| {
        args.extend(["--header-timeout", "2s"].map(String::from))
    })
    .await
}

db_test!(
    async fn a_request_head_trickling_in_is_cut_off_at_the_header_timeout(db) {
        // One byte every 300 ms never trips the idle timeout (60 s between reads), but the
        // whole head must arrive within 2 s of its first byte.
        let app = header_timeout_app(db).await;
        let stream = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        let head = format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: {}", "a".repeat(100));
        let dripping = tokio::spawn(async move {
            for b in head.bytes() {
                if writer.write_all(&[b]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
        let started = Instant::now();
        let mut buf = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(8), async {
            let mut chunk = [0u8; 1024];
            while let Ok(n @ 1..) = reader.read(&mut chunk).await {
                buf.extend_from_slice(&chunk[..n]);
            }
        })
        .await;
        let took = started.elapsed();
        dripping.abort();
        assert!(closed.is_ok(), "still connected after {took:?}");
        assert!(
            buf.is_empty() || buf.starts_with(b"HTTP/1.1 408"),
            "answered {:?}",
            String::from_utf8_lossy(&buf)
        );
        assert!(
            took >= Duration::from_millis(1800) && took <= Duration::from_secs(3),
            "disconnected after {took:?}, not about 2 s"
        );
    }
);

db_test!(
    async fn a_keep_alive_connection_outlives_the_header_timeout_between_requests(db) {
        let app = header_timeout_app(db).await;
        let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
        // A request with a body, answered; then a pause longer than the header timeout.
        let first = "POST /api/auth/logout HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                     Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
        stream.write_all(first.as_bytes()).await.unwrap();
        let (buf, _) = read_response(&mut stream, Duration::from_secs(5)).await;
        parse_raw(&buf).assert_error(401, "not_authenticated");
        tokio::time::sleep(Duration::from_secs(3)).await;

        let second = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
        stream.write_all(second.as_bytes()).await.unwrap();
        let (buf, _) = read_response(&mut stream, Duration::from_secs(5)).await;
        assert!(!buf.is_empty(), "the kept-alive connection was closed");
        assert_eq!(parse_raw(&buf).status, 200);
    }
);
