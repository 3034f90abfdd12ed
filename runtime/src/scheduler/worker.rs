//! One worker thread: its coroutines, run queue, timers and mio `Poll`.
//!
//! Everything in [`Worker`] belongs to the worker thread alone (it is reached through a
//! thread-local), so the hot paths (yield, local wake, local spawn) take no lock. Other
//! threads reach a worker only through [`WorkerShared`]: its inbox (spawn requests and
//! wake-ups, followed by a mio `Waker` poke if the worker sleeps), its mio `Registry` and
//! its reactor slots.

use std::{
    cell::{Cell, RefCell},
    collections::VecDeque,
    io, mem,
    panic::{self, AssertUnwindSafe},
    ptr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use corosensei::{Coroutine, CoroutineResult};
use mio::{Events, Poll, Token};

use super::RuntimeShared;
use crate::coroutine::{overflow, stack, state, Builder, Task};
use crate::park::{self, CoroutineContext};
use crate::reactor::Reactor;
use crate::sync::lock;
use crate::time::{TimerKey, Timers};

/// The closure of a coroutine with the channel its result goes to.
pub(crate) trait Body {
    /// Runs the closure and sends its outcome to the joiner.
    fn run(self: Box<Self>);
    /// Tells the joiner the coroutine could not be created.
    fn fail(self: Box<Self>, error: io::Error);
}

pub(crate) enum Message {
    Spawn(Builder, Box<dyn Body + Send>),
    Wake(Arc<Task>),
}

struct Inbox {
    messages: Vec<Message>,
    /// The worker is (about to be) blocked in `Poll::poll` and needs a `Waker` poke.
    sleeping: bool,
    /// Set once at shutdown; later messages are dropped at once (so their joiners see
    /// "cancelled" instead of waiting forever).
    closed: bool,
}

/// The part of a worker that other threads use.
pub(crate) struct WorkerShared {
    pub(crate) index: usize,
    inbox: Mutex<Inbox>,
    waker: mio::Waker,
    pub(crate) reactor: Reactor,
    /// Live coroutines by slot, for dumps and metrics.
    pub(crate) tasks: Mutex<Vec<Option<Arc<Task>>>>,
    shutdown: AtomicBool,
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
            waker: mio::Waker::new(poll.registry(), WAKER_TOKEN)?,
            reactor: Reactor::new(poll.registry().try_clone()?),
            tasks: Mutex::new(Vec::new()),
            shutdown: AtomicBool::new(false),
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
        let wake = mem::take(&mut inbox.sleeping);
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
}

struct Entry {
    /// `None` while the coroutine runs (the worker holds it then).
    coroutine: Option<Coroutine<(), (), (), stack::Stack>>,
    task: Arc<Task>,
}

/// The worker-thread-only state.
pub(crate) struct Worker {
    pub(crate) shared: Arc<WorkerShared>,
    pub(crate) runtime: Arc<RuntimeShared>,
    run_queue: RefCell<VecDeque<usize>>,
    slab: RefCell<Vec<Option<Entry>>>,
    free_slots: RefCell<Vec<usize>>,
    timers: RefCell<Timers>,
    stacks: RefCell<stack::StackPool>,
}

thread_local! {
    /// The worker this thread runs, or null. Set for the whole worker loop.
    static WORKER: Cell<*const Worker> = const { Cell::new(ptr::null()) };
}

/// Runs `f` with this thread's worker, or returns `None` off the runtime.
pub(crate) fn with_worker<R>(f: impl FnOnce(&Worker) -> R) -> Option<R> {
    let worker = WORKER.with(Cell::get);
    // SAFETY: WORKER is non-null only while `run` executes on this thread, and `run` keeps
    // the worker alive (on its stack) for that whole time.
    unsafe { worker.as_ref() }.map(f)
}

/// Queues a task whose state just went PARKED -> SCHEDULED.
pub(crate) fn schedule(task: &Arc<Task>) {
    let local = with_worker(|w| {
        if Arc::ptr_eq(&w.shared, &task.worker) {
            w.run_queue.borrow_mut().push_back(task.slot);
            true
        } else {
            false
        }
    });
    if local != Some(true) {
        task.worker.send(Message::Wake(task.clone()));
    }
}

/// Queues a slot of the current worker (a yield).
pub(crate) fn push_local(slot: usize) {
    with_worker(|w| w.run_queue.borrow_mut().push_back(slot));
}

/// Spawns on the current worker; `false` off the runtime.
pub(crate) fn spawn_here(builder: Builder, body: Box<dyn Body>) -> bool {
    with_worker(|w| w.spawn(builder, body)).is_some()
}

/// Arms a timer of the current worker that unparks `task` at `deadline`.
pub(crate) fn add_timer(deadline: Instant, task: Arc<Task>) -> TimerKey {
    with_worker(|w| w.timers.borrow_mut().add(deadline, task))
        .expect("a coroutine always runs on a worker")
}

pub(crate) fn cancel_timer(key: TimerKey) {
    with_worker(|w| w.timers.borrow_mut().cancel(key));
}

/// How many coroutines a worker runs before it checks its inbox and the reactor again.
const BUDGET: usize = 128;

impl Worker {
    /// The worker thread; returns at shutdown after unwinding all its coroutines.
    ///
    /// A panic out of the loop (a value a coroutine returns, or a destructor it runs
    /// after the catch around its closure, panicking; a failed poll) ends this worker the
    /// way a shutdown does, with the worker still whole: marked shut down (so spawns and
    /// wake-ups sent to it are dropped and their joiners see "cancelled", and sockets
    /// registered with its reactor move to the worker that next waits on them), then
    /// every suspended coroutine unwound as cancelled, then `WORKER` cleared; only then
    /// does the panic go on and end the thread. Unwinding with the worker's fields being
    /// dropped instead let coroutine destructors (a lock guard waking a waiter) reach
    /// the freed run queue through `WORKER`.
    pub(crate) fn run(shared: Arc<WorkerShared>, runtime: Arc<RuntimeShared>, mut poll: Poll) {
        let _alt_stack = overflow::AltStack::ensure();
        let worker = Worker {
            stacks: RefCell::new(stack::StackPool::new(runtime.stack_size)),
            shared,
            runtime,
            run_queue: RefCell::new(VecDeque::new()),
            slab: RefCell::new(Vec::new()),
            free_slots: RefCell::new(Vec::new()),
            timers: RefCell::new(Timers::default()),
        };
        WORKER.with(|w| w.set(&worker));
        let looped = panic::catch_unwind(AssertUnwindSafe(|| worker.event_loop(&mut poll)));
        if looped.is_err() {
            // The coroutine that panicked out of `resume` did not clear CURRENT, and
            // its stack is gone.
            park::set_current(ptr::null());
            worker.shared.shutdown.store(true, Ordering::Release);
        }
        worker.shut_down();
        WORKER.with(|w| w.set(ptr::null()));
        if let Err(payload) = looped {
            panic::resume_unwind(payload);
        }
    }

    /// Runs coroutines, timers and the reactor until the shutdown flag is set.
    fn event_loop(&self, poll: &mut Poll) {
        let mut events = Events::with_capacity(1024);
        while !self.shared.shutdown.load(Ordering::Acquire) {
            self.drain_inbox();
            for _ in 0..BUDGET {
                let next = self.run_queue.borrow_mut().pop_front();
                match next {
                    Some(slot) => self.resume(slot),
                    None => break,
                }
            }
            self.fire_timers();
            let timeout = self.poll_timeout();
            if let Err(e) = poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    panic!(
                        "greenmongo-runtime: worker {} cannot poll: {e}",
                        self.shared.index
                    );
                }
            }
            self.shared
                .reactor
                .dispatch(events.iter().filter(|e| e.token() != WAKER_TOKEN));
        }
    }

    fn drain_inbox(&self) {
        let messages = {
            let mut inbox = lock(&self.shared.inbox);
            inbox.sleeping = false;
            mem::take(&mut inbox.messages)
        };
        for message in messages {
            match message {
                Message::Spawn(builder, body) => self.spawn(builder, body),
                Message::Wake(task) => self.run_queue.borrow_mut().push_back(task.slot),
            }
        }
    }

    /// Zero when there is work; else until the next timer, announcing sleep in the inbox.
    fn poll_timeout(&self) -> Option<Duration> {
        if !self.run_queue.borrow().is_empty() {
            return Some(Duration::ZERO);
        }
        let mut inbox = lock(&self.shared.inbox);
        if !inbox.messages.is_empty() || self.shared.shutdown.load(Ordering::Acquire) {
            return Some(Duration::ZERO);
        }
        inbox.sleeping = true;
        drop(inbox);
        self.timers
            .borrow()
            .next_deadline()
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    fn fire_timers(&self) {
        let now = Instant::now();
        loop {
            let due = self.timers.borrow_mut().pop_due(now);
            match due {
                Some(task) => task.unpark(),
                None => break,
            }
        }
    }

    pub(crate) fn spawn(&self, builder: Builder, body: Box<dyn Body>) {
        if self.shared.shutdown.load(Ordering::Acquire) {
            return body.fail(io::Error::other("the runtime is shutting down"));
        }
        let stack = match self.stacks.borrow_mut().take(builder.stack_size) {
            Ok(stack) => stack,
            Err(e) => return body.fail(e),
        };
        let slot = self
            .free_slots
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| self.slab.borrow().len());
        let task = Arc::new(Task::new(builder.name, self.shared.clone(), slot));
        let guard = stack::guard_range(&stack);
        let stack_size = stack::usable_size(&stack);
        let context_task = task.clone();
        let coroutine = Coroutine::with_stack(stack, move |yielder, ()| {
            let context = CoroutineContext {
                task: context_task,
                yielder,
                deadline: Cell::new(None),
                guard,
                stack_size,
            };
            park::set_current(&context);
            body.run();
        });
        {
            let mut tasks = lock(&self.shared.tasks);
            if tasks.len() <= slot {
                tasks.resize(slot + 1, None);
            }
            tasks[slot] = Some(task.clone());
        }
        let entry = Entry {
            coroutine: Some(coroutine),
            task,
        };
        let mut slab = self.slab.borrow_mut();
        if slot == slab.len() {
            slab.push(Some(entry));
        } else {
            slab[slot] = Some(entry);
        }
        self.run_queue.borrow_mut().push_back(slot);
    }

    fn resume(&self, slot: usize) {
        let mut coroutine = {
            let mut slab = self.slab.borrow_mut();
            let entry = slab[slot].as_mut().expect("queued slots hold a coroutine");
            entry.task.state.store(state::RUNNING, Ordering::Release);
            entry
                .coroutine
                .take()
                .expect("a queued coroutine is not running")
        };
        let result = coroutine.resume(());
        park::set_current(ptr::null());
        match result {
            CoroutineResult::Yield(()) => {
                self.slab.borrow_mut()[slot]
                    .as_mut()
                    .expect("a running coroutine keeps its slot")
                    .coroutine = Some(coroutine);
            }
            CoroutineResult::Return(()) => {
                self.stacks.borrow_mut().give(coroutine.into_stack());
                self.release_slot(slot);
            }
        }
    }

    fn release_slot(&self, slot: usize) {
        let entry = self.slab.borrow_mut()[slot].take();
        if let Some(entry) = entry {
            entry.task.state.store(state::DONE, Ordering::Release);
        }
        lock(&self.shared.tasks)[slot] = None;
        self.free_slots.borrow_mut().push(slot);
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
        let entries: Vec<Entry> = self
            .slab
            .borrow_mut()
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        for entry in &entries {
            entry.task.cancel();
        }
        for entry in entries {
            let slot = entry.task.slot;
            // A destructor that panics while unwinding must not take the worker down
            // before the other coroutines are unwound.
            let _ = panic::catch_unwind(AssertUnwindSafe(|| drop(entry.coroutine)));
            park::set_current(ptr::null());
            entry.task.state.store(state::DONE, Ordering::Release);
            lock(&self.shared.tasks)[slot] = None;
        }
        self.run_queue.borrow_mut().clear();
        self.timers.borrow_mut().clear();
    }
}
