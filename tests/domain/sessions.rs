//! Sessions: sliding and absolute expiry, and the one way they end (`end_sessions`).

use std::time::Duration;

use chrono::Utc;
use spa_auth::sessions::{Reason, SessionSettings, Which, end_sessions};
use spa_auth_tests::db_test;

use crate::{Domain, PASSWORD, domain_with, session_settings, throttle_settings};

/// Idle 1 h, absolute 2 h, refresh every minute; no cache, since these tests rewrite the
/// session rows behind the service's back.
async fn uncached(db: spa_auth_tests::Db) -> Domain {
    let settings = SessionSettings {
        session_idle_timeout: Duration::from_secs(3600),
        session_absolute_timeout: Duration::from_secs(7200),
        session_refresh_interval: Duration::from_secs(60),
        session_cache_ttl: Duration::ZERO,
        ..session_settings()
    };
    domain_with(db, settings, throttle_settings()).await
}

/// Whether two instants are within a few seconds of each other (the test's clock runs on).
fn close(a: chrono::DateTime<Utc>, b: chrono::DateTime<Utc>) -> bool {
    (a - b).num_seconds().abs() <= 5
}

db_test!(
    async fn authenticate_slides_the_idle_deadline_at_most_once_per_refresh_interval(db) {
        let d = uncached(db).await;
        let (_, token, opened) = d.alice_session().await;
        let sessions = &d.services.sessions;

        // Within the refresh interval: a read, no write.
        let current = sessions.authenticate(&token).await.unwrap().expect("live");
        assert!(!current.renewed);
        assert_eq!(d.session(opened.id).await.unwrap(), opened, "a check within the interval wrote");

        // Last seen two minutes ago, idle deadline 58 minutes ahead: the next check slides it.
        let now = Utc::now();
        let seen = now - chrono::Duration::minutes(2);
        d.set_times(&opened, seen, now + chrono::Duration::minutes(58), opened.absolute_expires_at)
            .await;
        let current = sessions.authenticate(&token).await.unwrap().expect("live");
        assert!(current.renewed);
        let stored = d.session(opened.id).await.unwrap();
        assert!(close(stored.last_seen_at, Utc::now()), "last_seen_at: {}", stored.last_seen_at);
        assert!(
            close(stored.expires_at, Utc::now() + chrono::Duration::hours(1)),
            "expires_at: {}",
            stored.expires_at
        );

        // And not again within the next interval.
        let again = sessions.authenticate(&token).await.unwrap().expect("live");
        assert!(!again.renewed);
        assert_eq!(d.session(opened.id).await.unwrap(), stored);
    }
);

db_test!(
    async fn sliding_never_passes_the_absolute_deadline(db) {
        let d = uncached(db).await;
        let (_, token, opened) = d.alice_session().await;
        let now = Utc::now();
        let absolute = now + chrono::Duration::minutes(10);
        d.set_times(&opened, now - chrono::Duration::minutes(2), absolute, absolute).await;
        let current = d.services.sessions.authenticate(&token).await.unwrap().expect("live");
        assert!(current.renewed);
        let stored = d.session(opened.id).await.unwrap();
        assert_eq!(stored.expires_at, stored.absolute_expires_at, "slid past the absolute deadline");
    }
);

db_test!(
    async fn idle_expired_and_absolutely_expired_sessions_are_refused(db) {
        let d = uncached(db).await;
        let alice = d.user("alice", PASSWORD).await;
        let now = Utc::now();
        let (idle_token, idle) = d.open(&alice).await;
        let (old_token, old) = d.open(&alice).await;
        let (live_token, _) = d.open(&alice).await;
        let hour = chrono::Duration::hours(1);
        d.set_times(&idle, now - hour, now - chrono::Duration::seconds(1), now + hour).await;
        // An idle deadline still ahead, the absolute one passed: the absolute one decides.
        d.set_times(&old, now, now + hour, now - chrono::Duration::seconds(1)).await;

        let sessions = &d.services.sessions;
        assert!(sessions.authenticate(&idle_token).await.unwrap().is_none(), "idle-expired");
        assert!(sessions.authenticate(&old_token).await.unwrap().is_none(), "absolutely expired");
        assert!(sessions.authenticate(&live_token).await.unwrap().is_some());
    }
);

db_test!(
    async fn end_sessions_moves_the_epoch_and_deletes_exactly_the_chosen_sessions(db) {
        let d = uncached(db).await;
        let alice = d.user("alice", PASSWORD).await;
        let bob = d.user("bob", PASSWORD).await;
        let mut mine = Vec::new();
        for _ in 0..4 {
            mine.push(d.open(&alice).await.1.id);
        }
        let (_, bobs) = d.open(&bob).await;
        let expect = |ids: &[uuid::Uuid]| {
            let mut ids = ids.to_vec();
            ids.push(bobs.id);
            ids.sort();
            ids
        };

        let ended = end_sessions(&d.db, alice.id, Which::One(mine[0]), Reason::Logout).await;
        assert_eq!(ended.unwrap(), 1);
        assert_eq!(d.session_ids().await, expect(&mine[1..]));
        let after_one = d.reload(&alice).await;
        assert_eq!(after_one.security_epoch, 1);
        assert!(after_one.epoch_changed_at > 0, "the watcher finds users by this stamp");

        let ended = end_sessions(&d.db, alice.id, Which::AllBut(mine[1]), Reason::LogoutEverywhere);
        assert_eq!(ended.await.unwrap(), 2);
        assert_eq!(d.session_ids().await, expect(&mine[1..2]));
        assert_eq!(d.reload(&alice).await.security_epoch, 2);

        let ended = end_sessions(&d.db, alice.id, Which::All, Reason::Revoked).await;
        assert_eq!(ended.unwrap(), 1);
        assert_eq!(d.session_ids().await, expect(&[]));
        assert_eq!(d.reload(&alice).await.security_epoch, 3);

        // Nobody else's sessions or epoch.
        assert_eq!(d.reload(&bob).await.security_epoch, 0);
    }
);
