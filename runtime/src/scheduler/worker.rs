//! One worker thread: its coroutines, run queue, timers and mio `Poll`.
//!
//! Everything in [`Worker`] belongs to the worker thread alone (it is reached through a
//! thread-local), so the hot paths (yield, local wake, local spawn) take no lock. Other
//! threads reach a worker only through [`WorkerShared`]: its inbox (spawn requests and
//! wake-ups, followed by a mio `Waker` poke if the worker sleeps), its mio `Registry` and
//! its reactor slots.

use std::{
    cell::{Cell, UnsafeCell},
    collections::VecDeque,
    io, mem,
    os::fd::AsRawFd,
    panic::{self, AssertUnwindSafe},
    ptr::{self, NonNull},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use corosensei::{Coroutine, CoroutineResult};
use io_uring::IoUring;
use mio::{Events, Poll, Token};

use super::RuntimeShared;
use crate::coroutine::{Builder, overflow, stack};
use crate::park::{self, CoroutineContext};
use crate::reactor::Reactor;
use crate::sync::{lock, oneshot};
use crate::task::{self, Task, state};
use crate::time::{TimerKey, Timers};
use crate::uring;

/// The closure of a coroutine with the channel its result goes to.
pub(crate) trait Body {
    /// Runs the closure and sends its outcome to the joiner. Called at most once.
    fn run(&self);
    /// Drops the closure unrun (if it has not run) and tells the joiner: `error` when the
    /// coroutine could not be created, "cancelled" when `None`. After [`Body::run`] has
    /// returned, it does nothing the joiner can see.
    fn cancel(&self, error: Option<io::Error>);
}

/// Owns a spawn's [`Body`] until it runs. Dropped before it ran, or while it runs
/// (a runtime shutdown unwinding the coroutine), it cancels the body, so the joiner
/// sees "cancelled" rather than waiting forever.
///
/// `B` is `dyn Body + Send + Sync` for a spawn that any worker may run, `dyn Body` for
/// one that stays on its worker (`spawn_local`, whose closure or value may be `!Send`).
pub(crate) struct BodyRef<B: Body + ?Sized = dyn Body + Send + Sync>(Option<Arc<B>>);

/// The body of a `spawn_local`: it stays on the worker that made it.
pub(crate) type LocalBody = BodyRef<dyn Body>;

impl<B: Body + ?Sized> BodyRef<B> {
    pub(crate) fn new(body: Arc<B>) -> BodyRef<B> {
        BodyRef(Some(body))
    }

    /// Runs the body (see [`Body::run`]).
    pub(crate) fn run(mut self) {
        if let Some(body) = &self.0 {
            body.run();
        }
        // Ran to the end: nothing left to cancel. (An unwind out of `run` drops `self`
        // with the body still in it.)
        self.0 = None;
    }

    /// Tells the joiner the coroutine could not be created.
    pub(crate) fn fail(mut self, error: io::Error) {
        if let Some(body) = self.0.take() {
            body.cancel(Some(error));
        }
    }
}

impl BodyRef {
    /// The same body, as one that stays on this worker.
    pub(crate) fn local(mut self) -> LocalBody {
        match self.0.take() {
            Some(body) => BodyRef(Some(body)),
            None => BodyRef(None),
        }
    }
}

impl<B: Body + ?Sized> Drop for BodyRef<B> {
    fn drop(&mut self) {
        if let Some(body) = self.0.take() {
            body.cancel(None);
        }
    }
}

pub(crate) enum Message {
    Spawn(Builder, BodyRef),
    /// Another worker moved a spawn to this one's pending queue: start one.
    StartPending,
    Wake(Arc<Task>),
    /// Update the dump registry, then reply (a dump from another thread asks).
    Publish(oneshot::Sender<()>),
}

struct Inbox {
    messages: Vec<Message>,
    /// The worker is (about to be) blocked in `Poll::poll` and needs a `Waker` poke.
    sleeping: bool,
    /// Set once at shutdown; later messages are dropped at once (so their joiners see
    /// "cancelled" instead of waiting forever).
    closed: bool,
}

/// Spawns queued on a worker that have not started yet. Any idle worker may take them:
/// a closure that has not started is `Send`, and the coroutine is created where it first
/// runs, so a started coroutine still never moves.
struct Pending {
    spawns: VecDeque<(Builder, BodyRef)>,
    /// Spawns another worker handed over (see `Worker::spawn_shared`), started before
    /// `spawns` and never taken by other workers: taking them back would start them
    /// after newer ones.
    handed: VecDeque<(Builder, BodyRef)>,
    /// Set at shutdown, like `Inbox::closed`.
    closed: bool,
}

/// The part of a worker that other threads use.
pub(crate) struct WorkerShared {
    pub(crate) index: usize,
    inbox: Mutex<Inbox>,
    pending: Mutex<Pending>,
    waker: mio::Waker,
    pub(crate) reactor: Reactor,
    /// Live coroutines by slot, for dumps and metrics.
    pub(crate) tasks: Mutex<Vec<Option<Arc<Task>>>>,
    shutdown: AtomicBool,
    /// A copy of `Inbox::sleeping` that other workers read without the lock before they
    /// take it to wake this one for its pending spawns (a local spawn behind another
    /// asks at every spawn); a stale `false` only delays a steal until the next spawn.
    sleeping_hint: AtomicBool,
    /// `Inbox::messages` is not empty: what a spinning worker watches, without the lock.
    has_mail: AtomicBool,
    /// Coroutines created on this worker and not finished (changed by the worker only)
    /// and the length of `pending` (changed under its lock): the load that a spawning
    /// worker compares with its own (`Worker::less_loaded`).
    live: AtomicUsize,
    pending_len: AtomicUsize,
}

const WAKER_TOKEN: Token = Token(usize::MAX);

impl WorkerShared {
    /// Whether the worker has shut down (its runtime was dropped, or its thread ended
    /// in a panic): its reactor delivers no more events.
    pub(crate) fn is_shut_down(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    pub(crate) fn new(index: usize, poll: &Poll) -> io::Result<WorkerShared> {
        Ok(WorkerShared {
            index,
            inbox: Mutex::new(Inbox {
                messages: Vec::new(),
                sleeping: false,
                closed: false,
            }),
            pending: Mutex::new(Pending {
                spawns: VecDeque::new(),
                handed: VecDeque::new(),
                closed: false,
            }),
            waker: mio::Waker::new(poll.registry(), WAKER_TOKEN)?,
            reactor: Reactor::new(poll.registry().try_clone()?),
            tasks: Mutex::new(Vec::new()),
            shutdown: AtomicBool::new(false),
            sleeping_hint: AtomicBool::new(false),
            has_mail: AtomicBool::new(false),
            live: AtomicUsize::new(0),
            pending_len: AtomicUsize::new(0),
        })
    }

    /// Delivers a message from another thread.
    pub(crate) fn send(&self, message: Message) {
        let mut inbox = lock(&self.inbox);
        if inbox.closed {
            drop(inbox);
            drop(message); // joiners see "cancelled"
            return;
        }
        inbox.messages.push(message);
        self.has_mail.store(true, Ordering::Relaxed);
        let wake = mem::take(&mut inbox.sleeping);
        if wake {
            self.sleeping_hint.store(false, Ordering::Relaxed);
        }
        drop(inbox);
        if wake {
            // A failed poke can only mean the poll is gone, i.e. the worker has exited.
            let _ = self.waker.wake();
        }
    }

    pub(crate) fn shut_down(&self) {
        self.shutdown.store(true, Ordering::Release);
        let _ = self.waker.wake();
    }

    /// Coroutines on this worker, started or queued.
    fn load(&self) -> usize {
        self.live.load(Ordering::Relaxed) + self.pending_len.load(Ordering::Relaxed)
    }
}

/// Worker-only state that coroutines of the worker reach again while the worker runs one
/// of them (a coroutine that spawns, wakes a neighbour or arms a timer calls back into
/// its worker from inside `resume`). A `RefCell` would pay a borrow flag on every access
/// for what is a single-threaded discipline; this cell hands out `&mut` for the length
/// of a closure that must not reach the same cell again.
struct Local<T>(UnsafeCell<T>);

impl<T> Local<T> {
    fn new(value: T) -> Local<T> {
        Local(UnsafeCell::new(value))
    }

    /// Runs `f` with the value.
    ///
    /// # Safety
    /// `f` must not reach this cell again (directly, or through code that can: user
    /// code, destructors of user values, `Task::unpark`, the worker's own functions),
    /// so that the `&mut` it gets is the only reference to the value while it runs.
    /// The cell is `!Sync` and the worker `!Send`, so no other thread can reach it.
    unsafe fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: exclusive for the duration of `f`, by this function's contract.
        f(unsafe { &mut *self.0.get() })
    }
}

/// One coroutine's place on its worker. Slots are allocated in chunks of
/// [`SLOTS_PER_CHUNK`] and never freed before the worker, so a coroutine is resumed in
/// place, through a pointer that stays valid while the slab grows (a coroutine spawning
/// from inside `resume` may reallocate the slab, which only moves the pointers).
struct Slot {
    /// `None` when the slot is free.
    coroutine: Option<Coroutine<(), (), (), stack::Stack>>,
    task: Option<Arc<Task>>,
    /// The task of the slot's last coroutine, kept for the next one (see `Task::reuse`).
    spare: Option<Arc<Task>>,
}

/// The worker-thread-only state.
pub(crate) struct Worker {
    pub(crate) shared: Arc<WorkerShared>,
    pub(crate) runtime: Arc<RuntimeShared>,
    run_queue: Local<VecDeque<usize>>,
    /// Spawns from outside the runtime, made [`BUDGET`] per round (see
    /// `Worker::make_incoming`).
    incoming: Local<VecDeque<(Builder, LocalBody)>>,
    /// Pointers to the slots, into the chunks. Raw, not references, so that moving them
    /// (the `Vec` growing) asserts nothing about the slot a running coroutine is resumed
    /// through.
    slab: Local<Vec<NonNull<Slot>>>,
    /// The chunks of slots, from `Box::into_raw`, freed when the worker drops.
    chunks: Local<Vec<NonNull<[Slot]>>>,
    free_slots: Local<Vec<usize>>,
    /// Slots whose coroutine came or went since the dump registry was last updated.
    dirty: Local<Vec<usize>>,
    timers: Local<Timers>,
    stacks: Local<stack::StackPool>,
    /// The io_uring of a runtime built with `Builder::io_uring` (see `crate::uring`).
    ring: Local<Option<uring::Ring>>,
    /// The next coroutine id and the end of this worker's block of them.
    ids: Cell<(u64, u64)>,
}

impl Worker {
    /// Runs `f` with this worker's ring; `None` if it has none.
    ///
    /// # Safety
    /// As `Local::with`: `f` must not reach the ring again (the ring's own functions
    /// run no user code and do not reach the worker).
    pub(crate) unsafe fn with_ring<R>(&self, f: impl FnOnce(&mut uring::Ring) -> R) -> Option<R> {
        // SAFETY: forwarded from this function's contract.
        unsafe { self.ring.with(|ring| ring.as_mut().map(f)) }
    }
}

/// Runs `f` with this thread's worker, or returns `None` off the runtime.
pub(crate) fn with_worker<R>(f: impl FnOnce(&Worker) -> R) -> Option<R> {
    park::worker().map(f)
}

/// Queues a task whose state just went PARKED -> SCHEDULED.
pub(crate) fn schedule(task: &Arc<Task>) {
    match park::worker() {
        Some(w) if Arc::ptr_eq(&w.shared, &task.worker) => w.push_local(task.slot),
        _ => task.worker.send(Message::Wake(task.clone())),
    }
}

/// Queues a slot of the current worker (a yield).
#[inline]
pub(crate) fn push_local(slot: usize) {
    if let Some(w) = park::worker() {
        w.push_local(slot);
    }
}

/// Spawns on the current worker; `false` off the runtime.
pub(crate) fn spawn_here(builder: Builder, body: LocalBody) -> bool {
    with_worker(|w| w.spawn(builder, body)).is_some()
}

/// Queues a `Send` spawn on the current worker (see [`Worker::spawn_shared`]); `false`
/// off the runtime (the body is dropped: its joiner sees "cancelled").
pub(crate) fn spawn_shared_here(builder: Builder, body: BodyRef) -> bool {
    with_worker(|w| w.spawn_shared(builder, body)).is_some()
}

/// Arms a timer of the current worker that unparks `task` at `deadline`; `None` if the
/// worker's clock (read once a round) has already passed the deadline.
pub(crate) fn add_timer(deadline: Instant, task: Arc<Task>) -> Option<TimerKey> {
    let w = park::worker().expect("a coroutine always runs on a worker");
    // SAFETY: inserting into the timer wheel runs no user code (when the deadline has
    // passed, the task's `Arc` is dropped: see `cancel_timer`).
    unsafe { w.timers.with(|t| t.add(deadline, task)) }
}

/// Disarms a timer of the current worker; `false` if it had already fired.
pub(crate) fn cancel_timer(key: TimerKey) -> bool {
    park::worker().is_some_and(|w| {
        // SAFETY: removing from the timer wheel runs no user code (dropping a task's `Arc`
        // frees its name at most: the worker keeps the task's `WorkerShared` alive).
        unsafe { w.timers.with(|t| t.cancel(key)) }
    })
}

/// A run-queue entry that starts the oldest of the worker's pending spawns, if no idle
/// worker has taken it meanwhile; it keeps a spawn's place in the run order.
const START_PENDING: usize = usize::MAX;

/// Slots allocated at once when a worker runs out of them.
const SLOTS_PER_CHUNK: usize = 64;

/// How many coroutines a worker runs before it checks its inbox and the reactor again.
const BUDGET: usize = 128;

/// How many more coroutines than another worker a worker may hold (plus an eighth of
/// the other's) before its spawns go to that worker (`Worker::spawn_shared`): enough
/// that a spawn and join stays local, small next to a server's connections.
const BALANCE_SLACK: usize = 16;

/// How often a spinning worker asks `epoll_wait` for readiness: asking at every turn
/// takes events one at a time, while a sleeper woken late finds a batch.
const SPIN_POLL: Duration = Duration::from_micros(10);

impl Worker {
    /// The worker thread; returns at shutdown after unwinding all its coroutines.
    ///
    /// A panic out of the loop (a value a coroutine returns, or a destructor it runs
    /// after the catch around its closure, panicking; a failed poll) ends this worker the
    /// way a shutdown does, with the worker still whole: marked shut down (so spawns and
    /// wake-ups sent to it are dropped and their joiners see "cancelled", and sockets
    /// registered with its reactor move to the worker that next waits on them), then
    /// every suspended coroutine unwound as cancelled, then the thread's worker cleared;
    /// only then does the panic go on and end the thread. Unwinding with the worker's
    /// fields being dropped instead let coroutine destructors (a lock guard waking a
    /// waiter) reach the freed run queue through the thread-local.
    pub(crate) fn run(
        shared: Arc<WorkerShared>,
        runtime: Arc<RuntimeShared>,
        mut poll: Poll,
        ring: Option<IoUring>,
    ) {
        let _alt_stack = overflow::AltStack::ensure();
        let ring = ring.and_then(|ring| match uring::Ring::enable(ring) {
            Ok(ring) => Some(ring),
            Err(e) => {
                // `Builder::build` made the ring, so this is not expected; say so rather
                // than take the worker down.
                eprintln!(
                    "greenmongo-runtime: worker {} runs without io_uring: enabling its ring failed: {e}",
                    shared.index
                );
                None
            }
        });
        let worker = Worker {
            stacks: Local::new(stack::StackPool::new(runtime.stack_size)),
            shared,
            runtime,
            run_queue: Local::new(VecDeque::new()),
            incoming: Local::new(VecDeque::new()),
            slab: Local::new(Vec::new()),
            chunks: Local::new(Vec::new()),
            free_slots: Local::new(Vec::new()),
            dirty: Local::new(Vec::new()),
            timers: Local::new(Timers::default()),
            ring: Local::new(ring),
            ids: Cell::new((0, 0)),
        };
        // SAFETY: `worker` lives on this stack frame until after the pointer is cleared
        // below, on every path (the loop's panic is caught).
        unsafe { park::set_worker(&worker) };
        let looped = panic::catch_unwind(AssertUnwindSafe(|| worker.event_loop(&mut poll)));
        if looped.is_err() {
            // The coroutine that panicked out of `resume` did not clear `current`, and
            // its stack is gone.
            // SAFETY: null is always allowed.
            unsafe { park::set_current(ptr::null()) };
            worker.shared.shutdown.store(true, Ordering::Release);
        }
        worker.shut_down();
        // SAFETY: null is always allowed.
        unsafe { park::set_worker(ptr::null()) };
        if let Err(payload) = looped {
            panic::resume_unwind(payload);
        }
    }

    /// Runs coroutines, timers and the reactor until the shutdown flag is set.
    fn event_loop(&self, poll: &mut Poll) {
        let mut events = Events::with_capacity(1024);
        let mut woken = Vec::new();
        // The last idle stretch was short and ended by mail: spin before sleeping (see
        // `Builder::idle_spin`; never when it is zero).
        let max_spin = self.runtime.idle_spin;
        let mut spin = false;
        while !self.shared.shutdown.load(Ordering::Acquire) {
            self.drain_inbox();
            self.make_incoming();
            for _ in 0..BUDGET {
                // SAFETY: popping runs no user code.
                match unsafe { self.run_queue.with(VecDeque::pop_front) } {
                    Some(START_PENDING) => self.start_pending(),
                    Some(slot) => self.resume(slot),
                    None => break,
                }
            }
            if self.run_queue_is_empty() {
                self.steal();
            }
            self.fire_timers();
            // Before `publish`: a dump or `metrics` that no longer shows a coroutine finds
            // its stack's pages given back.
            // SAFETY: giving pages back runs no user code.
            unsafe { self.stacks.with(stack::StackPool::release_cooling) };
            self.publish();
            let idle_since = (!max_spin.is_zero() && self.is_idle()).then(Instant::now);
            if let Some(since) = idle_since
                && spin
                && self.spin(poll, &mut events, &mut woken, since)
            {
                continue;
            }
            let timeout = self.poll_timeout();
            self.wait(poll, &mut events, &mut woken, timeout);
            if let Some(since) = idle_since {
                let mail = self.shared.has_mail.load(Ordering::Relaxed);
                spin = mail && since.elapsed() < 2 * max_spin;
            }
        }
    }

    /// Looks for work without sleeping until `since + idle_spin` (or the next timer): mail at
    /// every turn; I/O (`wait` with a zero timeout) and spawns to steal every `SPIN_POLL`.
    /// `true` if some came.
    fn spin(
        &self,
        poll: &mut Poll,
        events: &mut Events,
        woken: &mut Vec<Arc<Task>>,
        since: Instant,
    ) -> bool {
        // SAFETY: reading the next deadline runs no user code.
        let timer = unsafe { self.timers.with(|t| t.next_deadline()) };
        let until = park::earliest(Some(since + self.runtime.idle_spin), timer).unwrap_or(since);
        let mut next_poll = since + SPIN_POLL;
        loop {
            if self.shared.has_mail.load(Ordering::Relaxed)
                || self.shared.shutdown.load(Ordering::Acquire)
            {
                return true;
            }
            let now = Instant::now();
            if now >= next_poll || now >= until {
                self.wait(poll, events, woken, Some(Duration::ZERO));
                if !events.is_empty() || !self.run_queue_is_empty() {
                    return true;
                }
                self.steal();
                if !self.run_queue_is_empty() {
                    return true;
                }
                next_poll = now + SPIN_POLL;
            }
            if now >= until {
                return false;
            }
            for _ in 0..64 {
                std::hint::spin_loop();
            }
        }
    }

    /// Waits up to `timeout` for I/O (`None`: until something comes) and wakes its
    /// waiters: in `epoll_wait`, or, with a ring, in `io_uring_enter`, which also submits
    /// the round's operations and watches the epoll instance (read only when it has
    /// events).
    fn wait(
        &self,
        poll: &mut Poll,
        events: &mut Events,
        woken: &mut Vec<Arc<Task>>,
        mut timeout: Option<Duration>,
    ) {
        let fail = |what: &str, e: io::Error| -> ! {
            panic!(
                "greenmongo-runtime: worker {} cannot {what}: {e}",
                self.shared.index
            )
        };
        let epoll = poll.as_raw_fd();
        // SAFETY: `enter` runs no user code; the tasks are unparked after it returns.
        if let Some(entered) = unsafe { self.with_ring(|ring| ring.enter(epoll, timeout, woken)) } {
            let epoll_ready = entered.unwrap_or_else(|e| fail("enter its io_uring", e));
            woken.drain(..).for_each(|task| task.unpark());
            if !epoll_ready {
                events.clear();
                return;
            }
            timeout = Some(Duration::ZERO);
        }
        if let Err(e) = poll.poll(events, timeout)
            && e.kind() != io::ErrorKind::Interrupted
        {
            fail("poll", e);
        }
        self.dispatch(events);
    }

    fn dispatch(&self, events: &Events) {
        self.shared
            .reactor
            .dispatch(events.iter().filter(|e| e.token() != WAKER_TOKEN));
    }

    fn run_queue_is_empty(&self) -> bool {
        // SAFETY: reading the length runs no user code.
        unsafe { self.run_queue.with(|q| q.is_empty()) }
    }

    /// Nothing to run and no mail (timers aside).
    fn is_idle(&self) -> bool {
        self.run_queue_is_empty()
            && self.incoming_is_empty()
            && !self.shared.has_mail.load(Ordering::Relaxed)
    }

    fn incoming_is_empty(&self) -> bool {
        // SAFETY: reading the length runs no user code.
        unsafe { self.incoming.with(|q| q.is_empty()) }
    }

    /// Makes up to [`BUDGET`] of the spawns that came from outside the runtime and queues
    /// them. A plain thread can send spawns faster than they are made (a fresh stack's
    /// first page fault alone is microseconds); made all at once, a flood of them would
    /// sit in the run queue ahead of every coroutine woken meanwhile, for as long as the
    /// flood takes to make and start. A round makes no more than it runs.
    fn make_incoming(&self) {
        for _ in 0..BUDGET {
            // SAFETY: popping runs no user code.
            let Some((builder, body)) = (unsafe { self.incoming.with(VecDeque::pop_front) }) else {
                break;
            };
            self.spawn(builder, body);
        }
    }

    #[inline]
    fn push_local(&self, slot: usize) {
        // SAFETY: pushing runs no user code.
        unsafe { self.run_queue.with(|q| q.push_back(slot)) }
    }

    fn drain_inbox(&self) {
        let messages = {
            let mut inbox = lock(&self.shared.inbox);
            inbox.sleeping = false;
            self.shared.sleeping_hint.store(false, Ordering::Relaxed);
            self.shared.has_mail.store(false, Ordering::Relaxed);
            mem::take(&mut inbox.messages)
        };
        let mut publish = Vec::new();
        for message in messages {
            match message {
                // SAFETY: pushing runs no user code.
                Message::Spawn(builder, body) => unsafe {
                    self.incoming.with(|q| q.push_back((builder, body.local())))
                },
                Message::StartPending => self.push_local(START_PENDING),
                Message::Wake(task) => self.push_local(task.slot),
                Message::Publish(reply) => publish.push(reply),
            }
        }
        if !publish.is_empty() {
            self.publish();
            for reply in publish {
                let _ = reply.send(());
            }
        }
    }

    /// Zero when there is work; else until the next timer, announcing sleep in the inbox.
    fn poll_timeout(&self) -> Option<Duration> {
        if !self.run_queue_is_empty() || !self.incoming_is_empty() {
            return Some(Duration::ZERO);
        }
        let mut inbox = lock(&self.shared.inbox);
        if !inbox.messages.is_empty() || self.shared.shutdown.load(Ordering::Acquire) {
            return Some(Duration::ZERO);
        }
        inbox.sleeping = true;
        self.shared.sleeping_hint.store(true, Ordering::Relaxed);
        drop(inbox);
        if self.others_have_spawns() {
            return Some(Duration::ZERO);
        }
        // SAFETY: reading the next deadline runs no user code.
        unsafe { self.timers.with(|t| t.next_deadline()) }
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    fn fire_timers(&self) {
        let now = Instant::now();
        // SAFETY: popping runs no user code; the task is unparked after `with` returns.
        while let Some(task) = unsafe { self.timers.with(|t| t.pop_due(now)) } {
            task.unpark();
        }
    }

    /// A fresh coroutine id: from this worker's block, a new block when it runs out.
    fn next_id(&self) -> u64 {
        let (mut next, mut end) = self.ids.get();
        if next == end {
            next = task::take_id_block();
            end = next + task::ID_BLOCK;
        }
        self.ids.set((next + 1, end));
        next
    }

    /// The slot at `index`.
    fn slot(&self, index: usize) -> *mut Slot {
        // SAFETY: indexing runs no user code.
        unsafe { self.slab.with(|slab| slab[index].as_ptr()) }
    }

    /// Queues a `Send` spawn on this worker, where idle workers may take it until it
    /// starts; wakes a sleeping worker when spawns pile up.
    ///
    /// A started coroutine never moves, so where spawns start is the only balance there
    /// is between workers: when this worker holds clearly more coroutines than another
    /// (an accept loop spawning a coroutine per connection while the other worker is
    /// busy), the oldest spawn queued here goes to that worker's queue instead. Taking
    /// the oldest keeps each worker starting one spawner's coroutines in spawn order.
    pub(crate) fn spawn_shared(&self, builder: Builder, body: BodyRef) {
        if self.runtime.workers.len() == 1 {
            // No other worker could take it: skip the shared queue.
            return self.spawn(builder, body.local());
        }
        let mut pending = lock(&self.shared.pending);
        if pending.closed {
            drop(pending);
            return body.fail(io::Error::other("the runtime is shutting down"));
        }
        let backlog = !pending.spawns.is_empty();
        pending.spawns.push_back((builder, body));
        // Handed over under this queue's lock, so a worker stealing from here finds the
        // handed spawn in its own queue once it has stolen the ones behind it.
        let handed_to = self.less_loaded(pending.spawns.len()).filter(|other| {
            let Ok(mut theirs) = other.pending.try_lock() else {
                return false; // busy: keep it here rather than wait
            };
            if theirs.closed {
                return false;
            }
            let Some(oldest) = pending.spawns.pop_front() else {
                return false;
            };
            theirs.handed.push_back(oldest);
            other
                .pending_len
                .store(theirs.spawns.len() + theirs.handed.len(), Ordering::Relaxed);
            true
        });
        self.shared.pending_len.store(
            pending.spawns.len() + pending.handed.len(),
            Ordering::Relaxed,
        );
        drop(pending);
        self.push_local(START_PENDING); // a no-op if the spawn was handed over
        if let Some(other) = handed_to {
            other.send(Message::StartPending);
        } else if backlog {
            self.wake_a_sleeper();
        }
    }

    /// Another worker with clearly fewer coroutines than this one, which has
    /// `pending` spawns queued: more than `BALANCE_SLACK` plus an eighth of its load.
    fn less_loaded(&self, pending: usize) -> Option<&Arc<WorkerShared>> {
        let mine = self.shared.live.load(Ordering::Relaxed) + pending;
        if mine <= BALANCE_SLACK {
            return None; // without reading the others' counters (other cores' lines)
        }
        let (other, theirs) = self
            .runtime
            .workers
            .iter()
            .filter(|w| !Arc::ptr_eq(w, &self.shared))
            .map(|w| (w, w.load()))
            .min_by_key(|&(_, load)| load)?;
        (mine > theirs + theirs / 8 + BALANCE_SLACK).then_some(other)
    }

    /// Whether another worker has spawns queued that this one could take: asked after
    /// announcing sleep. A spawner reads the announcement after queuing a spawn under
    /// its `pending` lock, which this takes after announcing: so either it saw the
    /// announcement (and wakes this worker if spawns pile up) or this sees its spawn.
    /// Without this, spawns queued between this worker's last steal and its sleep
    /// waited for their busy spawner.
    fn others_have_spawns(&self) -> bool {
        self.runtime
            .workers
            .iter()
            .any(|w| !Arc::ptr_eq(w, &self.shared) && !lock(&w.pending).spawns.is_empty())
    }

    /// Pokes one other worker that sleeps in `poll`, so that it takes pending spawns.
    fn wake_a_sleeper(&self) {
        for other in &self.runtime.workers {
            if Arc::ptr_eq(other, &self.shared) || !other.sleeping_hint.load(Ordering::Relaxed) {
                continue;
            }
            let mut inbox = lock(&other.inbox);
            if mem::take(&mut inbox.sleeping) {
                other.sleeping_hint.store(false, Ordering::Relaxed);
                drop(inbox);
                let _ = other.waker.wake();
                return;
            }
        }
    }

    fn start_pending(&self) {
        let next = {
            let mut pending = lock(&self.shared.pending);
            let next = pending
                .handed
                .pop_front()
                .or_else(|| pending.spawns.pop_front());
            self.shared.pending_len.store(
                pending.spawns.len() + pending.handed.len(),
                Ordering::Relaxed,
            );
            next
        };
        if let Some((builder, body)) = next
            && let Some(index) = self.create(builder, body.local())
        {
            self.resume(index);
        }
    }

    /// Takes half of the pending spawns of the first other worker that has some, and
    /// starts them after the spawns handed over to this one (whose `StartPending` has not
    /// come yet): those are older than anything left to take where they came from.
    fn steal(&self) {
        let workers = &self.runtime.workers;
        let mut stolen = Vec::new();
        for k in 1..workers.len() {
            let victim = &workers[(self.shared.index + k) % workers.len()];
            let Ok(mut pending) = victim.pending.try_lock() else {
                continue;
            };
            let n = pending.spawns.len().div_ceil(2);
            if n == 0 {
                continue;
            }
            stolen.extend(pending.spawns.drain(..n));
            victim.pending_len.store(
                pending.spawns.len() + pending.handed.len(),
                Ordering::Relaxed,
            );
            break;
        }
        let handed: Vec<_> = {
            let mut pending = lock(&self.shared.pending);
            let handed = pending.handed.drain(..).collect();
            self.shared
                .pending_len
                .store(pending.spawns.len(), Ordering::Relaxed);
            handed
        };
        for (builder, body) in handed.into_iter().chain(stolen) {
            self.spawn(builder, body.local());
        }
    }

    pub(crate) fn spawn(&self, builder: Builder, body: LocalBody) {
        if let Some(index) = self.create(builder, body) {
            self.push_local(index);
        }
    }

    /// Creates a coroutine in a free slot, not yet queued; `None` if it failed (its
    /// joiner is told).
    fn create(&self, builder: Builder, body: LocalBody) -> Option<usize> {
        if self.shared.shutdown.load(Ordering::Acquire) {
            body.fail(io::Error::other("the runtime is shutting down"));
            return None;
        }
        // SAFETY: the pool maps or reuses a stack; no user code.
        let stack = match unsafe { self.stacks.with(|p| p.take(builder.stack_size)) } {
            Ok(stack) => stack,
            Err(e) => {
                body.fail(e);
                return None;
            }
        };
        // SAFETY: popping and pushing run no user code.
        let index = unsafe { self.free_slots.with(Vec::pop) }.unwrap_or_else(|| self.add_chunk());
        let live = &self.shared.live; // only this worker changes it: no read-modify-write
        live.store(live.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        let slot = self.slot(index);
        // SAFETY: the slot is free (see below); its spare is reached only here and in
        // `release`.
        let mut spare = unsafe { (*slot).spare.take() };
        let task = match spare.as_mut().and_then(Arc::get_mut) {
            Some(task) => {
                task.reuse(self.next_id(), builder.name);
                spare.expect("reused from the spare")
            }
            None => Arc::new(Task::new(
                self.next_id(),
                builder.name,
                self.shared.clone(),
                index,
            )),
        };
        let guard = stack::guard_range(&stack);
        let stack_size = stack::usable_size(&stack);
        let task_ptr = Arc::as_ptr(&task);
        let coroutine = Coroutine::with_stack(stack, move |yielder, ()| {
            // SAFETY: the slot holds the task's `Arc` until this coroutine has returned
            // or unwound (`release`, `shut_down`), so past the context's life.
            let context = unsafe { CoroutineContext::new(task_ptr, yielder, guard, stack_size) };
            // SAFETY: `context` lives on this coroutine's stack until the closure
            // returns, after which the worker clears `current` before running anything
            // else (`resume`); until then this coroutine is the one running here.
            unsafe { park::set_current(&context) };
            body.run();
        });
        // SAFETY: the slot is free (it came from the free list or was just made), so no
        // coroutine runs from it and nothing else refers to its fields; the values
        // overwritten are `None`s, whose drop runs nothing.
        unsafe {
            (*slot).coroutine = Some(coroutine);
            (*slot).task = Some(task);
        }
        // SAFETY: pushing runs no user code.
        unsafe { self.dirty.with(|d| d.push(index)) };
        Some(index)
    }

    /// Adds a chunk of free slots (one allocation for [`SLOTS_PER_CHUNK`] coroutines);
    /// returns the index of one of them, the others go to the free list.
    #[cold]
    fn add_chunk(&self) -> usize {
        let chunk: Box<[Slot]> = (0..SLOTS_PER_CHUNK)
            .map(|_| Slot {
                coroutine: None,
                task: None,
                spare: None,
            })
            .collect();
        let chunk = Box::into_raw(chunk);
        // SAFETY: pushing runs no user code. The pointers are into the chunk just made,
        // freed only when the worker drops.
        unsafe {
            self.chunks.with(|c| c.push(NonNull::new_unchecked(chunk)));
            let first = self.slab.with(|slab| {
                let first = slab.len();
                slab.extend(
                    (0..SLOTS_PER_CHUNK)
                        .map(|i| NonNull::new_unchecked(chunk.cast::<Slot>().add(i))),
                );
                first
            });
            // Lowest index first off the free list.
            self.free_slots
                .with(|f| f.extend((first + 1..first + SLOTS_PER_CHUNK).rev()));
            first
        }
    }

    fn resume(&self, index: usize) {
        let slot = self.slot(index);
        // SAFETY: a queued slot holds a suspended coroutine (a task is queued only once,
        // see `state`, and only while its coroutine lives). The slot stays allocated and
        // in place until the worker drops, and its `coroutine` field is reached only from
        // here and from `release`/`shut_down`, which never run while it is resumed: so
        // the `&mut` below is unique for the length of `resume`, whatever the coroutine
        // calls into meanwhile (spawns grow the slab, which moves only pointers).
        let result = unsafe {
            let task = (*slot).task.as_ref().expect("queued slots hold a task");
            task.state.store(state::RUNNING, Ordering::Release);
            let coroutine = (*slot)
                .coroutine
                .as_mut()
                .expect("queued slots hold a coroutine");
            coroutine.resume(())
        };
        // SAFETY: null is always allowed; the coroutine is suspended or done.
        unsafe { park::set_current(ptr::null()) };
        if let CoroutineResult::Return(()) = result {
            self.release(index);
        }
    }

    /// Frees the slot of a coroutine that has returned, keeping its stack for reuse.
    fn release(&self, index: usize) {
        let slot = self.slot(index);
        // SAFETY: the coroutine has returned, so nothing runs from the slot; see `resume`.
        let (coroutine, task) = unsafe { ((*slot).coroutine.take(), (*slot).task.take()) };
        if let Some(coroutine) = coroutine {
            // SAFETY: giving a stack back runs no user code.
            unsafe { self.stacks.with(|p| p.give(coroutine.into_stack())) };
        }
        if let Some(task) = task {
            task.state.store(state::DONE, Ordering::Release);
            // SAFETY: the slot's spare is reached only here and in `create`.
            unsafe { (*slot).spare = Some(task) };
        }
        let live = &self.shared.live;
        live.store(live.load(Ordering::Relaxed) - 1, Ordering::Relaxed);
        // SAFETY: pushing runs no user code.
        unsafe {
            self.free_slots.with(|f| f.push(index));
            self.dirty.with(|d| d.push(index));
        }
    }

    /// Brings the dump registry (`WorkerShared::tasks`) up to date: one lock per event
    /// loop round instead of two per coroutine. A dump misses at most the coroutines
    /// that came and went within the current round of the worker.
    pub(crate) fn publish(&self) {
        // SAFETY: taking the vector runs no user code.
        let dirty = unsafe { self.dirty.with(mem::take) };
        if dirty.is_empty() {
            return;
        }
        let mut tasks = lock(&self.shared.tasks);
        for &index in &dirty {
            let slot = self.slot(index);
            // SAFETY: reading the `task` field of a slot: it is written only by
            // `spawn`/`release`/`shut_down`, none of which is running now (this is the
            // worker loop or a coroutine of it calling `publish`), and a resumed
            // coroutine's `&mut` covers the `coroutine` field only.
            let task = unsafe { (*slot).task.clone() };
            if tasks.len() <= index {
                tasks.resize(index + 1, None);
            }
            tasks[index] = task;
        }
        drop(tasks);
        // Keep the allocation.
        // SAFETY: as above.
        unsafe {
            self.dirty.with(|d| {
                if d.is_empty() {
                    *d = dirty;
                    d.clear();
                }
            })
        };
    }

    /// Closes the inbox and unwinds every coroutine, running its destructors. Waits inside
    /// those destructors fail at once (the tasks are marked cancelled).
    fn shut_down(&self) {
        let pending = {
            let mut inbox = lock(&self.shared.inbox);
            inbox.closed = true;
            mem::take(&mut inbox.messages)
        };
        drop(pending);
        // SAFETY: taking the queue runs no user code; the closures drop outside.
        drop(unsafe { self.incoming.with(mem::take) }); // joiners see "cancelled"
        let spawns = {
            let mut pending = lock(&self.shared.pending);
            pending.closed = true;
            let mut spawns = mem::take(&mut pending.spawns);
            spawns.append(&mut pending.handed);
            spawns
        };
        drop(spawns); // joiners see "cancelled"
        // Before any coroutine unwinds: the kernel may still write into their buffers.
        // SAFETY: cancelling runs no user code.
        unsafe { self.with_ring(uring::Ring::cancel_all) };
        // SAFETY: cloning the pointers runs no user code.
        let slots: Vec<NonNull<Slot>> = unsafe { self.slab.with(|slab| slab.clone()) };
        let mut live = Vec::new();
        for slot in &slots {
            let slot = slot.as_ptr();
            // SAFETY: no coroutine is running (this is the worker's own frame, after its
            // loop), so nothing else refers to the slots' fields.
            if let Some(coroutine) = unsafe { (*slot).coroutine.take() } {
                // SAFETY: as above.
                let task = unsafe { (*slot).task.take() }.expect("a live slot has a task");
                task.cancel();
                live.push((coroutine, task));
            }
        }
        for (coroutine, task) in live {
            // A destructor that panics while unwinding must not take the worker down
            // before the other coroutines are unwound.
            let _ = panic::catch_unwind(AssertUnwindSafe(|| drop(coroutine)));
            // SAFETY: null is always allowed.
            unsafe { park::set_current(ptr::null()) };
            task.state.store(state::DONE, Ordering::Release);
        }
        lock(&self.shared.tasks).clear();
        // SAFETY: clearing drops slot numbers and tasks' `Arc`s (no user code: see
        // `cancel_timer`).
        unsafe {
            self.run_queue.with(VecDeque::clear);
            self.timers.with(Timers::clear);
            self.dirty.with(Vec::clear);
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.slab.0.get_mut().clear();
        for chunk in self.chunks.0.get_mut().drain(..) {
            // SAFETY: the pointer came from `Box::into_raw` in `add_chunk` and is freed
            // only here; the slab's pointers into it are gone.
            drop(unsafe { Box::from_raw(chunk.as_ptr()) });
        }
    }
}
