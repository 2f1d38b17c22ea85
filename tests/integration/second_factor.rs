//! Second factors over HTTP: the half-open session after the password, the second step, TOTP
//! and recovery codes, throttling and races, turning TOTP off, the operator's reset, the key.

use reqwest::Method;
use spa_auth_tests::{
    Authenticator, Instance, StatusCode, TOTP_ARGS, TestApp, assert_error, db_test, spawn_app_with,
};

const PASSWORD: &str = "correct horse battery";

/// A test app that offers TOTP (it has a secret key), with `extra` arguments.
async fn app_with(db: spa_auth_tests::Db, extra: &[&str]) -> TestApp {
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    spawn_app_with(db, |args| {
        args.extend(TOTP_ARGS.map(String::from));
        args.extend(extra);
    })
    .await
}

/// Alice, with TOTP on: her authenticator and recovery codes.
async fn alice_with_totp(app: &TestApp) -> (Authenticator, Vec<String>) {
    app.create_user("alice", PASSWORD).await;
    let token = app.login_ok("alice", PASSWORD).await;
    Authenticator::enrol(app, &token).await
}

db_test!(
    async fn a_half_authenticated_session_can_reach_nothing_but_the_second_step(db) {
        let app = app_with(db, &[]).await;
        alice_with_totp(&app).await;
        let resp = app.login("alice", PASSWORD).await;
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
        let pending = app.session_cookie(&resp).expect("a cookie for the second step");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(
            body,
            serde_json::json!({"second_factor_required": true, "methods": ["totp", "recovery_code"]})
        );
        let password = serde_json::json!({"current_password": PASSWORD, "new_password": "another long passphrase"});
        let refused = [
            (Method::GET, "/api/me", None),
            (Method::GET, "/api/auth/sessions", None),
            (Method::DELETE, "/api/auth/sessions", None),
            (Method::POST, "/api/auth/password", Some(password)),
            (Method::GET, "/api/auth/verify", None),
            (Method::GET, "/api/auth/totp", None),
            (Method::DELETE, "/api/auth/totp", None),
        ];
        for (method, path, body) in refused {
            let resp = app
                .send_body(method.clone(), path, body.as_ref(), Some(&pending), &[])
                .await;
            assert_error(resp, StatusCode::UNAUTHORIZED, "second_factor_required").await;
        }
        // Embedded: `SpaAuth::authenticate` goes through the same check.
        let token = spa_auth::sessions::Token::parse(&pending).expect("a token");
        let found = app.state.sessions.authenticate(&token).await.unwrap();
        assert!(found.is_none(), "a half-open session is no session to a host");
    }
);

db_test!(
    async fn completing_the_second_step_rotates_the_token_and_unlocks_the_session(db) {
        let app = app_with(db, &[]).await;
        let (mut phone, _) = alice_with_totp(&app).await;
        let pending = app.login_pending("alice", PASSWORD).await;
        let before = app.session_for(&pending).await.expect("stored");
        assert!(before.second_factor_pending);
        let code = phone.code().await;
        let resp = app
            .second_factor(&pending, serde_json::json!({ "code": code }))
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        let token = app.session_cookie(&resp).expect("a new cookie");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["username"], "alice");
        assert_ne!(token, pending, "a new token");
        let me = app.me(Some(&token)).await;
        assert_eq!(me.status(), StatusCode::OK);
        assert_error(app.me(Some(&pending)).await, StatusCode::UNAUTHORIZED, "not_authenticated")
            .await;
        let after = app.session_for(&token).await.expect("stored");
        assert_eq!(after.id, before.id, "the same session, under a new token");
        assert!(!after.second_factor_pending);
        assert_eq!(after.auth_methods, "password+totp");
        assert!(after.authenticated_at >= before.authenticated_at);
        assert!(after.absolute_expires_at > before.absolute_expires_at, "full lifetime");
        // The old token cannot complete the step a second time.
        let code = phone.code().await;
        let again = app
            .second_factor(&pending, serde_json::json!({ "code": code }))
            .await;
        assert_error(again, StatusCode::UNAUTHORIZED, "not_authenticated").await;
    }
);

db_test!(
    async fn a_complete_session_has_no_second_step_to_take(db) {
        let app = app_with(db, &[]).await;
        app.create_user("bob", PASSWORD).await;
        let token = app.login_ok("bob", PASSWORD).await;
        let resp = app
            .second_factor(&token, serde_json::json!({ "code": "123456" }))
            .await;
        assert_error(resp, StatusCode::CONFLICT, "conflict").await;
    }
);

db_test!(
    async fn wrong_codes_are_throttled_per_account(db) {
        let app = app_with(db, &["--throttle-per-pair", "3"]).await;
        let (mut phone, _) = alice_with_totp(&app).await;
        let pending = app.login_pending("alice", PASSWORD).await;
        for _ in 0..3 {
            let resp = app
                .second_factor(&pending, serde_json::json!({ "code": "000000" }))
                .await;
            assert_error(resp, StatusCode::FORBIDDEN, "invalid_code").await;
        }
        // The right code now waits too: the limit is on guesses, whoever makes them.
        let code = phone.code().await;
        let resp = app
            .second_factor(&pending, serde_json::json!({ "code": code }))
            .await;
        assert!(resp.headers().contains_key("retry-after"));
        assert_error(resp, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
        // The right password does not clear the second step's counters.
        let pending = app.login_pending("alice", PASSWORD).await;
        let resp = app
            .second_factor(&pending, serde_json::json!({ "code": "000000" }))
            .await;
        assert_error(resp, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
    }
);

db_test!(
    async fn a_parallel_burst_of_wrong_codes_is_held_to_the_limit(db) {
        let app = app_with(db, &["--throttle-per-pair", "3"]).await;
        alice_with_totp(&app).await;
        let pending = app.login_pending("alice", PASSWORD).await;
        let burst = (0..20).map(|i| {
            let (api, pending) = (app.api.clone(), pending.clone());
            let code = format!("{:06}", 100_000 + i);
            tokio::spawn(async move {
                api.second_factor(&pending, serde_json::json!({ "code": code }))
                    .await
                    .status()
            })
        });
        let mut statuses = Vec::new();
        for task in burst {
            statuses.push(task.await.unwrap());
        }
        let checked = statuses.iter().filter(|s| **s == StatusCode::FORBIDDEN).count();
        let throttled = statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count();
        assert_eq!((checked, throttled), (3, 17), "{statuses:?}");
    }
);

db_test!(
    async fn a_replayed_code_is_refused(db) {
        let app = app_with(db, &[]).await;
        let (mut phone, _) = alice_with_totp(&app).await;
        let first = app.login_pending("alice", PASSWORD).await;
        let second = app.login_pending("alice", PASSWORD).await;
        let code = phone.code().await;
        let resp = app
            .second_factor(&first, serde_json::json!({ "code": code }))
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        let replay = app
            .second_factor(&second, serde_json::json!({ "code": code }))
            .await;
        assert_error(replay, StatusCode::FORBIDDEN, "invalid_code").await;
        // The next code works: one step later.
        let code = phone.code().await;
        let resp = app
            .second_factor(&second, serde_json::json!({ "code": code }))
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
);

db_test!(
    async fn two_racing_requests_with_one_code_pass_once(db) {
        let app = app_with(db, &[]).await;
        let (mut phone, _) = alice_with_totp(&app).await;
        for _ in 0..3 {
            let a = app.login_pending("alice", PASSWORD).await;
            let b = app.login_pending("alice", PASSWORD).await;
            let code = phone.code().await;
            let body = serde_json::json!({ "code": code });
            let (ra, rb) = tokio::join!(
                app.second_factor(&a, body.clone()),
                app.second_factor(&b, body.clone())
            );
            let mut statuses = [ra.status(), rb.status()];
            statuses.sort();
            assert_eq!(statuses, [StatusCode::OK, StatusCode::FORBIDDEN]);
        }
    }
);

db_test!(
    async fn a_recovery_code_works_once(db) {
        let app = app_with(db, &[]).await;
        let (_, codes) = alice_with_totp(&app).await;
        assert_eq!(codes.len(), 10);
        let pending = app.login_pending("alice", PASSWORD).await;
        // As a person might type it.
        let typed = codes[0].to_uppercase().replace('-', " ");
        let resp = app
            .second_factor(&pending, serde_json::json!({ "recovery_code": typed }))
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        let token = app.session_cookie(&resp).unwrap();
        let session = app.session_for(&token).await.unwrap();
        assert_eq!(session.auth_methods, "password+recovery_code");
        let pending = app.login_pending("alice", PASSWORD).await;
        let again = app
            .second_factor(&pending, serde_json::json!({ "recovery_code": codes[0] }))
            .await;
        assert_error(again, StatusCode::FORBIDDEN, "invalid_code").await;
        let status = app
            .send(Method::GET, "/api/auth/totp", Some(&token), &[])
            .await;
        let status: serde_json::Value = status.json().await.unwrap();
        assert_eq!(status["recovery_codes_left"], 9);
        // Both at once, or neither: refused before any code is spent.
        let both = app
            .second_factor(
                &pending,
                serde_json::json!({ "code": "123456", "recovery_code": codes[1] }),
            )
            .await;
        assert_error(both, StatusCode::BAD_REQUEST, "bad_request").await;
    }
);

db_test!(
    async fn disabling_totp_ends_every_session_on_every_instance(db) {
        let app = app_with(db, &[]).await;
        let (mut phone, _) = alice_with_totp(&app).await;
        let other = Instance::start(&app.test_db.url, &TOTP_ARGS).await;
        let here = app.login_with_totp("alice", PASSWORD, &mut phone).await;
        let there = other.login_with_totp("alice", PASSWORD, &mut phone).await;
        // Cached on both instances.
        assert_eq!(app.me(Some(&there)).await.status(), StatusCode::OK);
        assert_eq!(other.me(Some(&here)).await.status(), StatusCode::OK);
        let resp = app
            .send(Method::DELETE, "/api/auth/totp", Some(&here), &[])
            .await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        assert!(app.session_cookie(&resp).is_none(), "the cookie is cleared");
        for api in [&app.api, &other.api] {
            for token in [&here, &there] {
                assert_eq!(api.me(Some(token)).await.status(), StatusCode::UNAUTHORIZED);
            }
        }
        // The password alone logs in again.
        app.login_ok("alice", PASSWORD).await;
    }
);

db_test!(
    async fn an_operator_mfa_reset_removes_the_second_factors_and_ends_every_session(db) {
        let app = app_with(db, &[]).await;
        let (mut phone, _) = alice_with_totp(&app).await;
        let token = app.login_with_totp("alice", PASSWORD, &mut phone).await;
        let out = app.cli(&["user", "mfa", "reset", "alice"]).await;
        assert!(out.contains("second factors of alice removed"), "{out}");
        // The CLI returned once every instance dropped them: refused at once.
        assert_eq!(app.me(Some(&token)).await.status(), StatusCode::UNAUTHORIZED);
        app.login_ok("alice", PASSWORD).await;
    }
);

db_test!(
    async fn the_totp_secret_is_stored_only_encrypted(db) {
        let app = app_with(db, &[]).await;
        app.create_user("alice", PASSWORD).await;
        let token = app.login_ok("alice", PASSWORD).await;
        let (phone, codes) = Authenticator::enrol(&app, &token).await;
        let bytes = totp_rs::Secret::try_from_base32(&phone.secret).unwrap();
        let hex: String = bytes.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let stored = [
            app.raw_storage("totp_secrets").await,
            app.raw_storage("recovery_codes").await,
        ]
        .concat();
        let needles: Vec<Vec<u8>> = [phone.secret.clone(), phone.secret.to_lowercase(), hex]
            .into_iter()
            .map(String::into_bytes)
            .chain([bytes.as_ref().to_vec()])
            .chain(codes.iter().map(|c| c.clone().into_bytes()))
            .collect();
        for needle in needles {
            assert!(
                !stored.windows(needle.len()).any(|w| w == needle.as_slice()),
                "a secret is stored in clear: {}",
                String::from_utf8_lossy(&needle)
            );
        }
    }
);

db_test!(
    async fn without_a_secret_key_totp_cannot_be_turned_on(db) {
        let app = spawn_app_with(db, |_| {}).await;
        app.create_user("alice", PASSWORD).await;
        let token = app.login_ok("alice", PASSWORD).await;
        let resp = app
            .send(Method::POST, "/api/auth/totp", Some(&token), &[])
            .await;
        assert_error(resp, StatusCode::FORBIDDEN, "not_enabled").await;
    }
);

db_test!(
    async fn a_half_open_session_expires_after_the_second_factor_timeout(db) {
        let app = app_with(db, &["--second-factor-timeout", "1s"]).await;
        let (mut phone, _) = alice_with_totp(&app).await;
        let pending = app.login_pending("alice", PASSWORD).await;
        tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
        let code = phone.code().await;
        let resp = app
            .second_factor(&pending, serde_json::json!({ "code": code }))
            .await;
        assert_error(resp, StatusCode::UNAUTHORIZED, "not_authenticated").await;
    }
);

db_test!(
    async fn a_user_who_gives_up_halfway_can_log_out(db) {
        let app = app_with(db, &[]).await;
        alice_with_totp(&app).await;
        let pending = app.login_pending("alice", PASSWORD).await;
        let resp = app.logout(Some(&pending)).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        assert!(app.session_for(&pending).await.is_none());
    }
);

#[tokio::test]
async fn a_malformed_secret_key_refuses_start() {
    for key in ["short", "AAECAwQFBgcICQoLDA0ODw=="] {
        let out = spa_auth_tests::cli(
            &[
                "serve",
                "--database-url",
                "sqlite::memory:",
                "--secret-key",
                key,
            ],
            None,
        )
        .await;
        assert!(!out.status.success(), "started with the key {key:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("secret key"), "{stderr}");
        assert!(!stderr.contains(key), "the key is not echoed: {stderr}");
    }
}
