//! Failed-login throttling with small limits: per (address, account) pair, per address, per
//! account; counters shared through the database; wrong current passwords count too.

use spa_auth_tests::{
    CHEAP_HASHING, Db, Instance, Response, StatusCode, TestApp, assert_error, count_guesses,
    db_test, spawn_app_with,
};

const PASSWORD: &str = "correct horse battery";

/// Limits: 3 per pair, 6 per address, 10 per account; addresses from `X-Forwarded-For`.
const LIMITS: [&str; 8] = [
    "--throttle-per-pair",
    "3",
    "--throttle-per-ip",
    "6",
    "--throttle-per-account",
    "10",
    "--trust-proxy",
    "true",
];

async fn throttled_app(db: Db) -> TestApp {
    spawn_app_with(db, |args| {
        args.extend(LIMITS.map(String::from));
        args.extend(CHEAP_HASHING.map(String::from));
    })
    .await
}

async fn login_from(app: &TestApp, ip: &str, username: &str, password: &str) -> Response {
    app.login_with(username, password, &[("x-forwarded-for", ip)])
        .await
}

async fn fail_from(app: &TestApp, ip: &str, username: &str) {
    let resp = login_from(app, ip, username, "wrong password!").await;
    assert_error(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

/// A 429 `too_many_requests` with an integer `Retry-After` > 0 and no session.
async fn assert_throttled(app: &TestApp, resp: Response, what: &str) {
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS, "{what}");
    assert!(
        app.session_cookie(&resp).is_none(),
        "{what}: a throttled login set a cookie"
    );
    let retry = resp
        .headers()
        .get("retry-after")
        .unwrap_or_else(|| panic!("{what}: no Retry-After"))
        .to_str()
        .unwrap()
        .to_owned();
    let secs: u64 = retry
        .parse()
        .unwrap_or_else(|_| panic!("{what}: Retry-After {retry:?} is not integer seconds"));
    assert!(secs > 0 && secs <= 15 * 60, "{what}: Retry-After {secs}");
    assert_error(resp, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
}

async fn ok_from(app: &TestApp, ip: &str, username: &str) -> String {
    let resp = login_from(app, ip, username, PASSWORD).await;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "login of {username} from {ip}"
    );
    app.session_cookie(&resp).expect("no cookie")
}

db_test!(
    async fn after_n_wrong_passwords_even_the_right_one_is_throttled(db) {
        let app = throttled_app(db).await;
        app.create_user("alice", PASSWORD).await;
        let ip = "203.0.113.1";

        for _ in 0..3 {
            fail_from(&app, ip, "alice").await;
        }
        let resp = login_from(&app, ip, "alice", PASSWORD).await;
        assert_throttled(&app, resp, "right password after 3 failures").await;
        let resp = login_from(&app, ip, "alice", "wrong password!").await;
        assert_throttled(&app, resp, "wrong password after 3 failures").await;
        // The username is matched as the service matches it: case does not dodge the limit.
        let resp = login_from(&app, ip, "ALICE", PASSWORD).await;
        assert_throttled(&app, resp, "the same account in capitals").await;
        assert!(app.sessions().await.is_empty());
    }
);

db_test!(
    async fn a_success_before_the_limit_resets_the_count(db) {
        let app = throttled_app(db).await;
        app.create_user("alice", PASSWORD).await;
        let ip = "203.0.113.2";

        for _ in 0..2 {
            fail_from(&app, ip, "alice").await;
        }
        ok_from(&app, ip, "alice").await;
        // Without the reset this would make 4 failures, past the limit of 3.
        for _ in 0..2 {
            fail_from(&app, ip, "alice").await;
        }
        ok_from(&app, ip, "alice").await;
    }
);

db_test!(
    async fn an_attacker_on_one_address_cannot_lock_the_user_out_elsewhere(db) {
        let app = throttled_app(db).await;
        app.create_user("alice", PASSWORD).await;
        let attacker = "198.51.100.66";

        for _ in 0..3 {
            fail_from(&app, attacker, "alice").await;
        }
        // The attacker keeps hammering; refused before any password check.
        for _ in 0..5 {
            let resp = login_from(&app, attacker, "alice", "guess").await;
            assert_throttled(&app, resp, "attacker").await;
        }
        // The real user, elsewhere, is not affected.
        let token = ok_from(&app, "192.0.2.10", "alice").await;
        assert_eq!(app.me(Some(&token)).await.status(), StatusCode::OK);
        // And the attacker's address is still throttled after the user's success.
        let resp = login_from(&app, attacker, "alice", PASSWORD).await;
        assert_throttled(&app, resp, "attacker after the user's login").await;
    }
);

db_test!(
    async fn the_address_limit_stops_spraying_many_accounts(db) {
        let app = throttled_app(db).await;
        app.create_user("victim", PASSWORD).await;
        let sprayer = "198.51.100.7";

        // One guess each at six accounts (none reaches the pair limit), existing or not.
        for i in 0..6 {
            fail_from(&app, sprayer, &format!("user{i}")).await;
        }
        let resp = login_from(&app, sprayer, "victim", PASSWORD).await;
        assert_throttled(&app, resp, "seventh account from the spraying address").await;
        let resp = login_from(&app, sprayer, "someone-else", "whatever").await;
        assert_throttled(&app, resp, "eighth account").await;
        // The victim from their own address is fine.
        ok_from(&app, "192.0.2.20", "victim").await;
    }
);

db_test!(
    async fn the_account_limit_stops_a_distributed_attack(db) {
        let app = throttled_app(db).await;
        app.create_user("alice", PASSWORD).await;

        // Ten addresses, one failure each: no pair or address limit is reached.
        for i in 1..=10 {
            fail_from(&app, &format!("10.0.0.{i}"), "alice").await;
        }
        let resp = login_from(&app, "10.0.1.1", "alice", PASSWORD).await;
        assert_throttled(&app, resp, "any address once the account limit is reached").await;
    }
);

db_test!(
    async fn counters_are_shared_by_instances_on_one_database(db) {
        let app = throttled_app(db).await;
        app.create_user("alice", PASSWORD).await;
        let other = Instance::start(&app.test_db.url, &LIMITS)
        .await;
        let ip = "203.0.113.9";
        let xff = [("x-forwarded-for", ip)];
        let on_other = |password| other.login_with("alice", password, &xff);

        fail_from(&app, ip, "alice").await;
        let resp = on_other("wrong password!").await;
        assert_error(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        fail_from(&app, ip, "alice").await;
        // Three failures in all, split over two instances: both refuse now.
        let resp = on_other(PASSWORD).await;
        assert_throttled(&app, resp, "the other instance").await;
        let resp = login_from(&app, ip, "alice", PASSWORD).await;
        assert_throttled(&app, resp, "the first instance").await;
    }
);

db_test!(
    async fn a_wrong_current_password_counts_as_a_failed_login(db) {
        let app = throttled_app(db).await;
        app.create_user("alice", PASSWORD).await;
        let ip = "203.0.113.30";
        let token = ok_from(&app, ip, "alice").await;
        let xff = [("x-forwarded-for", ip)];

        for _ in 0..3 {
            let resp = app.change_password(&token, "not my password", "a new fine secret", &xff)
                .await;
            assert_error(resp, StatusCode::FORBIDDEN, "wrong_current_password").await;
        }
        // Login from that address is throttled now, even with the right password.
        let resp = login_from(&app, ip, "alice", PASSWORD).await;
        assert_throttled(&app, resp, "login after 3 wrong current passwords").await;
        // And so is the password change itself, even with the right current password.
        let resp = app.change_password(&token, PASSWORD, "a new fine secret", &xff).await;
        assert_throttled(&app, resp, "password change after 3 wrong current passwords").await;
        assert_eq!(app.me(Some(&token)).await.status(), StatusCode::OK);
        // Nothing changed: the old password still works from elsewhere.
        ok_from(&app, "192.0.2.30", "alice").await;
    }
);

/// Sends one wrong-password login per `(base_url, username)` all at once from `ip`; returns
/// how many were evaluated (401) and how many refused (429). Anything else fails the test.
async fn burst(app: &TestApp, ip: &str, targets: Vec<(String, String)>) -> (usize, usize) {
    let handles: Vec<_> = targets
        .into_iter()
        .map(|(base, username)| {
            let (client, ip) = (app.client.clone(), ip.to_owned());
            tokio::spawn(async move {
                client
                    .post(format!("{base}/api/auth/login"))
                    .basic_auth(username, Some("wrong password!"))
                    .header("x-forwarded-for", ip)
                    .send()
                    .await
                    .expect("login request failed")
                    .status()
            })
        })
        .collect();
    count_guesses(handles).await
}

db_test!(
    async fn a_burst_of_parallel_guesses_is_held_to_the_pair_limit(db) {
        let app = throttled_app(db).await;
        app.create_user("alice", PASSWORD).await;
        let targets = vec![(app.address.clone(), "alice".to_owned()); 40];
        let (evaluated, refused) = burst(&app, "203.0.113.40", targets).await;
        assert_eq!((evaluated, refused), (3, 37), "(401s, 429s) of 40 parallel guesses");
        // The real user elsewhere still gets in.
        ok_from(&app, "192.0.2.40", "alice").await;
    }
);

db_test!(
    async fn a_burst_split_over_two_instances_is_held_to_the_pair_limit(db) {
        let app = throttled_app(db).await;
        app.create_user("alice", PASSWORD).await;
        let other = Instance::start(&app.test_db.url, &LIMITS)
        .await;
        let targets = (0..40)
            .map(|i| {
                let base = if i % 2 == 0 { &app.address } else { &other.address };
                (base.clone(), "alice".to_owned())
            })
            .collect();
        let (evaluated, refused) = burst(&app, "203.0.113.41", targets).await;
        assert_eq!((evaluated, refused), (3, 37), "(401s, 429s) over two instances");
    }
);

db_test!(
    async fn a_burst_over_many_accounts_is_held_to_the_address_limit(db) {
        let app = throttled_app(db).await;
        app.create_user("victim", PASSWORD).await;
        // One guess each at 30 accounts, existing or not: no pair limit is reached.
        let mut targets: Vec<_> = (0..29)
            .map(|i| (app.address.clone(), format!("user{i}")))
            .collect();
        targets.push((app.address.clone(), "victim".to_owned()));
        let (evaluated, refused) = burst(&app, "198.51.100.42", targets).await;
        assert_eq!((evaluated, refused), (6, 24), "(401s, 429s) of 30 parallel guesses");
    }
);
