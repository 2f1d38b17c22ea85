//! Mail, end to end over real HTTP and a real SMTP server (aiosmtpd, `tests/smtp`): what a
//! request queues in the outbox is delivered by the background sender, through SMTP outages
//! and restarts, once however many instances send, never with a token left behind.

use std::time::{Duration, Instant};

use entity::mail_outbox;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseConnection, EntityTrait};
use serde_json::json;
use spa_auth::{
    mail::{MailKind, outbox},
    server::Application,
    telemetry::metrics::METRICS,
};
use spa_auth_tests::{
    Db, Instance, SmtpServer, StatusCode, TEST_MAIL_FROM, TEST_PUBLIC_URL, TestApp, TestDb,
    base_args, cli_ok, db_test, mail_args, parse_settings, spawn_app, spawn_app_with,
    spawn_app_with_mail, with_trace_logs,
};

const PASSWORD: &str = "correct horse battery";
const NEW_PASSWORD: &str = "a brand new secret";
const WAIT: Duration = Duration::from_secs(20);

async fn outbox_rows(db: &DatabaseConnection) -> Vec<mail_outbox::Model> {
    mail_outbox::Entity::find()
        .all(db)
        .await
        .expect("cannot read the mail outbox")
}

/// Creates alice, logs her in and changes her password over the API: 204.
async fn change_alices_password(app: &TestApp) {
    app.create_user("alice", PASSWORD).await;
    let token = app.login_ok("alice", PASSWORD).await;
    let resp = app
        .change_password(&token, PASSWORD, NEW_PASSWORD, &[])
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
}

/// Another instance on the database of `app`, sending its mail to `smtp`.
async fn start_sender(app: &TestApp, smtp: &SmtpServer) -> Instance {
    let args = mail_args(&smtp.url());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Instance::start(&app.test_db.url, &args).await
}

/// `args` (from [`mail_args`]) with another wait before the first retry.
fn with_retry_base(mut args: Vec<String>, base: &str) -> Vec<String> {
    if let Some(i) = args.iter().position(|a| a == "--mail-retry-base") {
        args[i + 1] = base.into();
    }
    args
}

/// Waits until `done` holds for the outbox, panicking after `within`.
async fn wait_for_outbox(
    db: &DatabaseConnection,
    within: Duration,
    what: &str,
    done: impl Fn(&[mail_outbox::Model]) -> bool,
) -> Vec<mail_outbox::Model> {
    let deadline = Instant::now() + within;
    loop {
        let rows = outbox_rows(db).await;
        if done(&rows) {
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "{what} within {within:?}: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

db_test!(
    async fn a_password_change_mails_a_notice_with_text_and_html_from_the_configured_sender(db) {
        let smtp = SmtpServer::start().await;
        let app = spawn_app_with_mail(db, &smtp.url(), |_| {}).await;
        change_alices_password(&app).await;

        let mail = smtp.wait_for_message("alice@example.com", WAIT).await;
        assert_eq!(mail.subject, "Your password was changed");
        assert!(mail.from.contains("no-reply@example.com"), "From: {}", mail.from);
        assert!(mail.from.contains("spa-auth tests"), "From: {} (want {TEST_MAIL_FROM})", mail.from);
        assert!(mail.text.contains("Hello alice,"), "{}", mail.text);
        assert_eq!(
            mail.link().as_deref(),
            Some(format!("{TEST_PUBLIC_URL}/forgot-password").as_str()),
            "{}",
            mail.text
        );
        assert!(mail.html.contains("<p>Hello alice,</p>"), "{}", mail.html);
        assert!(
            mail.html.contains(&format!("href=\"{TEST_PUBLIC_URL}/forgot-password\"")),
            "{}",
            mail.html
        );
        let rows = wait_for_outbox(&app.db, WAIT, "the row marked sent", |rows| {
            rows.iter().all(|r| r.sent_at.is_some())
        })
        .await;
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].kind, "password_changed");
        assert_eq!(smtp.messages().len(), 1);
        // Counted in this process's metrics (the app runs in it).
        let metrics = METRICS.render(0, 0);
        assert!(
            !metrics.contains("spa_auth_mail_sent_total 0\n") && metrics.contains("spa_auth_mail_sent_total "),
            "{metrics}"
        );
    }
);

db_test!(
    async fn no_notice_is_queued_when_mail_is_off(db) {
        let app = spawn_app(db).await;

        change_alices_password(&app).await;

        assert!(outbox_rows(&app.db).await.is_empty());
    }
);

db_test!(
    async fn an_operators_set_password_mails_the_notice_through_the_running_service(db) {
        let smtp = SmtpServer::start().await;
        let app = spawn_app_with_mail(db, &smtp.url(), |_| {}).await;
        app.create_user("alice", PASSWORD).await;
        let db_url = app.test_db.url.as_str();
        let set_password = ["user", "set-password", "alice", "--database-url", db_url];

        // Without mail configured, the CLI queues nothing.
        cli_ok(&set_password, Some("another new secret\n")).await;
        assert!(outbox_rows(&app.db).await.is_empty());

        let smtp_url = smtp.url();
        let with_mail = [&set_password[..], &["--smtp-url", &smtp_url]].concat();
        cli_ok(&with_mail, Some("a brand new secret\n")).await;
        let mail = smtp.wait_for_message("alice@example.com", WAIT).await;
        assert_eq!(mail.subject, "Your password was changed");
        assert!(mail.text.contains("Hello alice,"), "{}", mail.text);
    }
);

db_test!(
    async fn with_smtp_down_a_password_change_answers_at_once_and_the_notice_arrives_when_smtp_is_back(db) {
        let mut smtp = SmtpServer::start().await;
        let app = spawn_app_with_mail(db, &smtp.url(), |_| {}).await;
        smtp.stop().await;

        let started = Instant::now();
        change_alices_password(&app).await;
        // Logging in and hashing the new password are most of it; no SMTP timeout is waited for.
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());

        // Tried, refused, to be retried: nothing given up.
        let rows = wait_for_outbox(&app.db, WAIT, "two failed attempts", |rows| {
            rows.iter().all(|r| r.attempts >= 2 && r.last_error.is_some())
        })
        .await;
        assert!(rows.iter().all(|r| r.sent_at.is_none() && r.failed_at.is_none()), "{rows:?}");
        let error = rows[0].last_error.clone().unwrap_or_default();
        assert!(!error.contains("forgot-password"), "{error}");

        smtp.start_again().await;
        let mail = smtp.wait_for_message("alice@example.com", WAIT).await;
        assert_eq!(mail.subject, "Your password was changed");
        wait_for_outbox(&app.db, WAIT, "the row marked sent", |rows| {
            rows.iter().all(|r| r.sent_at.is_some() && r.claimed_until.is_none())
        })
        .await;
    }
);

db_test!(
    async fn a_recipient_the_server_refuses_for_good_is_given_up_without_retries(db) {
        let smtp = SmtpServer::start().await;
        let app = spawn_app_with_mail(db, &smtp.url(), |_| {}).await;
        let params = json!({"username": "nobody"});
        outbox::enqueue(&app.db, MailKind::PasswordChanged, "refused@example.com", params)
            .await
            .expect("cannot queue");
        outbox::enqueue(&app.db, MailKind::PasswordChanged, "bob@example.com", json!({"username": "bob"}))
            .await
            .expect("cannot queue");

        // The next message goes out: one refusal holds up nothing.
        smtp.wait_for_message("bob@example.com", WAIT).await;
        let rows = wait_for_outbox(&app.db, WAIT, "the refused row given up", |rows| {
            rows.iter().any(|r| r.failed_at.is_some())
        })
        .await;
        let refused = rows.iter().find(|r| r.recipient == "refused@example.com").unwrap();
        assert_eq!(refused.attempts, 1, "{refused:?}");
        assert!(refused.sent_at.is_none(), "{refused:?}");
        let error = refused.last_error.as_deref().unwrap_or_default();
        assert!(error.contains("550"), "{error}");
        assert!(smtp.messages_to("refused@example.com").is_empty());
        let metrics = METRICS.render(0, 0);
        assert!(!metrics.contains("spa_auth_mail_failed_total 0\n"), "{metrics}");
    }
);

db_test!(
    async fn a_claim_left_by_a_stopped_instance_is_taken_over_once_it_runs_out(db) {
        let smtp = SmtpServer::start().await;
        let app = spawn_app(db).await;
        let now = chrono::Utc::now();
        // As a sender leaves a row it was killed in the middle of delivering.
        for (to, claimed_until) in [
            ("stale@example.com", now - chrono::Duration::seconds(1)),
            ("live@example.com", now + chrono::Duration::minutes(2)),
        ] {
            let id = outbox::enqueue(&app.db, MailKind::PasswordChanged, to, json!({"username": "u"}))
                .await
                .expect("cannot queue");
            let row = mail_outbox::ActiveModel {
                id: Set(id),
                attempts: Set(1),
                claimed_until: Set(Some(claimed_until)),
                ..Default::default()
            };
            row.update(&app.db).await.expect("cannot claim");
        }
        let _sender = start_sender(&app, &smtp).await;

        smtp.wait_for_message("stale@example.com", WAIT).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(smtp.messages_to("live@example.com").is_empty(), "a live claim was taken over");
    }
);

db_test!(
    async fn sent_and_given_up_mail_is_deleted_after_a_week(db) {
        let smtp = SmtpServer::start().await;
        let app = spawn_app(db).await;
        let now = chrono::Utc::now();
        let days = |n| now - chrono::Duration::days(n);
        let mut keep = vec![];
        for (to, sent, failed) in [
            ("old-sent@example.com", Some(days(8)), None),
            ("old-failed@example.com", None, Some(days(8))),
            ("new-sent@example.com", Some(days(6)), None),
            ("new-failed@example.com", None, Some(days(6))),
        ] {
            let id = outbox::enqueue(&app.db, MailKind::PasswordChanged, to, json!({}))
                .await
                .expect("cannot queue");
            let row = mail_outbox::ActiveModel {
                id: Set(id),
                sent_at: Set(sent),
                failed_at: Set(failed),
                ..Default::default()
            };
            row.update(&app.db).await.expect("cannot mark");
            if to.starts_with("new") {
                keep.push(id);
            }
        }
        let _sender = start_sender(&app, &smtp).await;

        let rows = wait_for_outbox(&app.db, WAIT, "the week-old rows deleted", |rows| rows.len() == 2).await;
        let mut left: Vec<_> = rows.iter().map(|r| r.id).collect();
        left.sort();
        keep.sort();
        assert_eq!(left, keep);
        // Neither was sent again.
        assert!(smtp.messages().is_empty());
    }
);

db_test!(
    async fn a_notice_waiting_for_smtp_is_delivered_after_a_restart_of_the_service(db) {
        let mut smtp = SmtpServer::start().await;
        // A second between attempts: stopping right after one leaves no claim behind.
        let mut app = spawn_app_with(db, |args| {
            args.extend(with_retry_base(mail_args(&smtp.url()), "1s"));
        })
        .await;
        smtp.stop().await;
        change_alices_password(&app).await;
        wait_for_outbox(&app.db, WAIT, "a failed attempt", |rows| {
            rows.iter().all(|r| r.attempts >= 1 && r.claimed_until.is_none())
        })
        .await;

        app.trigger_shutdown();
        app.wait_stopped(Duration::from_secs(10))
            .await
            .expect("the service did not stop cleanly");
        smtp.start_again().await;
        assert!(smtp.messages().is_empty());
        let _restarted = start_sender(&app, &smtp).await;

        let mail = smtp.wait_for_message("alice@example.com", WAIT).await;
        assert_eq!(mail.subject, "Your password was changed");
        assert_eq!(smtp.messages().len(), 1);
    }
);

db_test!(
    async fn two_instances_sending_from_one_database_deliver_each_message_once(db) {
        let smtp = SmtpServer::start().await;
        // Queued while no sender runs, so that both instances find all of it at once.
        let app = spawn_app(db).await;
        const N: usize = 30;
        for i in 0..N {
            let to = format!("user{i}@example.com");
            outbox::enqueue(&app.db, MailKind::PasswordChanged, &to, json!({"username": "u"}))
                .await
                .expect("cannot queue");
        }
        let (_one, _two) = tokio::join!(start_sender(&app, &smtp), start_sender(&app, &smtp));

        wait_for_outbox(&app.db, WAIT, "every row sent", |rows| {
            rows.iter().all(|r| r.sent_at.is_some())
        })
        .await;
        // Time for a duplicate to arrive, were one sent.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut to: Vec<String> = smtp.messages().into_iter().map(|m| m.to).collect();
        to.sort();
        let mut want: Vec<String> = (0..N).map(|i| format!("user{i}@example.com")).collect();
        want.sort();
        assert_eq!(to, want);
        let rows = outbox_rows(&app.db).await;
        assert!(rows.iter().all(|r| r.attempts == 1), "{rows:?}");
    }
);

db_test!(
    async fn templates_in_the_override_directory_replace_the_built_in_ones(db) {
        let smtp = SmtpServer::start().await;
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write("password_changed.subject.txt", "{{ username }}: new password at Example\n");
        write("password_changed.txt", "Hi {{ username }}, it changed. Not you? {{ reset_link }}\n");
        let templates = dir.path().to_str().unwrap().to_owned();
        let app = spawn_app_with_mail(db, &smtp.url(), |args| {
            args.extend(["--mail-templates".into(), templates]);
        })
        .await;
        change_alices_password(&app).await;

        let mail = smtp.wait_for_message("alice@example.com", WAIT).await;
        assert_eq!(mail.subject, "alice: new password at Example");
        assert_eq!(
            mail.text.trim_end(),
            format!("Hi alice, it changed. Not you? {TEST_PUBLIC_URL}/forgot-password")
        );
        // Not overridden: the built-in HTML part.
        assert!(mail.html.contains("<p>Hello alice,</p>"), "{}", mail.html);
    }
);

db_test!(
    async fn a_broken_override_template_refuses_start_naming_the_file(db) {
        let test_db = TestDb::create(db).await;
        let dir = tempfile::tempdir().unwrap();
        for (name, text, why) in [
            ("password_reset.html", "<p>{{ link </p>\n", "syntax"),
            ("invite.txt", "Join us: {{ lnk }}\n", "undefined"),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            let mut args = base_args(&test_db.url);
            args.extend(mail_args("log"));
            args.extend(["--mail-templates".into(), dir.path().to_str().unwrap().into()]);

            match Application::build(&parse_settings(&args)).await {
                Ok(_) => panic!("the service started with a broken {name} ({why})"),
                Err(e) => {
                    let msg = e.to_string();
                    let file = path.display().to_string();
                    assert!(msg.contains(&file), "the error does not name {file}: {msg}");
                }
            }
            std::fs::remove_file(&path).unwrap();
        }
    }
);

/// Start-up with these extra settings fails, with an error that contains `says`.
async fn refused(db: Db, extra: &[&str], says: &str) {
    let test_db = TestDb::create(db).await;
    let mut args = base_args(&test_db.url);
    args.extend(extra.iter().map(|s| s.to_string()));
    match Application::build(&parse_settings(&args)).await {
        Ok(_) => panic!("the service started with {extra:?}"),
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains(says),
                "the error for {extra:?} does not say {says:?}: {msg}"
            );
        }
    }
}

db_test!(
    async fn mail_without_a_public_url_or_a_sender_is_refused_at_startup(db) {
        let from = ["--mail-from", TEST_MAIL_FROM];
        let public = ["--public-url", TEST_PUBLIC_URL];
        let url = ["--smtp-url", "smtp://127.0.0.1:2525"];
        refused(db, &[&url[..], &from[..]].concat(), "SPA_AUTH_PUBLIC_URL").await;
        refused(db, &[&url[..], &public[..]].concat(), "SPA_AUTH_MAIL_FROM").await;
        let bad_from = ["--mail-from", "not an address"];
        refused(db, &[&url[..], &public[..], &bad_from[..]].concat(), "not an address").await;
        // The URL may hold the SMTP password: the error names the problem, not the URL.
        let bad_url = ["--smtp-url", "ftp://user:hunter2@mail.example.com"];
        let args = [&bad_url[..], &public[..], &from[..]].concat();
        refused(db, &args, "SPA_AUTH_SMTP_URL").await;
        let test_db = TestDb::create(db).await;
        let mut all = base_args(&test_db.url);
        all.extend(args.iter().map(|s| s.to_string()));
        let msg = Application::build(&parse_settings(&all)).await.err().unwrap().to_string();
        assert!(!msg.contains("hunter2"), "{msg}");
        // Sign-up by mail needs mail.
        refused(db, &["--signup", "open"], "SPA_AUTH_SIGNUP=open").await;
        refused(db, &["--signup", "invite"], "SPA_AUTH_SIGNUP=invite").await;
    }
);

fn log_transport_prints_the_message(db: Db) {
    let (_, text) = with_trace_logs(async {
        let app = spawn_app_with_mail(db, "log", |_| {}).await;
        change_alices_password(&app).await;
        wait_for_outbox(&app.db, WAIT, "the row marked sent", |rows| {
            !rows.is_empty() && rows.iter().all(|r| r.sent_at.is_some())
        })
        .await;
    });
    let line = text
        .lines()
        .find(|l| l.contains("\"target\":\"mail\""))
        .unwrap_or_else(|| panic!("no mail in the log:\n{text}"));
    for want in [
        "alice@example.com",
        "Your password was changed",
        "Hello alice,",
        &format!("{TEST_PUBLIC_URL}/forgot-password"),
    ] {
        assert!(
            line.contains(want),
            "the logged mail lacks {want:?}: {line}"
        );
    }
}

fn smtp_keeps_links_out_of_the_log_and_the_outbox(db: Db) {
    let (links, text) = with_trace_logs(async {
        let smtp = SmtpServer::start().await;
        let app = spawn_app_with_mail(db, &smtp.url(), |_| {}).await;
        let alice = app.create_user("alice", PASSWORD).await;
        // A reset and a verification: the kinds whose links carry a token.
        outbox::enqueue(
            &app.db,
            MailKind::PasswordReset,
            "alice@example.com",
            json!({}),
        )
        .await
        .unwrap();
        let new = json!({"user_id": alice.id.to_string(), "email": "alice@new.example.com"});
        outbox::enqueue(&app.db, MailKind::VerifyEmail, "alice@new.example.com", new)
            .await
            .unwrap();

        let reset = smtp.wait_for_message("alice@example.com", WAIT).await;
        let verify = smtp.wait_for_message("alice@new.example.com", WAIT).await;
        let rows = wait_for_outbox(&app.db, WAIT, "both rows sent", |rows| {
            rows.len() == 2 && rows.iter().all(|r| r.sent_at.is_some())
        })
        .await;
        for row in &rows {
            assert_eq!(
                row.params,
                json!({}),
                "a sent row keeps its parameters: {row:?}"
            );
        }
        [reset, verify].map(|m| m.link().unwrap_or_else(|| panic!("no link: {}", m.text)))
    });
    for link in links {
        let (_, token) = link
            .split_once("token=")
            .unwrap_or_else(|| panic!("no token in {link}"));
        assert!(token.len() >= 16, "{link}");
        if let Some(line) = text.lines().find(|l| l.contains(token)) {
            panic!("a mail's token is in the log: {line}");
        }
    }
    assert!(
        text.contains("\"message\":\"mail sent\""),
        "no delivery logged:\n{text}"
    );
}

mod the_log_transport_prints_the_message_and_sends_nothing {
    #[test]
    fn sqlite() {
        super::log_transport_prints_the_message(super::Db::Sqlite)
    }

    #[test]
    fn postgres() {
        super::log_transport_prints_the_message(super::Db::Postgres)
    }
}

mod a_sent_mail_leaves_its_link_neither_in_the_outbox_nor_in_the_log {
    #[test]
    fn sqlite() {
        super::smtp_keeps_links_out_of_the_log_and_the_outbox(super::Db::Sqlite)
    }

    #[test]
    fn postgres() {
        super::smtp_keeps_links_out_of_the_log_and_the_outbox(super::Db::Postgres)
    }
}
