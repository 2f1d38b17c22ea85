//! Logs (text or JSON lines) and metrics. The per-request span is the HTTP layer's
//! (`http::middleware::request_span`).

pub mod metrics;
mod process;

use tracing_subscriber::{EnvFilter, fmt::MakeWriter};

use clap::ValueEnum;

const DEFAULT_FILTER: &str = "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn";

/// Installs the global subscriber writing to `writer`, with colours only when `ansi` (a
/// terminal: escape codes are noise in a file or a collector). `RUST_LOG` overrides the filter.
pub fn init<W>(format: LogFormat, writer: W, ansi: bool)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    // A second init (tests start several apps in one process) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        // The current span only, not the list of every span above it too: the request's
        // span is both, and each line would carry its fields twice.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// Standard output, written by a thread of its own: a request formats its log line and hands
/// it over, instead of taking the process-wide stdout lock and making a `write` system call
/// (every worker thread queued on that lock under load). Not lossy: when the thread falls
/// behind by 128,000 lines, requests wait for it rather than drop lines. Keep the guard until
/// the end: dropping it writes out what is queued.
pub fn stdout_writer() -> (
    tracing_appender::non_blocking::NonBlocking,
    tracing_appender::non_blocking::WorkerGuard,
) {
    tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("spa-auth-log")
        .finish(std::io::stdout())
}

/// How log lines are written: text for people, JSON for collectors.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}
