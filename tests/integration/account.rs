//! The user's own sessions and password: list, end one, end the others, change the password.

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD},
};
use reqwest::Method;
use spa_auth_tests::{StatusCode, TestApp, assert_error, db_test, error_body, sha256, spawn_app};

const PASSWORD: &str = "correct horse battery";

async fn list(app: &TestApp, token: &str) -> Vec<serde_json::Value> {
    let resp = app
        .send(Method::GET, "/api/auth/sessions", Some(token), &[])
        .await;
    assert_eq!(resp.status(), StatusCode::OK, "GET /api/auth/sessions");
    let body: serde_json::Value = resp.json().await.unwrap();
    body.as_array()
        .expect("the session list is an array")
        .clone()
}

/// Every string and number anywhere in a JSON value.
fn leaves(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Array(a) => a.iter().for_each(|x| leaves(x, out)),
        serde_json::Value::Object(o) => o.iter().for_each(|(k, x)| {
            out.push(k.clone());
            leaves(x, out)
        }),
        serde_json::Value::String(s) => out.push(s.clone()),
        other => out.push(other.to_string()),
    }
}

/// Every way a token or its hash could be spelled.
fn secret_spellings(token: &str) -> Vec<String> {
    let hash = sha256(token);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        token.to_owned(),
        hex.clone(),
        hex.to_uppercase(),
        STANDARD.encode(&hash),
        STANDARD_NO_PAD.encode(&hash),
        URL_SAFE.encode(&hash),
        URL_SAFE_NO_PAD.encode(&hash),
    ]
}

async fn login_as(app: &TestApp, user_agent: &str) -> String {
    let resp = app
        .login_with("alice", PASSWORD, &[("user-agent", user_agent)])
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    app.session_cookie(&resp).unwrap()
}

db_test!(
    async fn the_list_shows_my_sessions_and_marks_the_current_one(db) {
        let app = spawn_app(db).await;
        let alice = app.create_user("alice", PASSWORD).await;
        app.create_user("bob", "another fine password").await;
        let laptop = login_as(&app, "Laptop Firefox/140").await;
        let phone = login_as(&app, "Phone Safari/26").await;
        let bobs = app.login_ok("bob", "another fine password").await;
        let bob_session = app.session_for(&bobs).await.unwrap().id.to_string();

        for (token, ua) in [(&laptop, "Laptop Firefox/140"), (&phone, "Phone Safari/26")] {
            let sessions = list(&app, token).await;
            assert_eq!(sessions.len(), 2, "{sessions:?}");
            let mine = app.session_for(token).await.unwrap();
            let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
            assert_eq!(current.len(), 1, "exactly one session is current: {sessions:?}");
            assert_eq!(current[0]["id"], mine.id.to_string());
            assert_eq!(current[0]["user_agent"], ua);
            assert_eq!(current[0]["ip"], "127.0.0.1");
            for s in &sessions {
                assert_eq!(s["current"].as_bool(), Some(s["id"] == mine.id.to_string()));
                for field in ["id", "created_at", "last_seen_at", "expires_at"] {
                    assert!(s[field].is_string(), "{field} missing: {s}");
                }
                assert_ne!(s["id"], bob_session, "bob's session is listed for alice");
                let stored = app
                    .sessions_of(alice.id)
                    .await
                    .into_iter()
                    .any(|row| row.id.to_string() == s["id"]);
                assert!(stored, "a listed session is not one of alice's: {s}");
            }
            // Neither the token nor its hash, under any spelling, appears anywhere.
            let mut values = Vec::new();
            leaves(&serde_json::Value::Array(sessions.clone()), &mut values);
            for t in [&laptop, &phone, &bobs] {
                for secret in secret_spellings(t) {
                    assert!(
                        !values.iter().any(|v| v.contains(&secret)),
                        "the session list exposes a token or its hash: {sessions:?}"
                    );
                }
            }
        }
        // Bob sees only his own.
        let bob_list = list(&app, &bobs).await;
        assert_eq!(bob_list.len(), 1);
        assert_eq!(bob_list[0]["id"], bob_session);
        assert_eq!(bob_list[0]["current"], true);
    }
);

db_test!(
    async fn ending_one_session_kills_its_cookie_at_once(db) {
        let app = spawn_app(db).await;
        app.create_user("alice", PASSWORD).await;
        app.create_user("bob", "another fine password").await;
        let laptop = login_as(&app, "laptop").await;
        let phone = login_as(&app, "phone").await;
        let bobs = app.login_ok("bob", "another fine password").await;
        // Warm the cache of the phone's session.
        for _ in 0..3 {
            assert_eq!(app.me(Some(&phone)).await.status(), StatusCode::OK);
        }
        let phone_id = app.session_for(&phone).await.unwrap().id;
        let bob_id = app.session_for(&bobs).await.unwrap().id;

        // Another user's session: not found, and not ended.
        let resp = app.send(
            Method::DELETE,
            &format!("/api/auth/sessions/{bob_id}"),
            Some(&laptop),
            &[],
        )
        .await;
        assert_error(resp, StatusCode::NOT_FOUND, "not_found").await;
        assert_eq!(app.me(Some(&bobs)).await.status(), StatusCode::OK);

        let resp = app.send(
            Method::DELETE,
            &format!("/api/auth/sessions/{phone_id}"),
            Some(&laptop),
            &[],
        )
        .await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        assert_error(app.me(Some(&phone)).await, StatusCode::UNAUTHORIZED, "not_authenticated").await;
        assert!(app.session_for(&phone).await.is_none());
        assert_eq!(app.me(Some(&laptop)).await.status(), StatusCode::OK);
        assert_eq!(list(&app, &laptop).await.len(), 1);

        // Ending it again: not found.
        let resp = app.send(
            Method::DELETE,
            &format!("/api/auth/sessions/{phone_id}"),
            Some(&laptop),
            &[],
        )
        .await;
        assert_error(resp, StatusCode::NOT_FOUND, "not_found").await;

        // Not a UUID: a JSON 400.
        for bad in ["not-a-uuid", "123", "00000000-0000-0000-0000-00000000000g"] {
            let resp = app.send(
                Method::DELETE,
                &format!("/api/auth/sessions/{bad}"),
                Some(&laptop),
                &[],
            )
            .await;
            let (status, code, _) = error_body(resp).await;
            assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "bad_request"), "{bad}");
        }
        // Without a session: 401, whatever the id.
        let resp = app.send(Method::DELETE, &format!("/api/auth/sessions/{bob_id}"), None, &[])
            .await;
        assert_error(resp, StatusCode::UNAUTHORIZED, "not_authenticated").await;
        assert_eq!(app.me(Some(&bobs)).await.status(), StatusCode::OK);
    }
);

db_test!(
    async fn ending_the_other_sessions_keeps_the_current_one(db) {
        let app = spawn_app(db).await;
        app.create_user("alice", PASSWORD).await;
        app.create_user("bob", "another fine password").await;
        let tokens = [
            login_as(&app, "a").await,
            login_as(&app, "b").await,
            login_as(&app, "c").await,
        ];
        let bobs = app.login_ok("bob", "another fine password").await;
        for t in &tokens {
            assert_eq!(app.me(Some(t)).await.status(), StatusCode::OK);
        }

        let resp = app.send(Method::DELETE, "/api/auth/sessions", Some(&tokens[1]), &[]).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body, serde_json::json!({"ended": 2}));

        assert_eq!(app.me(Some(&tokens[1])).await.status(), StatusCode::OK);
        for t in [&tokens[0], &tokens[2]] {
            assert_error(app.me(Some(t)).await, StatusCode::UNAUTHORIZED, "not_authenticated")
                .await;
        }
        assert_eq!(app.me(Some(&bobs)).await.status(), StatusCode::OK, "bob was logged out");
        let remaining = list(&app, &tokens[1]).await;
        assert_eq!(remaining.len(), 1);
        assert_eq!(remaining[0]["current"], true);

        // Nothing left to end.
        let resp = app.send(Method::DELETE, "/api/auth/sessions", Some(&tokens[1]), &[]).await;
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body, serde_json::json!({"ended": 0}));
    }
);

db_test!(
    async fn a_wrong_current_password_is_refused_and_changes_nothing(db) {
        let app = spawn_app(db).await;
        app.create_user("alice", PASSWORD).await;
        let token = app.login_ok("alice", PASSWORD).await;
        let other = app.login_ok("alice", PASSWORD).await;
        let hash = app.user("alice").await.password_hash;

        let resp = app.change_password(&token, "not my password", "a brand new secret", &[])
            .await;
        assert!(app.session_cookie(&resp).is_none());
        assert_error(resp, StatusCode::FORBIDDEN, "wrong_current_password").await;

        assert_eq!(app.user("alice").await.password_hash, hash);
        assert_eq!(app.me(Some(&token)).await.status(), StatusCode::OK);
        assert_eq!(app.me(Some(&other)).await.status(), StatusCode::OK);
    }
);

db_test!(
    async fn a_weak_new_password_is_refused_with_the_reason(db) {
        let app = spawn_app(db).await;
        app.create_user("alice.smith", PASSWORD).await;
        let token = app.login_ok("alice.smith", PASSWORD).await;
        let hash = app.user("alice.smith").await.password_hash;

        for (new, reason) in [
            ("password123", "common"),
            ("Password123", "common"),
            ("qwertyuiop", "common"),
            ("short", "8"),
            ("1234567", "8"),
            ("", "8"),
            ("alice.smith", "username"),
            ("ALICE.SMITH", "username"),
        ] {
            let resp = app.change_password(&token, PASSWORD, new, &[]).await;
            let (status, code, message) = error_body(resp).await;
            assert_eq!(
                (status, code.as_str()),
                (StatusCode::BAD_REQUEST, "password_rejected"),
                "new password {new:?}: {message}"
            );
            assert!(
                message.to_lowercase().contains(reason),
                "the message for {new:?} does not say why ({reason}): {message}"
            );
        }
        let too_long = "x".repeat(1025);
        let resp = app.change_password(&token, PASSWORD, &too_long, &[]).await;
        let (status, _, _) = error_body(resp).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        assert_eq!(app.user("alice.smith").await.password_hash, hash);
        assert_eq!(app.me(Some(&token)).await.status(), StatusCode::OK);
    }
);

db_test!(
    async fn a_password_change_rotates_this_session_and_ends_the_others(db) {
        let app = spawn_app(db).await;
        app.create_user("alice", PASSWORD).await;
        app.create_user("bob", "another fine password").await;
        let token = login_as(&app, "laptop").await;
        let phone = login_as(&app, "phone").await;
        let tablet = login_as(&app, "tablet").await;
        let bobs = app.login_ok("bob", "another fine password").await;
        for t in [&token, &phone, &tablet] {
            assert_eq!(app.me(Some(t)).await.status(), StatusCode::OK);
        }

        let resp = app.change_password(&token, PASSWORD, "a brand new secret", &[]).await;

        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let cookie = app.session_set_cookie(&resp).expect("no Set-Cookie");
        assert!(cookie.has("HttpOnly"), "{}", cookie.raw);
        let rotated = app.session_cookie(&resp).expect("no new session token");
        assert_ne!(rotated, token, "the session token was not rotated");
        for t in [&token, &phone, &tablet] {
            assert_error(app.me(Some(t)).await, StatusCode::UNAUTHORIZED, "not_authenticated")
                .await;
        }
        assert_eq!(app.me(Some(&rotated)).await.status(), StatusCode::OK);
        let sessions = list(&app, &rotated).await;
        assert_eq!(sessions.len(), 1, "{sessions:?}");
        assert_eq!(sessions[0]["current"], true);
        assert_eq!(app.me(Some(&bobs)).await.status(), StatusCode::OK, "bob was logged out");

        assert_error(
            app.login("alice", PASSWORD).await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;
        let fresh = app.login_ok("alice", "a brand new secret").await;
        assert_eq!(app.me(Some(&fresh)).await.status(), StatusCode::OK);
        // The rotated session survives a later login elsewhere.
        assert_eq!(app.me(Some(&rotated)).await.status(), StatusCode::OK);
    }
);

db_test!(
    async fn ending_the_current_session_by_id_works_like_logging_out(db) {
        let app = spawn_app(db).await;
        app.create_user("alice", PASSWORD).await;
        let laptop = login_as(&app, "laptop").await;
        let phone = login_as(&app, "phone").await;
        let id = app.session_for(&laptop).await.unwrap().id;

        let resp = app.send(
            Method::DELETE,
            &format!("/api/auth/sessions/{id}"),
            Some(&laptop),
            &[],
        )
        .await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        assert_error(app.me(Some(&laptop)).await, StatusCode::UNAUTHORIZED, "not_authenticated")
            .await;
        assert_eq!(app.me(Some(&phone)).await.status(), StatusCode::OK);
        assert_eq!(list(&app, &phone).await.len(), 1);
    }
);
