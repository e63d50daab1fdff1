//! Per-thread pools of scratch vectors, so an idle connection holds none.
//!
//! A connection borrows a [`Lease`] when bytes arrive and drops it when they are
//! consumed; dropping returns the vector, emptied, to the pool of the thread it
//! is dropped on. A task that moved between threads of a multi-thread runtime
//! simply returns it to another thread's pool. Thread-local pools need no lock
//! and no atomic: a lease costs a `RefCell` borrow and a `Vec` pop or push.
//!
//! Only a connection with a request in flight (or half a request buffered)
//! holds a lease, so a pool holds about as many vectors as one thread has
//! requests in flight at once, capped at [`MAX_POOLED`]; an idle keep-alive
//! connection costs its task and socket only.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};
use std::thread::LocalKey;

use crate::response::Reply;

/// Capacity of a pooled byte vector: the read buffer of one connection, or the
/// batched answers to one read.
pub(crate) const BUF_SIZE: usize = 8 * 1024;
/// Most vectors a thread's pool keeps of each kind (2 MB of byte buffers);
/// more are freed.
pub(crate) const MAX_POOLED: usize = 256;
/// A reply list longer than this (a deep pipeline) is freed rather than kept.
const MAX_KEPT_REPLIES: usize = 256;

thread_local! {
    static BYTES: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static REPLIES: RefCell<Vec<Vec<Reply>>> = const { RefCell::new(Vec::new()) };
}

/// A vector that can live in a thread's pool.
pub(crate) trait Reusable: Default + 'static {
    /// The calling thread's pool for this type.
    fn pool() -> &'static LocalKey<RefCell<Vec<Self>>>;
    /// A new vector, when the pool is empty.
    fn fresh() -> Self;
    /// Empties the vector for its next user; false if it grew past its usual
    /// size and should be freed instead, so pools never hold outsized vectors.
    fn recycle(&mut self) -> bool;
}

impl Reusable for Vec<u8> {
    fn pool() -> &'static LocalKey<RefCell<Vec<Self>>> {
        &BYTES
    }

    fn fresh() -> Self {
        Vec::with_capacity(BUF_SIZE)
    }

    fn recycle(&mut self) -> bool {
        self.clear();
        self.capacity() == BUF_SIZE
    }
}

impl Reusable for Vec<Reply> {
    fn pool() -> &'static LocalKey<RefCell<Vec<Self>>> {
        &REPLIES
    }

    fn fresh() -> Self {
        Vec::with_capacity(8)
    }

    fn recycle(&mut self) -> bool {
        self.clear();
        self.capacity() <= MAX_KEPT_REPLIES
    }
}

/// A vector borrowed from the current thread's pool, returned to the pool of
/// the thread that drops it.
#[derive(Debug)]
pub(crate) struct Lease<T: Reusable>(T);

impl<T: Reusable> Lease<T> {
    /// A pooled vector, empty, or a fresh one if the pool is empty.
    pub(crate) fn take() -> Self {
        let pooled = T::pool()
            .try_with(|pool| pool.try_borrow_mut().ok().and_then(|mut p| p.pop()))
            .ok()
            .flatten();
        Lease(pooled.unwrap_or_else(T::fresh))
    }
}

impl<T: Copy + 'static> Lease<Vec<T>>
where
    Vec<T>: Reusable,
{
    /// A pooled vector holding `item`.
    pub(crate) fn take_with(item: T) -> Self {
        let mut lease = Self::take();
        lease.push(item);
        lease
    }
}

impl<T: Reusable> Deref for Lease<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Reusable> DerefMut for Lease<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: Reusable> Drop for Lease<T> {
    fn drop(&mut self) {
        let mut item = std::mem::take(&mut self.0);
        if !item.recycle() {
            return;
        }
        // During thread teardown the pool may be gone: the vector is freed.
        let _ = T::pool().try_with(|pool| {
            if let Ok(mut pool) = pool.try_borrow_mut() {
                if pool.len() < MAX_POOLED {
                    pool.push(item);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pooled_bytes() -> usize {
        BYTES.with(|p| p.borrow().len())
    }

    #[test]
    fn leases_return_to_the_pool_emptied() {
        let before = pooled_bytes();
        let mut a = Lease::<Vec<u8>>::take();
        a.extend_from_slice(b"hello");
        let ptr = a.as_ptr();
        drop(a);
        assert_eq!(pooled_bytes(), before + 1);
        let b = Lease::<Vec<u8>>::take();
        assert_eq!(b.as_ptr(), ptr, "the pooled vector is reused");
        assert!(b.is_empty());
        assert_eq!(b.capacity(), BUF_SIZE);
    }

    #[test]
    fn grown_vectors_are_freed() {
        let before = pooled_bytes();
        let mut a = Lease::<Vec<u8>>::take();
        a.reserve_exact(BUF_SIZE * 2);
        drop(a);
        assert_eq!(pooled_bytes(), before);

        let mut r = Lease::<Vec<Reply>>::take();
        r.resize(MAX_KEPT_REPLIES + 1, Reply::Continue);
        drop(r);
        assert!(REPLIES.with(|p| p.borrow().iter().all(|v| v.capacity() <= MAX_KEPT_REPLIES)));
    }

    #[test]
    fn pool_is_capped() {
        let leases: Vec<_> = (0..MAX_POOLED + 10)
            .map(|_| Lease::<Vec<u8>>::take())
            .collect();
        drop(leases);
        assert_eq!(pooled_bytes(), MAX_POOLED);
    }
}
