//! The per-instance session cache: dropped when the epoch moves, bounded, and a TTL safety net.

use std::time::Duration;

use sea_orm::EntityTrait;
use spa_auth::sessions::{
    bump_epoch,
    cache::{DbHealth, WatchSettings, watch},
};
use spa_auth_tests::db_test;

use crate::{PASSWORD, domain, domain_with, eventually, session_settings, throttle_settings};

db_test!(
    async fn an_entry_cached_under_an_epoch_is_dropped_once_the_epoch_moves(db) {
        let d = domain(db).await;
        let (alice, token, _) = d.alice_session().await;
        let sessions = &d.services.sessions;
        assert!(sessions.authenticate(&token).await.unwrap().is_some());
        assert_eq!(sessions.cache().len(), 1);

        let watcher = tokio::spawn(watch(
            d.db.clone(),
            sessions.cache().clone(),
            DbHealth::new(true),
            WatchSettings::polling(Duration::from_millis(10)),
        ));
        // Polls that find no change keep the entry: eviction is about the epoch, not time.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(sessions.cache().len(), 1, "an unchanged user's entry was dropped");

        // As another instance or the CLI would: the epoch moves in the database only, so
        // nothing but the watcher can tell this instance's cache.
        bump_epoch(&d.db, alice.id).await.unwrap();
        let cache = sessions.cache().clone();
        assert!(
            eventually(|| {
                let cache = cache.clone();
                async move { cache.is_empty() }
            })
            .await,
            "the entry outlived the epoch it was cached under"
        );
        watcher.abort();

        // Read again from the database, now under the new epoch.
        let current = sessions.authenticate(&token).await.unwrap().expect("still live");
        assert_eq!(current.user.security_epoch, 1);
    }
);

db_test!(
    async fn the_cache_never_holds_more_than_its_size_bound(db) {
        let settings = spa_auth::sessions::SessionSettings {
            session_cache_max: 3,
            ..session_settings()
        };
        let d = domain_with(db, settings, throttle_settings()).await;
        let alice = d.user("alice", PASSWORD).await;
        let sessions = &d.services.sessions;
        for i in 0..10 {
            let (token, _) = d.open(&alice).await;
            assert!(sessions.authenticate(&token).await.unwrap().is_some(), "session {i}");
            let len = sessions.cache().len();
            assert!((1..=3).contains(&len), "{len} entries after {} sessions", i + 1);
        }
    }
);

db_test!(
    async fn a_cached_entry_is_read_again_once_its_ttl_has_passed(db) {
        let settings = spa_auth::sessions::SessionSettings {
            session_cache_ttl: Duration::from_secs(1),
            ..session_settings()
        };
        let d = domain_with(db, settings, throttle_settings()).await;
        let (_, token, session) = d.alice_session().await;
        let sessions = &d.services.sessions;
        assert!(sessions.authenticate(&token).await.unwrap().is_some());

        // Deleted behind the cache's back, with no epoch change: only the TTL can catch it.
        entity::session::Entity::delete_by_id(session.id)
            .exec(&d.db)
            .await
            .unwrap();
        assert!(
            sessions.authenticate(&token).await.unwrap().is_some(),
            "the check should have been answered from the cache"
        );
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(
            sessions.authenticate(&token).await.unwrap().is_none(),
            "a cached entry outlived its TTL"
        );
    }
);

db_test!(
    async fn a_zero_ttl_turns_the_cache_off(db) {
        let settings = spa_auth::sessions::SessionSettings {
            session_cache_ttl: Duration::ZERO,
            ..session_settings()
        };
        let d = domain_with(db, settings, throttle_settings()).await;
        let (_, token, _) = d.alice_session().await;
        assert!(d.services.sessions.authenticate(&token).await.unwrap().is_some());
        assert!(d.services.sessions.cache().is_empty());
    }
);
