//! Coroutine stacks: guarded slots in large per-worker arenas, reused in place.
//!
//! A worker maps its stacks in regions of slots, each slot a guard page below a stack; a
//! new region is as large as all the worker's regions together, from [`MIN_REGION_SLOTS`]
//! to [`MAX_REGION_SLOTS`], so that a worker with a few coroutines reserves little and
//! one spawning a million makes few mappings. Where the kernel has `MADV_GUARD_INSTALL`
//! (Linux 6.13+, detected at the first stack, not at compile time), a guard page is a
//! marker in the page tables, so a whole region is one memory mapping and
//! `vm.max_map_count` (65,530 by default) no longer caps the coroutine count near 32,000.
//! Older kernels get an `mprotect`ed guard page per slot, which splits the region into
//! two mappings per stack, as before.
//!
//! Memory is reserved, not committed: an idle coroutine holds only the pages it touched. A
//! finished coroutine's slot goes back to its region. The first [`WARM_LIMIT`] idle slots
//! of a worker keep their pages for the next coroutine; past that, a freed slot's pages are
//! given back to the kernel (`MADV_DONTNEED`, which keeps guard markers), [`COOL_BATCH`]
//! slots at a time, and a region whose slots are all free is unmapped (its page tables
//! with it), except one kept for the next spawn. Stacks of another size than the
//! runtime's get a mapping of their own.

use std::{
    cell::{Cell, RefCell},
    io, mem, ptr,
    rc::Rc,
    sync::atomic::{AtomicU8, AtomicUsize, Ordering},
};

use corosensei::stack::{MIN_STACK_SIZE, StackPointer};

/// The default stack size: 256 KiB of address space (about 4 KiB resident when idle). The
/// driver's deepest path (TCP connect, TLS handshake through rustls, a typed insert and
/// find through serde) touches 112 KiB of stack in a debug build (`tests/tls.rs` measures
/// it on every run), so the default leaves more than 2x headroom; optimised builds need
/// less.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// Slots of a worker's first region: 64 default stacks are 16.3 MiB of address space.
const MIN_REGION_SLOTS: u32 = 64;

/// Slots of the largest regions (266 MiB of address space for default stacks). Each
/// `mmap` takes the address-space lock for writing, which stalls the page faults of every
/// other worker: spawning a million coroutines in regions of 64 took 15,600 of them.
const MAX_REGION_SLOTS: u32 = 1024;

/// How many idle slots a worker keeps resident for reuse (a stack's touched pages).
const WARM_LIMIT: usize = 1024;

/// Freed slots past the warm limit whose pages go back to the kernel together, in one
/// `process_madvise` call. Dropping pages flushes the TLB of every CPU that runs one of the
/// process's threads, an interrupt to each (a trap to the hypervisor in a VM): a call per
/// slot made ending 400,000 coroutines cost 19 µs of CPU each, 60% of it those interrupts.
/// A worker also releases a partial batch at the end of each round of its loop.
const COOL_BATCH: usize = 64;

/// `madvise` advice that installs guard markers (Linux 6.13; not yet in the `libc` crate).
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// Fresh slots whose guard markers are installed together, in one `process_madvise` call
/// (at most a region's slots): a call per slot was a quarter of the workers' time when
/// spawning a million coroutines. The page-table pages the markers need (one per 2 MiB,
/// eight default slots) would come with the stacks' first pages anyway.
const GUARD_BATCH: u32 = 256;

/// The pidfd that names the calling process (Linux 6.15; not yet in the `libc` crate).
const PIDFD_SELF: libc::c_int = -10000;

/// A coroutine's stack: `[limit, base)`, the guard page at the bottom.
pub(crate) struct Stack {
    base: usize,
    limit: usize,
    home: Home,
}

enum Home {
    /// A slot of an arena region, given back to it on drop.
    Slot(Rc<RefCell<Arena>>, u32),
    /// A mapping of its own, unmapped on drop.
    Own,
}

// SAFETY: `[limit, base)` is a readable, writable mapping of at least MIN_STACK_SIZE bytes
// above a guard page (an mprotect'ed page or a guard marker) at `limit`, owned by this
// value until it drops; both ends are page-aligned, hence STACK_ALIGNMENT-aligned.
unsafe impl corosensei::stack::Stack for Stack {
    fn base(&self) -> StackPointer {
        StackPointer::new(self.base).expect("a mapped stack is not at address 0")
    }

    fn limit(&self) -> StackPointer {
        StackPointer::new(self.limit).expect("a mapped stack is not at address 0")
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        match &self.home {
            Home::Slot(arena, region) => arena.borrow_mut().give(*region, self.limit),
            // SAFETY: the mapping was made for this stack alone, and the coroutine that ran
            // on it has ended (corosensei drops the stack after unwinding it).
            Home::Own => unsafe {
                libc::munmap(self.limit as *mut libc::c_void, self.base - self.limit);
            },
        }
    }
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("limit", &format_args!("{:#x}", self.limit))
            .field("base", &format_args!("{:#x}", self.base))
            .finish()
    }
}

/// A worker's stacks of its runtime's default size.
pub(crate) struct StackPool {
    size: usize,
    arena: Rc<RefCell<Arena>>,
}

impl std::fmt::Debug for StackPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let arena = self.arena.borrow();
        f.debug_struct("StackPool")
            .field("size", &self.size)
            .field("regions", &arena.regions.iter().flatten().count())
            .field("warm", &arena.warm)
            .finish()
    }
}

impl StackPool {
    pub(crate) fn new(size: usize) -> StackPool {
        let size = rounded(size.max(MIN_STACK_SIZE));
        StackPool {
            size,
            arena: Rc::new(RefCell::new(Arena {
                slot_size: size + page_size(),
                regions: Vec::new(),
                free_ids: Vec::new(),
                with_room: Vec::new(),
                mapped_slots: 0,
                current: None,
                empty_kept: None,
                warm: 0,
                cooling: Vec::new(),
            })),
        }
    }

    /// A stack of at least `size` bytes (the pool's size when `None`).
    pub(crate) fn take(&mut self, size: Option<usize>) -> io::Result<Stack> {
        match size {
            Some(size) if size != 0 && rounded(size.max(MIN_STACK_SIZE)) != self.size => {
                allocate(size)
            }
            _ => {
                let (region, limit) = self.arena.borrow_mut().take()?;
                Ok(Stack {
                    base: limit + self.arena.borrow().slot_size,
                    limit,
                    home: Home::Slot(self.arena.clone(), region),
                })
            }
        }
    }

    /// Returns a stack: a slot goes back to its region, a stack of its own is unmapped
    /// (the same as dropping it).
    pub(crate) fn give(&mut self, stack: Stack) {
        drop(stack);
    }

    /// Gives back the pages of the freed slots still waiting for a full batch.
    pub(crate) fn release_cooling(&mut self) {
        if !self.arena.borrow().cooling.is_empty() {
            self.arena.borrow_mut().release_cooling();
        }
    }
}

/// The regions of one worker. Thread-confined: only the worker and the stacks of its
/// coroutines (which never leave it) reach it.
struct Arena {
    /// Guard page plus stack.
    slot_size: usize,
    /// By id; `None` once unmapped (the id is reused).
    regions: Vec<Option<Region>>,
    free_ids: Vec<u32>,
    /// Ids of regions that got a free slot while not current (stale ids are skipped).
    with_room: Vec<u32>,
    /// Slots of all mapped regions: the size of the next region.
    mapped_slots: u32,
    /// The region stacks are taken from while it has room.
    current: Option<u32>,
    /// The one region with no live stack that is kept mapped for the next spawns.
    empty_kept: Option<u32>,
    /// Idle slots whose pages are resident, over all regions.
    warm: usize,
    /// Freed slots past the warm limit whose pages have not been given back yet: `(region
    /// id, slot)`. Still counted live in their regions, and on no free list, so no stack
    /// is taken from them meanwhile.
    cooling: Vec<(u32, usize)>,
}

struct Region {
    base: usize,
    /// How many slots the region has.
    slots: u32,
    /// Slots handed out at least once; the rest are untouched.
    fresh: u32,
    /// Slots whose guard is installed (`fresh` or more: guards go in by batches).
    guarded: u32,
    /// Freed slots, reused last-in first-out: (slot index, pages still resident).
    free: Vec<(u32, bool)>,
    live: u32,
}

impl Region {
    fn has_room(&self) -> bool {
        !self.free.is_empty() || self.fresh < self.slots
    }
}

impl Arena {
    /// A free slot: `(region id, its lowest address)`.
    fn take(&mut self) -> io::Result<(u32, usize)> {
        loop {
            if let Some(id) = self.current
                && let Some(region) = self.regions[id as usize].as_mut()
                && let Some(slot) = Self::take_from(region, self.slot_size, &mut self.warm)?
            {
                if self.empty_kept == Some(id) {
                    self.empty_kept = None;
                }
                return Ok((id, slot));
            }
            self.current = Some(loop {
                match self.with_room.pop() {
                    Some(id)
                        if self.regions[id as usize]
                            .as_ref()
                            .is_some_and(Region::has_room) =>
                    {
                        break id;
                    }
                    Some(_) => continue,
                    None => break self.map_region()?,
                }
            });
        }
    }

    fn take_from(
        region: &mut Region,
        slot_size: usize,
        warm: &mut usize,
    ) -> io::Result<Option<usize>> {
        let index = match region.free.pop() {
            Some((index, resident)) => {
                *warm -= resident as usize;
                index
            }
            None if region.fresh < region.slots => {
                let index = region.fresh;
                if region.guarded == index {
                    let n = if guards_are_markers() {
                        GUARD_BATCH.min(region.slots - index)
                    } else {
                        // `mprotect` splits the mapping at every guard: only as needed.
                        1
                    };
                    install_guards(region.base + index as usize * slot_size, slot_size, n)?;
                    region.guarded += n;
                }
                region.fresh += 1;
                index
            }
            None => return Ok(None),
        };
        region.live += 1;
        Ok(Some(region.base + index as usize * slot_size))
    }

    fn map_region(&mut self) -> io::Result<u32> {
        let slots = self
            .mapped_slots
            .next_power_of_two()
            .clamp(MIN_REGION_SLOTS, MAX_REGION_SLOTS);
        let base = map(self.slot_size * slots as usize)?;
        self.mapped_slots += slots;
        let region = Some(Region {
            base,
            slots,
            fresh: 0,
            guarded: 0,
            free: Vec::new(),
            live: 0,
        });
        Ok(match self.free_ids.pop() {
            Some(id) => {
                self.regions[id as usize] = region;
                id
            }
            None => {
                self.regions.push(region);
                (self.regions.len() - 1) as u32
            }
        })
    }

    fn give(&mut self, id: u32, slot: usize) {
        if self.warm < WARM_LIMIT {
            self.warm += 1;
            return self.put_back(id, slot, true);
        }
        self.cooling.push((id, slot));
        if self.cooling.len() >= COOL_BATCH {
            self.release_cooling();
        }
    }

    /// Gives back the pages of the cooling slots, then returns the slots to their regions.
    fn release_cooling(&mut self) {
        static BATCH_WORKS: AtomicU8 = AtomicU8::new(BATCH_UNKNOWN);
        let mut cooling = mem::take(&mut self.cooling);
        let page = page_size();
        let stacks: Vec<libc::iovec> = cooling
            .iter()
            .map(|&(_, slot)| libc::iovec {
                iov_base: (slot + page) as *mut libc::c_void,
                iov_len: self.slot_size - page,
            })
            .collect();
        // SAFETY: each range is the stack of a slot (above its guard page) whose
        // coroutine has ended and that no stack has been taken from since (cooling slots
        // are on no free list). Guard markers survive MADV_DONTNEED.
        unsafe { advise_all(&stacks, libc::MADV_DONTNEED, &BATCH_WORKS) };
        for &(id, slot) in &cooling {
            self.put_back(id, slot, false);
        }
        // Keep the allocation for the next batch.
        cooling.clear();
        self.cooling = cooling;
    }

    /// Returns a freed slot to its region's free list (`resident`: its pages are kept).
    fn put_back(&mut self, id: u32, slot: usize, resident: bool) {
        let slot_size = self.slot_size;
        let region = self.regions[id as usize]
            .as_mut()
            .expect("a live stack's region is mapped");
        let index = ((slot - region.base) / slot_size) as u32;
        let had_room = region.has_room();
        region.free.push((index, resident));
        region.live -= 1;
        if region.live == 0 {
            match self.empty_kept {
                None => self.empty_kept = Some(id),
                Some(kept) if kept != id => return self.unmap_region(id),
                Some(_) => {}
            }
        }
        if !had_room && self.current != Some(id) {
            self.with_room.push(id);
        }
    }

    fn unmap_region(&mut self, id: u32) {
        let region = self.regions[id as usize].take().expect("mapped");
        self.warm -= region.free.iter().filter(|(_, resident)| *resident).count();
        if self.current == Some(id) {
            self.current = None;
        }
        self.free_ids.push(id);
        self.mapped_slots -= region.slots;
        // SAFETY: no stack of the region is live, so nothing runs on or points into it.
        unsafe {
            libc::munmap(
                region.base as *mut libc::c_void,
                self.slot_size * region.slots as usize,
            );
        }
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // Every stack holds the arena, so none is live any more.
        for region in self.regions.iter().flatten() {
            // SAFETY: as in `unmap_region`.
            unsafe {
                libc::munmap(
                    region.base as *mut libc::c_void,
                    self.slot_size * region.slots as usize,
                );
            }
        }
    }
}

/// The page size, read once: `sysconf` costs about 50 instructions, and every spawn and
/// every pooled stack asks for it.
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

/// The usable bytes of a stack (above its guard page).
pub(crate) fn usable_size(stack: &Stack) -> usize {
    stack.base - stack.limit - page_size()
}

/// The guard page of a stack: `[start, end)`.
pub(crate) fn guard_range(stack: &Stack) -> (usize, usize) {
    (stack.limit, stack.limit + page_size())
}

/// Whether coroutine stacks' guard pages are markers in the page tables
/// (`MADV_GUARD_INSTALL`, Linux 6.13 and later) rather than `mprotect`ed pages.
///
/// With markers a stack takes no memory mapping of its own, so the number of coroutines is
/// bounded by memory (about 5 KiB resident per idle coroutine), not by
/// `vm.max_map_count`. On older kernels each stack takes two mappings and the default
/// limit of 65,530 caps a process near 32,000 coroutines. Either way an overflow hits the
/// guard page and is reported naming the coroutine. Detected at run time (the first call
/// maps and unmaps a probe stack when no stack exists yet).
///
/// ```
/// let markers = greenmongo_runtime::coroutine::guard_pages_are_markers();
/// println!("a million coroutines need no sysctl: {markers}");
/// ```
pub fn guard_pages_are_markers() -> bool {
    if GUARD_KIND.load(Ordering::Relaxed) == GUARD_UNKNOWN {
        drop(allocate(MIN_STACK_SIZE));
    }
    guards_are_markers()
}

fn guards_are_markers() -> bool {
    GUARD_KIND.load(Ordering::Relaxed) == GUARD_MARKER
}

static GUARD_KIND: AtomicU8 = AtomicU8::new(GUARD_UNKNOWN);
const GUARD_UNKNOWN: u8 = 0;
const GUARD_MARKER: u8 = 1;
const GUARD_MPROTECT: u8 = 2;

/// Makes the page at `addr` a guard page: a guard marker where the kernel has them (tried
/// once per process), else `mprotect(PROT_NONE)`.
fn install_guard(addr: usize) -> io::Result<()> {
    let page = page_size();
    if GUARD_KIND.load(Ordering::Relaxed) != GUARD_MPROTECT {
        // SAFETY: `addr` is the first page of a slot of a mapping this module made and
        // still owns; nothing uses that page.
        if unsafe { libc::madvise(addr as *mut libc::c_void, page, MADV_GUARD_INSTALL) } == 0 {
            GUARD_KIND.store(GUARD_MARKER, Ordering::Relaxed);
            return Ok(());
        }
        let err = io::Error::last_os_error();
        // EINVAL: a kernel older than 6.13 does not know the advice.
        if err.raw_os_error() != Some(libc::EINVAL) || guards_are_markers() {
            return Err(mapping_error(err));
        }
        GUARD_KIND.store(GUARD_MPROTECT, Ordering::Relaxed);
    }
    // SAFETY: as above.
    if unsafe { libc::mprotect(addr as *mut libc::c_void, page, libc::PROT_NONE) } != 0 {
        return Err(mapping_error(io::Error::last_os_error()));
    }
    Ok(())
}

/// Installs the guards of `n` consecutive slots, the first at `first`: with one
/// `process_madvise` call where the kernel takes it (guard markers and `PIDFD_SELF`,
/// Linux 6.15), else slot by slot.
fn install_guards(first: usize, slot_size: usize, n: u32) -> io::Result<()> {
    static BATCH_WORKS: AtomicU8 = AtomicU8::new(BATCH_UNKNOWN);
    if n > 1 && guards_are_markers() {
        // On the heap: this can run on a small coroutine stack (a spawn from inside one).
        let guards: Vec<libc::iovec> = (0..n as usize)
            .map(|i| libc::iovec {
                iov_base: (first + i * slot_size) as *mut libc::c_void,
                iov_len: page_size(),
            })
            .collect();
        // SAFETY: each range is the first page of a slot of a mapping this module made
        // and still owns, and that no stack uses yet (the slots are fresh).
        if unsafe { advise_batch(&guards, MADV_GUARD_INSTALL, &BATCH_WORKS) } {
            return Ok(());
        }
    }
    // Slot by slot, which also says why when it fails. Installing a marker twice is
    // harmless.
    for i in 0..n as usize {
        install_guard(first + i * slot_size)?;
    }
    Ok(())
}

/// Whether `process_madvise` on this process takes an advice, learnt at its first use.
const BATCH_UNKNOWN: u8 = 0;
const BATCH_WORKS: u8 = 1;
const BATCH_REFUSED: u8 = 2;

/// Applies `advice` to every range: in one call where the kernel takes it, else range by
/// range with `madvise`. Errors are ignored, as `madvise`'s are by the callers: the advice
/// only gives memory back.
///
/// # Safety
/// As for `madvise` with `advice` on each range.
unsafe fn advise_all(ranges: &[libc::iovec], advice: libc::c_int, works: &AtomicU8) {
    // SAFETY: the caller's.
    if unsafe { advise_batch(ranges, advice, works) } {
        return;
    }
    for range in ranges {
        // SAFETY: the caller's.
        unsafe { libc::madvise(range.iov_base, range.iov_len, advice) };
    }
}

/// Applies `advice` to every range with one `process_madvise` call on this process
/// (`PIDFD_SELF`, Linux 6.15; any advice on oneself since 6.13); `false` if the kernel
/// refused it or stopped part way, and then the caller goes range by range. `works`
/// remembers a refusal so that later batches do not try again.
///
/// # Safety
/// As for `madvise` with `advice` on each range.
unsafe fn advise_batch(ranges: &[libc::iovec], advice: libc::c_int, works: &AtomicU8) -> bool {
    if ranges.is_empty() {
        return true;
    }
    if works.load(Ordering::Relaxed) == BATCH_REFUSED {
        return false;
    }
    let len: usize = ranges.iter().map(|r| r.iov_len).sum();
    // SAFETY: the caller's, for each range; the iovec array outlives the call. The kernel
    // takes at most UIO_MAXIOV (1,024) ranges, more than any batch here.
    let advised = unsafe {
        libc::syscall(
            libc::SYS_process_madvise,
            PIDFD_SELF,
            ranges.as_ptr(),
            ranges.len(),
            advice,
            0,
        )
    };
    if advised == len as libc::c_long {
        works.store(BATCH_WORKS, Ordering::Relaxed);
        return true;
    }
    if advised < 0 && works.load(Ordering::Relaxed) == BATCH_UNKNOWN {
        works.store(BATCH_REFUSED, Ordering::Relaxed);
    }
    false
}

/// Reserves `len` bytes of readable, writable stack memory (committed on first touch).
fn map(len: usize) -> io::Result<usize> {
    // SAFETY: an anonymous private mapping with no address hint has no preconditions.
    let mem = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if mem == libc::MAP_FAILED {
        return Err(mapping_error(io::Error::last_os_error()));
    }
    // No transparent huge pages: one touched page of an idle stack must not become 2 MiB.
    // MAP_STACK implies this since Linux 6.7, so kernels with guard markers (6.13) need
    // no advice, which would take the address-space lock for writing at every region.
    if !guards_are_markers() {
        // SAFETY: the range is the mapping just made.
        unsafe { libc::madvise(mem, len, libc::MADV_NOHUGEPAGE) };
    }
    Ok(mem as usize)
}

/// A stack with a mapping of its own, of at least `size` usable bytes.
fn allocate(size: usize) -> io::Result<Stack> {
    let size = rounded(size.max(MIN_STACK_SIZE));
    let len = size
        .checked_add(page_size())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "stack size overflows"))?;
    let limit = map(len)?;
    if let Err(e) = install_guard(limit) {
        // SAFETY: the mapping was just made and is not in use.
        unsafe { libc::munmap(limit as *mut libc::c_void, len) };
        return Err(e);
    }
    Ok(Stack {
        base: limit + len,
        limit,
        home: Home::Own,
    })
}

fn mapping_error(e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(libc::ENOMEM) {
        let why = if guards_are_markers() {
            // One mapping per region, but other code may have used up the rest.
            format!(
                "memory, address space or memory mappings are exhausted (this process has \
                 {} mappings, vm.max_map_count is {})",
                mappings_in_use().map_or_else(|| "unknown".to_owned(), |n| n.to_string()),
                max_map_count().map_or_else(|| "unknown".to_owned(), |n| n.to_string())
            )
        } else {
            format!(
                "this kernel has no guard markers (Linux 6.13+), so each guarded stack takes \
                 two memory mappings and Linux caps a process at vm.max_map_count ({} here); \
                 raise it with `sysctl -w vm.max_map_count=262144`, or run fewer coroutines",
                max_map_count().map_or_else(|| "unknown".to_owned(), |n| n.to_string())
            )
        };
        io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!("cannot map a coroutine stack ({e}): {why}"),
        )
    } else {
        io::Error::new(e.kind(), format!("cannot map a coroutine stack: {e}"))
    }
}

/// Lines of `/proc/self/maps`: read only to explain a failure.
fn mappings_in_use() -> Option<usize> {
    let maps = std::fs::read("/proc/self/maps").ok()?;
    Some(maps.iter().filter(|&&b| b == b'\n').count())
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
        static SPARE: Cell<Option<Stack>> = const { Cell::new(None) };
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

    /// `madvise` advice that faults pages in writable (Linux 5.14).
    const MADV_POPULATE_WRITE: libc::c_int = 23;

    fn resident(addr: usize) -> bool {
        let mut vec = 0u8;
        // SAFETY: `addr` is page-aligned and inside a mapping of the test's; mincore
        // writes one byte for one page.
        let rc = unsafe { libc::mincore(addr as *mut libc::c_void, page_size(), &mut vec) };
        assert_eq!(rc, 0, "{}", io::Error::last_os_error());
        vec & 1 == 1
    }

    #[test]
    fn pooled_stacks_are_reused() {
        let mut pool = StackPool::new(DEFAULT_STACK_SIZE);
        let stack = pool.take(None).unwrap();
        let base = stack.base;
        assert_eq!(usable_size(&stack), DEFAULT_STACK_SIZE);
        pool.give(stack);
        assert_eq!(pool.take(None).unwrap().base, base);
        assert_eq!(pool.take(Some(DEFAULT_STACK_SIZE)).unwrap().base, base);
    }

    #[test]
    fn slots_share_a_region_and_idle_ones_past_the_warm_limit_give_their_pages_back() {
        let mut pool = StackPool::new(16 * 1024);
        let stacks: Vec<Stack> = (0..WARM_LIMIT + 100)
            .map(|_| {
                let stack = pool.take(None).unwrap();
                // Touch the top page, as a running coroutine does.
                // SAFETY: the page is the stack's own, readable and writable.
                unsafe { ptr::write_volatile((stack.base - 8) as *mut u64, 7) };
                stack
            })
            .collect();
        assert_eq!(
            stacks[1].limit, stacks[0].base,
            "slots of a region are adjacent"
        );
        // Each new region is as large as the ones before it together, up to the maximum.
        let sizes: Vec<u32> = (pool.arena.borrow().regions.iter().flatten())
            .map(|r| r.slots)
            .collect();
        assert_eq!(sizes, [64, 64, 128, 256, 512, MAX_REGION_SLOTS]);
        // End all but the first stack of each region (so no region empties).
        let region_of = |s: &Stack| match s.home {
            Home::Slot(_, id) => id,
            Home::Own => unreachable!("pool stacks have a slot"),
        };
        let mut seen = Vec::new();
        let (firsts, freed): (Vec<_>, Vec<_>) = stacks.into_iter().partition(|s| {
            let first = !seen.contains(&region_of(s));
            if first {
                seen.push(region_of(s));
            }
            first
        });
        assert_eq!(firsts.len(), sizes.len());
        let tops: Vec<usize> = freed.iter().map(|s| s.base - page_size()).collect();
        let past_the_limit = freed.len() - WARM_LIMIT;
        drop(freed);
        assert_eq!(pool.arena.borrow().warm, WARM_LIMIT);
        // Past the warm limit, pages go back by full batches; the rest wait, resident,
        // and no stack is taken from their slots meanwhile.
        let waiting = past_the_limit % COOL_BATCH;
        assert!(waiting > 0, "the test wants a partial batch");
        let waiting_tops: Vec<usize> = (pool.arena.borrow().cooling.iter())
            .map(|&(_, slot)| slot + pool.size)
            .collect();
        assert_eq!(waiting_tops.len(), waiting);
        let resident_tops = tops.iter().filter(|&&top| resident(top)).count();
        assert_eq!(resident_tops, WARM_LIMIT + waiting);
        assert!(waiting_tops.iter().all(|&top| resident(top)));
        let taken: Vec<Stack> = (0..WARM_LIMIT + 1)
            .map(|_| pool.take(None).unwrap())
            .collect();
        assert!(
            taken
                .iter()
                .all(|s| !waiting_tops.contains(&(s.base - page_size())))
        );
        pool.release_cooling();
        assert!(pool.arena.borrow().cooling.is_empty());
        let resident_tops = tops.iter().filter(|&&top| resident(top)).count();
        assert_eq!(resident_tops, WARM_LIMIT);
        drop(taken);
        pool.release_cooling();
        // Once empty (the worker releases cooling slots at the end of each round), every
        // region but one is unmapped, page tables and all.
        drop(firsts);
        pool.release_cooling();
        let arena = pool.arena.borrow();
        assert_eq!(arena.regions.iter().flatten().count(), 1);
        assert_eq!(
            arena.mapped_slots,
            arena.regions.iter().flatten().next().unwrap().slots
        );
        assert!(arena.warm <= MAX_REGION_SLOTS as usize);
    }

    #[test]
    fn every_slot_has_its_guard_whether_installed_alone_or_in_a_batch() {
        let mut pool = StackPool::new(16 * 1024);
        // Regions of 64, 64, 128 and 256 slots, the last with a batch of 256 guards.
        let stacks: Vec<Stack> = (0..8 * MIN_REGION_SLOTS + 3)
            .map(|_| pool.take(None).unwrap())
            .collect();
        for stack in &stacks {
            let (guard, _) = guard_range(stack);
            // Populating a guard page fails (EFAULT on a guard marker, which does not
            // show in `mincore`); populating the page above it, the stack's last, works.
            // SAFETY: both pages belong to the test's stack; populating commits memory.
            let (on_guard, above) = unsafe {
                (
                    libc::madvise(guard as *mut libc::c_void, page_size(), MADV_POPULATE_WRITE),
                    libc::madvise(
                        (guard + page_size()) as *mut libc::c_void,
                        page_size(),
                        MADV_POPULATE_WRITE,
                    ),
                )
            };
            assert_eq!((on_guard, above), (-1, 0), "stack {stack:?}");
        }
    }

    #[test]
    fn regions_never_get_transparent_huge_pages() {
        // Detected first, so that where there are guard markers the region below is
        // mapped without the advice, and MAP_STACK alone must have set the flag.
        guard_pages_are_markers();
        let mut pool = StackPool::new(DEFAULT_STACK_SIZE);
        let stack = pool.take(None).unwrap();
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut lines = smaps.lines();
        let flags = loop {
            let line = lines.next().expect("the stack's mapping is in smaps");
            let range = line.split(' ').next().unwrap_or_default();
            let Some((lo, hi)) = range.split_once('-') else {
                continue;
            };
            let (Ok(lo), Ok(hi)) = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
            else {
                continue;
            };
            if (lo..hi).contains(&stack.limit) {
                break lines.find(|l| l.starts_with("VmFlags:")).unwrap();
            }
        };
        assert!(flags.split(' ').any(|f| f == "nh"), "{flags}");
    }

    #[test]
    fn a_full_region_gets_stacks_again_once_one_ends() {
        let mut pool = StackPool::new(16 * 1024);
        // Regions of 64, 64 and 128 slots, all full.
        let mut stacks: Vec<Stack> = (0..4 * MIN_REGION_SLOTS)
            .map(|_| pool.take(None).unwrap())
            .collect();
        assert_eq!(pool.arena.borrow().mapped_slots, 4 * MIN_REGION_SLOTS);
        // Free one slot of the first (full, not current) region: the next stack reuses it
        // rather than mapping a region.
        let freed = stacks.swap_remove(5);
        let (limit, regions) = (freed.limit, pool.arena.borrow().regions.len());
        drop(freed);
        let fill: Vec<Stack> = (0..MIN_REGION_SLOTS)
            .map(|_| pool.take(None).unwrap())
            .collect();
        assert!(fill.iter().any(|s| s.limit == limit));
        assert_eq!(pool.arena.borrow().regions.len(), regions + 1);
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
    fn odd_sizes_round_up_to_pages_and_get_their_own_mapping() {
        let mut pool = StackPool::new(DEFAULT_STACK_SIZE);
        let stack = pool.take(Some(10_000)).unwrap();
        assert_eq!(usable_size(&stack), rounded(10_000));
        assert!(matches!(stack.home, Home::Own));
        pool.give(stack);
        let (lo, hi) = guard_range(&pool.take(None).unwrap());
        assert_eq!(hi - lo, page_size());
    }
}
