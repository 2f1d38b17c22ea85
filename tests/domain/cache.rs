//! The per-instance session cache: dropped when the epoch moves, bounded, and a TTL safety net.

use std::{sync::Arc, time::Duration};

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

db_test!(
    async fn a_full_cache_evicts_some_entries_and_keeps_the_rest(db) {
        const MAX: usize = 20;
        let settings = spa_auth::sessions::SessionSettings {
            session_cache_max: MAX,
            ..session_settings()
        };
        let d = domain_with(db, settings, throttle_settings()).await;
        let alice = d.user("alice", PASSWORD).await;
        let sessions = &d.services.sessions;
        for i in 0..2 * MAX {
            let (token, _) = d.open(&alice).await;
            assert!(sessions.authenticate(&token).await.unwrap().is_some(), "session {i}");
            let len = sessions.cache().len();
            // Past the bound, one entry makes room for the next: the cache never starts over
            // empty, which would send every session to the database at once.
            assert!(len <= MAX, "{len} entries after {} sessions", i + 1);
            if i >= MAX {
                assert!(len >= MAX / 2, "{len} entries after {} sessions: it emptied itself", i + 1);
            }
        }
    }
);

db_test!(
    async fn an_entry_read_before_an_epoch_change_never_survives_it_however_they_race(db) {
        let d = domain(db).await;
        let (alice, _, session) = d.alice_session().await;
        let cache = d.services.sessions.cache().clone();
        let user = d.reload(&alice).await;
        let epoch = user.security_epoch;

        for round in 0..20u8 {
            let keys: Vec<Vec<u8>> = (0..200u16).map(|i| vec![round, (i >> 8) as u8, i as u8]).collect();
            // Four threads cache entries read under the old epoch while a fifth applies the
            // new one: whichever comes first, none may be left once both are done.
            let putters: Vec<_> = keys
                .chunks(50)
                .map(|chunk| {
                    let (cache, chunk) = (cache.clone(), chunk.to_vec());
                    let (session, user) = (Arc::new(session.clone()), Arc::new(user.clone()));
                    std::thread::spawn(move || {
                        for k in chunk {
                            cache.put(k, session.clone(), user.clone());
                        }
                    })
                })
                .collect();
            let new_epoch = epoch + 1 + i64::from(round);
            let applier = {
                let cache = cache.clone();
                std::thread::spawn(move || cache.apply(&[(user.id, new_epoch)]))
            };
            for t in putters {
                t.join().unwrap();
            }
            applier.join().unwrap();
            let left = keys.iter().filter(|k| cache.get(k).is_some()).count();
            assert_eq!(left, 0, "round {round}: entries of an older epoch survived its change");
        }
    }
);
