//! Settings that change what users get, honoured end to end; settings that would break
//! browsers, refused at startup.

use spa_auth::server::Application;
use spa_auth_tests::{
    DEFAULT_COOKIE_NAME, StatusCode, TestDb, assert_error, base_args, cli_in, db_test,
    parse_settings, spawn_app_with,
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

/// The exit status and standard error of a command that is meant to fail.
fn failure(out: &std::process::Output) -> String {
    assert!(
        !out.status.success(),
        "it succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn forgetting_database_url_says_which_sqlite_file_was_created() {
    let dir = tempfile::tempdir().unwrap();

    let out = cli_in(dir.path(), &[], &["migrate"]).await;

    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let file = dir.path().canonicalize().unwrap().join("spa-auth.db");
    assert!(file.is_file());
    assert!(
        err.contains(&format!("created the SQLite database {}", file.display())),
        "{err}"
    );
    assert!(err.contains("DATABASE_URL is not set"), "{err}");

    // The second time, nothing is created, and nothing said.
    let out = cli_in(dir.path(), &[], &["migrate"]).await;
    assert!(!String::from_utf8_lossy(&out.stderr).contains("created"));
}

#[tokio::test]
async fn an_unreachable_database_is_named_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1.
    let url = "postgres://spa:hunter2@127.0.0.1:1/auth";

    for args in [
        &["serve", "--bind", "127.0.0.1:0", "--db-timeout", "2s"][..],
        &["user", "list"][..],
    ] {
        let out = cli_in(dir.path(), &[("DATABASE_URL", url)], args).await;
        let err = failure(&out);
        assert!(
            err.contains("cannot open the database postgres://spa:***@127.0.0.1:1/auth"),
            "{args:?}: {err}"
        );
        assert!(
            !err.contains("hunter2"),
            "{args:?} shows the password: {err}"
        );
    }
}

db_test!(
    async fn a_bind_address_in_use_is_named_at_startup(db) {
        let test_db = TestDb::create(db).await;
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let dir = tempfile::tempdir().unwrap();

        let out = cli_in(
            dir.path(),
            &[],
            &["serve", "--bind", &addr, "--database-url", &test_db.url],
        )
        .await;

        let err = failure(&out);
        assert!(err.contains(&format!("cannot listen on {addr} (SPA_AUTH_BIND)")), "{err}");
    }
);

db_test!(
    async fn a_missing_spa_dir_is_refused_at_startup(db) {
        let test_db = TestDb::create(db).await;
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("dist");
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();

        for (spa_dir, problem) in [(&missing, "is not a directory"), (&empty, "has no index.html")] {
            let spa_dir = spa_dir.to_str().unwrap();
            let args = ["serve", "--bind", "127.0.0.1:0", "--database-url", &test_db.url, "--spa-dir", spa_dir];
            let out = cli_in(dir.path(), &[], &args).await;
            let err = failure(&out);
            assert!(err.contains(spa_dir) && err.contains(problem), "{err}");
        }
    }
);
