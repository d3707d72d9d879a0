//! The threads that hash passwords: one per core, each owning one Argon2
//! working memory that it reuses from hash to hash and gives back to the
//! operating system once the pool has been idle for a moment.
//!
//! Why not `spawn_blocking`: each Argon2 hash needs 19 MiB. Allocated anew on
//! whichever blocking-pool thread ran it, glibc kept the freed block in that
//! thread's arena (its mmap threshold rises to the largest block freed), so
//! 120 sign-ins left 350–490 MB resident for good (`docs/memory.md`). Here the
//! memory is mapped by the pool itself, at most one block per thread, and
//! unmapped when idle: what is resident does not depend on malloc's tuning.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use argon2::Block;

/// How long a hashing thread keeps its working memory with nothing to do.
/// Short enough that RSS is back to idle seconds after a burst of sign-ins,
/// long enough that a steady trickle of them reuses the memory.
pub const RELEASE_AFTER_IDLE: Duration = Duration::from_secs(2);

/// Argon2 working memory of one thread.
pub struct Scratch {
    blocks: Option<Blocks>,
    /// The largest memory this thread keeps between hashes, in blocks; a
    /// bigger one (an imported hash with a larger `m`) is given back at once.
    keep: usize,
    held: Option<Arc<AtomicUsize>>,
}

impl Scratch {
    /// Memory for one-off hashing outside the pool (tests, tools): it is freed with the value.
    pub fn new() -> Scratch {
        Scratch {
            blocks: None,
            keep: usize::MAX,
            held: None,
        }
    }

    /// `count` blocks, reusing the held memory when it is large enough.
    /// Argon2 writes every block before it reads it, so what a previous hash
    /// left there never reaches the next one.
    pub(crate) fn blocks(&mut self, count: usize) -> Option<&mut [Block]> {
        if self.blocks.as_ref().is_none_or(|b| b.len < count) {
            self.release();
            self.blocks = Some(Blocks::map(count)?);
            if let Some(h) = &self.held {
                h.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.blocks.as_mut().and_then(|b| b.as_mut_slice().get_mut(..count))
    }

    /// Give the memory back to the operating system.
    fn release(&mut self) {
        if self.blocks.take().is_some()
            && let Some(h) = &self.held
        {
            h.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// After a job: keep the memory only if it is of the usual size.
    fn trim(&mut self) {
        if self.blocks.as_ref().is_some_and(|b| b.len > self.keep) {
            self.release();
        }
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.release();
    }
}

/// Anonymous memory mapped for Argon2 and unmapped on drop.
struct Blocks {
    ptr: std::ptr::NonNull<Block>,
    len: usize,
}

// SAFETY: `Blocks` owns its mapping exclusively, like a `Box<[Block]>`.
unsafe impl Send for Blocks {}

impl Blocks {
    fn map(len: usize) -> Option<Blocks> {
        let bytes = len.checked_mul(size_of::<Block>())?;
        if bytes == 0 {
            return None;
        }
        // SAFETY: a new private anonymous mapping, at an address the kernel chooses.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return None;
        }
        let ptr = std::ptr::NonNull::new(p.cast::<Block>())?;
        Some(Blocks { ptr, len })
    }

    fn as_mut_slice(&mut self) -> &mut [Block] {
        // SAFETY: the mapping holds `len` blocks, is page-aligned (more than a
        // Block's 64 bytes) and zero-filled by the kernel, and all-zero bytes
        // are a valid Block (an array of u64); `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Blocks {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `map`, which nothing borrows any more.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len * size_of::<Block>());
        }
    }
}

type Job = Box<dyn FnOnce(&mut Scratch) + Send>;

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    /// Working memories currently mapped by the pool's threads.
    held: Arc<AtomicUsize>,
    /// Blocks a thread keeps between hashes (see `Scratch::keep`).
    keep: AtomicUsize,
    idle: Duration,
}

struct Queue {
    jobs: VecDeque<Job>,
    closed: bool,
}

/// The hashing threads. Dropping the last handle lets them finish the queue and exit.
pub struct Pool {
    shared: Arc<Shared>,
    threads: usize,
}

impl Pool {
    /// `threads` hashing threads whose memory is given back after `idle` without work.
    /// A thread the system refuses is logged and done without; with none at
    /// all every job is dropped, so each caller gets an error instead of waiting.
    pub fn start(threads: usize, idle: Duration, keep_blocks: usize) -> Pool {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                closed: false,
            }),
            ready: Condvar::new(),
            held: Arc::new(AtomicUsize::new(0)),
            keep: AtomicUsize::new(keep_blocks),
            idle,
        });
        let mut started = 0;
        for i in 0..threads.max(1) {
            let shared = shared.clone();
            match std::thread::Builder::new()
                .name(format!("muster-hash-{i}"))
                .spawn(move || work(&shared))
            {
                Ok(_) => started += 1,
                Err(e) => tracing::error!(error = %e, "cannot start a hashing thread"),
            }
        }
        Pool {
            shared,
            threads: started,
        }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Queue `job`; a thread runs it with its scratch memory.
    pub fn submit(&self, job: Job) {
        if self.threads == 0 {
            return;
        }
        let mut q = self.shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
        q.jobs.push_back(job);
        drop(q);
        self.shared.ready.notify_one();
    }

    /// Working memories the threads hold now (each `keep` blocks or fewer).
    pub fn memories_held(&self) -> usize {
        self.shared.held.load(Ordering::Relaxed)
    }

    /// Keep memories of up to `blocks` between hashes (the configured Argon2 size).
    pub fn keep_at_least(&self, blocks: usize) {
        self.shared.keep.fetch_max(blocks, Ordering::Relaxed);
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let mut q = self.shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
        q.closed = true;
        drop(q);
        self.shared.ready.notify_all();
    }
}

fn work(shared: &Shared) {
    let mut scratch = Scratch {
        blocks: None,
        keep: shared.keep.load(Ordering::Relaxed),
        held: Some(shared.held.clone()),
    };
    let mut q = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if let Some(job) = q.jobs.pop_front() {
            drop(q);
            scratch.keep = shared.keep.load(Ordering::Relaxed);
            // A job that panics drops its answer channel (the caller gets an
            // error); the thread and its memory stay for the next one.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut scratch)));
            scratch.trim();
            q = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
            continue;
        }
        if q.closed {
            return;
        }
        if scratch.blocks.is_some() {
            let (guard, timeout) = shared
                .ready
                .wait_timeout(q, shared.idle)
                .unwrap_or_else(PoisonError::into_inner);
            q = guard;
            if timeout.timed_out() && q.jobs.is_empty() {
                scratch.release();
            }
        } else {
            q = shared.ready.wait(q).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_larger_than_kept_is_given_back_after_the_job() {
        let held = Arc::new(AtomicUsize::new(0));
        let mut scratch = Scratch {
            blocks: None,
            keep: 8192,
            held: Some(held.clone()),
        };
        assert!(scratch.blocks(8192).is_some());
        scratch.trim();
        assert_eq!(held.load(Ordering::Relaxed), 1, "the usual size stays");
        assert!(scratch.blocks(4096).is_some());
        assert_eq!(held.load(Ordering::Relaxed), 1, "a smaller hash reuses it");
        assert!(scratch.blocks(16384).is_some());
        assert_eq!(held.load(Ordering::Relaxed), 1, "grown in place of the old one");
        scratch.trim();
        assert_eq!(held.load(Ordering::Relaxed), 0);
        drop(scratch);
        assert_eq!(held.load(Ordering::Relaxed), 0);
    }
}
