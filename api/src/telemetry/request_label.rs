//! Which request a log line belongs to: `request{request_id="..."}:` at the head of every line
//! written while the request is handled.
//!
//! Two ways to get there, the same line either way
//! (`a_labelled_request_writes_the_lines_its_span_would`, and the integration test
//! `logging::text_lines_read_the_same_with_the_request_in_a_span_or_a_label`):
//!
//! - A tracing span (`request`, with the `request_id` field) around the request. What the JSON
//!   format (its `span` object), the trace exporter (one trace per request) and `RUST_LOG`
//!   directives on spans (`spa_auth[request]=debug`) need, and what any subscriber other than
//!   [`super::init`]'s reads. The default.
//! - A label beside the request's future (a task-local value, set only while the request is
//!   polled, as a span is entered only then), which the text format writes where the span's
//!   name and fields would go. What [`super::init`] chooses for text without colours, without
//!   traces and with a filter of targets and levels only: nothing then reads a span but that
//!   one place in the line. A span cost a fifth of a cheap request's own work (the registry's
//!   slot, its field formatted into a `String` of its own, its reference counts, entering and
//!   leaving it at every poll, looking it up for every line); the label costs a copy of the id.

use std::{
    cell::Cell,
    future::Future,
    pin::Pin,
    sync::atomic::{AtomicBool, Ordering},
    task::{Context, Poll},
};
/// Whether requests get a span (see the module's documentation). Set once, at start.
static IN_SPAN: AtomicBool = AtomicBool::new(true);

/// Whether a request's id goes into a tracing span rather than a [`Label`].
pub fn in_span() -> bool {
    IN_SPAN.load(Ordering::Relaxed)
}

/// Labels instead of spans, from now on: only for a subscriber whose lines are [`super::TextLine`]'s.
pub(super) fn use_labels() {
    IN_SPAN.store(false, Ordering::Relaxed);
}

/// The longest id a label holds: the request span module's `MAX_REQUEST_ID`.
const MAX: usize = 64;

/// A request's id, held inline: it is copied in at every poll (see [`Labelled`]).
#[derive(Clone, Copy)]
pub struct Label {
    len: u8,
    bytes: [u8; MAX],
}

impl Label {
    /// The label of the request with this id (cut at 64 bytes, on a character boundary, which
    /// an id from the request span module never needs).
    pub fn new(id: &str) -> Label {
        let mut len = id.len().min(MAX);
        while !id.is_char_boundary(len) {
            len -= 1;
        }
        let mut bytes = [0; MAX];
        bytes[..len].copy_from_slice(&id.as_bytes()[..len]);
        Label {
            len: len as u8,
            bytes,
        }
    }

    fn as_str(&self) -> &str {
        // Cut on a character boundary of a `str`, so always UTF-8.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

thread_local! {
    /// The label of the request this thread is polling, if any.
    static CURRENT: Cell<Option<Label>> = const { Cell::new(None) };
}

pin_project_lite::pin_project! {
    /// A request's future with its label (or none, where the filter switches the request's
    /// span off): what a task-local value is, without the `RefCell` and the swap of tokio's.
    pub struct Labelled<F> {
        #[pin]
        inner: F,
        label: Option<Label>,
    }
}

/// `inner`, with `label` for the lines written while it is polled.
pub fn labelled<F: Future>(label: Option<Label>, inner: F) -> Labelled<F> {
    Labelled { inner, label }
}

impl<F: Future> Future for Labelled<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        /// Puts back the label the thread had, should the poll panic too: a worker thread
        /// goes on to other tasks.
        struct Restore(Option<Label>);
        impl Drop for Restore {
            fn drop(&mut self) {
                CURRENT.set(self.0);
            }
        }
        let _restore = Restore(CURRENT.replace(*this.label));
        this.inner.poll(cx)
    }
}

/// The id of the request being handled, if a label says so.
pub(super) fn with_current<R>(f: impl FnOnce(&str) -> R) -> Option<R> {
    CURRENT.get().map(|label| f(label.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_keeps_the_id_and_cuts_only_what_it_cannot_hold() {
        assert_eq!(Label::new("abc").as_str(), "abc");
        assert_eq!(Label::new("").as_str(), "");
        let long = "x".repeat(70);
        assert_eq!(Label::new(&long).as_str(), &long[..MAX]);
        let wide = format!("{}\u{e9}", "x".repeat(MAX - 1));
        assert_eq!(Label::new(&wide).as_str(), &wide[..MAX - 1]);
    }

    #[test]
    fn a_label_holds_only_while_its_request_is_polled_even_when_the_poll_panics() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let seen = runtime.block_on(labelled(Some(Label::new("outer")), async {
            let inner = labelled(Some(Label::new("inner")), async {
                with_current(str::to_owned)
            })
            .await;
            (inner, with_current(str::to_owned))
        }));
        assert_eq!(seen, (Some("inner".to_owned()), Some("outer".to_owned())));
        assert_eq!(with_current(str::to_owned), None);
        let panicked = std::panic::catch_unwind(|| {
            runtime.block_on(labelled(Some(Label::new("doomed")), async {
                panic!("a handler panics")
            }))
        });
        assert!(panicked.is_err());
        assert_eq!(with_current(str::to_owned), None);
    }
}
