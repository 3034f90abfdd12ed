//! Coroutine stacks: mmap'd, with a guard page below, pooled per worker for reuse.
//!
//! A fresh stack costs an `mmap` and an `mprotect` (about 10 µs with the page faults that
//! follow); a pooled one costs a `Vec::pop`. Memory is reserved, not committed: an idle
//! coroutine holds only the pages it touched.

use std::{
    cell::Cell,
    io,
    sync::atomic::{AtomicUsize, Ordering},
};

use corosensei::stack::{DefaultStack, Stack as _};

/// The default stack size: 256 KiB of address space (about 4 KiB resident when idle). The
/// driver's deepest path (TCP connect, TLS handshake through rustls, a typed insert and
/// find through serde) touches 112 KiB of stack in a debug build (`tests/tls.rs` measures
/// it on every run), so the default leaves more than 2x headroom; optimised builds need
/// less.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// A coroutine's stack.
pub(crate) type Stack = DefaultStack;

/// How many idle stacks a worker keeps for reuse.
const POOL_LIMIT: usize = 1024;

/// A worker's pool of stacks of its runtime's default size.
pub(crate) struct StackPool {
    size: usize,
    idle: Vec<DefaultStack>,
}

impl std::fmt::Debug for StackPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackPool")
            .field("size", &self.size)
            .field("idle", &self.idle.len())
            .finish()
    }
}

impl StackPool {
    pub(crate) fn new(size: usize) -> StackPool {
        StackPool {
            size,
            idle: Vec::new(),
        }
    }

    /// A stack of at least `size` bytes (the pool's size when `None`).
    pub(crate) fn take(&mut self, size: Option<usize>) -> io::Result<DefaultStack> {
        match size {
            None | Some(0) => match self.idle.pop() {
                Some(stack) => Ok(stack),
                None => allocate(self.size),
            },
            Some(size) => allocate(size),
        }
    }

    /// Returns a stack; kept if it has the pool's size and the pool is not full.
    pub(crate) fn give(&mut self, stack: DefaultStack) {
        if self.idle.len() < POOL_LIMIT && usable_size(&stack) == rounded(self.size) {
            self.idle.push(stack);
        }
    }
}

/// The page size, read once: `sysconf` costs about 50 instructions, and every spawn and
/// every pooled stack asks for it (four times per spawn and join).
fn page_size() -> usize {
    static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);
    match PAGE_SIZE.load(Ordering::Relaxed) {
        0 => {
            // SAFETY: sysconf has no preconditions.
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
            PAGE_SIZE.store(page, Ordering::Relaxed);
            page
        }
        page => page,
    }
}

fn rounded(size: usize) -> usize {
    let page = page_size();
    size.max(page).div_ceil(page) * page
}

/// The usable bytes of a stack (its mapping minus the guard page).
pub(crate) fn usable_size(stack: &DefaultStack) -> usize {
    stack.base().get() - stack.limit().get() - page_size()
}

/// The guard page of a stack: `[start, end)`.
pub(crate) fn guard_range(stack: &DefaultStack) -> (usize, usize) {
    // corosensei maps the stack as one region whose lowest page is PROT_NONE.
    let low = stack.limit().get();
    (low, low + page_size())
}

fn allocate(size: usize) -> io::Result<DefaultStack> {
    DefaultStack::new(rounded(size)).map_err(|e| {
        if e.raw_os_error() == Some(libc::ENOMEM) {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!(
                    "cannot map a coroutine stack ({e}): each guarded stack takes two memory \
                     mappings and Linux caps a process at vm.max_map_count ({} here); raise it \
                     with `sysctl -w vm.max_map_count=262144`, or run fewer coroutines",
                    max_map_count().map_or_else(|| "unknown".to_owned(), |n| n.to_string())
                ),
            )
        } else {
            io::Error::new(e.kind(), format!("cannot map a coroutine stack: {e}"))
        }
    })
}

fn max_map_count() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Runs `f` on a separate guarded stack of at least `size` bytes and returns its result.
///
/// For work whose stack need is known and larger than the stack it would run on, such
/// as decoding a deeply nested document (recursive) inside a coroutine of 256 KiB. It
/// works the same in this runtime's coroutines, on plain threads and in other runtimes'
/// coroutines. Each thread keeps its largest side stack for the next call, so only the
/// first call (or a larger one) maps memory; pages it touched stay resident until the
/// thread ends. A panic in `f` reaches the caller.
///
/// ```
/// fn depth(n: u64) -> u64 {
///     if n == 0 { 0 } else { 1 + depth(n - 1) + std::hint::black_box(0) }
/// }
/// let levels = greenmongo_runtime::Runtime::new()?
///     .block_on(|| greenmongo_runtime::coroutine::on_stack(16 << 20, || depth(100_000)));
/// assert_eq!(levels, 100_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Panics
/// When the stack cannot be mapped (address space or `vm.max_map_count` exhausted).
pub fn on_stack<R>(size: usize, f: impl FnOnce() -> R) -> R {
    thread_local! {
        static SPARE: Cell<Option<DefaultStack>> = const { Cell::new(None) };
    }
    let spare = SPARE.with(Cell::take).filter(|s| usable_size(s) >= size);
    let mut stack = match spare {
        Some(stack) => stack,
        None => allocate(size).unwrap_or_else(|e| panic!("{e}")),
    };
    let result = corosensei::on_stack(&mut stack, f);
    // Keep the larger of this stack and one another call may have left meanwhile (a
    // coroutine can park inside `f`, and another take a stack of its own).
    SPARE.with(|slot| match slot.take() {
        Some(other) if usable_size(&other) > usable_size(&stack) => slot.set(Some(other)),
        _ => slot.set(Some(stack)),
    });
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_stacks_are_reused() {
        let mut pool = StackPool::new(DEFAULT_STACK_SIZE);
        let stack = pool.take(None).unwrap();
        let base = stack.base();
        assert_eq!(usable_size(&stack), DEFAULT_STACK_SIZE);
        pool.give(stack);
        assert_eq!(pool.take(None).unwrap().base(), base);
    }

    #[test]
    fn on_stack_runs_deep_recursion_and_keeps_its_stack_for_the_next_call() {
        fn depth(n: u64) -> u64 {
            if n == 0 {
                0
            } else {
                1 + depth(n - 1) + std::hint::black_box(0)
            }
        }
        let sp = || {
            let local = 0u8;
            std::ptr::addr_of!(local) as usize
        };
        let first = on_stack(8 << 20, || (depth(50_000), sp()));
        let second = on_stack(1 << 20, sp);
        assert_eq!(first.0, 50_000);
        // The second, smaller call ran on the stack the first one mapped.
        assert!(
            first.1.abs_diff(second) < 64 * 1024,
            "{first:?} vs {second}"
        );
        assert!(std::panic::catch_unwind(|| on_stack(1 << 20, || panic!("inside"))).is_err());
    }

    #[test]
    fn odd_sizes_round_up_to_pages_and_are_not_pooled() {
        let mut pool = StackPool::new(DEFAULT_STACK_SIZE);
        let stack = pool.take(Some(10_000)).unwrap();
        assert_eq!(usable_size(&stack), rounded(10_000));
        pool.give(stack);
        assert!(pool.idle.is_empty());
        let (lo, hi) = guard_range(&pool.take(None).unwrap());
        assert_eq!(hi - lo, page_size());
    }
}
