//! Proving an address: the link works once, a newer one replaces it, an unverified user may be
//! kept out, and an address changes only once the new one is proved.

use reqwest::StatusCode;
use serde_json::json;
use spa_auth_tests::{
    accounts::{
        mail_to, nth_mail_to, post, post_all_at_once, sign_up, spawn_with_mail, token_of,
        verify_email,
    },
    db_test,
    http::assert_error,
    smtp::SmtpServer,
};

const PASSWORD: &str = "a long enough passphrase";

db_test! {
    async fn a_verification_link_works_once_and_only_the_newest_works(db) {
        let smtp = SmtpServer::start().await;
        let app = spawn_with_mail(db, &smtp, &["--signup", "open"]).await;
        sign_up(&app, "carol", "carol@example.com", PASSWORD).await;
        let first = token_of(&mail_to(&smtp, "carol@example.com").await);
        let resp = post(&app, "/api/auth/email/resend", json!({"email": "CAROL@example.com"}), None).await;
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
        let second = token_of(&nth_mail_to(&smtp, "carol@example.com", 1).await);
        assert_ne!(first, second);

        assert_error(verify_email(&app, &first).await, StatusCode::BAD_REQUEST, "invalid_token").await;
        assert_eq!(verify_email(&app, &second).await.status(), StatusCode::NO_CONTENT);
        assert_error(verify_email(&app, &second).await, StatusCode::BAD_REQUEST, "invalid_token").await;
        // Junk of any shape is the same 400, never a 5xx.
        for junk in ["", "short", "\0", &"é".repeat(43), &"a".repeat(128)] {
            assert_error(verify_email(&app, junk).await, StatusCode::BAD_REQUEST, "invalid_token").await;
        }
    }
}

db_test! {
    async fn a_verification_link_sent_many_times_at_once_verifies_once(db) {
        let smtp = SmtpServer::start().await;
        let app = spawn_with_mail(db, &smtp, &["--signup", "open"]).await;
        sign_up(&app, "carol", "carol@example.com", PASSWORD).await;
        let token = token_of(&mail_to(&smtp, "carol@example.com").await);
        let bodies = (0..8).map(|_| json!({"token": token})).collect();
        let statuses = post_all_at_once(&app, "/api/auth/email/verify", bodies).await;
        let ok = statuses.iter().filter(|s| **s == StatusCode::NO_CONTENT).count();
        let refused = statuses.iter().filter(|s| **s == StatusCode::BAD_REQUEST).count();
        assert_eq!((ok, refused), (1, 7), "{statuses:?}");
    }
}

db_test! {
    async fn with_verification_required_only_the_right_password_learns_the_address_is_unverified(db) {
        let smtp = SmtpServer::start().await;
        let app = spawn_with_mail(db, &smtp, &["--signup", "open", "--require-verified-email", "true"]).await;
        sign_up(&app, "carol", "carol@example.com", PASSWORD).await;
        let token = token_of(&mail_to(&smtp, "carol@example.com").await);

        let wrong = app.login("carol", "not her password at all").await;
        assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        let right = app.login("carol", PASSWORD).await;
        assert!(app.session_cookie(&right).is_none(), "an unverified login got a session");
        assert_error(right, StatusCode::UNAUTHORIZED, "email_not_verified").await;

        assert_eq!(verify_email(&app, &token).await.status(), StatusCode::NO_CONTENT);
        app.login_ok("carol", PASSWORD).await;
        // Users an operator created count as verified.
        app.create_user("dave", PASSWORD).await;
        app.login_ok("dave", PASSWORD).await;
    }
}

db_test! {
    async fn an_address_changes_only_when_the_new_one_is_proved_and_the_old_one_is_told(db) {
        let smtp = SmtpServer::start().await;
        let app = spawn_with_mail(db, &smtp, &[]).await;
        app.create_user("alice", PASSWORD).await;
        let session = app.login_ok("alice", PASSWORD).await;

        let wrong = json!({"new_email": "alice@example.org", "current_password": "not the password"});
        let resp = post(&app, "/api/auth/email", wrong, Some(&session)).await;
        assert_error(resp, StatusCode::FORBIDDEN, "wrong_current_password").await;
        let same = json!({"new_email": "ALICE@example.com", "current_password": PASSWORD});
        let resp = post(&app, "/api/auth/email", same, Some(&session)).await;
        assert_error(resp, StatusCode::BAD_REQUEST, "bad_request").await;

        let body = json!({"new_email": "alice@example.org", "current_password": PASSWORD});
        let resp = post(&app, "/api/auth/email", body, Some(&session)).await;
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
        let notice = mail_to(&smtp, "alice@example.com").await;
        assert!(notice.text.contains("alice@example.org"), "the notice names the new address: {}", notice.text);
        let link = mail_to(&smtp, "alice@example.org").await;
        let me: serde_json::Value = app.me(Some(&session)).await.json().await.expect("JSON");
        assert_eq!(me["email"], "alice@example.com", "changed before it was proved");

        assert_eq!(verify_email(&app, &token_of(&link)).await.status(), StatusCode::NO_CONTENT);
        // The very next request sees it: the change moved the security epoch.
        let me: serde_json::Value = app.me(Some(&session)).await.json().await.expect("JSON");
        assert_eq!((me["email"].as_str(), me["email_verified"].as_bool()), (Some("alice@example.org"), Some(true)));
    }
}

db_test! {
    async fn an_address_another_account_took_meanwhile_is_not_taken_twice(db) {
        let smtp = SmtpServer::start().await;
        let app = spawn_with_mail(db, &smtp, &["--signup", "open"]).await;
        app.create_user("alice", PASSWORD).await;
        let session = app.login_ok("alice", PASSWORD).await;
        let body = json!({"new_email": "shared@example.com", "current_password": PASSWORD});
        post(&app, "/api/auth/email", body, Some(&session)).await;
        let alices = token_of(&mail_to(&smtp, "shared@example.com").await);
        // Someone signs up with the address and proves it first.
        sign_up(&app, "carol", "shared@example.com", PASSWORD).await;
        let carols = token_of(&nth_mail_to(&smtp, "shared@example.com", 1).await);
        assert_eq!(verify_email(&app, &carols).await.status(), StatusCode::NO_CONTENT);
        assert_error(verify_email(&app, &alices).await, StatusCode::CONFLICT, "email_taken").await;
        assert_eq!(app.user("alice").await.email, "alice@example.com");
    }
}
