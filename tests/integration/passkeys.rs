//! Passkeys over HTTP, with a software authenticator (`spa_auth_tests::SoftPasskey`):
//! registering, listing, renaming, removing; logging in without a password; a passkey as the
//! second step and for re-authentication; the ceremonies' challenges good once, for a while,
//! on any instance.

use std::time::Duration;

use reqwest::Method;
use sea_orm::{ConnectionTrait, DbBackend};
use serde_json::{Value, json};
use spa_auth_tests::{
    Instance, NO_THROTTLE, PASSKEY_ARGS, SoftPasskey, StatusCode, TestApp, assert_error,
    count_guesses, db_test, spawn_app_with,
};

const PASSWORD: &str = "correct horse battery";

async fn passkey_app(db: spa_auth_tests::Db, extra: &[&str]) -> TestApp {
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    spawn_app_with(db, |args| {
        args.extend(PASSKEY_ARGS.map(String::from));
        args.extend(extra);
    })
    .await
}

/// alice, logged in with her password, with a registered passkey; her session's token.
async fn alice_with_passkey(app: &TestApp) -> (String, SoftPasskey) {
    app.create_user("alice", PASSWORD).await;
    let token = app.login_ok("alice", PASSWORD).await;
    let mut key = SoftPasskey::new();
    app.register_passkey(&token, &mut key, "laptop").await;
    (token, key)
}

async fn list(app: &TestApp, token: &str) -> Vec<Value> {
    let resp = app
        .send(Method::GET, "/api/auth/passkeys", Some(token), &[])
        .await;
    assert_eq!(resp.status(), StatusCode::OK, "GET /api/auth/passkeys");
    resp.json().await.expect("a JSON list")
}

db_test!(
    async fn a_passkey_is_registered_listed_renamed_and_removed(db) {
        let app = passkey_app(db, &[]).await;
        let (token, _key) = alice_with_passkey(&app).await;
        let listed = list(&app, &token).await;
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0]["name"], "laptop");
        assert_eq!(listed[0]["last_used_at"], Value::Null);
        assert!(listed[0].get("credential").is_none(), "the key is never shown");
        let id = listed[0]["id"].as_str().expect("an id").to_owned();

        let path = format!("/api/auth/passkeys/{id}");
        let body = json!({ "name": "work laptop" });
        let resp = app
            .send_body(Method::PATCH, &path, Some(&body), Some(&token), &[])
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(list(&app, &token).await[0]["name"], "work laptop");

        // Another user's session cannot see, rename or remove it.
        app.create_user("bob", PASSWORD).await;
        let bob = app.login_ok("bob", PASSWORD).await;
        assert!(list(&app, &bob).await.is_empty());
        let resp = app
            .send_body(Method::PATCH, &path, Some(&body), Some(&bob), &[])
            .await;
        assert_error(resp, StatusCode::NOT_FOUND, "not_found").await;
        let resp = app.send(Method::DELETE, &path, Some(&bob), &[]).await;
        assert_error(resp, StatusCode::NOT_FOUND, "not_found").await;

        // Removing it ends every session of alice, this one too, as turning TOTP off does.
        let other = app.login_pending("alice", PASSWORD).await;
        let resp = app.send(Method::DELETE, &path, Some(&token), &[]).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        assert_eq!(app.me(Some(&token)).await.status(), StatusCode::UNAUTHORIZED);
        let resp = app.second_factor(&other, json!({ "code": "123456" })).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        // Without it, the password alone logs in again.
        let token = app.login_ok("alice", PASSWORD).await;
        assert!(list(&app, &token).await.is_empty());
    }
);

db_test!(
    async fn a_passkey_logs_in_without_a_password(db) {
        let app = passkey_app(db, &[]).await;
        let (_, mut key) = alice_with_passkey(&app).await;
        let body = app.passkey_login_body(&mut key).await;
        let resp = app.passkey_login(&body).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let token = app.session_cookie(&resp).expect("a session cookie");
        let user: Value = resp.json().await.expect("JSON");
        assert_eq!(user["username"], "alice");
        // A full session: it reads, and a step-up operation passes, since it proved its
        // user just now.
        assert_eq!(app.me(Some(&token)).await.status(), StatusCode::OK);
        let session = app.session_for(&token).await.expect("the session is stored");
        assert_eq!(session.auth_methods, "passkey");
        assert!(!session.second_factor_pending);
        let listed = list(&app, &token).await;
        assert_ne!(listed[0]["last_used_at"], Value::Null, "the use is recorded");
        let resp = app
            .send(Method::POST, "/api/auth/passkeys/options", Some(&token), &[])
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
);

db_test!(
    async fn a_passkey_login_follows_the_rules_of_a_password_login(db) {
        let app = passkey_app(db, &[]).await;
        let (_, mut key) = alice_with_passkey(&app).await;

        // A passkey that is not registered here.
        let mut stranger = SoftPasskey::new();
        let (ceremony_id, options) = app.passkey_options("/api/auth/passkey/options", None).await;
        let mut answer = stranger.get(&options);
        answer["response"]["userHandle"] = json!("AAAAAAAAAAAAAAAAAAAAAA");
        let body = json!({ "ceremony_id": ceremony_id, "credential": answer });
        let resp = app.passkey_login(&body).await;
        assert_error(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;

        // alice's passkey, signed by another key.
        let mut forged = SoftPasskey::new();
        forged.credential_id = key.credential_id.clone();
        let (ceremony_id, options) = app.passkey_options("/api/auth/passkey/options", None).await;
        let mut answer = forged.get(&options);
        answer["response"]["userHandle"] = key.get(&options)["response"]["userHandle"].clone();
        let body = json!({ "ceremony_id": ceremony_id, "credential": answer });
        let resp = app.passkey_login(&body).await;
        assert_error(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;

        // An answer made for another origin (a phishing site).
        key.origin = "https://auth.example.com.evil.test".into();
        let body = app.passkey_login_body(&mut key).await;
        let resp = app.passkey_login(&body).await;
        assert_error(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        key.origin = spa_auth_tests::TEST_PUBLIC_URL.into();

        // A deactivated account.
        app.cli(&["user", "deactivate", "alice"]).await;
        let body = app.passkey_login_body(&mut key).await;
        let resp = app.passkey_login(&body).await;
        assert_error(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
);

db_test!(
    async fn passkey_logins_are_throttled(db) {
        let app = passkey_app(db, &["--throttle-per-account", "2"]).await;
        let (_, mut key) = alice_with_passkey(&app).await;
        let mut forged = SoftPasskey::new();
        forged.credential_id = key.credential_id.clone();
        for _ in 0..2 {
            let (ceremony_id, options) =
                app.passkey_options("/api/auth/passkey/options", None).await;
            let mut answer = forged.get(&options);
            answer["response"]["userHandle"] = key.get(&options)["response"]["userHandle"].clone();
            let body = json!({ "ceremony_id": ceremony_id, "credential": answer });
            let resp = app.passkey_login(&body).await;
            assert_error(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        }
        // The right passkey now waits too, as the right password would.
        let body = app.passkey_login_body(&mut key).await;
        let resp = app.passkey_login(&body).await;
        assert_error(resp, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
    }
);

db_test!(
    async fn a_passkey_is_the_second_factor_after_a_password(db) {
        let app = passkey_app(db, &[]).await;
        let (_, mut key) = alice_with_passkey(&app).await;
        let resp = app.login("alice", PASSWORD).await;
        assert_eq!(resp.status(), StatusCode::ACCEPTED, "a passkey is a second factor");
        let pending = app.session_cookie(&resp).expect("a half-open session");
        let challenge: Value = resp.json().await.expect("JSON");
        assert_eq!(challenge["methods"], json!(["passkey"]));
        assert_eq!(app.me(Some(&pending)).await.status(), StatusCode::UNAUTHORIZED);

        let passkey = app.passkey_proof(&pending, &mut key).await;
        let resp = app.second_factor(&pending, json!({ "passkey": passkey })).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let token = app.session_cookie(&resp).expect("the upgraded session");
        assert_ne!(token, pending, "a new token after the second step");
        assert_eq!(app.me(Some(&token)).await.status(), StatusCode::OK);
        let session = app.session_for(&token).await.expect("stored");
        assert_eq!(session.auth_methods, "password+passkey");

        // Another user's half-open session cannot use alice's ceremony, nor her passkey.
        app.create_user("bob", PASSWORD).await;
        let mut bobs = SoftPasskey::new();
        let bob = app.login_ok("bob", PASSWORD).await;
        app.register_passkey(&bob, &mut bobs, "phone").await;
        let bob_pending = app.login_pending("bob", PASSWORD).await;
        let alice_pending = app.login_pending("alice", PASSWORD).await;
        let passkey = app.passkey_proof(&alice_pending, &mut key).await;
        let resp = app.second_factor(&bob_pending, json!({ "passkey": passkey })).await;
        assert_error(resp, StatusCode::BAD_REQUEST, "invalid_challenge").await;
        let (ceremony_id, options) = app
            .passkey_options("/api/auth/passkey/proof-options", Some(&bob_pending))
            .await;
        let passkey = json!({ "ceremony_id": ceremony_id, "credential": key.get(&options) });
        let resp = app.second_factor(&bob_pending, json!({ "passkey": passkey })).await;
        assert_error(resp, StatusCode::FORBIDDEN, "invalid_code").await;
    }
);

db_test!(
    async fn removing_a_passkey_needs_step_up_and_a_passkey_re_authenticates(db) {
        let app = passkey_app(db, &["--reauth-window", "1s"]).await;
        let (_, mut key) = alice_with_passkey(&app).await;
        let body = app.passkey_login_body(&mut key).await;
        let resp = app.passkey_login(&body).await;
        let token = app.session_cookie(&resp).expect("a session");
        let id = list(&app, &token).await[0]["id"]
            .as_str()
            .expect("an id")
            .to_owned();
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let path = format!("/api/auth/passkeys/{id}");
        let resp = app.send(Method::DELETE, &path, Some(&token), &[]).await;
        assert_error(resp, StatusCode::FORBIDDEN, "reauthentication_required").await;
        let resp = app
            .send(Method::POST, "/api/auth/passkeys/options", Some(&token), &[])
            .await;
        assert_error(resp, StatusCode::FORBIDDEN, "reauthentication_required").await;
        assert_eq!(list(&app, &token).await.len(), 1, "still there");

        // The passkey alone re-authenticates: it is two factors by itself.
        let passkey = app.passkey_proof(&token, &mut key).await;
        let resp = app
            .post_json(
                "/api/auth/reauthenticate",
                Some(&json!({ "passkey": passkey })),
                Some(&token),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let resp = app.send(Method::DELETE, &path, Some(&token), &[]).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);

        // With a password and no passkey answer, an account with a passkey needs one.
        let (token, mut key) = {
            let token = app.login_ok("alice", PASSWORD).await;
            let mut key = SoftPasskey::new();
            app.register_passkey(&token, &mut key, "phone").await;
            (token, key)
        };
        let resp = app
            .post_json(
                "/api/auth/reauthenticate",
                Some(&json!({ "password": PASSWORD })),
                Some(&token),
            )
            .await;
        assert_error(resp, StatusCode::CONFLICT, "conflict").await;
        let passkey = app.passkey_proof(&token, &mut key).await;
        let body = json!({ "password": PASSWORD, "passkey": passkey });
        let resp = app
            .post_json("/api/auth/reauthenticate", Some(&body), Some(&token))
            .await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    }
);

db_test!(
    async fn a_reused_challenge_is_refused(db) {
        let app = passkey_app(db, &NO_THROTTLE).await;
        let (_, mut key) = alice_with_passkey(&app).await;
        let body = app.passkey_login_body(&mut key).await;
        // Two racing requests with one answer: exactly one logs in.
        let (a, b) = tokio::join!(app.passkey_login(&body), app.passkey_login(&body));
        let mut statuses = [a.status(), b.status()];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::OK, StatusCode::BAD_REQUEST]);
        let resp = app.passkey_login(&body).await;
        assert_error(resp, StatusCode::BAD_REQUEST, "invalid_challenge").await;

        // A registration's challenge too: the same answer cannot register twice.
        let body = app.passkey_login_body(&mut key).await;
        let resp = app.passkey_login(&body).await;
        let token = app.session_cookie(&resp).expect("a session");
        let mut phone = SoftPasskey::new();
        let (ceremony_id, options) = app
            .passkey_options("/api/auth/passkeys/options", Some(&token))
            .await;
        let body = json!({ "ceremony_id": ceremony_id, "credential": phone.create(&options) });
        let resp = app
            .post_json("/api/auth/passkeys", Some(&body), Some(&token))
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let resp = app
            .post_json("/api/auth/passkeys", Some(&body), Some(&token))
            .await;
        assert_error(resp, StatusCode::BAD_REQUEST, "invalid_challenge").await;
    }
);

db_test!(
    async fn an_expired_challenge_is_refused(db) {
        let app = passkey_app(db, &["--passkey-challenge-timeout", "1s"]).await;
        let (_, mut key) = alice_with_passkey(&app).await;
        let body = app.passkey_login_body(&mut key).await;
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        let resp = app.passkey_login(&body).await;
        assert_error(resp, StatusCode::BAD_REQUEST, "invalid_challenge").await;
        // A fresh one works.
        let body = app.passkey_login_body(&mut key).await;
        assert_eq!(app.passkey_login(&body).await.status(), StatusCode::OK);
    }
);

db_test!(
    async fn a_ceremony_begun_on_one_instance_finishes_on_another(db) {
        let app = passkey_app(db, &[]).await;
        let other = Instance::start(&app.test_db.url, &PASSKEY_ARGS).await;
        app.create_user("alice", PASSWORD).await;
        let token = app.login_ok("alice", PASSWORD).await;

        // Registration: options from one, answer to the other.
        let mut key = SoftPasskey::new();
        let (ceremony_id, options) = other
            .passkey_options("/api/auth/passkeys/options", Some(&token))
            .await;
        let body = json!({ "ceremony_id": ceremony_id, "credential": key.create(&options) });
        let resp = app
            .post_json("/api/auth/passkeys", Some(&body), Some(&token))
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED);

        // Passwordless login: the other way round.
        let body = app.passkey_login_body(&mut key).await;
        let resp = other.passkey_login(&body).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let token = other.session_cookie(&resp).expect("a session");
        assert_eq!(app.me(Some(&token)).await.status(), StatusCode::OK);
    }
);

db_test!(
    async fn a_malformed_credential_is_refused_with_400(db) {
        let app = passkey_app(db, &[]).await;
        let (token, mut key) = alice_with_passkey(&app).await;
        let (ceremony_id, options) = app.passkey_options("/api/auth/passkey/options", None).await;
        let good = key.get(&options);
        let mut bad_signature = good.clone();
        bad_signature["response"]["signature"] = json!("not base64!");
        let malformed = [
            json!({}),
            json!({ "id": 5 }),
            json!({ "id": "x", "rawId": "x", "type": "public-key", "response": {} }),
            bad_signature,
        ];
        for credential in malformed {
            let body = json!({ "ceremony_id": ceremony_id, "credential": credential });
            let resp = app.passkey_login(&body).await;
            assert_error(resp, StatusCode::BAD_REQUEST, "bad_request").await;
        }
        // Not an object, or no ceremony id: refused before anything is looked at.
        for body in [
            json!({ "ceremony_id": ceremony_id, "credential": "x" }),
            json!({ "credential": good }),
            json!({ "ceremony_id": "not a uuid", "credential": good }),
        ] {
            let resp = app.passkey_login(&body).await;
            assert_error(resp, StatusCode::BAD_REQUEST, "bad_request").await;
        }
        // A registration's answer that is not one, and a login's answer given to it.
        let (ceremony_id, options) = app
            .passkey_options("/api/auth/passkeys/options", Some(&token))
            .await;
        let mut created = SoftPasskey::new().create(&options);
        created["response"]["attestationObject"] = json!("AAAA");
        let body = json!({ "ceremony_id": ceremony_id, "credential": created });
        let resp = app
            .post_json("/api/auth/passkeys", Some(&body), Some(&token))
            .await;
        assert_error(resp, StatusCode::BAD_REQUEST, "bad_request").await;
        // A name with a control character.
        let (ceremony_id, options) = app
            .passkey_options("/api/auth/passkeys/options", Some(&token))
            .await;
        let credential = SoftPasskey::new().create(&options);
        let body = json!({ "ceremony_id": ceremony_id, "credential": credential, "name": "a\u{7}b" });
        let resp = app
            .post_json("/api/auth/passkeys", Some(&body), Some(&token))
            .await;
        assert_error(resp, StatusCode::BAD_REQUEST, "bad_request").await;
    }
);

db_test!(
    async fn passkeys_are_off_without_a_public_url(db) {
        let app = spawn_app_with(db, |_| {}).await;
        let resp = app.post_json("/api/auth/passkey/options", None, None).await;
        assert_error(resp, StatusCode::FORBIDDEN, "not_enabled").await;
        app.create_user("alice", PASSWORD).await;
        let token = app.login_ok("alice", PASSWORD).await;
        let resp = app
            .post_json("/api/auth/passkeys/options", None, Some(&token))
            .await;
        assert_error(resp, StatusCode::FORBIDDEN, "not_enabled").await;
    }
);

db_test!(
    async fn expired_ceremonies_are_purged(db) {
        let app = passkey_app(
            db,
            &["--passkey-challenge-timeout", "1s", "--purge-interval", "200ms"],
        )
        .await;
        for _ in 0..3 {
            app.passkey_options("/api/auth/passkey/options", None).await;
        }
        let count = || async {
            use sea_orm::{EntityTrait, PaginatorTrait};
            entity::passkey_ceremony::Entity::find()
                .count(&app.db)
                .await
                .expect("count")
        };
        assert_eq!(count().await, 3);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while count().await > 0 {
            assert!(tokio::time::Instant::now() < deadline, "purged in time");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
);

db_test!(
    async fn an_operator_mfa_reset_removes_the_passkeys(db) {
        let app = passkey_app(db, &[]).await;
        let (token, mut key) = alice_with_passkey(&app).await;
        app.cli(&["user", "mfa", "reset", "alice"]).await;
        assert_eq!(app.me(Some(&token)).await.status(), StatusCode::UNAUTHORIZED);
        // The password alone logs in again, and the passkey no longer does.
        let token = app.login_ok("alice", PASSWORD).await;
        assert!(list(&app, &token).await.is_empty());
        let body = app.passkey_login_body(&mut key).await;
        let resp = app.passkey_login(&body).await;
        assert_error(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
);

db_test!(
    async fn a_login_the_database_fails_is_not_counted_as_a_guess(db) {
        // Password and passkey logins end the same way (`authentication::settle`): an attempt
        // the database could not decide gives its throttle slot back, where a dropped slot
        // would count as a failed guess and lock the account out over a database blip.
        let app = passkey_app(db, &["--throttle-per-account", "2"]).await;
        let (_, mut key) = alice_with_passkey(&app).await;
        let (refuse, allow) = match app.db.get_database_backend() {
            DbBackend::Postgres => (
                "CREATE FUNCTION refuse_sessions() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$; \
                 CREATE TRIGGER refuse_sessions BEFORE INSERT ON sessions \
                 FOR EACH ROW EXECUTE FUNCTION refuse_sessions();",
                "DROP TRIGGER refuse_sessions ON sessions; DROP FUNCTION refuse_sessions();",
            ),
            _ => (
                "CREATE TRIGGER refuse_sessions BEFORE INSERT ON sessions \
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
                "DROP TRIGGER refuse_sessions;",
            ),
        };
        app.db
            .execute_unprepared(refuse)
            .await
            .expect("cannot add the trigger");
        // Twice the account's limit of each, every one decided by nothing but the database.
        for _ in 0..4 {
            let body = app.passkey_login_body(&mut key).await;
            let resp = app.passkey_login(&body).await;
            assert_error(resp, StatusCode::INTERNAL_SERVER_ERROR, "internal").await;
            let resp = app.login("alice", PASSWORD).await;
            assert_error(resp, StatusCode::INTERNAL_SERVER_ERROR, "internal").await;
        }
        app.db
            .execute_unprepared(allow)
            .await
            .expect("cannot drop the trigger");

        let body = app.passkey_login_body(&mut key).await;
        assert_eq!(app.passkey_login(&body).await.status(), StatusCode::OK);
        // Her password is right and not throttled: it asks for her passkey as the second step.
        let resp = app.login("alice", PASSWORD).await;
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
    }
);

db_test!(
    async fn a_burst_of_parallel_passkey_guesses_is_held_to_the_account_limit(db) {
        // Passkey attempts end in the same settle as password ones, behind the same throttle
        // reservation: racing forged answers get exactly as many evaluations as the limit.
        let app = passkey_app(db, &["--throttle-per-account", "3"]).await;
        let (_, mut key) = alice_with_passkey(&app).await;
        let mut forged = SoftPasskey::new();
        forged.credential_id = key.credential_id.clone();
        let mut bodies = Vec::new();
        for _ in 0..20 {
            let (ceremony_id, options) =
                app.passkey_options("/api/auth/passkey/options", None).await;
            let mut answer = forged.get(&options);
            answer["response"]["userHandle"] = key.get(&options)["response"]["userHandle"].clone();
            bodies.push(json!({ "ceremony_id": ceremony_id, "credential": answer }));
        }
        let url = app.url("/api/auth/passkey/login");
        let handles: Vec<_> = bodies
            .into_iter()
            .map(|body| {
                let (client, url) = (app.client.clone(), url.clone());
                tokio::spawn(async move {
                    let resp = client.post(url).json(&body).send().await;
                    resp.expect("passkey login request failed").status()
                })
            })
            .collect();
        let (evaluated, refused) = count_guesses(handles).await;
        assert_eq!((evaluated, refused), (3, 17), "(401s, 429s) of 20 parallel guesses");
        // The right passkey now waits too, as the right password would.
        let body = app.passkey_login_body(&mut key).await;
        let resp = app.passkey_login(&body).await;
        assert_error(resp, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
    }
);
