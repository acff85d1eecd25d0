//! Password hashing and verification (argon2id) on a bounded pool of dedicated threads.
//!
//! Each argon2 computation needs `m_cost` KiB of working memory (19 MiB with the default
//! parameters). On tokio's blocking pool (up to 512 threads) a burst of logins ran that
//! many computations at once and glibc kept the freed blocks in its per-thread arenas, so
//! the process stayed at ~1 GB. Here:
//!
//! - `threads` std threads do all the work, so at most `threads × m_cost` of argon2 memory
//!   exists at any moment, whatever arrives;
//! - at most `queue` more jobs wait for a thread; beyond that a job is refused at once
//!   ([`HashError::Busy`]: the caller answers 503 with `Retry-After`) instead of piling up;
//! - a thread reuses its block buffer while jobs keep coming and frees it as soon as the
//!   queue is empty. The buffer is reserved with at least [`RESERVE_BYTES`] of capacity
//!   (only `m_cost` of it is ever touched, so only that is resident): glibc serves
//!   requests of that size with their own mapping, never from an arena, and unmaps them
//!   on free, so memory goes back to the system after a burst (see BENCHMARKS.md).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

/// glibc's dynamic mmap threshold never rises above 32 MiB (64-bit), so a request at
/// least that large is always mapped on its own and returned to the system when freed.
pub const RESERVE_BYTES: usize = 32 * 1024 * 1024 + Block::SIZE;

/// Why a hash or a verification did not produce an answer.
#[derive(Debug)]
pub enum HashError {
    /// Every thread is busy and the queue is full: come back later.
    Busy,
    /// The pool stopped or argon2 failed (an internal error).
    Failed(String),
}

enum Job {
    Hash {
        password: String,
        reply: oneshot::Sender<Result<String, String>>,
    },
    Verify {
        password: String,
        hash: String,
        reply: oneshot::Sender<bool>,
    },
}

/// A handle to the pool; clones share it. The threads end when the last handle is gone.
/// The queue itself is unbounded; the `in_flight` count is what bounds it.
/// A job with the span of the request that asked for it, entered while it runs.
struct Queued {
    job: Job,
    span: tracing::Span,
}

#[derive(Clone)]
pub struct HashPool {
    jobs: Sender<Queued>,
    /// Jobs submitted and not finished; never more than `limit`.
    in_flight: Arc<AtomicUsize>,
    limit: usize,
    threads: usize,
}

impl HashPool {
    /// Starts `threads` hashing threads (0: one per core) with room for `queue` waiting jobs.
    pub fn start(threads: usize, queue: usize) -> std::io::Result<HashPool> {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let (jobs, rx) = std::sync::mpsc::channel::<Queued>();
        let rx = Arc::new(Mutex::new(rx));
        let in_flight = Arc::new(AtomicUsize::new(0));
        for i in 0..threads {
            let (rx, in_flight) = (rx.clone(), in_flight.clone());
            std::thread::Builder::new()
                .name(format!("vellum-hash-{i}"))
                .spawn(move || worker(&rx, &in_flight, threads))?;
        }
        Ok(HashPool {
            jobs,
            in_flight,
            limit: threads + queue,
            threads,
        })
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Queues `job` if fewer than threads + queue jobs are unfinished.
    fn submit(&self, job: Job) -> Result<(), HashError> {
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit).then_some(n + 1)
            })
            .map_err(|_| HashError::Busy)?;
        let span = tracing::Span::current();
        self.jobs.send(Queued { job, span }).map_err(|_| {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            HashError::Failed("the hashing threads stopped".into())
        })
    }

    /// Hashes `password` with a fresh salt into a PHC string.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Hash { password, reply })?;
        match answer.await {
            Ok(result) => result.map_err(HashError::Failed),
            Err(_) => Err(HashError::Failed("a hashing thread ended".into())),
        }
    }

    /// Whether `password` matches the PHC string `hash` (false for a malformed hash).
    pub async fn verify(&self, password: String, hash: String) -> Result<bool, HashError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Verify {
            password,
            hash,
            reply,
        })?;
        answer
            .await
            .map_err(|_| HashError::Failed("a hashing thread ended".into()))
    }
}

fn worker(rx: &Mutex<Receiver<Queued>>, in_flight: &AtomicUsize, threads: usize) {
    let mut scratch = Scratch::default();
    loop {
        // One idle thread waits on the channel, the others on the lock.
        let Queued { job, span } = match rx.lock().map(|rx| rx.recv()) {
            Ok(Ok(queued)) => queued,
            _ => return,
        };
        {
            // Counted as finished when done, even if the caller has gone (or this panics).
            let _done = Done(in_flight);
            let _span = span.enter();
            match job {
                Job::Hash { password, reply } => {
                    let _ = reply.send(hash_with(&mut scratch, password.as_bytes()));
                }
                Job::Verify {
                    password,
                    hash,
                    reply,
                } => {
                    let _ = reply.send(verify_with(&mut scratch, password.as_bytes(), &hash));
                }
            }
        }
        // Fewer unfinished jobs than threads: none is waiting for this one, so give the
        // memory back before sleeping (a thread that waits for the lock keeps nothing).
        if in_flight.load(Ordering::Acquire) < threads {
            scratch.release();
        }
    }
}

struct Done<'a>(&'a AtomicUsize);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A thread's argon2 working memory, kept between back-to-back jobs.
#[derive(Default)]
struct Scratch {
    blocks: Vec<Block>,
}

impl Scratch {
    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.blocks.capacity() < count {
            let reserve = count.max(RESERVE_BYTES.div_ceil(Block::SIZE));
            self.blocks = Vec::with_capacity(reserve);
        }
        // Argon2 overwrites every block it uses; zeroing only makes the length right.
        self.blocks.resize(count, Block::new());
        &mut self.blocks[..count]
    }

    fn release(&mut self) {
        self.blocks = Vec::new();
    }
}

/// The parameters new hashes get (argon2id, v19, m=19 MiB, t=2, p=1).
fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::DEFAULT)
}

fn hash_with(scratch: &mut Scratch, password: &[u8]) -> Result<String, String> {
    let argon = hasher();
    let params = argon.params();
    let salt: [u8; 16] = rand::random();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon
        .hash_password_into_with_memory(
            password,
            &salt,
            &mut out,
            scratch.blocks(params.block_count()),
        )
        .map_err(|e| e.to_string())?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| e.to_string())?,
        salt: Some(Salt::new(&salt).map_err(|e| e.to_string())?),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(hash.to_string())
}

fn verify_with(scratch: &mut Scratch, password: &[u8], phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm.as_str()) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    let blocks = scratch.blocks(argon.params().block_count());
    if argon
        .hash_password_into_with_memory(password, salt.as_ref(), &mut out, blocks)
        .is_err()
    {
        return false;
    }
    // `Output` compares in constant time.
    Output::new(&out).is_ok_and(|computed| &computed == expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    #[test]
    fn hashes_are_standard_argon2id_phc_strings_both_ways() {
        let mut scratch = Scratch::default();
        let ours = hash_with(&mut scratch, b"pool-made-passphrase").expect("hash");
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        // The argon2 crate's own verifier accepts ours, and we accept its hashes.
        assert!(
            Argon2::default()
                .verify_password(b"pool-made-passphrase", ours.as_str())
                .is_ok()
        );
        let theirs = Argon2::default()
            .hash_password_with_salt(b"crate-made-passphrase", b"sixteen-byte-slt")
            .expect("hash")
            .to_string();
        assert!(verify_with(&mut scratch, b"crate-made-passphrase", &theirs));
        assert!(!verify_with(
            &mut scratch,
            b"crate-made-passphrasf",
            &theirs
        ));
        assert!(!verify_with(&mut scratch, b"x", "not a hash"));
        // Other parameters (a smaller m) verify with the same buffer.
        let small = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(64, 1, 1, None).expect("params"),
        )
        .hash_password_with_salt(b"small-memory-pass", b"sixteen-byte-slt")
        .expect("hash")
        .to_string();
        assert!(verify_with(&mut scratch, b"small-memory-pass", &small));
    }

    #[test]
    fn the_reserve_is_above_glibcs_largest_mmap_threshold() {
        let mut scratch = Scratch::default();
        let n = Params::DEFAULT.block_count();
        assert_eq!(scratch.blocks(n).len(), n);
        assert!(scratch.blocks.capacity() * Block::SIZE > 32 * 1024 * 1024);
        scratch.release();
        assert_eq!(scratch.blocks.capacity(), 0);
    }
}
