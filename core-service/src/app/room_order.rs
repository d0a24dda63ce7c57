//! Keeps each room's events in seq order as they leave this replica.
//!
//! Changes to one room are already serialised by the database (the row lock
//! on `rooms`), but their events are published after commit, and two
//! commits can race to the bus. Holding a per-room lock from before the
//! change until its events are handed on closes that window. It costs no
//! parallelism the database would have allowed, and a burst of sends to one
//! room waits here instead of filling the connection pool.
//!
//! Striped (a fixed set of locks chosen by the room id's hash), so memory
//! stays bounded however many rooms exist; unrelated rooms rarely share one.

use std::hash::{Hash, Hasher};

use tokio::sync::{Mutex, MutexGuard};

const STRIPES: usize = 1024;

pub struct RoomOrder {
    stripes: Vec<Mutex<()>>,
}

impl Default for RoomOrder {
    fn default() -> Self {
        Self { stripes: (0..STRIPES).map(|_| Mutex::new(())).collect() }
    }
}

impl RoomOrder {
    /// Waits for the room's turn (FIFO: tokio's mutex is fair).
    pub async fn lock(&self, room_id: &str) -> MutexGuard<'_, ()> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        room_id.hash(&mut h);
        self.stripes[h.finish() as usize % STRIPES].lock().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_room_waits_for_its_turn_while_another_goes_ahead() {
        let order = RoomOrder::default();
        let held = order.lock("room-a").await;
        let same = tokio::time::timeout(std::time::Duration::from_millis(20), order.lock("room-a")).await;
        assert!(same.is_err(), "the same room must wait");
        // Find a room on another stripe; it must not wait.
        let other = (0..100).map(|i| format!("room-{i}")).find(|r| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            r.hash(&mut h);
            let mut a = std::collections::hash_map::DefaultHasher::new();
            "room-a".hash(&mut a);
            h.finish() as usize % STRIPES != a.finish() as usize % STRIPES
        });
        let other = other.unwrap();
        assert!(tokio::time::timeout(std::time::Duration::from_millis(20), order.lock(&other)).await.is_ok());
        drop(held);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(20), order.lock("room-a")).await.is_ok()
        );
    }
}
