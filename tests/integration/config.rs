//! Settings that change what users get, honoured end to end; settings that would break
//! browsers, refused at startup.

use spa_auth::server::Application;
use spa_auth_tests::{
    DEFAULT_COOKIE_NAME, StatusCode, TestDb, assert_error, base_args, db_test, parse_settings,
    spawn_app_with,
};

db_test!(
    async fn an_insecure_host_prefixed_cookie_is_refused_at_startup(db) {
        let test_db = TestDb::create(db).await;
        let mut args = base_args(&test_db.url);
        args.extend(["--cookie-secure".into(), "false".into()]);
        let settings = parse_settings(&args);

        match Application::build(&settings).await {
            Ok(_) => panic!("the service started with a __Host- cookie that is not Secure"),
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains("__Host-"), "error does not mention __Host-: {msg}");
            }
        }
    }
);

db_test!(
    async fn an_insecure_cookie_with_another_name_is_allowed(db) {
        let app = spawn_app_with(db, |args| {
            args.extend(["--cookie-secure", "false", "--cookie-name", "sid"].map(String::from));
        })
        .await;
        app.create_user("alice", "correct horse battery").await;

        let resp = app.login("alice", "correct horse battery").await;

        assert_eq!(resp.status(), StatusCode::OK);
        let cookie = app.session_set_cookie(&resp).unwrap();
        assert_eq!(cookie.name, "sid");
        assert!(!cookie.has("Secure"), "{}", cookie.raw);
        assert!(cookie.has("HttpOnly"), "{}", cookie.raw);
    }
);

db_test!(
    async fn same_site_strict_and_a_custom_cookie_name_are_honoured(db) {
        let app = spawn_app_with(db, |args| {
            args.extend(
                ["--cookie-same-site", "strict", "--cookie-name", "__Secure-myapp"]
                    .map(String::from),
            );
        })
        .await;
        app.create_user("alice", "correct horse battery").await;

        let resp = app.login("alice", "correct horse battery").await;

        assert_eq!(resp.status(), StatusCode::OK);
        let cookie = app.session_set_cookie(&resp).expect("no cookie named __Secure-myapp");
        assert_eq!(cookie.name, "__Secure-myapp", "{}", cookie.raw);
        assert_eq!(cookie.attr("SameSite"), Some("Strict"), "{}", cookie.raw);
        assert!(cookie.has("Secure") && cookie.has("HttpOnly"), "{}", cookie.raw);
        assert!(
            spa_auth_tests::set_cookies(&resp)
                .iter()
                .all(|c| c.name != DEFAULT_COOKIE_NAME),
            "the default cookie name is still used"
        );
        let token = cookie.value;

        // The custom name authenticates; the default name does not.
        assert_eq!(app.me(Some(&token)).await.status(), StatusCode::OK);
        let resp = app
            .me_with_cookie_header(&format!("{DEFAULT_COOKIE_NAME}={token}"))
            .await;
        assert_error(resp, StatusCode::UNAUTHORIZED, "not_authenticated").await;

        let resp = app.logout(Some(&token)).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let clearing = app.session_set_cookie(&resp).expect("no clearing cookie");
        assert_eq!(clearing.name, "__Secure-myapp");
        assert_eq!(clearing.max_age(), Some(0));
        assert_eq!(clearing.attr("SameSite"), Some("Strict"));
    }
);

db_test!(
    async fn contradictory_or_malformed_settings_are_refused_at_startup(db) {
        let test_db = TestDb::create(db).await;
        let cases: [&[&str]; 5] = [
            &["--session-idle-timeout", "10m", "--session-absolute-timeout", "5m"],
            &["--session-idle-timeout", "10m", "--session-refresh-interval", "10m"],
            &["--public-url", "https://auth.example.com/app"],
            &["--public-url", "auth.example.com"],
            &["--header-timeout", "0s"],
        ];
        for extra in cases {
            let mut args = base_args(&test_db.url);
            args.extend(extra.iter().map(|s| s.to_string()));
            let settings = parse_settings(&args);
            assert!(
                Application::build(&settings).await.is_err(),
                "started with {extra:?}"
            );
        }
    }
);
