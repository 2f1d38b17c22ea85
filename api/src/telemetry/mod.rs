//! Logs (text or JSON lines), metrics and traces. The per-request span is the HTTP layer's
//! (`http::middleware::request_span`).

pub mod metrics;
mod process;
pub mod traces;

use tracing_subscriber::{
    EnvFilter, Layer, filter,
    fmt::{self, MakeWriter},
    layer::SubscriberExt,
    util::SubscriberInitExt,
};

use clap::ValueEnum;

const DEFAULT_FILTER: &str = "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn";

/// Installs the global subscriber writing to `writer`, with colours only when `ansi` (a
/// terminal: escape codes are noise in a file or a collector). `RUST_LOG` overrides the filter.
/// With `SPA_AUTH_OTLP_ENDPOINT` set, spans also go there (see [`traces`]); a malformed one is
/// logged as an error and the service runs without traces.
pub fn init<W>(format: LogFormat, writer: W, ansi: bool)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let (tracer, traces_error) = match std::env::var(traces::ENDPOINT_VAR) {
        Ok(endpoint) if !endpoint.is_empty() => match traces::tracer(&endpoint) {
            Ok(tracer) => (Some(tracer), None),
            Err(e) => (None, Some(e)),
        },
        _ => (None, None),
    };
    // Without traces the filter is global, as it always was: call sites below its level are
    // switched off for good. With them, each layer has its own: the log keeps its level while
    // the exporter also sees the debug-level hashing spans and SeaORM's statement spans.
    macro_rules! install {
        ($fmt:expr) => {
            match tracer {
                None => tracing_subscriber::registry()
                    .with(filter)
                    .with($fmt)
                    .try_init(),
                Some(tracer) => tracing_subscriber::registry()
                    .with($fmt.with_filter(filter))
                    .with(
                        tracing_opentelemetry::layer()
                            .with_tracer(tracer)
                            .with_filter(filter::filter_fn(traced)),
                    )
                    .try_init(),
            }
        };
    }
    // A second init (tests start several apps in one process) keeps the first subscriber.
    let _ = match format {
        // Fields as `name=value`, strings quoted and escaped as by default (see PlainFields).
        LogFormat::Text => install!(
            fmt::layer()
                .with_ansi(ansi)
                .event_format(TextLine::default())
                .fmt_fields(PlainFields)
                .with_writer(writer)
        ),
        // The current span only, not the list of every span above it too: the request's
        // span is both, and each line would carry its fields twice.
        LogFormat::Json => install!(
            fmt::layer()
                .with_timer(SecondCache)
                .with_ansi(ansi)
                .with_writer(writer)
                .json()
                .flatten_event(true)
                .with_span_list(false)
        ),
    };
    if let Some(e) = traces_error {
        tracing::error!(error = %e, "traces are off");
    }
}

/// What the trace exporter sees: spa-auth's spans (the request's, the hashing's) and its
/// events at INFO and above (they become events on the request's span), and SeaORM's
/// spans around each statement (trace level: its call sites stay off when traces are).
fn traced(meta: &tracing::Metadata<'_>) -> bool {
    let target = meta.target();
    if meta.is_span() {
        (target.starts_with("spa_auth") && *meta.level() <= tracing::Level::DEBUG)
            || target.starts_with("sea_orm::database")
    } else {
        target.starts_with("spa_auth") && *meta.level() <= tracing::Level::INFO
    }
}

/// How text lines write fields: the message bare, every other field `name=value`, with the
/// value's `Debug` (so strings are quoted and their control characters escaped), separated by
/// spaces. Not tracing-subscriber's default visitor, which styles each name through
/// `nu_ansi_term` even with colours off; and a string of plain printable ASCII (a path, a
/// request id, an event name: nearly every one) is written as it is, quoted, rather than
/// through `str`'s `Debug`, which looks up every character in Unicode's tables. The line is
/// the same either way (`plain_fields_write_what_debug_writes`).
struct PlainFields;

impl<'w> fmt::FormatFields<'w> for PlainFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        writer: fmt::format::Writer<'w>,
        fields: R,
    ) -> std::fmt::Result {
        let mut visitor = PlainVisitor {
            writer,
            seen: false,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct PlainVisitor<'w> {
    writer: fmt::format::Writer<'w>,
    seen: bool,
    result: std::fmt::Result,
}

impl PlainVisitor<'_> {
    fn write(&mut self, field: &tracing::field::Field, value: Value<'_>) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            if std::mem::replace(&mut self.seen, true) {
                self.writer.write_char(' ')?;
            }
            if field.name() != "message" {
                self.writer.write_str(field.name())?;
                self.writer.write_char('=')?;
            }
            match value {
                Value::Str(v) if needs_no_escape(v) => {
                    self.writer.write_char('"')?;
                    self.writer.write_str(v)?;
                    self.writer.write_char('"')
                }
                Value::Str(v) => write!(self.writer, "{v:?}"),
                Value::Int(v) => self.writer.write_str(itoa(v, &mut [0; 20])),
                Value::Debug(v) => write!(self.writer, "{v:?}"),
            }
        })();
    }
}

/// Whether `str`'s `Debug` would write `v` unchanged between its quotes: printable ASCII but
/// the quote and the backslash.
fn needs_no_escape(v: &str) -> bool {
    v.bytes()
        .all(|b| (b.is_ascii_graphic() || b == b' ') && b != b'"' && b != b'\\')
}

enum Value<'a> {
    Str(&'a str),
    /// Written as its `Debug` writes it: the decimal digits.
    Int(u64),
    Debug(&'a dyn std::fmt::Debug),
}

impl tracing::field::Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.write(field, Value::Str(value));
    }

    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.write(field, Value::Int(value));
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.write(field, Value::Debug(value));
    }
}

/// `n` in decimal, in `buf`.
fn itoa(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).unwrap_or_default()
}

/// A text line as tracing-subscriber's default format writes it, without colours:
/// `2026-11-30T16:41:08.123456Z  INFO request{request_id="..."}: spa_auth::x: message a=1`.
/// Written piece by piece with `write_str` rather than through `fmt` with a padded level and
/// `nu_ansi_term` styles painted even with colours off, which cost as much as the rest of the
/// line. Colours (a terminal), and events that came through the `log` crate (whose target
/// tracing-subscriber reads from the record), go to the default format itself
/// (`text_lines_read_as_the_default_format_writes_them`).
struct TextLine {
    full: fmt::format::Format<fmt::format::Full, SecondCache>,
}

impl Default for TextLine {
    fn default() -> Self {
        TextLine {
            full: fmt::format().with_timer(SecondCache),
        }
    }
}

impl<S, N> fmt::FormatEvent<S, N> for TextLine
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &fmt::FmtContext<'_, S, N>,
        mut writer: fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        if writer.has_ansi_escapes() || meta.target() == "log" {
            return self.full.format_event(ctx, writer, event);
        }
        fmt::time::FormatTime::format_time(&SecondCache, &mut writer)?;
        writer.write_str(match *meta.level() {
            tracing::Level::TRACE => " TRACE ",
            tracing::Level::DEBUG => " DEBUG ",
            tracing::Level::INFO => "  INFO ",
            tracing::Level::WARN => "  WARN ",
            tracing::Level::ERROR => " ERROR ",
        })?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                writer.write_str(span.metadata().name())?;
                let ext = span.extensions();
                if let Some(fields) = ext.get::<fmt::FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    writer.write_char('{')?;
                    writer.write_str(fields)?;
                    writer.write_char('}')?;
                }
                writer.write_char(':')?;
            }
            writer.write_char(' ')?;
        }
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        fmt::FormatFields::format_fields(ctx, writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}

/// The timestamp of a log line as tracing-subscriber's default writes it (RFC 3339, UTC, to the
/// microsecond: `2026-11-30T13:24:25.435072Z`), with the part down to the second formatted
/// once a second per thread rather than once a line: the calendar arithmetic and seven padded
/// numbers through `fmt` were a visible share of a cheap request's cost.
struct SecondCache;

impl fmt::time::FormatTime for SecondCache {
    fn format_time(&self, w: &mut fmt::format::Writer<'_>) -> std::fmt::Result {
        use std::{cell::RefCell, fmt::Write};
        thread_local! {
            static PREFIX: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let secs = now.as_secs();
        PREFIX.with_borrow_mut(|(second, prefix)| {
            if *second != secs {
                prefix.clear();
                let at = i64::try_from(secs)
                    .ok()
                    .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                    .unwrap_or_default();
                write!(prefix, "{}", at.format("%Y-%m-%dT%H:%M:%S"))?;
                *second = secs;
            }
            w.write_str(prefix)?;
            let mut fraction = *b".000000Z";
            let mut micros = now.subsec_micros();
            for digit in fraction[1..7].iter_mut().rev() {
                *digit = b'0' + (micros % 10) as u8;
                micros /= 10;
            }
            w.write_str(std::str::from_utf8(&fraction).unwrap_or_default())
        })
    }
}

/// Standard output, written by a thread of its own: a request formats its log line and hands
/// it over, instead of taking the process-wide stdout lock and making a `write` system call
/// (every worker thread queued on that lock under load). Not lossy: when the thread falls
/// behind by 128,000 lines, requests wait for it rather than drop lines. Keep the guard until
/// the end: dropping it writes out what is queued.
///
/// Buffered: the thread takes every line queued, then flushes once the queue is empty, so
/// under load one `write` carries many lines instead of one each (a system call per request
/// was the largest cost left in the writer); when idle, each line is written as it comes.
pub fn stdout_writer() -> (
    tracing_appender::non_blocking::NonBlocking,
    tracing_appender::non_blocking::WorkerGuard,
) {
    tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("spa-auth-log")
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stdout(),
        ))
}

/// How log lines are written: text for people, JSON for collectors.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp() -> String {
        let mut out = String::new();
        fmt::time::FormatTime::format_time(&SecondCache, &mut fmt::format::Writer::new(&mut out))
            .expect("formats");
        out
    }

    /// What a subscriber built by `build` (given the sink to write to) writes while `log` runs.
    fn captured<S>(build: impl FnOnce(SharedVec) -> S, log: impl FnOnce()) -> String
    where
        S: tracing::Subscriber + Send + Sync + 'static,
    {
        let sink = SharedVec(std::sync::Arc::default());
        tracing::subscriber::with_default(build(sink.clone()), log);
        let bytes = sink.0.lock().expect("not poisoned").clone();
        String::from_utf8(bytes).expect("UTF-8")
    }

    /// Lines from a text subscriber with `fields`, logging strings that need no escaping and
    /// strings that do, in events and in a span.
    fn lines_with<F>(fields: F) -> String
    where
        F: for<'w> fmt::FormatFields<'w> + Send + Sync + 'static,
    {
        let build = |sink: SharedVec| {
            tracing_subscriber::fmt()
                .without_time()
                .with_ansi(false)
                .fmt_fields(fields)
                .with_writer(move || sink.clone())
                .finish()
        };
        captured(build, || {
            let span = tracing::info_span!("request", request_id = "00-4bf9_ABC~!#");
            let _entered = span.enter();
            for s in [
                "/api/me",
                "",
                "with \"quotes\" and \\ backslash",
                "tab\there\r\nnew line",
                "caf\u{e9} \u{301}\u{200b}",
                "\u{1b}[31mred",
                "it's",
            ] {
                tracing::info!(
                    path = s,
                    status = 200u16,
                    latency_ms = 0.25,
                    ok = true,
                    "request finished"
                );
                tracing::info!(message = s, other = ?s);
                tracing::info!(zero = 0u64, big = u64::MAX, small = 7u8, negative = -3i64);
            }
        })
    }

    #[derive(Clone)]
    struct SharedVec(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for SharedVec {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("not poisoned").extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn plain_fields_write_what_debug_writes() {
        use tracing_subscriber::field::MakeExt;
        // What the text format wrote before PlainFields: each value's Debug.
        let debug = fmt::format::debug_fn(
            |w: &mut fmt::format::Writer<'_>,
             field: &tracing::field::Field,
             value: &dyn std::fmt::Debug| {
                if field.name() == "message" {
                    write!(w, "{value:?}")
                } else {
                    write!(w, "{field}={value:?}")
                }
            },
        )
        .delimited(" ");
        let expected = lines_with(debug);
        assert_eq!(expected.lines().count(), 21, "{expected}");
        assert_eq!(lines_with(PlainFields), expected);
    }

    /// Lines that `format` writes, timestamps cut off, for events at every level, with and
    /// without spans (nested, with fields and without) and with another target.
    fn text_lines<E>(format: E) -> Vec<String>
    where
        E: fmt::FormatEvent<tracing_subscriber::Registry, PlainFields> + Send + Sync + 'static,
    {
        let build = |sink: SharedVec| {
            tracing_subscriber::fmt()
                .with_ansi(false)
                .with_max_level(tracing::Level::TRACE)
                .fmt_fields(PlainFields)
                .event_format(format)
                .with_writer(move || sink.clone())
                .finish()
        };
        let out = captured(build, || {
            tracing::info!(path = "/healthz", status = 200u16, "request finished");
            let outer = tracing::info_span!("request", request_id = "abc");
            let _outer = outer.enter();
            tracing::warn!(target: "audit", event = "login_failed", "x");
            let inner = tracing::debug_span!("password_hash");
            let _inner = inner.enter();
            tracing::error!(error = "boom \"quoted\"");
            tracing::debug!("bare message");
            tracing::trace!(n = 1);
        });
        out.lines()
            .map(|l| {
                l.get("2026-11-30T13:24:25.435072Z".len()..)
                    .unwrap_or(l)
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn text_lines_read_as_the_default_format_writes_them() {
        let ours = text_lines(TextLine::default());
        let default = text_lines(fmt::format().with_timer(SecondCache));
        assert_eq!(ours.len(), 5, "{ours:?}");
        assert_eq!(ours, default);
    }

    #[test]
    fn timestamps_are_rfc_3339_to_the_microsecond_as_before() {
        let before = chrono::Utc::now();
        let (first, second) = (stamp(), stamp());
        let after = chrono::Utc::now();
        for s in [&first, &second] {
            assert_eq!(s.len(), "2026-11-30T13:24:25.435072Z".len(), "{s}");
            let at = chrono::DateTime::parse_from_rfc3339(s).expect("RFC 3339");
            assert!(
                at >= before - chrono::Duration::microseconds(1) && at <= after,
                "{s}"
            );
        }
        assert!(first <= second);
    }
}
