//! Step-up: sensitive changes need a recent proof of identity (`SPA_AUTH_REAUTH_WINDOW`),
//! which `/api/auth/reauthenticate` refreshes; a TOTP user proves the second factor again too.

use std::time::Duration;

use reqwest::Method;
use spa_auth_tests::{
    Authenticator, StatusCode, TOTP_ARGS, TestApp, assert_error, db_test, mail_args, spawn_app_with,
};

const PASSWORD: &str = "correct horse battery";

/// A test app with TOTP, mail to the log (for address changes) and a reauth window of
/// `window`.
async fn app_with_window(db: spa_auth_tests::Db, window: &str) -> TestApp {
    let window = window.to_owned();
    spawn_app_with(db, |args| {
        args.extend(TOTP_ARGS.map(String::from));
        args.extend(mail_args("log"));
        args.extend(["--reauth-window".to_owned(), window]);
    })
    .await
}

async fn reauthenticate(app: &TestApp, token: &str, body: serde_json::Value) -> reqwest::Response {
    app.send_body(
        Method::POST,
        "/api/auth/reauthenticate",
        Some(&body),
        Some(token),
        &[],
    )
    .await
}

/// Every step-up operation, as `(method, path, body)`.
fn step_ups() -> Vec<(Method, &'static str, Option<serde_json::Value>)> {
    vec![
        (
            Method::POST,
            "/api/auth/password",
            Some(
                serde_json::json!({"current_password": PASSWORD, "new_password": "another long passphrase"}),
            ),
        ),
        (
            Method::POST,
            "/api/auth/email",
            Some(
                serde_json::json!({"new_email": "alice@example.org", "current_password": PASSWORD}),
            ),
        ),
        (Method::DELETE, "/api/auth/sessions", None),
        (Method::POST, "/api/auth/totp", None),
        (Method::DELETE, "/api/auth/totp", None),
        (Method::POST, "/api/auth/recovery-codes", None),
    ]
}

db_test!(
    async fn step_up_operations_are_refused_outside_the_reauth_window(db) {
        let app = app_with_window(db, "1s").await;
        app.create_user("alice", PASSWORD).await;
        let token = app.login_ok("alice", PASSWORD).await;
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        for (method, path, body) in step_ups() {
            let resp = app
                .send_body(method.clone(), path, body.as_ref(), Some(&token), &[])
                .await;
            assert_error(resp, StatusCode::FORBIDDEN, "reauthentication_required").await;
        }
        // Reading is no step-up: the session is as alive as ever.
        assert_eq!(app.me(Some(&token)).await.status(), StatusCode::OK);
    }
);

db_test!(
    async fn reauthenticating_refreshes_the_window(db) {
        let app = app_with_window(db, "1s").await;
        app.create_user("alice", PASSWORD).await;
        let token = app.login_ok("alice", PASSWORD).await;
        let other = app.login_ok("alice", PASSWORD).await;
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let wrong = reauthenticate(&app, &token, serde_json::json!({"password": "wrong"})).await;
        assert_error(wrong, StatusCode::FORBIDDEN, "wrong_current_password").await;
        let resp = reauthenticate(&app, &token, serde_json::json!({"password": PASSWORD})).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let resp = app
            .send(Method::DELETE, "/api/auth/sessions", Some(&token), &[])
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(app.me(Some(&other)).await.status(), StatusCode::UNAUTHORIZED);
        // And it runs out again.
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let resp = app
            .send(Method::DELETE, "/api/auth/sessions", Some(&token), &[])
            .await;
        assert_error(resp, StatusCode::FORBIDDEN, "reauthentication_required").await;
    }
);

db_test!(
    async fn a_totp_user_reauthenticates_with_a_code_too(db) {
        let app = app_with_window(db, "2s").await;
        app.create_user("alice", PASSWORD).await;
        let token = app.login_ok("alice", PASSWORD).await;
        let (mut phone, codes) = Authenticator::enrol(&app, &token).await;
        let token = app.login_with_totp("alice", PASSWORD, &mut phone).await;
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        let password_only =
            reauthenticate(&app, &token, serde_json::json!({"password": PASSWORD})).await;
        assert_error(password_only, StatusCode::CONFLICT, "conflict").await;
        let wrong_code = reauthenticate(
            &app,
            &token,
            serde_json::json!({"password": PASSWORD, "code": "000000"}),
        )
        .await;
        assert_error(wrong_code, StatusCode::FORBIDDEN, "invalid_code").await;
        let refused = app
            .send(Method::POST, "/api/auth/recovery-codes", Some(&token), &[])
            .await;
        assert_error(refused, StatusCode::FORBIDDEN, "reauthentication_required").await;
        let code = phone.code().await;
        let resp = reauthenticate(
            &app,
            &token,
            serde_json::json!({"password": PASSWORD, "code": code}),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let resp = app
            .send(Method::POST, "/api/auth/recovery-codes", Some(&token), &[])
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        let body: serde_json::Value = resp.json().await.unwrap();
        let fresh = body["recovery_codes"].as_array().unwrap();
        assert_eq!(fresh.len(), 10);
        // The old codes stopped working, the new ones work.
        let pending = app.login_pending("alice", PASSWORD).await;
        let old = app
            .second_factor(&pending, serde_json::json!({"recovery_code": codes[1]}))
            .await;
        assert_error(old, StatusCode::FORBIDDEN, "invalid_code").await;
        let new = app
            .second_factor(&pending, serde_json::json!({"recovery_code": fresh[0]}))
            .await;
        assert_eq!(new.status(), StatusCode::OK);
    }
);

db_test!(
    async fn a_fresh_login_is_within_the_window(db) {
        let app = app_with_window(db, "10m").await;
        app.create_user("alice", PASSWORD).await;
        let token = app.login_ok("alice", PASSWORD).await;
        let resp = app
            .send(Method::DELETE, "/api/auth/sessions", Some(&token), &[])
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        let resp = app
            .change_password(&token, PASSWORD, "another long passphrase", &[])
            .await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    }
);
