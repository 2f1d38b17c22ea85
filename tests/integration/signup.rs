//! Sign-up: open to anyone who proves their address, or by invitation; no way to learn who
//! has an account by address; throttled like login.

use entity::user;
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use spa_auth_tests::{
    accounts::{
        link_path, mail_to, outbox_drained, post, post_all_at_once, sign_up, spawn_with_mail,
        token_of, verify_email,
    },
    db_test,
    http::assert_error,
    smtp::SmtpServer,
    spawn_app,
};

const PASSWORD: &str = "a long enough passphrase";

async fn users_named(app: &spa_auth_tests::TestApp, username: &str) -> u64 {
    user::Entity::find()
        .filter(user::Column::UsernameKey.eq(username.to_lowercase()))
        .count(&app.db)
        .await
        .expect("users are readable")
}

db_test! {
    async fn open_sign_up_mails_a_link_that_verifies_the_address_then_the_user_logs_in(db) {
        let smtp = SmtpServer::start().await;
        let app = spawn_with_mail(db, &smtp, &["--signup", "open"]).await;

        let resp = sign_up(&app, "carol", "Carol@Example.com", PASSWORD).await;
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
        let mail = mail_to(&smtp, "Carol@Example.com").await;
        assert_eq!(link_path(&mail), "/verify-email");
        let stored = app.user("carol").await;
        assert!(stored.email_verified_at.is_none(), "verified before the link was used");

        let resp = verify_email(&app, &token_of(&mail)).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let token = app.login_ok("carol", PASSWORD).await;
        let me: serde_json::Value = app.me(Some(&token)).await.json().await.expect("JSON");
        assert_eq!(me["email"], "Carol@Example.com");
        assert_eq!(me["email_verified"], true);
    }
}

db_test! {
    async fn sign_up_with_a_taken_address_answers_the_same_and_tells_its_owner(db) {
        let smtp = SmtpServer::start().await;
        let app = spawn_with_mail(db, &smtp, &["--signup", "open"]).await;
        // `alice@example.com`, verified by the operator who created her.
        app.create_user("alice", PASSWORD).await;

        let free = sign_up(&app, "newcomer", "newcomer@example.com", PASSWORD).await;
        let taken = sign_up(&app, "mallory", "ALICE@example.com", PASSWORD).await;
        assert_eq!(free.status(), StatusCode::ACCEPTED);
        assert_eq!(taken.status(), StatusCode::ACCEPTED);
        let (free, taken) = (free.text().await.expect("body"), taken.text().await.expect("body"));
        assert_eq!(free, taken, "the bodies tell a taken address from a free one");

        // The owner hears of it, with the way back in; no account was made for the caller.
        let notice = mail_to(&smtp, "alice@example.com").await;
        assert_eq!(link_path(&notice), "/forgot-password");
        assert_eq!(users_named(&app, "mallory").await, 0);
        outbox_drained(&app).await;
        let to_alice = smtp.messages_to("alice@example.com").len();
        assert_eq!(to_alice, 1, "only the notice goes to the owner, no verification link");
    }
}

db_test! {
    async fn a_taken_username_is_refused_whatever_its_case(db) {
        let smtp = SmtpServer::start().await;
        let app = spawn_with_mail(db, &smtp, &["--signup", "open"]).await;
        app.create_user("alice", PASSWORD).await;
        let resp = sign_up(&app, "ALICE", "someone@example.com", PASSWORD).await;
        assert_error(resp, StatusCode::CONFLICT, "username_taken").await;
    }
}

db_test! {
    async fn sign_up_is_closed_by_default_and_needs_mail_to_open(db) {
        let app = spawn_app(db).await;
        let resp = sign_up(&app, "carol", "carol@example.com", PASSWORD).await;
        assert_error(resp, StatusCode::FORBIDDEN, "not_enabled").await;
        let resp = post(&app, "/api/auth/password-reset", json!({"email": "a@example.com"}), None).await;
        assert_error(resp, StatusCode::FORBIDDEN, "not_enabled").await;
        let resp = post(&app, "/api/auth/email/resend", json!({"email": "a@example.com"}), None).await;
        assert_error(resp, StatusCode::FORBIDDEN, "not_enabled").await;
        assert_eq!(users_named(&app, "carol").await, 0);
    }
}

db_test! {
    async fn bad_sign_up_input_is_a_clear_400_and_creates_nothing(db) {
        let smtp = SmtpServer::start().await;
        let app = spawn_with_mail(db, &smtp, &["--signup", "open"]).await;
        for (username, email, password, code) in [
            ("carol", "not-an-address", PASSWORD, "invalid_email"),
            ("carol", "carol@localhost", PASSWORD, "invalid_email"),
            ("carol", "carol@example.com\0", PASSWORD, "invalid_email"),
            ("carol", "Carol <carol@example.com>", PASSWORD, "invalid_email"),
            ("carol", "carol@example.com", "password", "password_rejected"),
            ("carolinexyz", "carol@example.com", "CarolineXYZ", "password_rejected"),
            ("has space", "carol@example.com", PASSWORD, "bad_request"),
            ("nul\0", "carol@example.com", PASSWORD, "bad_request"),
        ] {
            let resp = sign_up(&app, username, email, password).await;
            assert_error(resp, StatusCode::BAD_REQUEST, code).await;
        }
        let resp = post(&app, "/api/auth/signup", json!({"username": "carol", "password": PASSWORD}), None).await;
        assert_error(resp, StatusCode::BAD_REQUEST, "bad_request").await;
        // JSON types are kept: a number is not a name or an address.
        for body in [
            json!({"username": "carol", "email": 5, "password": PASSWORD}),
            json!({"username": 12345678, "email": "carol@example.com", "password": PASSWORD}),
            json!({"username": "carol", "email": "carol@example.com", "password": PASSWORD, "first_name": true}),
            json!({"username": "carol", "email": "carol@example.com", "password": PASSWORD, "first_name": "Ca\u{0}rol"}),
            json!({"username": "carol", "email": "carol@example.com", "password": PASSWORD, "last_name": "x\ny"}),
        ] {
            let resp = post(&app, "/api/auth/signup", body, None).await;
            assert_error(resp, StatusCode::BAD_REQUEST, "bad_request").await;
        }
        let created = user::Entity::find().count(&app.db).await.expect("count");
        assert_eq!(created, 0);
    }
}

db_test! {
    async fn a_burst_of_sign_ups_from_one_address_is_held_to_its_limit(db) {
        let smtp = SmtpServer::start().await;
        let app = spawn_with_mail(db, &smtp, &["--signup", "open", "--mail-per-ip", "3"]).await;
        let bodies = (0..10)
            .map(|i| json!({"username": format!("user{i}"), "email": format!("user{i}@example.com"), "password": PASSWORD}))
            .collect();
        let statuses = post_all_at_once(&app, "/api/auth/signup", bodies).await;
        let accepted = statuses.iter().filter(|s| **s == StatusCode::ACCEPTED).count();
        let throttled = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
        assert_eq!((accepted, throttled), (3, 7), "{statuses:?}");
        let created = user::Entity::find().count(&app.db).await.expect("count");
        assert_eq!(created, 3);
    }
}

db_test! {
    async fn an_invitation_makes_a_verified_account_with_its_roles_and_works_once(db) {
        let smtp = SmtpServer::start().await;
        let app = spawn_with_mail(db, &smtp, &["--signup", "invite"]).await;
        app.cli(&["invite", "create", "bob@example.com", "--role", "staff"]).await;
        let mail = mail_to(&smtp, "bob@example.com").await;
        assert_eq!(link_path(&mail), "/signup");
        let invite = token_of(&mail);

        // Without the invitation, and with one that is not, sign-up is refused.
        let resp = sign_up(&app, "bob", "bob@example.com", PASSWORD).await;
        assert_error(resp, StatusCode::FORBIDDEN, "not_enabled").await;
        let body = json!({"username": "bob", "password": PASSWORD, "invite": "x".repeat(43)});
        let resp = post(&app, "/api/auth/signup", body, None).await;
        assert_error(resp, StatusCode::BAD_REQUEST, "invalid_token").await;

        // The invited address is the account's, whatever the body says.
        let body = json!({"username": "bob", "email": "other@example.com", "password": PASSWORD, "invite": invite});
        let resp = post(&app, "/api/auth/signup", body.clone(), None).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let created: serde_json::Value = resp.json().await.expect("a user");
        assert_eq!(created["email"], "bob@example.com");
        assert_eq!(created["email_verified"], true);
        assert_eq!(created["roles"], json!(["staff"]));
        app.login_ok("bob", PASSWORD).await;

        let again = json!({"username": "bob2", "password": PASSWORD, "invite": body["invite"]});
        let resp = post(&app, "/api/auth/signup", again, None).await;
        assert_error(resp, StatusCode::BAD_REQUEST, "invalid_token").await;
    }
}

db_test! {
    async fn an_invitation_is_not_spent_by_a_sign_up_that_fails(db) {
        let smtp = SmtpServer::start().await;
        let app = spawn_with_mail(db, &smtp, &["--signup", "invite"]).await;
        app.create_user("taken", PASSWORD).await;
        app.cli(&["invite", "create", "dan@example.com"]).await;
        let invite = token_of(&mail_to(&smtp, "dan@example.com").await);
        let body = json!({"username": "taken", "password": PASSWORD, "invite": invite});
        let resp = post(&app, "/api/auth/signup", body, None).await;
        assert_error(resp, StatusCode::CONFLICT, "username_taken").await;
        let body = json!({"username": "dan", "password": PASSWORD, "invite": invite});
        let resp = post(&app, "/api/auth/signup", body, None).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
}
