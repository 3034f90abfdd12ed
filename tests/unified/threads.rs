//! Thread entities (unified-test-format spec, `runOnThread` / `waitForThread`): each runs
//! the operations given to it, in order, on an OS thread of its own, against a copy of
//! the entity map taken when the operation was scheduled (clients, databases and
//! collections share their connections with the originals).

use std::{
    sync::mpsc,
    thread::{self, JoinHandle},
};

use super::{
    entities::EntityMap,
    format::Operation,
    outcome::{Step, Stop},
    runner::run_entity_operation,
};

type Job = (Operation, EntityMap);

/// One thread entity; its OS thread starts with its first operation.
#[derive(Default)]
pub struct ThreadEntity {
    worker: Option<(mpsc::Sender<Job>, JoinHandle<Step>)>,
}

impl ThreadEntity {
    /// Schedules `op` (against `entities`) after the operations already given.
    pub fn run(&mut self, op: Operation, entities: EntityMap) {
        let (jobs, _) = self.worker.get_or_insert_with(|| {
            let (jobs, queue) = mpsc::channel::<Job>();
            let worker = thread::spawn(move || {
                // The first failure is the thread's outcome; later operations still run,
                // as they would on a runner thread that keeps going.
                let mut outcome = Ok(());
                for (op, mut entities) in queue {
                    let result = run_entity_operation(&op, &mut entities);
                    if outcome.is_ok() {
                        outcome = result;
                    }
                }
                outcome
            });
            (jobs, worker)
        });
        // The worker only stops when the sender is dropped, so the send cannot fail.
        let _ = jobs.send((op, entities));
    }

    /// Waits until every scheduled operation has run; the first failure, if any.
    pub fn wait(&mut self) -> Step {
        let Some((jobs, worker)) = self.worker.take() else {
            return Ok(());
        };
        drop(jobs);
        match worker.join() {
            Ok(outcome) => outcome.map_err(|stop| match stop {
                Stop::Fail(why) => Stop::Fail(format!("on a thread: {why}")),
                skip => skip,
            }),
            Err(_) => Err(Stop::Fail("an operation on a thread panicked".into())),
        }
    }
}

impl Drop for ThreadEntity {
    fn drop(&mut self) {
        // No operation outlives its test.
        let _ = self.wait();
    }
}
