//! A notes API of a team's own, embedding spa-auth: each user lists and writes their own
//! notes, admins read everyone's, and spa-auth's API (login, logout, `/api/me`, the account)
//! is mounted beside it. The notes live in memory: the example is about the embedding.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use chrono::{DateTime, Utc};
use poem::{EndpointExt, Route};
use poem_openapi::{ApiResponse, Object, OpenApi, OpenApiService, payload::Json};
use spa_auth::{ProtectedError, SessionAuth, SpaAuth};
use uuid::Uuid;

/// One note.
#[derive(Debug, Clone, Object)]
pub struct Note {
    /// Made up when the note is written.
    pub id: Uuid,
    /// The user who wrote it.
    pub author: Uuid,
    /// What the note says.
    pub text: String,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

/// A note to write.
#[derive(Debug, Object)]
pub struct NewNote {
    /// What the note says.
    #[oai(validator(min_length = 1, max_length = 10000))]
    pub text: String,
}

#[derive(Debug, ApiResponse)]
pub enum Created {
    /// The note, as stored.
    #[oai(status = 201)]
    Created(Json<Note>),
}

/// Every user's notes, by author.
#[derive(Clone, Default)]
pub struct Store(Arc<Mutex<HashMap<Uuid, Vec<Note>>>>);

impl Store {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<Uuid, Vec<Note>>) -> T) -> T {
        // A panic while holding the lock leaves the map as it was: nothing half-written.
        let mut notes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut notes)
    }
}

/// The notes API. Every operation takes spa-auth's [`SessionAuth`], so the spec lists the
/// `sessionCookie` scheme on it, and answers spa-auth's errors ([`ProtectedError`]).
pub struct NotesApi {
    store: Store,
}

#[OpenApi]
impl NotesApi {
    /// My notes
    #[oai(path = "/api/notes", method = "get", operation_id = "listNotes")]
    async fn list(&self, auth: SessionAuth) -> Result<Json<Vec<Note>>, ProtectedError> {
        let me = auth.current.user.id;
        Ok(Json(
            self.store.with(|n| n.get(&me).cloned().unwrap_or_default()),
        ))
    }

    /// Write a note
    #[oai(path = "/api/notes", method = "post", operation_id = "createNote")]
    async fn create(
        &self,
        auth: SessionAuth,
        body: Json<NewNote>,
    ) -> Result<Created, ProtectedError> {
        let note = Note {
            id: Uuid::new_v4(),
            author: auth.current.user.id,
            text: body.0.text,
            created_at: Utc::now(),
        };
        self.store
            .with(|n| n.entry(note.author).or_default().push(note.clone()));
        Ok(Created::Created(Json(note)))
    }

    /// Everyone's notes (admins only)
    #[oai(path = "/api/notes/all", method = "get", operation_id = "listAllNotes")]
    async fn all(&self, auth: SessionAuth) -> Result<Json<Vec<Note>>, ProtectedError> {
        auth.require_role("admin")?;
        let mut all: Vec<Note> = self.store.with(|n| n.values().flatten().cloned().collect());
        all.sort_by_key(|n| n.created_at);
        Ok(Json(all))
    }
}

/// The notes API as an OpenAPI service, for serving and for its spec.
pub fn openapi(store: Store) -> OpenApiService<NotesApi, ()> {
    OpenApiService::new(NotesApi { store }, "notes", "1.0")
}

/// The whole application: the notes API, protected by spa-auth, and spa-auth's own API.
pub fn app(spa: &SpaAuth) -> Route {
    let notes = openapi(Store::default()).with(spa.protect());
    Route::new()
        // Not stripped: the operations declare their whole paths, as clients call them.
        .nest_no_strip("/api/notes", notes)
        .nest("/", spa.api())
}
