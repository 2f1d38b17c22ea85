//! Log lines to standard output from a thread of its own: a request appends its line to a
//! shared buffer and goes on, instead of taking the process-wide stdout lock and making a
//! `write` system call (every worker thread queued on that lock under load).
//!
//! One buffer, swapped: the writer thread takes everything pending at once and writes it with
//! one `write_all` while requests fill the other, so under load one system call carries many
//! lines and, once both buffers have grown, no line allocates. (tracing-appender, used before,
//! copied each line into a `Vec` of its own and sent it through a channel, to be freed by the
//! thread after its own `write`: over a thousand instructions a line between the two threads.)
//!
//! Not lossy: past [`MAX_PENDING`] bytes waiting, a request waits for the writer rather than
//! drop its line. Keep the [`Flushed`] guard until the end: dropping it writes out what is
//! pending and stops the thread; a line logged after that is written directly.

use std::{
    io::Write,
    sync::{Arc, Condvar, Mutex, MutexGuard},
    thread::JoinHandle,
};

use tracing_subscriber::fmt::MakeWriter;

/// How many bytes may wait for the writer before a request waits instead (about 100,000
/// lines): a burst is absorbed, a stuck standard output is not hidden by unbounded memory.
pub const MAX_PENDING: usize = 16 << 20;

/// Where log lines go: hand it to the subscriber.
#[derive(Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

/// Writes out what is pending and stops the writer thread when dropped.
pub struct Flushed {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    pending: Mutex<Pending>,
    /// The writer thread waits here for lines.
    lines_ready: Condvar,
    /// Requests wait here while [`MAX_PENDING`] bytes are pending.
    room_made: Condvar,
    /// The guard waits here for the writer thread's last write.
    stopped: Condvar,
    /// Where the writer thread writes, and where lines go directly once it has stopped.
    sink: Mutex<Box<dyn Write + Send>>,
    max_pending: usize,
}

struct Pending {
    lines: Vec<u8>,
    /// Whether the writer thread is waiting for lines (so a request must wake it: a wake-up
    /// is a system call, not made when the thread is busy writing and will look again).
    writer_asleep: bool,
    /// Requests waiting for room.
    waiting_for_room: usize,
    closed: bool,
    /// The writer thread wrote its last (or never started).
    finished: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic elsewhere while holding the lock leaves the bytes as they were: still lines.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write_out(&self, bytes: &[u8]) {
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        // Nowhere to report a failed write of the log (standard output closed, say).
        let _ = sink.write_all(bytes).and_then(|()| sink.flush());
    }

    fn append(&self, line: &[u8]) {
        let mut pending = self.lock();
        while pending.lines.len() >= self.max_pending && !pending.closed {
            pending.waiting_for_room += 1;
            pending = self
                .room_made
                .wait(pending)
                .unwrap_or_else(|e| e.into_inner());
            pending.waiting_for_room -= 1;
        }
        if pending.closed {
            drop(pending);
            self.write_out(line);
            return;
        }
        pending.lines.extend_from_slice(line);
        let wake = std::mem::replace(&mut pending.writer_asleep, false);
        drop(pending);
        if wake {
            self.lines_ready.notify_one();
        }
    }

    /// The writer thread: everything pending, swapped out and written, until closed and empty.
    fn run(&self) {
        let mut batch = Vec::new();
        loop {
            let mut pending = self.lock();
            while pending.lines.is_empty() && !pending.closed {
                pending.writer_asleep = true;
                pending = self
                    .lines_ready
                    .wait(pending)
                    .unwrap_or_else(|e| e.into_inner());
            }
            pending.writer_asleep = false;
            if pending.lines.is_empty() {
                pending.finished = true;
                drop(pending);
                self.stopped.notify_all();
                return;
            }
            std::mem::swap(&mut pending.lines, &mut batch);
            let room = pending.waiting_for_room > 0;
            drop(pending);
            if room {
                self.room_made.notify_all();
            }
            self.write_out(&batch);
            batch.clear();
            // A burst may have grown it far past what steady logging needs.
            batch.shrink_to(1 << 20);
        }
    }
}

impl LogWriter {
    /// A writer thread writing to `sink`, and the writer to hand to the subscriber.
    pub fn new(sink: impl Write + Send + 'static, max_pending: usize) -> (LogWriter, Flushed) {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending {
                lines: Vec::new(),
                writer_asleep: false,
                waiting_for_room: 0,
                closed: false,
                finished: false,
            }),
            lines_ready: Condvar::new(),
            room_made: Condvar::new(),
            stopped: Condvar::new(),
            sink: Mutex::new(Box::new(sink)),
            max_pending,
        });
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("spa-auth-log".into())
                .spawn(move || shared.run())
        };
        let thread = match thread {
            Ok(thread) => Some(thread),
            // No thread (the process is out of them): every line is written directly.
            Err(_) => {
                let mut pending = shared.lock();
                pending.closed = true;
                pending.finished = true;
                None
            }
        };
        (
            LogWriter {
                shared: shared.clone(),
            },
            Flushed { shared, thread },
        )
    }
}

impl Drop for Flushed {
    /// Waits for what is pending to be written, for at most a second: a standard output that
    /// takes nothing (a full pipe nobody reads) must not keep the process from exiting.
    fn drop(&mut self) {
        let mut pending = self.shared.lock();
        pending.closed = true;
        self.shared.lines_ready.notify_one();
        self.shared.room_made.notify_all();
        let (pending, _) = self
            .shared
            .stopped
            .wait_timeout_while(pending, std::time::Duration::from_secs(1), |p| !p.finished)
            .unwrap_or_else(|e| e.into_inner());
        let finished = pending.finished;
        drop(pending);
        if let Some(thread) = self.thread.take().filter(|_| finished) {
            let _ = thread.join();
        }
    }
}

/// One line's writer, as the subscriber makes one per line.
pub struct Line<'a>(&'a Shared);

impl Write for Line<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Line<'a> {
        Line(&self.shared)
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{Arc, Mutex},
        time::Duration,
    };

    use super::*;

    /// A sink whose bytes the test reads, and which blocks while `held`.
    #[derive(Clone, Default)]
    struct Sink {
        bytes: Arc<Mutex<Vec<u8>>>,
        held: Arc<Mutex<()>>,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let _held = self.held.lock().expect("not poisoned");
            self.bytes
                .lock()
                .expect("not poisoned")
                .extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// `threads` threads each write `lines` numbered lines; what reached the sink.
    fn written(threads: usize, lines: usize, max_pending: usize, sink: Sink) -> String {
        let (writer, flushed) = LogWriter::new(sink.clone(), max_pending);
        std::thread::scope(|scope| {
            for t in 0..threads {
                let writer = writer.clone();
                scope.spawn(move || {
                    for n in 0..lines {
                        let line = format!("thread {t} line {n} {}\n", "x".repeat(n % 50));
                        writer
                            .make_writer()
                            .write_all(line.as_bytes())
                            .expect("written");
                    }
                });
            }
        });
        drop(flushed);
        let bytes = sink.bytes.lock().expect("not poisoned").clone();
        String::from_utf8(bytes).expect("UTF-8")
    }

    /// Every line whole, each thread's in its order, none lost.
    fn check(out: &str, threads: usize, lines: usize) {
        let mut next = vec![0; threads];
        for line in out.lines() {
            let mut words = line.split(' ');
            let (Some("thread"), Some(t), Some("line"), Some(n)) =
                (words.next(), words.next(), words.next(), words.next())
            else {
                panic!("a broken line: {line:?}");
            };
            let (t, n): (usize, usize) = (t.parse().expect("t"), n.parse().expect("n"));
            assert_eq!(n, next[t], "thread {t} out of order");
            assert_eq!(words.next(), Some("x".repeat(n % 50).as_str()));
            next[t] += 1;
        }
        assert_eq!(next, vec![lines; threads]);
    }

    #[test]
    fn every_line_arrives_whole_and_in_order_by_the_time_the_guard_is_dropped() {
        let out = written(8, 20_000, MAX_PENDING, Sink::default());
        check(&out, 8, 20_000);
    }

    #[test]
    fn a_stuck_output_makes_loggers_wait_not_lose_lines() {
        let sink = Sink::default();
        let held = sink.held.lock().expect("not poisoned");
        let (writer, flushed) = LogWriter::new(sink.clone(), 1_000);
        let logger = std::thread::spawn({
            let writer = writer.clone();
            move || {
                for n in 0..500 {
                    let line = format!("thread 0 line {n} {}\n", "x".repeat(n % 50));
                    writer
                        .make_writer()
                        .write_all(line.as_bytes())
                        .expect("written");
                }
            }
        });
        std::thread::sleep(Duration::from_millis(200));
        assert!(!logger.is_finished(), "the logger went on past the bound");
        drop(held);
        logger.join().expect("the logger does not panic");
        drop(flushed);
        let out =
            String::from_utf8(sink.bytes.lock().expect("not poisoned").clone()).expect("UTF-8");
        check(&out, 1, 500);
    }

    #[test]
    fn a_stuck_output_does_not_keep_the_process_from_exiting() {
        let sink = Sink::default();
        let held = sink.held.lock().expect("not poisoned");
        let (writer, flushed) = LogWriter::new(sink.clone(), MAX_PENDING);
        writer
            .make_writer()
            .write_all(b"thread 0 line 0 \n")
            .expect("written");
        let started = std::time::Instant::now();
        drop(flushed);
        // The guard gives up after a second; the sink is still stuck.
        assert!(started.elapsed() < Duration::from_secs(10));
        drop(held);
    }

    #[test]
    fn a_line_after_the_guard_is_dropped_is_written_directly() {
        let sink = Sink::default();
        let (writer, flushed) = LogWriter::new(sink.clone(), MAX_PENDING);
        drop(flushed);
        writer
            .make_writer()
            .write_all(b"thread 0 line 0 \n")
            .expect("written");
        let out =
            String::from_utf8(sink.bytes.lock().expect("not poisoned").clone()).expect("UTF-8");
        check(&out, 1, 1);
    }
}
