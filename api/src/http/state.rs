//! What every request handler can reach.

use std::ops::Deref;

use crate::{services::Services, sessions::cache::DbHealth};

/// The domain's services plus what only HTTP needs.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub health: DbHealth,
    /// Take the client address from `X-Forwarded-For` (behind our own proxy only).
    pub trust_proxy: bool,
}

/// Handlers use the services as if they were the state's own fields (`state.sessions`): the
/// state *is* the services, seen from HTTP.
impl Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}
