//! Password reset by email: the same answer whether or not the address has an account, a link
//! that works once, for 30 minutes, only while nothing it is bound to changed, and a reset that
//! ends every session.

use entity::{account_token, mail_outbox};
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::json;
use spa_auth_tests::{
    accounts::{
        confirm_reset, link_path, mail_to, nth_mail_to, outbox_drained, post_all_at_once,
        request_reset, spawn_with_mail, token_of,
    },
    db_test,
    http::assert_error,
    sha256,
    smtp::SmtpServer,
};

const PASSWORD: &str = "a long enough passphrase";
const NEW: &str = "another long passphrase";

db_test! {
    async fn a_reset_link_sets_the_password_ends_every_session_and_mails_a_notice(db) {
        let smtp = SmtpServer::start().await;
        let app = spawn_with_mail(db, &smtp, &[]).await;
        app.create_user("alice", PASSWORD).await;
        let laptop = app.login_ok("alice", PASSWORD).await;
        let stolen = app.login_ok("alice", PASSWORD).await;

        assert_eq!(request_reset(&app, "Alice@Example.com").await.status(), StatusCode::ACCEPTED);
        let mail = mail_to(&smtp, "alice@example.com").await;
        assert_eq!(link_path(&mail), "/reset-password");
        assert_eq!(confirm_reset(&app, &token_of(&mail), NEW).await.status(), StatusCode::NO_CONTENT);

        for token in [&laptop, &stolen] {
            assert_eq!(app.me(Some(token)).await.status(), StatusCode::UNAUTHORIZED);
        }
        assert_error(app.login("alice", PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        app.login_ok("alice", NEW).await;
        let notice = nth_mail_to(&smtp, "alice@example.com", 1).await;
        assert_eq!(link_path(&notice), "/forgot-password", "the notice says how to get back in");
    }
}

db_test! {
    async fn an_unknown_address_gets_the_same_answer_the_same_work_and_no_mail(db) {
        let smtp = SmtpServer::start().await;
        let app = spawn_with_mail(db, &smtp, &[]).await;
        app.create_user("alice", PASSWORD).await;
        let known = request_reset(&app, "alice@example.com").await;
        let unknown = request_reset(&app, "nobody@example.com").await;
        assert_eq!(known.status(), unknown.status());
        let strip = |r: &reqwest::Response| {
            let mut h: Vec<(String, String)> = r
                .headers()
                .iter()
                .filter(|(k, _)| !["date", "x-request-id"].contains(&k.as_str()))
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
                .collect();
            h.sort();
            h
        };
        assert_eq!(strip(&known), strip(&unknown));
        assert_eq!(known.text().await.expect("body"), unknown.text().await.expect("body"));
        mail_to(&smtp, "alice@example.com").await;
        outbox_drained(&app).await;
        assert!(smtp.messages_to("nobody@example.com").is_empty(), "mail went to an address with no account");
    }
}

db_test! {
    async fn a_reset_link_works_once_and_only_the_newest_works(db) {
        let smtp = SmtpServer::start().await;
        let app = spawn_with_mail(db, &smtp, &[]).await;
        app.create_user("alice", PASSWORD).await;
        request_reset(&app, "alice@example.com").await;
        let first = token_of(&mail_to(&smtp, "alice@example.com").await);
        request_reset(&app, "alice@example.com").await;
        let second = token_of(&nth_mail_to(&smtp, "alice@example.com", 1).await);
        assert_error(confirm_reset(&app, &first, NEW).await, StatusCode::BAD_REQUEST, "invalid_token").await;
        assert_eq!(confirm_reset(&app, &second, NEW).await.status(), StatusCode::NO_CONTENT);
        let again = confirm_reset(&app, &second, "yet another passphrase").await;
        assert_error(again, StatusCode::BAD_REQUEST, "invalid_token").await;
        app.login_ok("alice", NEW).await;
    }
}

db_test! {
    async fn a_reset_link_dies_when_the_password_changes_another_way(db) {
        let smtp = SmtpServer::start().await;
        let app = spawn_with_mail(db, &smtp, &[]).await;
        app.create_user("alice", PASSWORD).await;
        request_reset(&app, "alice@example.com").await;
        let link = token_of(&mail_to(&smtp, "alice@example.com").await);
        let session = app.login_ok("alice", PASSWORD).await;
        let resp = app.change_password(&session, PASSWORD, NEW, &[]).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let resp = confirm_reset(&app, &link, "the attacker's passphrase").await;
        assert_error(resp, StatusCode::BAD_REQUEST, "invalid_token").await;
        app.login_ok("alice", NEW).await;
    }
}

db_test! {
    async fn a_reset_link_expires(db) {
        let smtp = SmtpServer::start().await;
        let app = spawn_with_mail(db, &smtp, &["--reset-token-ttl", "1s"]).await;
        app.create_user("alice", PASSWORD).await;
        request_reset(&app, "alice@example.com").await;
        let link = token_of(&mail_to(&smtp, "alice@example.com").await);
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        assert_error(confirm_reset(&app, &link, NEW).await, StatusCode::BAD_REQUEST, "invalid_token").await;
    }
}

db_test! {
    async fn a_new_password_the_rules_refuse_does_not_spend_the_link(db) {
        let smtp = SmtpServer::start().await;
        let app = spawn_with_mail(db, &smtp, &[]).await;
        app.create_user("alice", PASSWORD).await;
        request_reset(&app, "alice@example.com").await;
        let link = token_of(&mail_to(&smtp, "alice@example.com").await);
        for weak in ["short", "password", "12345678"] {
            assert_error(confirm_reset(&app, &link, weak).await, StatusCode::BAD_REQUEST, "password_rejected").await;
        }
        assert_eq!(confirm_reset(&app, &link, NEW).await.status(), StatusCode::NO_CONTENT);
    }
}

db_test! {
    async fn one_link_used_many_times_at_once_sets_one_password(db) {
        let smtp = SmtpServer::start().await;
        let app = spawn_with_mail(db, &smtp, &[]).await;
        app.create_user("alice", PASSWORD).await;
        request_reset(&app, "alice@example.com").await;
        let link = token_of(&mail_to(&smtp, "alice@example.com").await);
        let passwords: Vec<String> = (0..6).map(|i| format!("racing passphrase number {i}")).collect();
        let bodies = passwords.iter().map(|p| json!({"token": link, "new_password": p})).collect();
        let statuses = post_all_at_once(&app, "/api/auth/password-reset/confirm", bodies).await;
        let won: Vec<&String> = passwords
            .iter()
            .zip(&statuses)
            .filter(|(_, s)| **s == StatusCode::NO_CONTENT)
            .map(|(p, _)| p)
            .collect();
        assert_eq!(won.len(), 1, "{statuses:?}");
        assert!(statuses.iter().all(|s| *s == StatusCode::NO_CONTENT || *s == StatusCode::BAD_REQUEST), "{statuses:?}");
        app.login_ok("alice", won[0]).await;
    }
}

db_test! {
    async fn reset_requests_are_throttled_per_address(db) {
        let smtp = SmtpServer::start().await;
        let app = spawn_with_mail(db, &smtp, &["--mail-per-address", "2"]).await;
        app.create_user("alice", PASSWORD).await;
        for _ in 0..2 {
            assert_eq!(request_reset(&app, "alice@example.com").await.status(), StatusCode::ACCEPTED);
        }
        let resp = request_reset(&app, "ALICE@example.com").await;
        assert!(resp.headers().contains_key("retry-after"));
        assert_error(resp, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
        // Another address is not held back by alice's.
        assert_eq!(request_reset(&app, "bob@example.com").await.status(), StatusCode::ACCEPTED);
    }
}

db_test! {
    async fn link_tokens_are_stored_only_as_hashes_and_the_outbox_never_holds_one(db) {
        let smtp = SmtpServer::start().await;
        let app = spawn_with_mail(db, &smtp, &[]).await;
        app.create_user("alice", PASSWORD).await;
        request_reset(&app, "alice@example.com").await;
        let link = token_of(&mail_to(&smtp, "alice@example.com").await);
        outbox_drained(&app).await;
        let tokens = account_token::Entity::find().all(&app.db).await.expect("tokens");
        assert_eq!(tokens.len(), 1);
        assert_eq!(tokens[0].token_hash, sha256(&link));
        let stored = format!("{tokens:?}{:?}", mail_outbox::Entity::find().all(&app.db).await.expect("outbox"));
        assert!(!stored.contains(&link), "a table holds the token in the clear");
    }
}

db_test! {
    async fn a_reset_link_dies_when_the_address_changes(db) {
        let smtp = SmtpServer::start().await;
        let app = spawn_with_mail(db, &smtp, &[]).await;
        app.create_user("alice", PASSWORD).await;
        request_reset(&app, "alice@example.com").await;
        let link = token_of(&mail_to(&smtp, "alice@example.com").await);
        // Alice moves to a new address (the old mailbox may be what leaked).
        let session = app.login_ok("alice", PASSWORD).await;
        let body = json!({"new_email": "alice@example.org", "current_password": PASSWORD});
        spa_auth_tests::accounts::post(&app, "/api/auth/email", body, Some(&session)).await;
        let verify = token_of(&mail_to(&smtp, "alice@example.org").await);
        let resp = spa_auth_tests::accounts::verify_email(&app, &verify).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let resp = confirm_reset(&app, &link, "the attacker's passphrase").await;
        assert_error(resp, StatusCode::BAD_REQUEST, "invalid_token").await;
        app.login_ok("alice", PASSWORD).await;
    }
}
