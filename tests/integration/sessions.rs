//! Sessions: what is stored, fresh tokens, no fixation, forged tokens.

use spa_auth_tests::{StatusCode, assert_error, db_test, sha256, spawn_app};

db_test!(
    async fn the_database_stores_only_the_sha256_of_the_token(db) {
        let app = spawn_app(db).await;
        let alice = app.create_user("alice", "correct horse battery").await;

        let token = app.login_ok("alice", "correct horse battery").await;

        let rows = app.sessions().await;
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row.user_id, alice.id);
        assert_eq!(row.token_hash, sha256(&token), "token_hash is not sha256(token)");
        assert_ne!(row.token_hash, token.as_bytes());
        let debug = format!("{row:?}");
        assert!(!debug.contains(&token), "a session column holds the token: {debug}");
        assert_ne!(row.id.to_string(), token);
        // Nothing anywhere in the stored sessions (every column, as the database holds it)
        // contains the token.
        let raw = app.raw_session_storage().await;
        assert!(!raw.is_empty());
        assert!(!raw.contains(&token), "the token is stored in the database");
        // The lifetimes are set: idle 14 days, absolute 30 days.
        let now = chrono::Utc::now();
        assert!((row.expires_at - now - chrono::Duration::days(14)).num_seconds().abs() < 10);
        assert!(
            (row.absolute_expires_at - now - chrono::Duration::days(30))
                .num_seconds()
                .abs()
                < 10
        );
    }
);

db_test!(
    async fn every_login_gets_a_new_token(db) {
        let app = spawn_app(db).await;
        app.create_user("alice", "correct horse battery").await;

        let first = app.login_ok("alice", "correct horse battery").await;
        let second = app.login_ok("alice", "correct horse battery").await;

        assert_ne!(first, second);
        // Without a cookie the first session is untouched: two devices, two sessions.
        assert_eq!(app.sessions().await.len(), 2);
        assert_eq!(app.me(Some(&first)).await.status(), StatusCode::OK);
        assert_eq!(app.me(Some(&second)).await.status(), StatusCode::OK);
    }
);

db_test!(
    async fn login_with_a_live_cookie_ends_that_session_and_issues_a_new_token(db) {
        let app = spawn_app(db).await;
        app.create_user("alice", "correct horse battery").await;
        let old = app.login_ok("alice", "correct horse battery").await;

        let resp = app
            .login_with_cookie("alice", "correct horse battery", &old)
            .await;

        assert_eq!(resp.status(), StatusCode::OK);
        let new = app.session_cookie(&resp).expect("no new session cookie");
        assert_ne!(new, old, "session fixation: the presented token was kept");
        assert!(app.session_for(&old).await.is_none(), "old session still stored");
        assert!(app.session_for(&new).await.is_some());
        assert_eq!(app.sessions().await.len(), 1);
        assert_error(app.me(Some(&old)).await, StatusCode::UNAUTHORIZED, "not_authenticated").await;
        assert_eq!(app.me(Some(&new)).await.status(), StatusCode::OK);
    }
);

db_test!(
    async fn a_planted_token_is_never_adopted(db) {
        // An attacker plants a well-formed token of their own choosing before the victim logs in.
        let app = spawn_app(db).await;
        app.create_user("alice", "correct horse battery").await;
        let planted = "A".repeat(43);

        let resp = app
            .login_with_cookie("alice", "correct horse battery", &planted)
            .await;

        assert_eq!(resp.status(), StatusCode::OK);
        let issued = app.session_cookie(&resp).unwrap();
        assert_ne!(issued, planted);
        assert_error(app.me(Some(&planted)).await, StatusCode::UNAUTHORIZED, "not_authenticated").await;
    }
);

db_test!(
    async fn a_made_up_well_formed_token_is_refused(db) {
        let app = spawn_app(db).await;
        app.create_user("alice", "correct horse battery").await;
        let real = app.login_ok("alice", "correct horse battery").await;

        // Same shape as a real token, one character changed.
        let mut forged: Vec<u8> = real.clone().into_bytes();
        forged[0] = if forged[0] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        for token in [forged.as_str(), "abcdefghijklmnopqrstuvwxyz0123456789-_ABCDE"] {
            assert_eq!(token.len(), 43);
            let resp = app.me(Some(token)).await;
            assert_error(resp, StatusCode::UNAUTHORIZED, "not_authenticated").await;
            let resp = app.logout(Some(token)).await;
            assert_error(resp, StatusCode::UNAUTHORIZED, "not_authenticated").await;
        }
        // The real session is untouched by the attempts.
        assert_eq!(app.me(Some(&real)).await.status(), StatusCode::OK);
    }
);

db_test!(
    async fn the_sha256_of_a_token_is_not_a_cookie(db) {
        // Someone with a copy of the sessions table cannot replay its contents.
        let app = spawn_app(db).await;
        app.create_user("alice", "correct horse battery").await;
        let token = app.login_ok("alice", "correct horse battery").await;
        let row = app.session_for(&token).await.unwrap();

        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        let replayed = URL_SAFE_NO_PAD.encode(&row.token_hash);
        assert_eq!(replayed.len(), 43);
        let resp = app.me(Some(&replayed)).await;
        assert_error(resp, StatusCode::UNAUTHORIZED, "not_authenticated").await;
    }
);

db_test!(
    async fn the_session_list_names_the_browser_and_system_of_each_device(db) {
        let app = spawn_app(db).await;
        app.create_user("alice", "correct horse battery").await;
        // Real User-Agent strings as these browsers send them, a script's, and a made-up one.
        let devices = [
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
                Some("Chrome 156 on Linux"),
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0",
                Some("Firefox 140 on Windows 10"),
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.0 Safari/605.1.15",
                Some("Safari 26 on macOS"),
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1",
                Some("Safari 18 on iPhone"),
            ),
            // A script: woothee's name for it, without the library's name as a version.
            ("curl/8.5.0", Some("HTTP Library")),
            // Nothing to tell.
            ("made up", None),
        ];
        let mut token = String::new();
        for (ua, _) in devices {
            let resp = app
                .login_with("alice", "correct horse battery", &[("user-agent", ua)])
                .await;
            assert_eq!(resp.status(), StatusCode::OK, "{ua}");
            token = app.session_cookie(&resp).unwrap();
        }

        let resp = app
            .send(reqwest::Method::GET, "/api/auth/sessions", Some(token.as_str()), &[])
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        let list: Vec<serde_json::Value> = resp.json().await.unwrap();
        assert_eq!(list.len(), devices.len(), "{list:?}");
        for (ua, device) in devices {
            let row = list
                .iter()
                .find(|s| s["user_agent"] == ua)
                .unwrap_or_else(|| panic!("no session with the raw User-Agent {ua}: {list:?}"));
            match device {
                Some(device) => assert_eq!(row["device"], device, "{ua}"),
                // Nothing to tell: no made-up name, and the raw header is still there to show.
                None => assert!(row.get("device").is_none_or(|d| d.is_null()), "{row}"),
            }
        }
    }
);
