//! Control characters (NUL above all, which PostgreSQL cannot store in text) in every text a
//! client can send: never a 5xx, never a database error, always the answer the same input
//! without them would get. A username that cannot be a username is an unknown user.

use reqwest::Method;
use spa_auth::telemetry::metrics::METRICS;
use spa_auth_tests::{
    CHEAP_HASHING, StatusCode, assert_error, basic_credentials, db_test, spawn_app_with,
};

use crate::limits::raw_exchange;

/// C0 controls including NUL, tab and line breaks, DEL, a C1 control and Unicode's separators.
const CONTROLS: &[char] = &[
    '\0', '\x01', '\x07', '\x08', '\t', '\n', '\r', '\x1b', '\x1f', '\x7f', '\u{85}', '\u{2028}',
];

/// `spa_auth_database_errors_total`, from the process's own counters.
fn database_errors() -> u64 {
    METRICS
        .render(0, 0)
        .lines()
        .find_map(|l| l.strip_prefix("spa_auth_database_errors_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the database error counter is rendered")
}

/// `%XX` for every UTF-8 byte of `s`.
fn percent_encode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

db_test!(
    async fn control_characters_in_any_text_input_never_reach_the_database(db) {
        // High limits: the sweep makes many failed attempts on purpose.
        let app = spawn_app_with(db, |args| {
            for (flag, value) in [
                ("--throttle-per-pair", "1000"),
                ("--throttle-per-ip", "1000"),
                ("--throttle-per-account", "1000"),
            ] {
                args.extend([flag.to_owned(), value.to_owned()]);
            }
            args.extend(CHEAP_HASHING.map(String::from));
        })
        .await;
        let alice = app.create_user("alice", "correct horse battery").await;
        let errors_before = database_errors();
        let mut password = "correct horse battery".to_owned();

        for &c in CONTROLS {
            // Basic username: an unknown user, after exactly one (dummy) password hash.
            for username in [format!("alice{c}"), format!("{c}"), format!("al{c}ice")] {
                let hashes = METRICS.password_hashes();
                let resp = app.login(&username, &password).await;
                assert_error(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
                assert_eq!(METRICS.password_hashes() - hashes, 1, "username {username:?}");
            }
            // Basic password: a wrong password.
            let resp = app.login("alice", &format!("{password}{c}")).await;
            assert_error(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;

            let token = app.login_ok("alice", &password).await;
            // Password change body: a wrong current password is refused as one...
            let wrong = format!("{password}{c}");
            let resp = app.change_password(&token, &wrong, "an entirely new secret", &[]).await;
            assert_error(resp, StatusCode::FORBIDDEN, "wrong_current_password").await;
            // ...and a new password is only ever hashed, so any character may be in it.
            let new = format!("new {c} secret {}", c as u32);
            let resp = app.change_password(&token, &password, &new, &[]).await;
            assert_eq!(resp.status(), StatusCode::NO_CONTENT, "new password with {c:?}");
            password = new;
            let token = app.login_ok("alice", &password).await;

            // A session id in the path: not a UUID.
            let path = format!("/api/auth/sessions/{}", percent_encode(&format!("x{c}")));
            let resp = app.send(Method::DELETE, &path, Some(&token), &[]).await;
            assert_error(resp, StatusCode::BAD_REQUEST, "bad_request").await;

            // User-Agent, which sessions store: HTTP refuses most controls in a header before
            // spa-auth sees them; whatever passes is stored without them.
            let mut head = format!(
                "POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Basic {}\r\n\
                 User-Agent: agent ",
                app.port,
                basic_credentials("alice", &password)
            )
            .into_bytes();
            let mut encoded = [0u8; 4];
            head.extend_from_slice(c.encode_utf8(&mut encoded).as_bytes());
            head.extend_from_slice(b" x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let raw = raw_exchange(
                app.port,
                &[&head],
                std::time::Duration::ZERO,
                std::time::Duration::from_secs(10),
            )
            .await;
            assert!(
                raw.status < 500,
                "User-Agent with {c:?}: {} {}",
                raw.status,
                raw.body
            );
        }
        for session in app.sessions_of(alice.id).await {
            let agent = session.user_agent.unwrap_or_default();
            assert!(
                !agent.chars().any(|ch| ch.is_control() && ch != '\t'),
                "stored User-Agent {agent:?}"
            );
        }
        assert_eq!(
            database_errors(),
            errors_before,
            "a request caused a database error"
        );
    }
);
