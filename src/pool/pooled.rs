//! The checked-out connection guard.

use std::{
    fmt,
    ops::{Deref, DerefMut},
    sync::Arc,
};

use super::{interrupt::Interrupter, shared::Inner, PoolConnection};
use crate::options::ServerAddress;

/// A checked-out connection. Derefs to the connection; dropping it checks it back in
/// (or closes it, if it is not reusable or its pool was cleared or closed meanwhile).
///
/// It keeps its pool's shared state alive, not the [`Pool`](super::Pool) handle: a connection that
/// outlives its pool is closed when dropped.
pub struct PooledConnection<C: PoolConnection> {
    /// `Some` until dropped.
    conn: Option<C>,
    id: u64,
    generation: u64,
    /// Keeps the connection interruptible by a clear while it is checked out.
    interrupter: Arc<Interrupter>,
    pool: Arc<Inner<C>>,
}

impl<C: PoolConnection> PooledConnection<C> {
    pub(super) fn new(
        conn: C,
        id: u64,
        generation: u64,
        interrupter: Arc<Interrupter>,
        pool: Arc<Inner<C>>,
    ) -> Self {
        PooledConnection {
            conn: Some(conn),
            id,
            generation,
            interrupter,
            pool,
        }
    }

    /// The connection's id in its pool: 1, 2, 3, ... in order of creation.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The pool generation the connection was created in.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The server it is connected to.
    pub fn address(&self) -> &ServerAddress {
        &self.pool.address
    }
}

impl<C: PoolConnection> Deref for PooledConnection<C> {
    type Target = C;

    fn deref(&self) -> &C {
        self.conn.as_ref().expect("present until dropped")
    }
}

impl<C: PoolConnection> DerefMut for PooledConnection<C> {
    fn deref_mut(&mut self) -> &mut C {
        self.conn.as_mut().expect("present until dropped")
    }
}

impl<C: PoolConnection> Drop for PooledConnection<C> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let interrupter = self.interrupter.clone();
            self.pool
                .check_in(conn, self.id, self.generation, interrupter);
        }
    }
}

impl<C: PoolConnection> fmt::Debug for PooledConnection<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledConnection")
            .field("address", &self.pool.address)
            .field("id", &self.id)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}
