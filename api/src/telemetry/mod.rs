//! Logs (text or JSON lines), metrics and traces. The per-request span is the HTTP layer's
//! (`http::middleware::request_span`).

pub mod metrics;
mod process;
pub mod request_label;
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
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
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
                    .with(filter.layer())
                    .with($fmt)
                    .try_init(),
                Some(tracer) => tracing_subscriber::registry()
                    .with($fmt.with_filter(filter.per_layer()))
                    .with(
                        tracing_opentelemetry::layer()
                            .with_tracer(tracer)
                            .with_filter(filter::filter_fn(traced)),
                    )
                    .try_init(),
            }
        };
    }
    // Requests labelled rather than in a span where nothing but the line reads the span (see
    // `request_label`): the line is then TextLine's own, not the default format's (colours).
    let labels = format == LogFormat::Text
        && !ansi
        && tracer.is_none()
        && matches!(filter, LogFilter::Targets(_));
    // A second init (tests start several apps in one process) keeps the first subscriber.
    let installed = match format {
        // Fields as `name=value`, strings quoted and escaped as by default (see PlainFields).
        LogFormat::Text => install!(
            fmt::layer()
                .with_ansi(ansi)
                .fmt_fields(PlainFields)
                .event_format(TextLine::default())
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
    if installed.is_ok() && labels {
        request_label::use_labels();
    }
    if let Some(e) = traces_error {
        tracing::error!(error = %e, "traces are off");
    }
}

/// The log's filter: `RUST_LOG` if it parses, else [`DEFAULT_FILTER`].
enum LogFilter {
    /// Targets and levels only (the default, and nearly every `RUST_LOG`): decided once per
    /// call site. `EnvFilter` with the same directives also took a lock and a hash lookup as
    /// each request's span was created, entered, left and closed, to support directives that
    /// name spans, which these do not.
    Targets(Box<filter::Targets>),
    /// What only `EnvFilter` understands: directives on spans and fields
    /// (`spa_auth[request{request_id="..."}]=debug`).
    Env(Box<EnvFilter>),
}

fn log_filter(rust_log: Option<&str>) -> LogFilter {
    let default = || LogFilter::Targets(Box::new(DEFAULT_FILTER.parse().unwrap_or_default()));
    match rust_log {
        None => default(),
        // Targets would read `spa_auth[request]` as a target's name, not refuse it.
        Some(directives) => match directives.contains('[') {
            false => directives
                .parse()
                .map(|f| LogFilter::Targets(Box::new(f)))
                .ok(),
            true => None,
        }
        .or_else(|| {
            EnvFilter::try_new(directives)
                .ok()
                .map(|f| LogFilter::Env(Box::new(f)))
        })
        .unwrap_or_else(default),
    }
}

impl LogFilter {
    /// The filter for every layer (the log alone).
    fn layer<S>(self) -> Box<dyn Layer<S> + Send + Sync>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        match self {
            LogFilter::Targets(f) => (*f).boxed(),
            LogFilter::Env(f) => (*f).boxed(),
        }
    }

    /// The filter of the log's layer alone (beside the trace exporter).
    fn per_layer<S>(self) -> Box<dyn tracing_subscriber::layer::Filter<S> + Send + Sync>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        use tracing_subscriber::filter::FilterExt;
        match self {
            LogFilter::Targets(f) => FilterExt::boxed(*f),
            LogFilter::Env(f) => FilterExt::boxed(*f),
        }
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

/// Writes fields into `W`: tracing-subscriber's `Writer` for a span's fields, the line itself
/// for an event's (see `TextLine`).
struct PlainVisitor<W> {
    writer: W,
    seen: bool,
    result: std::fmt::Result,
}

impl<W: std::fmt::Write> PlainVisitor<W> {
    fn write(&mut self, field: &tracing::field::Field, value: Value<'_>) {
        if self.result.is_err() {
            return;
        }
        // An event from the `log` crate carries its record's target, module and line as fields
        // (`log.target`...): the line shows the target in its place instead, as the default
        // format does (see `TextLine`).
        if field.name().starts_with("log.") {
            return;
        }
        let separated = std::mem::replace(&mut self.seen, true);
        let name = (field.name() != "message").then(|| field.name());
        self.result = write_field(&mut self.writer, separated, name, value);
    }
}

/// One field: ` name=value`, or the bare value for the message. Plain text and numbers go out
/// with `write_str` (into the line's buffer, which keeps its capacity from line to line), not
/// through `fmt`.
fn write_field(
    w: &mut impl std::fmt::Write,
    separated: bool,
    name: Option<&str>,
    value: Value<'_>,
) -> std::fmt::Result {
    if separated {
        w.write_char(' ')?;
    }
    if let Some(name) = name {
        w.write_str(name)?;
        w.write_char('=')?;
    }
    match value {
        Value::Str(v) if needs_no_escape(v) => {
            w.write_char('"')?;
            w.write_str(v)?;
            w.write_char('"')
        }
        Value::Str(v) => write!(w, "{v:?}"),
        Value::Int(v) => w.write_str(itoa(v, &mut [0; 20])),
        Value::Float(v) => match shortest(v, &mut ryu::Buffer::new()) {
            Some(v) => w.write_str(v),
            None => write!(w, "{v:?}"),
        },
        Value::Debug(v) => write!(w, "{v:?}"),
    }
}

/// `v` as `f64`'s `Debug` writes it (a latency, say), by `ryu` rather than through `fmt`,
/// where the two are known to agree: zero, and magnitudes from 1e-4 up to 1e7 (ten million
/// milliseconds, close to three hours), which `Debug` writes without an exponent
/// (`ryu_writes_what_debug_writes`). `None` elsewhere.
fn shortest(v: f64, buf: &mut ryu::Buffer) -> Option<&str> {
    (v == 0.0 || (1e-4..1e7).contains(&v.abs())).then(|| buf.format_finite(v))
}

/// Whether `str`'s `Debug` would write `v` unchanged between its quotes: printable ASCII but
/// the quote and the backslash. By table: a request id and a path are checked on every line.
fn needs_no_escape(v: &str) -> bool {
    const PLAIN: [bool; 256] = {
        let mut table = [false; 256];
        let mut b = 0;
        while b < 256 {
            let c = b as u8;
            table[b] = (c.is_ascii_graphic() || c == b' ') && c != b'"' && c != b'\\';
            b += 1;
        }
        table
    };
    v.bytes().all(|b| PLAIN[usize::from(b)])
}

enum Value<'a> {
    Str(&'a str),
    /// Written as its `Debug` writes it: the decimal digits.
    Int(u64),
    Float(f64),
    Debug(&'a dyn std::fmt::Debug),
}

impl<W: std::fmt::Write> tracing::field::Visit for PlainVisitor<W> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.write(field, Value::Str(value));
    }

    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.write(field, Value::Int(value));
    }

    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.write(field, Value::Float(value));
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
/// line. Colours (a terminal) go to the default format itself
/// (`text_lines_read_as_the_default_format_writes_them`). A request's label (see
/// `request_label`) is written where its span would be, ahead of the spans inside it.
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

impl<S> fmt::FormatEvent<S, PlainFields> for TextLine
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &fmt::FmtContext<'_, S, PlainFields>,
        mut writer: fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        use std::cell::RefCell;
        if writer.has_ansi_escapes() {
            return self.full.format_event(ctx, writer, event);
        }
        // Put together in a `String` of this thread's, then handed over in one piece: each of
        // the line's twenty-odd pieces written through `Writer` was two dynamic calls.
        thread_local! {
            static LINE: RefCell<String> = const { RefCell::new(String::new()) };
        }
        LINE.with(|line| match line.try_borrow_mut() {
            Ok(mut line) => {
                line.clear();
                compose_line(ctx, &mut line, event)?;
                writer.write_str(&line)
            }
            // Should a line ever be logged while this one is put together (tracing itself does
            // not dispatch from inside a dispatch).
            Err(_) => {
                let mut line = String::new();
                compose_line(ctx, &mut line, event)?;
                writer.write_str(&line)
            }
        })
    }
}

/// The line of `event`, as described at [`TextLine`].
fn compose_line<S>(
    ctx: &fmt::FmtContext<'_, S, PlainFields>,
    line: &mut String,
    event: &tracing::Event<'_>,
) -> std::fmt::Result
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use std::fmt::Write;
    use tracing_log::NormalizeEvent;
    // An event from the `log` crate: its record's target and level, as the default format
    // shows them.
    let normalized = event.normalized_metadata();
    let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
    write_time(line)?;
    line.push_str(match *meta.level() {
        tracing::Level::TRACE => " TRACE ",
        tracing::Level::DEBUG => " DEBUG ",
        tracing::Level::INFO => "  INFO ",
        tracing::Level::WARN => "  WARN ",
        tracing::Level::ERROR => " ERROR ",
    });
    let labelled = request_label::with_current(|id| {
        line.push_str("request{");
        write_field(line, false, Some("request_id"), Value::Str(id))?;
        line.push_str("}:");
        Ok::<_, std::fmt::Error>(())
    });
    let mut seen = labelled.transpose()?.is_some();
    if let Some(scope) = ctx.event_scope() {
        for span in scope.from_root() {
            seen = true;
            line.push_str(span.metadata().name());
            let ext = span.extensions();
            if let Some(fields) = ext.get::<fmt::FormattedFields<PlainFields>>()
                && !fields.is_empty()
            {
                line.push('{');
                line.push_str(fields);
                line.push('}');
            }
            line.push(':');
        }
    }
    if seen {
        line.push(' ');
    }
    line.push_str(meta.target());
    line.push_str(": ");
    let mut visitor = PlainVisitor {
        writer: &mut *line,
        seen: false,
        result: Ok(()),
    };
    event.record(&mut visitor);
    visitor.result?;
    line.write_char('\n')
}

/// The timestamp of a log line as tracing-subscriber's default writes it (RFC 3339, UTC, to the
/// microsecond: `2026-11-30T13:24:25.435072Z`), with the part down to the second formatted
/// once a second per thread rather than once a line: the calendar arithmetic and seven padded
/// numbers through `fmt` were a visible share of a cheap request's cost.
struct SecondCache;

impl fmt::time::FormatTime for SecondCache {
    fn format_time(&self, w: &mut fmt::format::Writer<'_>) -> std::fmt::Result {
        write_time(w)
    }
}

/// The time now, as [`SecondCache`] describes.
fn write_time(w: &mut impl std::fmt::Write) -> std::fmt::Result {
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

    /// The events each filter lets through, of a fixed set at every level and several targets.
    fn passed_by(
        filter: Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync>,
    ) -> Vec<String> {
        use std::sync::{Arc, Mutex};
        struct Seen(Arc<Mutex<Vec<String>>>);
        impl<S: tracing::Subscriber> Layer<S> for Seen {
            fn on_event(
                &self,
                event: &tracing::Event<'_>,
                _: tracing_subscriber::layer::Context<'_, S>,
            ) {
                let meta = event.metadata();
                let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
                seen.push(format!("{} {}", meta.target(), meta.level()));
            }
        }
        let seen = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry()
            .with(filter)
            .with(Seen(seen.clone()));
        tracing::subscriber::with_default(subscriber, || {
            macro_rules! at_every_level {
                ($target:literal) => {
                    tracing::trace!(target: $target, "x");
                    tracing::debug!(target: $target, "x");
                    tracing::info!(target: $target, "x");
                    tracing::warn!(target: $target, "x");
                    tracing::error!(target: $target, "x");
                };
            }
            at_every_level!("spa_auth::http");
            at_every_level!("spa_auth");
            at_every_level!("sqlx::query");
            at_every_level!("sea_orm");
            at_every_level!("sea_orm_migration::migrator");
            at_every_level!("hyper");
            let span = tracing::info_span!("request", request_id = "a");
            let _entered = span.enter();
            at_every_level!("spa_auth::http");
        });
        seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    #[test]
    fn log_filters_pass_what_env_filter_would() {
        for directives in [
            None,
            Some("debug"),
            Some("warn,spa_auth=trace"),
            Some("spa_auth::http=debug,sqlx=info,off"),
            Some("spa_auth"),
            Some("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn"),
            // Read by both as the name of a target, so it shows nothing else.
            Some("not a level at all"),
        ] {
            let filter = log_filter(directives);
            assert!(matches!(filter, LogFilter::Targets(_)), "{directives:?}");
            let env = match directives.map(EnvFilter::try_new) {
                Some(Ok(env)) => env,
                _ => EnvFilter::new(DEFAULT_FILTER),
            };
            let expected = passed_by(Box::new(env));
            assert_eq!(passed_by(filter.layer()), expected, "{directives:?}");
        }
        // Directives on spans need EnvFilter itself.
        let directives = "warn,spa_auth[request]=debug";
        let filter = log_filter(Some(directives));
        assert!(matches!(filter, LogFilter::Env(_)));
        let passed = passed_by(filter.layer());
        // Only the one inside the request's span.
        let debug = passed
            .iter()
            .filter(|e| *e == "spa_auth::http DEBUG")
            .count();
        assert_eq!(debug, 1, "{passed:?}");
    }

    #[test]
    fn ryu_writes_what_debug_writes() {
        let mut ryu = ryu::Buffer::new();
        let mut checked = 0;
        let mut check = |v: f64| {
            if let Some(s) = shortest(v, &mut ryu) {
                assert_eq!(s, format!("{v:?}"), "{v:e}");
                checked += 1;
            }
        };
        for v in [
            0.0,
            -0.0,
            1.0,
            0.1,
            0.3,
            1e-4,
            0.000123,
            1e6,
            1_234_567.891,
            123.456,
            0.001,
            2.5,
            9_999_999.999,
            17.000000000000004,
        ] {
            check(v);
            check(-v);
        }
        // Latencies as the request line computes them, over every scale it may meet.
        for nanos in (0..200_000u64).map(|i| i * i * 7 + i) {
            check(std::time::Duration::from_nanos(nanos).as_secs_f64() * 1000.0);
        }
        // Spread over the whole range, bit patterns included.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            check(f64::from_bits(x));
            check(10f64.powf((x % 2_000) as f64 / 100.0 - 4.5) * 1.000_000_1);
        }
        assert!(checked > 150_000, "{checked}");
        // Outside the range, Debug writes an exponent and ryu does not always agree.
        assert_eq!(shortest(1e-5, &mut ryu), None);
        assert_eq!(shortest(1e7, &mut ryu), None);
        assert_eq!(shortest(f64::NAN, &mut ryu), None);
        assert_eq!(shortest(f64::INFINITY, &mut ryu), None);
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
            log_record("from the log crate");
            let outer = tracing::info_span!("request", request_id = "abc");
            let _outer = outer.enter();
            tracing::warn!(target: "audit", event = "login_failed", "x");
            let inner = tracing::debug_span!("password_hash");
            let _inner = inner.enter();
            tracing::error!(error = "boom \"quoted\"");
            tracing::debug!("bare message");
            log_record("inside spans");
            tracing::trace!(n = 1);
            // A field whose `Debug` logs while the line is written: tracing drops the inner
            // event (it does not dispatch from inside a dispatch), and the outer line is whole.
            struct Noisy;
            impl std::fmt::Debug for Noisy {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    tracing::info!(inner = true, "while formatting");
                    f.write_str("noisy")
                }
            }
            tracing::info!(field = ?Noisy, "outer");
        });
        out.lines()
            .map(|l| {
                l.get("2026-11-30T13:24:25.435072Z".len()..)
                    .unwrap_or(l)
                    .to_owned()
            })
            .collect()
    }

    /// A record sent through the `log` crate's API, as a library using it would.
    fn log_record(message: &str) {
        tracing_log::format_trace(
            &log::Record::builder()
                .args(format_args!("{message}"))
                .level(log::Level::Warn)
                .target("some_library::module")
                .module_path_static(Some("some_library::module"))
                .file_static(Some("src/module.rs"))
                .line(Some(7))
                .build(),
        )
        .expect("dispatched");
    }

    #[test]
    fn text_lines_read_as_the_default_format_writes_them() {
        let ours = text_lines(TextLine::default());
        let default = text_lines(fmt::format().with_timer(SecondCache));
        assert_eq!(ours.len(), 8, "{ours:?}");
        assert!(
            ours[1].starts_with("  WARN some_library::module: from the log crate"),
            "{ours:?}"
        );
        assert_eq!(ours, default);
    }

    /// The lines of a request with id `id`: events of its own, in a span inside it and from the
    /// `log` crate, with the id in a span or in a label.
    fn request_lines(id: &str, labelled: bool) -> Vec<String> {
        let build = |sink: SharedVec| {
            tracing_subscriber::fmt()
                .with_ansi(false)
                .with_max_level(tracing::Level::TRACE)
                .fmt_fields(PlainFields)
                .event_format(TextLine::default())
                .with_writer(move || sink.clone())
                .finish()
        };
        let request = || {
            tracing::info!(target: "audit", event = "login_failed", "x");
            let inner = tracing::debug_span!("password_hash", cost = 3u64);
            inner.in_scope(|| tracing::debug!("hashed"));
            log_record("from the log crate");
            tracing::info!(
                method = "GET",
                path = "/api/me",
                status = 200u16,
                latency_ms = 0.25,
                "request finished"
            );
        };
        let out = captured(build, || {
            tracing::info!("before");
            if labelled {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .expect("a runtime");
                runtime.block_on(request_label::labelled(
                    Some(request_label::Label::new(id)),
                    async { request() },
                ));
            } else {
                tracing::info_span!("request", request_id = id).in_scope(request);
            }
            tracing::info!("after");
        });
        out.lines()
            .map(|l| l["2026-11-30T13:24:25.435072Z".len()..].to_owned())
            .collect()
    }

    #[test]
    fn a_labelled_request_writes_the_lines_its_span_would() {
        for id in ["4bf92f35-77b3-4da6-a3ce-929d0e0e4736", "a\"b\\c", "x"] {
            let in_span = request_lines(id, false);
            assert_eq!(in_span.len(), 6, "{in_span:?}");
            assert!(
                in_span[1].starts_with("  INFO request{request_id="),
                "{in_span:?}"
            );
            assert_eq!(request_lines(id, true), in_span);
        }
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
