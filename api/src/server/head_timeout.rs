//! A deadline for receiving a whole request head, like nginx's `client_header_timeout`.
//!
//! Why here, in a stream wrapper: hyper has exactly this (`http1::Builder::header_read_timeout`),
//! but it only runs with a timer, and poem 3.1 builds hyper's connection itself
//! (`auto::Builder::new` in `poem::server`) without a timer and without a way to reach the
//! HTTP/1 builder. The read timeout of the acceptor only times the gap between two reads, so a
//! client dripping one byte a second would never trip it.
//!
//! So the wrapper watches the bytes hyper reads: the first byte of a request arms the deadline,
//! the blank line that ends its head disarms it. What follows the head (a body, or pipelined
//! requests) is left alone until the server writes its response (the body has its own limit,
//! `SPA_AUTH_BODY_TIMEOUT`); then the next byte starts the next head. An interim `100 Continue`
//! is not a response. A connection that opens with HTTP/2's preface is not HTTP/1 and is left
//! to the idle timeout. When the deadline passes, the read fails and hyper closes the
//! connection, as nginx does.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// Where a connection is in its request stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Between requests: the next byte read starts a head.
    Idle,
    /// Reading a head. `in_line`: whether the current line has a byte other than CR; `content`
    /// whether a non-blank line was seen (blank lines before a request line are allowed).
    Head { in_line: bool, content: bool },
    /// The head is complete; the rest is the server's business until it answers.
    Answering,
    /// HTTP/2: not timed here.
    Passthrough,
}

/// The byte scanner, apart from any I/O so that it can be tested alone.
#[derive(Debug)]
struct Scanner {
    phase: Phase,
    /// Bytes of the connection that matched the HTTP/2 preface so far, or `None` once one
    /// did not.
    preface: Option<usize>,
}

/// What reading some bytes did to the deadline.
#[derive(Debug, PartialEq, Eq)]
enum Change {
    None,
    Arm,
    Disarm,
}

impl Scanner {
    fn new() -> Self {
        Scanner {
            phase: Phase::Idle,
            preface: Some(0),
        }
    }

    /// Line by line with `memchr` rather than byte by byte through a state machine: a head
    /// is read on every request, and the per-byte loop was a few percent of a cheap request.
    fn read(&mut self, bytes: &[u8]) -> Change {
        if bytes.is_empty() {
            return Change::None;
        }
        if let Some(matched) = self.preface {
            // The preface has no LF, so it is told apart before any line can end a head.
            let want = &H2_PREFACE[matched..];
            let n = want.len().min(bytes.len());
            self.preface = (bytes[..n] == want[..n]).then_some(matched + n);
            if self.preface == Some(H2_PREFACE.len()) {
                self.preface = None;
                self.phase = Phase::Passthrough;
                return Change::Disarm;
            }
        }
        let (mut in_line, mut content, change) = match self.phase {
            Phase::Answering | Phase::Passthrough => return Change::None,
            Phase::Idle => (false, false, Change::Arm),
            Phase::Head { in_line, content } => (in_line, content, Change::None),
        };
        let mut rest = bytes;
        loop {
            // hyper (httparse) ends lines at LF, with or without CR.
            let end = memchr::memchr(b'\n', rest);
            let line = &rest[..end.unwrap_or(rest.len())];
            if line.iter().any(|&b| b != b'\r') {
                in_line = true;
                content = true;
            }
            let Some(end) = end else {
                self.phase = Phase::Head { in_line, content };
                return change;
            };
            if !in_line && content {
                self.phase = Phase::Answering;
                return Change::Disarm;
            }
            in_line = false;
            rest = &rest[end + 1..];
        }
    }

    /// The server wrote `bytes`: unless that is an interim response, the request it read has
    /// been answered and the next byte read starts a new head.
    fn wrote(&mut self, bytes: &[u8]) -> Change {
        if bytes.is_empty() || bytes.starts_with(b"HTTP/1.1 1") || self.phase == Phase::Passthrough
        {
            return Change::None;
        }
        self.preface = None;
        self.phase = Phase::Idle;
        Change::Disarm
    }
}

/// A stream that fails its reads once a request head has taken longer than `timeout`.
pub struct HeadTimeout<S> {
    inner: S,
    timeout: Duration,
    scanner: Scanner,
    deadline: Pin<Box<Sleep>>,
    armed: bool,
}

impl<S> HeadTimeout<S> {
    pub fn new(inner: S, timeout: Duration) -> Self {
        HeadTimeout {
            inner,
            timeout,
            scanner: Scanner::new(),
            deadline: Box::pin(tokio::time::sleep(timeout)),
            armed: false,
        }
    }

    fn apply(&mut self, change: Change) {
        match change {
            Change::None => {}
            Change::Arm => {
                self.deadline.as_mut().reset(Instant::now() + self.timeout);
                self.armed = true;
            }
            Change::Disarm => self.armed = false,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for HeadTimeout<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.armed && this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request head did not arrive in time",
            )));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let change = this.scanner.read(&buf.filled()[before..]);
            this.apply(change);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for HeadTimeout<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            let change = this.scanner.wrote(&buf[..n]);
            this.apply(change);
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = polled {
            // Only the start of what was written matters: whether it is an interim answer.
            let first = bufs.iter().map(|b| &b[..]).find(|b| !b.is_empty());
            let first = first.unwrap_or_default();
            let change = this.scanner.wrote(&first[..n.min(first.len())]);
            this.apply(change);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_arms_on_its_first_byte_and_disarms_at_its_blank_line() {
        let mut s = Scanner::new();
        assert_eq!(s.read(b"G"), Change::Arm);
        assert_eq!(s.read(b"ET / HTTP/1.1\r\nHost: x\r\n"), Change::None);
        assert_eq!(s.read(b"\r\n"), Change::Disarm);
        // A body, or a pipelined request, waits for the answer.
        assert_eq!(s.read(b"{\"a\":1}GET / HTTP/1.1\r\n"), Change::None);
        assert_eq!(s.wrote(b"HTTP/1.1 200 OK\r\n\r\n"), Change::Disarm);
        assert_eq!(s.read(b"GET / HTTP/1.1\n\n"), Change::Disarm);
    }

    #[test]
    fn a_head_split_anywhere_arms_on_its_first_byte_and_disarms_on_its_last() {
        let head: &[u8] = b"\r\nGET /api/me HTTP/1.1\r\nHost: x\r\nCookie: a=b\r\n\r\n";
        for cut in 0..=head.len() {
            for second in cut..=head.len() {
                let parts = [&head[..cut], &head[cut..second], &head[second..]];
                let first = parts.iter().position(|p| !p.is_empty());
                let last = parts.iter().rposition(|p| !p.is_empty());
                let expected: Vec<Change> = (0..3)
                    .map(|i| match Some(i) {
                        i if i == last => Change::Disarm,
                        i if i == first => Change::Arm,
                        _ => Change::None,
                    })
                    .collect();
                let mut s = Scanner::new();
                let changes: Vec<Change> = parts.iter().map(|p| s.read(p)).collect();
                assert_eq!(changes, expected, "split at {cut} and {second}");
            }
        }
    }

    #[test]
    fn blank_lines_before_a_request_line_do_not_end_it() {
        let mut s = Scanner::new();
        assert_eq!(s.read(b"\r\n\r\n"), Change::Arm);
        assert_eq!(s.read(b"GET / HTTP/1.1\r\n\r\n"), Change::Disarm);
    }

    #[test]
    fn an_interim_response_is_not_the_answer() {
        let mut s = Scanner::new();
        s.read(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n");
        assert_eq!(s.wrote(b"HTTP/1.1 100 Continue\r\n\r\n"), Change::None);
        assert_eq!(s.read(b"body"), Change::None);
    }

    #[test]
    fn http2_is_not_timed() {
        let mut s = Scanner::new();
        assert_eq!(s.read(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Change::Disarm);
        assert_eq!(s.wrote(b"\0\0\0\x04"), Change::None);
        assert_eq!(s.read(b"\0\0\0\x01"), Change::None);
    }
}
