//! Login timing: a failed login does the work of a stored hash of the population, whatever the
//! reason it fails, so its time does not tell which accounts exist. Shown by which verifier did
//! the work (the per-kind hash metric), not by a clock: deterministic, on any machine.

use std::time::Duration;

use sea_orm::EntityTrait;

use spa_auth::{
    passwords::decoy::cost_class, server::Application, telemetry::metrics::METRICS,
    users::set_active,
};
use spa_auth_tests::{Db, StatusCode, TestApp, assert_error, db_test, spawn_app_with};

const PASSWORD: &str = "correct horse battery";
/// Django's `make_password(PASSWORD, salt="seasalt", hasher=PBKDF2PasswordHasher)` at 1,000
/// iterations instead of Django's 1,000,000, so that the test is fast; the cost class is
/// `pbkdf2_sha256 iterations=1000` either way.
const DJANGO_PBKDF2: &str =
    "pbkdf2_sha256$1000$seasalt$DrdiWD40lyBuydnjvZiDrdQMx1S1mOA9O0QYex0R6ww=";
const ARGON2: &str = "argon2id";
const PBKDF2: &str = "django_pbkdf2_sha256";

/// Cheap argon2 (the class is what matters), a short survey interval, and throttling out of
/// the way of a hundred failed logins from one address.
async fn timing_app(db: Db) -> TestApp {
    spawn_app_with(db, |args| {
        args.extend(
            [
                "--argon2-memory-kib",
                "1024",
                "--argon2-iterations",
                "1",
                "--decoy-refresh",
                "100ms",
                "--throttle-per-pair",
                "1000",
                "--throttle-per-ip",
                "100000",
                "--throttle-per-account",
                "1000",
            ]
            .map(String::from),
        )
    })
    .await
}

/// Logs in with a wrong password (or as an account that cannot log in), checks the answer is
/// the one 401 and that exactly one hash was computed, and says of which kind.
async fn failed_login_work(app: &TestApp, username: &str, password: &str) -> &'static str {
    let total = METRICS.password_hashes();
    let argon2 = METRICS.password_hashes_of(ARGON2);
    let pbkdf2 = METRICS.password_hashes_of(PBKDF2);
    let resp = app.login(username, password).await;
    assert_error(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(METRICS.password_hashes() - total, 1, "{username}: hashes");
    match (
        METRICS.password_hashes_of(ARGON2) - argon2,
        METRICS.password_hashes_of(PBKDF2) - pbkdf2,
    ) {
        (1, 0) => ARGON2,
        (0, 1) => PBKDF2,
        other => panic!("{username}: argon2id and pbkdf2 work {other:?}"),
    }
}

/// The work of a failed login for `username`, checked to be the same when repeated.
async fn stable_work(app: &TestApp, username: &str) -> &'static str {
    let first = failed_login_work(app, username, "a wrong password").await;
    let again = failed_login_work(app, username, "another wrong password").await;
    assert_eq!(first, again, "{username}: one name, two costs");
    first
}

/// Waits until the survey of stored hashes shows `pbkdf2` accounts of the Django class.
async fn wait_for_population(app: &TestApp, pbkdf2: u64) {
    for _ in 0..200 {
        let population = app.state.passwords.decoys().population();
        let counted = population
            .kinds()
            .iter()
            .find(|k| k.class.starts_with("django pbkdf2_sha256"))
            .map_or(0, |k| k.count);
        if counted == pbkdf2 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the survey never counted {pbkdf2} PBKDF2 accounts: {:?}",
        app.state.passwords.decoys().population()
    );
}

db_test!(
    async fn failed_logins_without_a_usable_hash_imitate_the_stored_hashes_until_imported_users_are_rehashed(
        db
    ) {
        let app = timing_app(db).await;
        // Half the active accounts with a password are imported from Django, half native.
        for i in 0..12 {
            app.create_user(&format!("native{i}"), PASSWORD).await;
            app.create_user_with_hash(&format!("imported{i}"), Some(DJANGO_PBKDF2.into()))
                .await;
        }
        // Accounts that cannot log in: not part of the population, they get decoys.
        for i in 0..10 {
            let hash = (i % 2 == 0).then(|| DJANGO_PBKDF2.to_owned());
            let user = app.create_user_with_hash(&format!("inactive{i}"), hash).await;
            set_active(&app.db, user, false).await.unwrap();
            app.create_user_with_hash(&format!("nopass{i}"), None).await;
        }
        wait_for_population(&app, 12).await;

        // A real account costs its own hash.
        assert_eq!(stable_work(&app, "imported0").await, PBKDF2);
        assert_eq!(stable_work(&app, "native0").await, ARGON2);

        // Unknown names are spread over the kinds as the accounts are (half and half): the
        // bounds are 4.4 standard deviations wide, and a fixed decoy gives 0 or 40.
        let mut pbkdf2 = 0;
        for i in 0..40 {
            let name = format!("ghost{i}");
            if stable_work(&app, &name).await == PBKDF2 {
                pbkdf2 += 1;
            }
            // The same account whatever the case of its name, and so the same cost.
            let upper = failed_login_work(&app, &name.to_uppercase(), "x").await;
            assert_eq!(upper == PBKDF2, stable_work(&app, &name).await == PBKDF2);
        }
        assert!((6..=34).contains(&pbkdf2), "{pbkdf2} of 40 unknown names did PBKDF2 work");

        // So are inactive and password-less accounts, whatever hash an inactive one keeps.
        let mut pbkdf2 = 0;
        for i in 0..10 {
            for name in [format!("inactive{i}"), format!("nopass{i}")] {
                if stable_work(&app, &name).await == PBKDF2 {
                    pbkdf2 += 1;
                }
            }
        }
        assert!((1..=19).contains(&pbkdf2), "{pbkdf2} of 20 inactive/password-less did PBKDF2 work");

        // Once every imported user has logged in (and been rehashed), nobody costs PBKDF2.
        for i in 0..12 {
            app.login_ok(&format!("imported{i}"), PASSWORD).await;
        }
        wait_for_population(&app, 0).await;
        for i in 0..40 {
            assert_eq!(failed_login_work(&app, &format!("ghost{i}"), "x").await, ARGON2);
        }
        for i in 0..10 {
            assert_eq!(failed_login_work(&app, &format!("inactive{i}"), "x").await, ARGON2);
            assert_eq!(failed_login_work(&app, &format!("nopass{i}"), "x").await, ARGON2);
        }
        assert_eq!(failed_login_work(&app, "imported0", "x").await, ARGON2);
    }
);

db_test!(
    async fn every_instance_gives_a_name_the_same_decoy_from_the_key_in_the_database(db) {
        let app = timing_app(db).await;
        for i in 0..10 {
            app.create_user(&format!("native{i}"), PASSWORD).await;
            app.create_user_with_hash(&format!("imported{i}"), Some(DJANGO_PBKDF2.into()))
                .await;
        }
        // A second instance on the same database, started after the first made the key.
        let other = Application::build(&app.settings)
            .await
            .expect("a second instance");
        wait_for_population(&app, 10).await;
        other.state().passwords.decoys().refresh(&app.db).await.unwrap();
        let mut differ = 0;
        let mut pbkdf2 = 0;
        for i in 0..40 {
            let name = format!("ghost{i}");
            let here = cost_class(&app.state.passwords.decoys().pick(&name));
            let there = cost_class(&other.state().passwords.decoys().pick(&name));
            differ += usize::from(here != there);
            pbkdf2 += usize::from(here.is_some_and(|c| c.starts_with("django")));
        }
        assert_eq!(differ, 0, "names with another decoy on the other instance");
        assert!((6..=34).contains(&pbkdf2), "{pbkdf2} of 40");
        let secrets = entity::server_secret::Entity::find().all(&app.db).await.unwrap();
        assert_eq!(secrets.len(), 1, "{secrets:?}");
        assert_eq!(secrets[0].value.len(), 32);
    }
);
