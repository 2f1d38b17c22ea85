//! Secrets never reach the logs, even at TRACE; the audit events do.
//!
//! The subscriber is global to the process; nextest runs every test in a process of its own.

use spa_auth_tests::{Db, StatusCode, basic_credentials, spawn_app, with_trace_logs};

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
