//! Settings that change what users get, honoured end to end; settings that would break
//! browsers, refused at startup.

use spa_auth::server::Application;
use spa_auth_tests::{
    DEFAULT_COOKIE_NAME, StatusCode, TestDb, assert_error, base_args, cli_in, cli_in_with, db_test,
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

/// A settings file in a directory of its own; the directory goes when the value is dropped.
fn settings_file(toml: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spa-auth.toml");
    std::fs::write(&path, toml).unwrap();
    (dir, path.display().to_string())
}

db_test!(
    async fn a_config_file_sits_beneath_environment_variables_and_flags(db) {
        let test_db = TestDb::create(db).await;
        let (dir, file) = settings_file(&format!("database_url = {:?}\n", test_db.url));
        let elsewhere = format!("sqlite://{}/other.db?mode=rwc", dir.path().display());

        // The file's database, through the flag and through SPA_AUTH_CONFIG.
        let create = ["user", "create", "alice", "--email", "alice@example.com", "--config", &file];
        let out = cli_in_with(dir.path(), &[], &create, Some("correct horse battery\n")).await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out = cli_in(dir.path(), &[("SPA_AUTH_CONFIG", &file)], &["user", "list"]).await;
        assert!(String::from_utf8_lossy(&out.stdout).contains("alice"));

        // The environment beats the file, and a flag beats both.
        let env = [("SPA_AUTH_CONFIG", file.as_str()), ("DATABASE_URL", elsewhere.as_str())];
        let out = cli_in(dir.path(), &env, &["user", "list"]).await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(!String::from_utf8_lossy(&out.stdout).contains("alice"), "the file beat the environment");
        let out = cli_in(dir.path(), &env, &["user", "list", "--database-url", &test_db.url]).await;
        assert!(String::from_utf8_lossy(&out.stdout).contains("alice"), "the environment beat the flag");
    }
);

#[tokio::test]
async fn an_unknown_or_malformed_setting_in_the_file_refuses_the_start_naming_it() {
    for (toml, says) in [
        (
            "bind = \"127.0.0.1:0\"\nsesion-idle-timeout = \"1h\"\n",
            "unknown key \"sesion-idle-timeout\"",
        ),
        (
            "[session]\nidle-timeout = \"1h\"\n",
            "unknown key \"session\"",
        ),
        (
            "bind = [\"127.0.0.1:0\"]\n",
            "\"bind\" must be a string, number or boolean",
        ),
        ("bind = \n", "not valid TOML"),
        ("bind = \"nowhere\"\n", "nowhere"),
    ] {
        let (dir, file) = settings_file(toml);
        let out = cli_in(dir.path(), &[("SPA_AUTH_CONFIG", &file)], &["serve"]).await;
        let err = failure(&out);
        assert!(err.contains(says), "{toml}: {err}");
        assert!(
            !dir.path().join("spa-auth.db").exists(),
            "{toml}: it went on to open a database"
        );
    }
}

#[tokio::test]
async fn config_check_prints_the_effective_settings_and_their_sources_with_secrets_redacted() {
    let (dir, file) = settings_file(
        r#"
database-url = "postgres://app:db-secret@db.example.com/auth"
smtp-url = "smtp://mailer:smtp-secret@mail.example.com:587"
mail-from = "Example <no-reply@example.com>"
public-url = "https://auth.example.com"
secret-key = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="
session-idle-timeout = "7days"
session-cache-ttl = "30s"
trusted-origins = ["https://app.example.com", "https://admin.example.com"]
"#,
    );
    let env = [
        ("SPA_AUTH_CONFIG", file.as_str()),
        ("SPA_AUTH_SESSION_CACHE_TTL", "10s"),
    ];

    let out = cli_in(
        dir.path(),
        &env,
        &["config", "check", "--session-idle-timeout", "3days"],
    )
    .await;

    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for line in [
        "session-idle-timeout = \"3days\"  # flag",
        "session-cache-ttl = \"10s\"  # env SPA_AUTH_SESSION_CACHE_TTL",
        "trusted-origins = \"https://app.example.com,https://admin.example.com\"  # file",
        "database-url = \"postgres://app:***@db.example.com/auth\"  # file",
        "smtp-url = \"smtp://mailer:***@mail.example.com:587\"  # file",
        "secret-key = \"***\"  # file",
        "session-absolute-timeout = \"30days\"  # default",
        "public-url = \"https://auth.example.com\"  # file",
        "# metrics-bind is not set",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "no line {line:?} in:\n{stdout}"
        );
    }
    assert!(stderr.contains("settings are valid"), "{stderr}");
    // `--help` shows the file's values as defaults, but not its secrets.
    let help = cli_in(dir.path(), &env, &["serve", "--help"]).await;
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("7days"), "{help}");
    for text in [&*stdout, &*stderr, &*help] {
        for secret in ["db-secret", "smtp-secret", "c2VjcmV0"] {
            assert!(!text.contains(secret), "{secret} shown:\n{text}");
        }
    }

    // Settings `serve` would refuse: the same message, and a failing exit.
    let out = cli_in(
        dir.path(),
        &env,
        &["config", "check", "--public-url", "auth.example.com"],
    )
    .await;
    let err = failure(&out);
    assert!(err.contains("public URL \"auth.example.com\""), "{err}");
}

#[tokio::test]
async fn the_settings_file_shipped_for_systemd_passes_config_check() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/systemd/spa-auth.toml"
    );
    let dir = tempfile::tempdir().unwrap();

    let out = cli_in(dir.path(), &[], &["config", "check", "--config", file]).await;

    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("log-format = \"json\"  # file"), "{stdout}");
}
