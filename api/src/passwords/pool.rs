//! The threads that hash passwords, and argon2 run in memory they keep.
//!
//! argon2 needs its whole memory cost (19 MiB by default) for every hash. Allocated per call,
//! those blocks are freed into glibc's per-thread pools and never given back: under a login
//! flood the process grew to 400+ MiB and stayed there. Here each of the K hashing threads
//! owns one work area, allocated on first use and reused, so hashing memory is K × the
//! configured cost, and stays so.
//!
//! The threads also run at the lowest priority (Linux's `SCHED_IDLE`), so that when hashing
//! and request handling compete for the cores, session checks win and stay fast during a login
//! flood; when the cores are otherwise idle, hashing still gets all of them. `SCHED_IDLE`
//! rather than a nice value: at nice 10 a hashing thread still held a core for milliseconds
//! before a woken request ran (`/api/me` p99 under a flood 3.9 ms against 1.3 ms, measured side
//! by side; login throughput the same). While requests keep both cores busy, hashes wait:
//! the queue in front of them is bounded, so logins beyond it get an immediate 503, as under
//! any overload, rather than piling up.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{Arc, Mutex, mpsc},
};

use argon2::{
    Algorithm, Argon2, Block, Params, PasswordHash, Version,
    password_hash::phc::{Output, ParamsString, Salt},
};
use subtle::ConstantTimeEq;

/// Stored hashes asking for more than this are treated as unusable rather than allocated.
const MAX_BLOCKS: usize = 1 << 20; // 1 GiB of 1 KiB blocks

/// Memory one hashing thread keeps between hashes.
#[derive(Default)]
pub struct Scratch {
    blocks: Vec<Block>,
    /// What is kept; a stored hash needing more gets a temporary area.
    keep: usize,
}

impl Scratch {
    /// Runs one argon2 computation in `count` blocks of memory.
    fn with_blocks<T>(
        &mut self,
        algorithm: Algorithm,
        count: usize,
        f: impl FnOnce(&mut [Block]) -> T,
    ) -> Option<T> {
        if count > MAX_BLOCKS {
            return None;
        }
        crate::telemetry::metrics::METRICS.password_hash(algorithm.as_str());
        if count > self.keep {
            let mut temporary = vec![Block::default(); count];
            return Some(f(&mut temporary));
        }
        if self.blocks.len() < count {
            self.blocks.resize(count, Block::default());
        }
        Some(f(&mut self.blocks[..count]))
    }
}

type Job = Box<dyn FnOnce(&mut Scratch) + Send>;

/// K threads taking jobs from one queue. Admission (how many may queue) is decided by the
/// caller; this only runs what it is given.
pub struct HashPool {
    jobs: mpsc::Sender<Job>,
}

impl HashPool {
    pub fn start(threads: usize, params: &Params) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let keep = params.block_count();
        for i in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("spa-auth-hash-{i}"))
                .spawn(move || worker(&queue, keep))?;
        }
        Ok(HashPool { jobs })
    }

    /// Runs `job` on a hashing thread and waits for its result.
    pub async fn run<T, F>(&self, job: F) -> Option<T>
    where
        F: FnOnce(&mut Scratch) -> T + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        // With traces on, the hash is a span of the request's own, though another thread runs it.
        let parent = crate::telemetry::traces::enabled().then(tracing::Span::current);
        let boxed: Job = Box::new(move |scratch| {
            let _hashing =
                parent.map(|p| tracing::debug_span!(parent: &p, "password_hash").entered());
            let _ = tx.send(job(scratch));
        });
        self.jobs.send(boxed).ok()?;
        rx.await.ok()
    }
}

fn worker(queue: &Mutex<mpsc::Receiver<Job>>, keep: usize) {
    lower_priority();
    let mut scratch = Scratch {
        blocks: Vec::new(),
        keep,
    };
    loop {
        let job = match queue.lock() {
            Ok(rx) => match rx.recv() {
                Ok(job) => job,
                Err(_) => return, // the pool is gone
            },
            Err(_) => return,
        };
        // A panicking job loses its answer (the caller sees an internal error), not the thread.
        if catch_unwind(AssertUnwindSafe(|| job(&mut scratch))).is_err() {
            tracing::error!("a password hashing job panicked");
        }
    }
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    let idle = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler and setpriority read only their arguments (`idle` lives for
    // the call). On Linux, pid/who 0 is the calling thread alone (threads are tasks), which is
    // the intent.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &idle) };
    if rc != 0 {
        // Refused (a seccomp filter, say): a nice value is the next best thing.
        let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) };
        if rc != 0 {
            tracing::debug!("could not lower the priority of a hashing thread");
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

/// argon2id of `password` under `params` with a fresh random salt, as a PHC string.
pub fn hash(params: &Params, password: &[u8], scratch: &mut Scratch) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| e.to_string())?;
    let mut out = [0u8; 32];
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    scratch
        .with_blocks(Algorithm::Argon2id, params.block_count(), |blocks| {
            argon.hash_password_into_with_memory(password, &salt, &mut out, blocks)
        })
        .ok_or("argon2 memory cost too large")?
        .map_err(|e| e.to_string())?;
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| e.to_string())?,
        salt: Some(Salt::new(&salt).map_err(|e| e.to_string())?),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches a stored argon2 PHC hash; the outputs are compared in constant
/// time. A hash that cannot be used (unknown variant, absurd cost) matches nothing.
pub fn verify(hash: &PasswordHash, password: &[u8], scratch: &mut Scratch) -> bool {
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm.as_str()) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from) {
        None => Version::V0x10,
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Ok(params), Some(salt), Some(expected)) = (
        Params::try_from(hash),
        hash.salt.as_ref(),
        hash.hash.as_ref(),
    ) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params.clone());
    let computed = scratch.with_blocks(algorithm, params.block_count(), |blocks| {
        argon.hash_password_into_with_memory(password, salt.as_ref(), &mut out, blocks)
    });
    matches!(computed, Some(Ok(()))) && bool::from(out.ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params::new(1024, 1, 1, None).unwrap()
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_only_when_nothing_else_wants_the_core() {
        let pool = HashPool::start(2, &params()).expect("threads");
        // SAFETY: sched_getscheduler reads nothing but its argument (0: the calling thread).
        let policy = pool
            .run(|_| unsafe { libc::sched_getscheduler(0) })
            .await
            .expect("an answer");
        assert_eq!(policy, libc::SCHED_IDLE);
        // The runtime's own threads keep the normal policy.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
    }

    #[test]
    fn hashes_verify_and_interoperate_with_the_argon2_crate() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let mut scratch = Scratch {
            keep: params().block_count(),
            ..Scratch::default()
        };
        let ours = hash(&params(), b"hunter22 hunter22", &mut scratch).unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{ours}");
        let parsed = PasswordHash::new(&ours).unwrap();
        // The argon2 crate accepts ours...
        let crate_argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params());
        assert!(
            crate_argon
                .verify_password(b"hunter22 hunter22", &parsed)
                .is_ok()
        );
        assert!(verify(&parsed, b"hunter22 hunter22", &mut scratch));
        assert!(!verify(&parsed, b"hunter22 hunter23", &mut scratch));
        // ...and we accept the crate's, made with other parameters than we keep memory for.
        let bigger = Params::new(4096, 2, 1, None).unwrap();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, bigger)
            .hash_password(b"correct horse")
            .unwrap();
        assert!(verify(&theirs, b"correct horse", &mut scratch));
        assert!(!verify(&theirs, b"correct horsf", &mut scratch));
        assert_eq!(
            scratch.blocks.len(),
            1024,
            "only the configured area is kept"
        );
    }

    #[test]
    fn absurd_costs_match_nothing() {
        let absurd = PasswordHash::new(
            "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )
        .unwrap();
        assert!(!verify(&absurd, b"x", &mut Scratch::default()));
    }
}
