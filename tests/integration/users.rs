//! Account changes as users notice them: deactivation, password change, hash upgrades.

use spa_auth::{
    passwords::Password,
    users::{set_active, set_password_hash},
};
use spa_auth_tests::{StatusCode, TestApp, assert_error, cli_at_a_terminal, db_test, spawn_app};

db_test!(
    async fn deactivation_ends_sessions_at_once_and_blocks_login(db) {
        let app = spawn_app(db).await;
        let alice = app.create_user("alice", "correct horse battery").await;
        app.create_user("bob", "another fine password").await;
        let token = app.login_ok("alice", "correct horse battery").await;
        let bobs = app.login_ok("bob", "another fine password").await;
        assert_eq!(app.me(Some(&token)).await.status(), StatusCode::OK);

        // What `spa-auth user deactivate` does: change the database, then return once every
        // running instance has seen it.
        set_active(&app.db, alice, false).await.unwrap();
        app.settle().await;

        // The very next request after the command returned.
        assert_error(app.me(Some(&token)).await, StatusCode::UNAUTHORIZED, "not_authenticated").await;
        let resp = app.login("alice", "correct horse battery").await;
        assert!(app.session_cookie(&resp).is_none());
        assert_error(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        // Other users are not affected.
        assert_eq!(app.me(Some(&bobs)).await.status(), StatusCode::OK);

        // Reactivated, alice logs in again, but the old cookie stays dead.
        let alice = app.user("alice").await;
        set_active(&app.db, alice, true).await.unwrap();
        assert_error(app.me(Some(&token)).await, StatusCode::UNAUTHORIZED, "not_authenticated").await;
        app.login_ok("alice", "correct horse battery").await;
    }
);

db_test!(
    async fn a_password_change_ends_every_session(db) {
        let app = spawn_app(db).await;
        app.create_user("alice", "correct horse battery").await;
        let laptop = app.login_ok("alice", "correct horse battery").await;
        let phone = app.login_ok("alice", "correct horse battery").await;
        // Both in use right before the change.
        assert_eq!(app.me(Some(&laptop)).await.status(), StatusCode::OK);
        assert_eq!(app.me(Some(&phone)).await.status(), StatusCode::OK);

        let new_hash = app
            .state
            .passwords
            .hash(&Password::new("a brand new secret"))
            .await
            .unwrap();
        // What `spa-auth user set-password` does (see `TestApp::settle`).
        set_password_hash(&app.db, app.user("alice").await, new_hash, false)
            .await
            .unwrap();
        app.settle().await;

        for token in [&laptop, &phone] {
            assert_error(app.me(Some(token)).await, StatusCode::UNAUTHORIZED, "not_authenticated")
                .await;
        }
        assert!(app.sessions().await.is_empty());
        assert_error(
            app.login("alice", "correct horse battery").await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;
        let fresh = app.login_ok("alice", "a brand new secret").await;
        assert_eq!(app.me(Some(&fresh)).await.status(), StatusCode::OK);
    }
);

db_test!(
    async fn a_weak_stored_hash_is_upgraded_on_login(db) {
        let app = spawn_app(db).await;
        let weak = TestApp::passwords_with(8192, 1, 1)
            .hash(&Password::new("correct horse battery"))
            .await
            .unwrap();
        assert!(weak.starts_with("$argon2id$v=19$m=8192,t=1,p=1$"), "{weak}");
        app.create_user_with_hash("alice", Some(weak.clone())).await;

        // A wrong password does not touch the stored hash.
        assert_error(
            app.login("alice", "wrong horse battery").await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;
        assert_eq!(app.user("alice").await.password_hash.as_deref(), Some(weak.as_str()));

        let token = app.login_ok("alice", "correct horse battery").await;

        let stored = app.user("alice").await.password_hash.expect("hash gone");
        assert_ne!(stored, weak);
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "the hash was not upgraded to the configured parameters: {stored}"
        );
        // Upgrading the hash does not end the session it was made in, and the password still works.
        assert_eq!(app.me(Some(&token)).await.status(), StatusCode::OK);
        app.login_ok("alice", "correct horse battery").await;
        assert_eq!(
            app.user("alice").await.password_hash.as_deref(),
            Some(stored.as_str()),
            "a current hash is rehashed again on every login"
        );
    }
);

/// `spa-auth ARGS` on `app`'s database: its exit status, stdout and stderr.
async fn run(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let out = app.cli_output(args).await;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

db_test!(
    async fn user_show_prints_the_account_and_how_many_sessions_it_has(db) {
        let app = spawn_app(db).await;
        let alice = app.create_user("alice", "correct horse battery").await;
        app.cli(&["user", "grant", "alice", "admin"]).await;
        app.login_ok("alice", "correct horse battery").await;
        app.login_ok("alice", "correct horse battery").await;

        // Usernames ignore case, as everywhere.
        let out = app.cli(&["user", "show", "ALICE"]).await;

        assert!(out.contains(&format!("id: {}\n", alice.id)), "{out}");
        assert!(out.contains("username: alice\n"), "{out}");
        assert!(out.contains(&format!("email: {}\n", alice.email)), "{out}");
        assert!(out.contains("active: true\n"), "{out}");
        assert!(out.contains("roles: admin\n"), "{out}");
        assert!(out.contains("sessions: 2\n"), "{out}");
        assert!(!out.contains("argon2"), "the password hash is shown: {out}");

        let (ok, _, err) = run(&app, &["user", "show", "nobody"]).await;
        assert!(!ok);
        assert!(err.contains("no user named \"nobody\""), "{err}");
    }
);

db_test!(
    async fn user_delete_ends_every_session_at_once_and_removes_the_user(db) {
        let app = spawn_app(db).await;
        app.create_user("alice", "correct horse battery").await;
        app.create_user("bob", "another fine password").await;
        let laptop = app.login_ok("alice", "correct horse battery").await;
        let phone = app.login_ok("alice", "correct horse battery").await;
        let bobs = app.login_ok("bob", "another fine password").await;
        // Both cached by the service right before the command.
        assert_eq!(app.me(Some(&laptop)).await.status(), StatusCode::OK);
        assert_eq!(app.me(Some(&phone)).await.status(), StatusCode::OK);

        // Without --yes and with no terminal to ask at, nothing happens.
        let (ok, _, err) = run(&app, &["user", "delete", "alice"]).await;
        assert!(!ok, "deleted without confirmation");
        assert!(err.contains("--yes"), "{err}");
        assert_eq!(app.me(Some(&laptop)).await.status(), StatusCode::OK);

        let out = app.cli(&["user", "delete", "alice", "--yes"]).await;
        assert!(out.contains("ended 2 sessions"), "{out}");

        // The very next request after the command returned.
        for token in [&laptop, &phone] {
            assert_error(app.me(Some(token)).await, StatusCode::UNAUTHORIZED, "not_authenticated")
                .await;
        }
        assert_error(
            app.login("alice", "correct horse battery").await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;
        let (ok, _, err) = run(&app, &["user", "show", "alice"]).await;
        assert!(!ok && err.contains("no user named"), "{err}");
        assert_eq!(app.sessions().await.len(), 1, "alice's sessions are left");
        // Others are not affected, and the name can be taken again.
        assert_eq!(app.me(Some(&bobs)).await.status(), StatusCode::OK);
        app.create_user("alice", "a brand new secret").await;
        app.login_ok("alice", "a brand new secret").await;
    }
);

db_test!(
    async fn user_edit_changes_the_address_everywhere_at_once(db) {
        let app = spawn_app(db).await;
        app.create_user("alice", "correct horse battery").await;
        app.create_user("bob", "another fine password").await;
        let token = app.login_ok("alice", "correct horse battery").await;
        assert_eq!(app.me(Some(&token)).await.status(), StatusCode::OK);

        app.cli(&["user", "edit", "alice", "--email", " Alice.New@Example.com ", "--first-name", "Alice"])
            .await;

        // The session survives, and shows the change on its very next request.
        let me: serde_json::Value = app.me(Some(&token)).await.json().await.unwrap();
        assert_eq!(me["email"], "Alice.New@Example.com");
        assert_eq!(me["first_name"], "Alice");
        assert_eq!(me["email_verified"], true, "an operator's address counts as verified");
        let alice = app.user("alice").await;
        assert_eq!(alice.email_key.as_deref(), Some("alice.new@example.com"));

        // Another account's address, in any case, is refused; so is a malformed one.
        let (ok, _, err) = run(&app, &["user", "edit", "bob", "--email", "ALICE.NEW@example.COM"]).await;
        assert!(!ok, "two accounts share an address");
        assert!(err.contains("another account has this email address"), "{err}");
        let (ok, _, err) = run(&app, &["user", "edit", "bob", "--email", "not an address"]).await;
        assert!(!ok);
        assert!(err.contains("not an address mail can be sent to"), "{err}");
        let bob = app.user("bob").await;
        assert_ne!(bob.email_key.as_deref(), Some("alice.new@example.com"));
    }
);

db_test!(
    async fn sessions_list_shows_each_live_session_of_the_user(db) {
        let app = spawn_app(db).await;
        app.create_user("alice", "correct horse battery").await;
        app.create_user("bob", "another fine password").await;
        app.login_ok("alice", "correct horse battery").await;
        app.login_ok("alice", "correct horse battery").await;
        app.login_ok("bob", "another fine password").await;

        let out = app.cli(&["sessions", "list", "alice"]).await;

        let alice = app.user("alice").await;
        let mut listed: Vec<&str> = out.lines().map(|l| l.split('\t').next().unwrap()).collect();
        let mut stored: Vec<String> = app
            .sessions()
            .await
            .into_iter()
            .filter(|s| s.user_id == alice.id)
            .map(|s| s.id.to_string())
            .collect();
        listed.sort();
        stored.sort();
        assert_eq!(listed, stored, "{out}");
        assert!(out.lines().all(|l| l.split('\t').count() == 7), "{out}");
        assert!(out.contains("127.0.0.1"), "{out}");

        app.cli(&["sessions", "revoke", "alice"]).await;
        assert_eq!(app.cli(&["sessions", "list", "alice"]).await, "");
    }
);

db_test!(
    async fn a_password_typed_at_a_terminal_is_not_echoed_and_asked_twice(db) {
        let app = spawn_app(db).await;
        let url = app.test_db.url.clone();
        let create = ["user", "create", "bob", "--email", "bob@example.com", "--database-url", &url];

        // Two different answers: nothing is created.
        let (ok, shown) = cli_at_a_terminal(&create, &["a secret typed once", "another one"]).await;
        assert!(!ok, "created with two different passwords: {shown}");
        assert!(shown.contains("the two passwords differ"), "{shown}");

        let (ok, shown) =
            cli_at_a_terminal(&create, &["a secret typed twice", "a secret typed twice"]).await;

        assert!(ok, "{shown}");
        assert!(shown.contains("password (again): "), "{shown}");
        assert!(!shown.contains("a secret typed"), "the password was echoed: {shown}");
        app.login_ok("bob", "a secret typed twice").await;
    }
);
