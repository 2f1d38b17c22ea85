//! Session lifetimes, with short configured timeouts: idle 2 s, absolute 4 s, refresh 1 s.

use std::time::{Duration, Instant};

use spa_auth_tests::{StatusCode, TestApp, assert_error, db_test, spawn_app_with};

async fn short_lived(db: spa_auth_tests::Db) -> TestApp {
    spawn_app_with(db, |args| {
        args.extend(
            [
                "--session-idle-timeout",
                "2s",
                "--session-absolute-timeout",
                "4s",
                "--session-refresh-interval",
                "1s",
            ]
            .map(String::from),
        );
    })
    .await
}

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Sleeps until `ms` after `start`. Timing is measured from the moment the login answered,
/// which is after the session was created, so the session's deadlines are at most that far
/// from `start` and slow requests do not add up.
async fn at_ms(start: Instant, ms: u64) {
    tokio::time::sleep_until((start + Duration::from_millis(ms)).into()).await;
}

db_test!(
    async fn an_idle_session_expires(db) {
        let app = short_lived(db).await;
        app.create_user("alice", "correct horse battery").await;
        let resp = app.login("alice", "correct horse battery").await;
        let cookie = app.session_set_cookie(&resp).unwrap();
        assert!(
            (1..=2).contains(&cookie.max_age().unwrap()),
            "Max-Age should follow the idle timeout: {}",
            cookie.raw
        );
        let token = cookie.value;

        sleep_ms(2300).await;

        let resp = app.me(Some(&token)).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.session_set_cookie(&resp).and_then(|c| c.max_age()), Some(0));
        assert_error(resp, StatusCode::UNAUTHORIZED, "not_authenticated").await;
        assert_error(app.logout(Some(&token)).await, StatusCode::UNAUTHORIZED, "not_authenticated")
            .await;
    }
);

db_test!(
    async fn use_keeps_a_session_alive_and_renews_the_cookie(db) {
        let app = short_lived(db).await;
        app.create_user("alice", "correct horse battery").await;
        let token = app.login_ok("alice", "correct horse battery").await;
        let start = Instant::now();
        let first_deadline = app.session_for(&token).await.unwrap().expires_at;

        // Past the refresh interval: this request slides the idle deadline.
        at_ms(start, 1200).await;
        let resp = app.me(Some(&token)).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let renewed = app
            .session_set_cookie(&resp)
            .expect("a renewed session re-sends its cookie");
        assert_eq!(renewed.value, token, "renewal keeps the token");
        assert!(
            renewed.has("HttpOnly") && renewed.has("Secure"),
            "{}",
            renewed.raw
        );
        assert_eq!(renewed.attr("Path"), Some("/"));
        assert!(
            (1..=2).contains(&renewed.max_age().unwrap()),
            "renewed Max-Age: {}",
            renewed.raw
        );
        let second_deadline = app.session_for(&token).await.unwrap().expires_at;
        assert!(
            second_deadline > first_deadline,
            "the idle deadline did not move"
        );

        // Now past the original idle deadline, yet alive thanks to the use above.
        at_ms(start, 2400).await;
        let resp = app.me(Some(&token)).await;
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "the used session expired at its first deadline"
        );
    }
);

db_test!(
    async fn the_absolute_timeout_ends_a_session_however_much_it_is_used(db) {
        let app = short_lived(db).await;
        app.create_user("alice", "correct horse battery").await;
        let token = app.login_ok("alice", "correct horse battery").await;
        let start = Instant::now();

        // Used every 1.1 s, well within the 2 s idle timeout, each use renewing it.
        at_ms(start, 1100).await;
        assert_eq!(app.me(Some(&token)).await.status(), StatusCode::OK);
        at_ms(start, 2200).await;
        let resp = app.me(Some(&token)).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let age = app
            .session_set_cookie(&resp)
            .and_then(|c| c.max_age())
            .expect("renewed cookie");
        assert!(
            age <= 1,
            "a cookie must not outlive the absolute deadline (under 1.8 s away): {age}"
        );
        at_ms(start, 3300).await;
        assert_eq!(app.me(Some(&token)).await.status(), StatusCode::OK);

        // 4.3 s after login: the idle deadline was pushed to 5.3 s, the absolute one is 4 s.
        at_ms(start, 4300).await;
        let resp = app.me(Some(&token)).await;
        assert_error(resp, StatusCode::UNAUTHORIZED, "not_authenticated").await;
    }
);

db_test!(
    async fn purge_expired_removes_only_expired_rows(db) {
        let app = short_lived(db).await;
        app.create_user("alice", "correct horse battery").await;
        let old = app.login_ok("alice", "correct horse battery").await;
        sleep_ms(2200).await;
        let fresh = app.login_ok("alice", "correct horse battery").await;
        assert_eq!(app.sessions().await.len(), 2);

        let removed = spa_auth::sessions::purge_expired(&app.db).await.unwrap();

        assert_eq!(removed, 1);
        assert!(app.session_for(&old).await.is_none());
        assert!(app.session_for(&fresh).await.is_some());
        assert_eq!(app.me(Some(&fresh)).await.status(), StatusCode::OK);
    }
);

db_test!(
    async fn the_sessions_purge_command_removes_expired_rows(db) {
        let app = short_lived(db).await;
        app.create_user("alice", "correct horse battery").await;
        let old = app.login_ok("alice", "correct horse battery").await;
        sleep_ms(2200).await;
        let fresh = app.login_ok("alice", "correct horse battery").await;

        // In process, exactly as `spa-auth sessions purge` parses and runs it.
        use clap::Parser;
        let cli = spa_auth::cli::Cli::try_parse_from([
            "spa-auth",
            "sessions",
            "purge",
            "--database-url",
            &app.test_db.url,
        ])
        .unwrap();
        spa_auth::cli::run(cli).await.expect("sessions purge failed");

        assert!(app.session_for(&old).await.is_none());
        assert!(app.session_for(&fresh).await.is_some());
    }
);

db_test!(
    async fn the_spa_auth_binary_purges_expired_rows(db) {
        let app = short_lived(db).await;
        app.create_user("alice", "correct horse battery").await;
        let old = app.login_ok("alice", "correct horse battery").await;
        sleep_ms(2200).await;
        let fresh = app.login_ok("alice", "correct horse battery").await;

        let stdout = app.cli(&["sessions", "purge"]).await;
        assert!(stdout.contains("removed 1 expired sessions"), "{stdout}");
        assert!(app.session_for(&old).await.is_none());
        assert!(app.session_for(&fresh).await.is_some());
    }
);
