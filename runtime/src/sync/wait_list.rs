//! The FIFO list of parked waiters shared by every primitive, and the wait loop.

use std::{collections::BTreeMap, io, sync::Mutex, time::Instant};

use super::lock;
use crate::park::{self, Unparker};
use crate::task::WaitKind;

/// Waiters in arrival order. A notifier *removes* the waiter it wakes, so a waiter that
/// finds itself gone from the list knows it was chosen (and owns whatever was handed to
/// it). The oldest waiter sits inline when there is no other, so the common single
/// waiter (a join, a oneshot, an uncontended lock) allocates nothing; more go to a
/// `BTreeMap`: O(log n) push, pop and removal, fine with ten thousand waiters.
#[derive(Default, Debug)]
pub(crate) struct WaitList {
    /// When `Some`, older than every waiter in `rest`.
    first: Option<(u64, Unparker)>,
    rest: BTreeMap<u64, Unparker>,
    next_id: u64,
}

impl WaitList {
    pub(crate) fn push(&mut self, unparker: Unparker) -> u64 {
        self.next_id += 1;
        if self.first.is_none() && self.rest.is_empty() {
            self.first = Some((self.next_id, unparker));
        } else {
            // Ids only grow, so `first` (if any) stays the oldest.
            self.rest.insert(self.next_id, unparker);
        }
        self.next_id
    }

    /// Removes a waiter; `true` if it was still waiting (not yet notified).
    pub(crate) fn remove(&mut self, id: u64) -> bool {
        if self.first.as_ref().is_some_and(|(first, _)| *first == id) {
            self.first = None;
            return true;
        }
        self.rest.remove(&id).is_some()
    }

    pub(crate) fn contains(&self, id: u64) -> bool {
        self.first.as_ref().is_some_and(|(first, _)| *first == id) || self.rest.contains_key(&id)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none() && self.rest.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    /// Wakes the oldest waiter; `false` if there was none.
    pub(crate) fn notify_one(&mut self) -> bool {
        match self.first.take().or_else(|| self.rest.pop_first()) {
            Some((_, unparker)) => {
                unparker.unpark();
                true
            }
            None => false,
        }
    }

    /// Moves every waiter to the returned list, for the caller to notify once it has
    /// released its lock. Ids keep counting here: a later waiter must not take the id
    /// of one moved out, which may still remove itself by that id.
    pub(crate) fn take_all(&mut self) -> WaitList {
        WaitList {
            first: self.first.take(),
            rest: std::mem::take(&mut self.rest),
            next_id: self.next_id,
        }
    }

    pub(crate) fn notify_all(&mut self) {
        if let Some((_, unparker)) = self.first.take() {
            unparker.unpark();
        }
        for (_, unparker) in std::mem::take(&mut self.rest) {
            unparker.unpark();
        }
    }
}

/// Waits until `poll` yields a value.
///
/// `poll(state, notified)` runs under the lock, first before registering and then after
/// each wake-up; `notified` says a notifier removed us from the list (and handed us
/// whatever the primitive hands over). `on_registered` runs once, right after the first
/// registration (a condvar releases its mutex there). When the wait fails after we were
/// notified, `abandon` passes the notification on, so it is never lost.
///
/// # Errors
/// `TimedOut` when `deadline` (or the enclosing `with_timeout`) passes; `Interrupted`
/// when the coroutine is cancelled. `poll` gets a last chance before either is returned.
pub(crate) fn wait_until<S, R>(
    mutex: &Mutex<S>,
    kind: WaitKind,
    deadline: Option<Instant>,
    list: fn(&mut S) -> &mut WaitList,
    mut poll: impl FnMut(&mut S, bool) -> Option<R>,
    on_registered: impl FnOnce(),
    abandon: fn(&mut S),
) -> io::Result<R> {
    let mut state = lock(mutex);
    if let Some(value) = poll(&mut state, false) {
        return Ok(value);
    }
    // The list owns the unparker: no copy kept here (an `Arc` clone and drop per wait);
    // the rare re-registration makes a new one.
    let mut registration = Registration {
        mutex,
        list,
        abandon,
        id: list(&mut state).push(Unparker::current()),
        armed: true,
    };
    drop(state);
    on_registered();
    loop {
        let parked = park::park(kind, deadline);
        let mut state = lock(mutex);
        let notified = !list(&mut state).contains(registration.id);
        let outcome = match poll(&mut state, notified) {
            Some(value) => Some(Ok(value)),
            None => parked.err().map(Err),
        };
        if let Some(outcome) = outcome {
            registration.armed = false;
            if !notified {
                list(&mut state).remove(registration.id);
            } else if outcome.is_err() {
                abandon(&mut state);
            }
            return outcome;
        }
        if notified {
            // Woken, but another took what we were woken for: wait again.
            registration.id = list(&mut state).push(Unparker::current());
        }
    }
}

/// Unregisters a waiter whose coroutine is unwound while parked (a runtime shutdown).
struct Registration<'a, S> {
    mutex: &'a Mutex<S>,
    list: fn(&mut S) -> &mut WaitList,
    abandon: fn(&mut S),
    id: u64,
    armed: bool,
}

impl<S> Drop for Registration<'_, S> {
    fn drop(&mut self) {
        if self.armed {
            let mut state = lock(self.mutex);
            if !(self.list)(&mut state).remove(self.id) {
                (self.abandon)(&mut state);
            }
        }
    }
}
