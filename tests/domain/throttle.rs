//! The failed-login throttle: reservations, windows, and giving slots back.

use sea_orm::{EntityTrait, sea_query::Expr};
use spa_auth::throttle::{Admission, Reservation, Throttle};
use spa_auth_tests::db_test;

use crate::{Domain, IP, domain, eventually};

/// The pair limit of `throttle_settings`.
const LIMIT: usize = 3;
const WINDOW_SECS: u64 = 15 * 60;

async fn admitted(throttle: &Throttle, username: &str) -> Reservation {
    match throttle.reserve(username, Some(IP)).await.unwrap() {
        Admission::Admitted(r) => r,
        Admission::Refused { retry_after } => panic!("refused, retry after {retry_after}s"),
    }
}

async fn refused(throttle: &Throttle, username: &str) -> u64 {
    match throttle.reserve(username, Some(IP)).await.unwrap() {
        Admission::Admitted(_) => panic!("admitted past the limit"),
        Admission::Refused { retry_after } => retry_after,
    }
}

/// Takes every slot of the pair limit with failed attempts.
async fn fill(d: &Domain, username: &str) {
    for _ in 0..LIMIT {
        let r = admitted(&d.services.throttle, username).await;
        d.services.throttle.failed(r);
    }
}

async fn failures(d: &Domain, prefix: &str) -> Vec<i32> {
    d.counters(prefix)
        .await
        .iter()
        .map(|c| c.failures)
        .collect()
}

db_test!(
    async fn reserve_admits_exactly_the_limit_and_refuses_the_rest_within_the_window(db) {
        let d = domain(db).await;
        fill(&d, "alice").await;
        for _ in 0..3 {
            let retry_after = refused(&d.services.throttle, "alice").await;
            assert!((1..=WINDOW_SECS).contains(&retry_after), "retry after {retry_after}s");
        }
        // A refusal takes no slot anywhere: the address and account counters saw only the
        // admitted attempts.
        assert_eq!(failures(&d, "pair:").await, [LIMIT as i32]);
        assert_eq!(failures(&d, "ip:").await, [LIMIT as i32]);
        assert_eq!(failures(&d, "account:").await, [LIMIT as i32]);
        // Another account from the same address has a pair counter of its own.
        let r = admitted(&d.services.throttle, "bob").await;
        d.services.throttle.failed(r);
    }
);

db_test!(
    async fn a_window_that_has_ended_starts_over(db) {
        let d = domain(db).await;
        fill(&d, "alice").await;
        refused(&d.services.throttle, "alice").await;
        entity::login_throttle::Entity::update_many()
            .col_expr(
                entity::login_throttle::Column::WindowStart,
                Expr::value(chrono::Utc::now().timestamp() - WINDOW_SECS as i64),
            )
            .exec(&d.db)
            .await
            .unwrap();
        let r = admitted(&d.services.throttle, "alice").await;
        d.services.throttle.failed(r);
        assert_eq!(failures(&d, "pair:").await, [1], "the new window counts from one");
    }
);

db_test!(
    async fn succeeded_gives_the_slots_back_and_resets_the_pair_and_account_counters(db) {
        let d = domain(db).await;
        let throttle = &d.services.throttle;
        for _ in 0..LIMIT - 1 {
            let r = admitted(throttle, "alice").await;
            throttle.failed(r);
        }
        let r = admitted(throttle, "alice").await;
        throttle.succeeded(r).await.unwrap();
        assert!(d.counters("pair:").await.is_empty());
        assert!(d.counters("account:").await.is_empty());
        // The address keeps its failures, so spraying many accounts is still counted; only
        // the successful attempt's own slot came back.
        assert_eq!(failures(&d, "ip:").await, [LIMIT as i32 - 1]);
        fill(&d, "alice").await;
    }
);

db_test!(
    async fn release_gives_the_slots_back(db) {
        let d = domain(db).await;
        let throttle = &d.services.throttle;
        for _ in 0..LIMIT {
            let r = admitted(throttle, "alice").await;
            throttle.release(r);
        }
        // Given back on a task of its own: wait for it.
        let all_back = eventually(|| async {
            let counters = d.counters("").await;
            counters.len() == 3 && counters.iter().all(|c| c.failures == 0)
        });
        assert!(all_back.await, "slots not given back: {:?}", d.counters("").await);
        fill(&d, "alice").await;
        refused(throttle, "alice").await;
    }
);
