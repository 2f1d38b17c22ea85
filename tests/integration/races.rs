//! Races between a login and a change to the same account, and between parallel guesses.
//! Each test runs the race for real (a stream of logins in flight while the change lands) and
//! then checks what a user would notice: which cookies still work, which password logs in,
//! how many guesses were evaluated.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use spa_auth::users::set_active;
use spa_auth_tests::{
    Db, Instance, NO_THROTTLE, StatusCode, TestApp, db_test, header, spawn_app_with,
};

async fn unthrottled_app(db: Db) -> TestApp {
    spawn_app_with(db, |args| args.extend(NO_THROTTLE.map(String::from))).await
}

/// Parallel clients logging in as one user with one password, over and over.
struct Streams {
    stop: Arc<AtomicBool>,
    succeeded: Arc<AtomicUsize>,
    handles: Vec<tokio::task::JoinHandle<Vec<String>>>,
}

impl Streams {
    /// Returns once a login has succeeded and some more are in flight, so that a change made
    /// next lands in the middle of them, however slow the machine is.
    async fn running(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while self.succeeded.load(Ordering::Relaxed) == 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no login succeeded in 20 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(LEAD).await;
    }

    /// Stops them after `TAIL`; every session token a login was given.
    async fn stop(self) -> Vec<String> {
        tokio::time::sleep(TAIL).await;
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        for h in self.handles {
            all.extend(h.await.expect("a login stream panicked"));
        }
        all
    }
}

/// Logs in as `username` with `password` at `base_url` from `streams` parallel clients, over
/// and over until stopped.
fn login_streams(
    base_url: &str,
    cookie_name: &str,
    username: &str,
    password: &str,
    streams: usize,
) -> Streams {
    let stop = Arc::new(AtomicBool::new(false));
    let succeeded = Arc::new(AtomicUsize::new(0));
    let handles = (0..streams)
        .map(|_| {
            let (url, name) = (format!("{base_url}/api/auth/login"), cookie_name.to_owned());
            let (user, pass) = (username.to_owned(), password.to_owned());
            let (stop, succeeded) = (stop.clone(), succeeded.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut tokens = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let resp = client
                        .post(&url)
                        .basic_auth(&user, Some(&pass))
                        .send()
                        .await
                        .expect("login request failed");
                    let status = resp.status();
                    assert!(
                        status == StatusCode::OK || status == StatusCode::UNAUTHORIZED,
                        "a racing login answered {status}"
                    );
                    let token = resp
                        .headers()
                        .get_all(header::SET_COOKIE)
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .find_map(|v| v.strip_prefix(&format!("{name}="))?.split(';').next())
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned);
                    if let Some(token) = token {
                        succeeded.fetch_add(1, Ordering::Relaxed);
                        tokens.push(token);
                    }
                }
                tokens
            })
        })
        .collect();
    Streams {
        stop,
        succeeded,
        handles,
    }
}

/// Asserts that none of `tokens` has a session row or gets past `/api/me`.
async fn assert_all_dead(app: &TestApp, tokens: &[String], what: &str) {
    app.settle().await;
    for token in tokens {
        assert!(
            app.session_for(token).await.is_none(),
            "{what}: a session opened with the old credentials is still stored"
        );
        let resp = app.me(Some(token)).await;
        assert_eq!(
            resp.status(),
            StatusCode::UNAUTHORIZED,
            "{what}: a session opened with the old credentials still works"
        );
    }
}

const ROUNDS: usize = 5;
/// How long logins go on after the first success before the change, and after it: several
/// argon2 hashes (tens of milliseconds each) are in flight when it lands.
const LEAD: Duration = Duration::from_millis(40);
const TAIL: Duration = Duration::from_millis(150);

db_test!(
    async fn no_login_with_the_old_password_outlives_a_password_change_it_raced(db) {
        let app = unthrottled_app(db).await;
        let mut old = String::from("first passphrase 0");
        app.create_user("alice", &old).await;
        for round in 0..ROUNDS {
            let new = format!("next passphrase {round}");
            let owner = app.login_ok("alice", &old).await;
            let streams = login_streams(&app.address, &app.cookie_name, "alice", &old, 4);
            streams.running().await;
            let resp = app.change_password(&owner, &old, &new, &[]).await;
            assert_eq!(resp.status(), StatusCode::NO_CONTENT, "round {round}: change");
            let kept = app.session_cookie(&resp).expect("the change sets a cookie");
            let tokens = streams.stop().await;
            assert_all_dead(&app, &tokens, &format!("round {round}")).await;
            let alice = app.user("alice").await;
            let alive: Vec<_> = app.sessions_of(alice.id).await;
            assert_eq!(alive.len(), 1, "round {round}: only the changer's session");
            assert!(app.session_for(&kept).await.is_some());
            let resp = app.login_with("alice", &old, &[]).await;
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "round {round}");
            old = new;
        }
    }
);

db_test!(
    async fn no_login_outlives_a_deactivation_it_raced_even_after_reactivation(db) {
        let app = unthrottled_app(db).await;
        let password = "first passphrase 0";
        app.create_user("alice", password).await;
        for round in 0..ROUNDS {
            let streams = login_streams(&app.address, &app.cookie_name, "alice", password, 4);
            streams.running().await;
            // What `spa-auth user deactivate` runs.
            set_active(&app.db, app.user("alice").await, false)
                .await
                .expect("deactivate");
            let tokens = streams.stop().await;
            let alice = app.user("alice").await;
            assert!(
                app.sessions_of(alice.id).await.is_empty(),
                "round {round}: a session survived the deactivation"
            );
            // A survivor would come back to life here.
            set_active(&app.db, alice, true).await.expect("reactivate");
            assert_all_dead(&app, &tokens, &format!("round {round}")).await;
        }
    }
);

db_test!(
    async fn a_rehashing_login_on_another_instance_never_reverts_a_password_change(db) {
        // Instance `app` hashes with the default parameters; `other` with cheaper ones, as in
        // a rolling change of the argon2 settings: every login on `other` rehashes the stored
        // hash, as it does for every imported Django hash.
        let app = unthrottled_app(db).await;
        let mut extra = NO_THROTTLE.to_vec();
        extra.extend(["--argon2-memory-kib", "12288", "--argon2-iterations", "3"]);
        let other = Instance::start(&app.test_db.url, &extra).await;
        let mut old = String::from("first passphrase 0");
        app.create_user("alice", &old).await;
        for round in 0..8 {
            let new = format!("next passphrase {round}");
            let owner = app.login_ok("alice", &old).await;
            let streams = login_streams(&other.address, &app.cookie_name, "alice", &old, 3);
            streams.running().await;
            let resp = app.change_password(&owner, &old, &new, &[]).await;
            assert_eq!(resp.status(), StatusCode::NO_CONTENT, "round {round}: change");
            streams.stop().await;
            for (name, api) in [("this", &app.api), ("the other", &other.api)] {
                let resp = api.login("alice", &old).await;
                assert_eq!(
                    resp.status(),
                    StatusCode::UNAUTHORIZED,
                    "round {round}: the old password works again on {name} instance"
                );
                let resp = api.login("alice", &new).await;
                assert_eq!(
                    resp.status(),
                    StatusCode::OK,
                    "round {round}: the new password is refused on {name} instance"
                );
            }
            old = new;
        }
    }
);
