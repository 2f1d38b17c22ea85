//! `POST /api/auth/login`: the user, the cookie and every way a login fails.

use spa_auth::telemetry::metrics::METRICS;
use spa_auth_tests::{FOURTEEN_DAYS, StatusCode, assert_error, db_test, header, spawn_app};

db_test!(
    async fn right_password_returns_the_user_and_a_host_only_session_cookie(db) {
        let app = spawn_app(db).await;
        let alice = app.create_user("alice", "correct horse battery").await;
        let before = chrono::Utc::now();

        let resp = app.login("alice", "correct horse battery").await;

        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.headers().get(header::WWW_AUTHENTICATE).is_none());
        let cookie = app
            .session_set_cookie(&resp)
            .expect("no session Set-Cookie");
        assert_eq!(cookie.name, "__Host-session", "{}", cookie.raw);
        assert_eq!(cookie.value.len(), 43, "token length: {}", cookie.raw);
        assert!(
            cookie
                .value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "token is not base64url: {}",
            cookie.raw
        );
        assert!(cookie.has("HttpOnly"), "{}", cookie.raw);
        assert!(cookie.has("Secure"), "{}", cookie.raw);
        assert_eq!(cookie.attr("Path"), Some("/"), "{}", cookie.raw);
        assert_eq!(cookie.attr("SameSite"), Some("Lax"), "{}", cookie.raw);
        assert!(!cookie.has("Domain"), "{}", cookie.raw);
        let max_age = cookie.max_age().expect("no Max-Age");
        assert!(
            (FOURTEEN_DAYS - 5..=FOURTEEN_DAYS).contains(&max_age),
            "Max-Age {max_age} is not about 14 days"
        );
        assert_eq!(
            set_cookie_count(&resp),
            1,
            "exactly one Set-Cookie expected"
        );

        let body: serde_json::Value = resp.json().await.expect("body is not JSON");
        let obj = body.as_object().expect("body is not an object");
        assert_eq!(body["id"], alice.id.to_string());
        uuid::Uuid::parse_str(body["id"].as_str().unwrap()).expect("id is not a uuid");
        assert_eq!(body["username"], "alice");
        assert_eq!(body["email"], "alice@example.com");
        assert_eq!(body["first_name"], "First");
        assert_eq!(body["last_name"], "Last");
        let joined = chrono::DateTime::parse_from_rfc3339(body["date_joined"].as_str().unwrap())
            .expect("date_joined is not RFC 3339");
        assert!((joined.to_utc() - alice.date_joined).num_milliseconds().abs() < 1000);
        let last_login =
            chrono::DateTime::parse_from_rfc3339(body["last_login"].as_str().expect("no last_login"))
                .expect("last_login is not RFC 3339")
                .to_utc();
        assert!(
            last_login >= before - chrono::Duration::seconds(1)
                && last_login <= chrono::Utc::now() + chrono::Duration::seconds(1),
            "last_login {last_login} is not the time of this login"
        );
        for key in obj.keys() {
            let k = key.to_lowercase();
            assert!(
                !k.contains("password") && !k.contains("hash"),
                "the user JSON exposes {key}: {body}"
            );
        }
        let text = body.to_string();
        assert!(!text.contains("argon2"), "the user JSON contains a hash: {text}");

        // What the client was told is what is stored.
        let stored = app.user("alice").await;
        assert!(stored.last_login.is_some(), "last_login not recorded");
    }
);

fn set_cookie_count(resp: &reqwest::Response) -> usize {
    resp.headers().get_all(header::SET_COOKIE).iter().count()
}

db_test!(
    async fn wrong_password_is_refused_without_cookie_or_browser_prompt(db) {
        let app = spawn_app(db).await;
        app.create_user("alice", "correct horse battery").await;

        let resp = app.login("alice", "wrong horse battery").await;

        assert_eq!(set_cookie_count(&resp), 0, "a failed login sets a cookie");
        assert_error(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        assert!(app.sessions().await.is_empty(), "a failed login opened a session");
        assert_eq!(app.user("alice").await.last_login, None);
    }
);

db_test!(
    async fn unknown_user_is_refused_like_a_wrong_password(db) {
        let app = spawn_app(db).await;
        app.create_user("alice", "correct horse battery").await;

        let resp = app.login("mallory", "correct horse battery").await;

        assert_eq!(set_cookie_count(&resp), 0);
        assert_error(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
);

db_test!(
    async fn every_failed_login_costs_exactly_one_password_hash(db) {
        // Unknown, inactive and password-less accounts are checked against a dummy hash, so
        // a failed login costs the same whatever the reason and timing reveals nothing.
        let app = spawn_app(db).await;
        app.create_user("alice", "correct horse battery").await;
        let bob = app.create_user("bob", "correct horse battery").await;
        spa_auth::users::set_active(&app.db, bob, false)
            .await
            .unwrap();
        app.create_user_with_hash("carol", None).await;
        for (username, password) in [
            ("alice", "a wrong password"),
            ("mallory", "correct horse battery"),
            ("bob", "correct horse battery"),
            ("carol", "correct horse battery"),
        ] {
            let before = METRICS.password_hashes();
            let resp = app.login(username, password).await;
            assert_error(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
            assert_eq!(METRICS.password_hashes() - before, 1, "{username}");
        }
    }
);

db_test!(
    async fn inactive_user_cannot_log_in_even_with_the_right_password(db) {
        let app = spawn_app(db).await;
        let bob = app.create_user("bob", "correct horse battery").await;
        spa_auth::users::set_active(&app.db, bob, false)
            .await
            .unwrap();

        let resp = app.login("bob", "correct horse battery").await;

        assert_eq!(set_cookie_count(&resp), 0);
        assert_error(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        assert!(app.sessions().await.is_empty());
    }
);

db_test!(
    async fn user_without_a_password_cannot_log_in(db) {
        let app = spawn_app(db).await;
        app.create_user_with_hash("nopass", None).await;

        let resp = app.login("nopass", "").await;
        assert_error(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        let resp = app.login("nopass", "anything at all").await;
        assert_error(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
);

db_test!(
    async fn missing_authorization_is_401_json_without_www_authenticate(db) {
        let app = spawn_app(db).await;

        let resp = app.login_raw(None).await;

        assert_eq!(set_cookie_count(&resp), 0);
        assert_error(resp, StatusCode::UNAUTHORIZED, "not_authenticated").await;
    }
);

db_test!(
    async fn usernames_are_case_insensitive(db) {
        let app = spawn_app(db).await;
        let alice = app.create_user("alice", "correct horse battery").await;

        let resp = app.login("ALICE", "correct horse battery").await;

        assert_eq!(resp.status(), StatusCode::OK);
        let token = app.session_cookie(&resp).expect("no session cookie");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["id"], alice.id.to_string());
        assert_eq!(body["username"], "alice", "the username is shown as stored");
        let session = app.session_for(&token).await.expect("no session row");
        assert_eq!(session.user_id, alice.id);

        // Mixed case too; the password stays case-sensitive.
        let resp = app.login("aLiCe", "correct horse battery").await;
        assert_eq!(resp.status(), StatusCode::OK);
        let resp = app.login("alice", "CORRECT HORSE BATTERY").await;
        assert_error(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
);

db_test!(
    async fn passwords_with_colons_and_unicode_work(db) {
        let app = spawn_app(db).await;
        app.create_user("zoë", "pa:ss wörd ✓").await;

        let resp = app.login("zoë", "pa:ss wörd ✓").await;

        assert_eq!(resp.status(), StatusCode::OK);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["username"], "zoë");
    }
);
