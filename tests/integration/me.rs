//! `GET /api/me`.

use spa_auth_tests::{StatusCode, assert_error, db_test, header, header_str, spawn_app};

db_test!(
    async fn with_the_cookie_it_is_the_logged_in_user(db) {
        let app = spawn_app(db).await;
        app.create_user("bob", "another fine password").await;
        let alice = app.create_user("alice", "correct horse battery").await;
        let resp = app.login("alice", "correct horse battery").await;
        let token = app.session_cookie(&resp).unwrap();
        let login_body: serde_json::Value = resp.json().await.unwrap();

        let resp = app.me(Some(&token)).await;

        assert_eq!(resp.status(), StatusCode::OK);
        let cache = header_str(&resp, header::CACHE_CONTROL.as_str()).unwrap_or_default();
        assert!(cache.contains("no-store"), "Cache-Control: {cache:?}");
        // Used right after login, the session is not renewed: no new cookie.
        assert!(app.session_set_cookie(&resp).is_none(), "unexpected Set-Cookie");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["id"], alice.id.to_string());
        for key in ["id", "username", "email", "first_name", "last_name", "date_joined"] {
            assert_eq!(body[key], login_body[key], "{key} differs between login and me");
        }
        let ts = |v: &serde_json::Value| {
            chrono::DateTime::parse_from_rfc3339(v.as_str().expect("last_login")).unwrap()
        };
        assert!(
            (ts(&body["last_login"]) - ts(&login_body["last_login"]))
                .num_milliseconds()
                .abs()
                < 2,
            "last_login differs: {} vs {}",
            body["last_login"],
            login_body["last_login"]
        );
    }
);

db_test!(
    async fn without_a_cookie_it_is_401_json(db) {
        let app = spawn_app(db).await;

        let resp = app.me(None).await;

        assert_error(resp, StatusCode::UNAUTHORIZED, "not_authenticated").await;
    }
);

db_test!(
    async fn garbage_cookies_are_401_and_cleared(db) {
        let app = spawn_app(db).await;
        app.create_user("alice", "correct horse battery").await;
        let real = app.login_ok("alice", "correct horse battery").await;

        for cookie in [
            "__Host-session=".to_owned(),
            "__Host-session=garbage".to_owned(),
            format!("__Host-session={}", "x".repeat(44)),
            format!("__Host-session={}", "%".repeat(43)),
            format!("__Host-session={real}extra"),
            format!("other={real}"),
            format!("__host-session={real}"),
            "__Host-session".to_owned(),
            ";;;=".to_owned(),
        ] {
            let resp = app.me_with_cookie_header(&cookie).await;
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{cookie}");
            let clearing = app
                .session_set_cookie(&resp)
                .unwrap_or_else(|| panic!("401 for {cookie} does not clear the cookie"));
            assert_eq!(clearing.value, "");
            assert_eq!(clearing.max_age(), Some(0));
            assert_error(resp, StatusCode::UNAUTHORIZED, "not_authenticated").await;
        }
    }
);

db_test!(
    async fn the_cookie_is_found_among_others(db) {
        let app = spawn_app(db).await;
        app.create_user("alice", "correct horse battery").await;
        let token = app.login_ok("alice", "correct horse battery").await;

        let resp = app
            .me_with_cookie_header(&format!("theme=dark; __Host-session={token}; lang=en"))
            .await;

        assert_eq!(resp.status(), StatusCode::OK);
    }
);
