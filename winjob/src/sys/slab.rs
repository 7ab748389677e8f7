//! What the event engines of both backends share: a slab (values in
//! numbered slots that keep their number while others come and go, each slot
//! with a generation, so that a key kept after its value was removed never
//! reaches the value that took the slot next; the engines keep their jobs in
//! one and hand the key to the OS as an epoll token or a completion key),
//! and the one engine of the process, started on first need.

#![allow(dead_code)]

use std::io;
use std::sync::{Arc, Mutex, Weak};

/// The value `current` holds while anyone holds it, or a new one from
/// `start`: the engine of the process, started by the first job that needs
/// it and dropped with the last.
///
/// A value that is no longer `usable` (an engine whose thread ended) is
/// left to its holders, and a new one is started for the caller.
pub(crate) fn once_per_process<T>(
    current: &Mutex<Weak<T>>,
    usable: impl Fn(&T) -> bool,
    start: impl FnOnce() -> io::Result<T>,
) -> io::Result<Arc<T>> {
    let mut current = current.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(value) = current.upgrade().filter(|v| usable(v)) {
        return Ok(value);
    }
    let value = Arc::new(start()?);
    *current = Arc::downgrade(&value);
    Ok(value)
}

/// A slot of a slab with its generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Key {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// Slots that keep their index while others come and go.
#[derive(Debug)]
pub(crate) struct Slab<T> {
    slots: Vec<(u32, Option<T>)>,
    free: Vec<u32>,
}

impl<T> Slab<T> {
    pub(crate) fn new() -> Slab<T> {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    pub(crate) fn insert(&mut self, value: T) -> Key {
        if let Some(index) = self.free.pop()
            && let Some(slot) = self.slots.get_mut(index as usize)
        {
            slot.0 = slot.0.wrapping_add(1);
            slot.1 = Some(value);
            return Key {
                index,
                generation: slot.0,
            };
        }
        let index = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
        self.slots.push((0, Some(value)));
        Key {
            index,
            generation: 0,
        }
    }

    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        match self.slots.get_mut(key.index as usize) {
            Some((generation, value)) if *generation == key.generation => value.as_mut(),
            _ => None,
        }
    }

    pub(crate) fn remove(&mut self, key: Key) -> Option<T> {
        let value = match self.slots.get_mut(key.index as usize) {
            Some((generation, value)) if *generation == key.generation => value.take(),
            _ => None,
        }?;
        self.free.push(key.index);
        Some(value)
    }

    /// Takes the value of `key` out, keeping its slot and key (for
    /// [`put`](Self::put) back): while it is out, `get_mut(key)` is `None`.
    pub(crate) fn take(&mut self, key: Key) -> Option<T> {
        match self.slots.get_mut(key.index as usize) {
            Some((generation, value)) if *generation == key.generation => value.take(),
            _ => None,
        }
    }

    /// Puts back a value [`take`](Self::take)n out under `key`.
    pub(crate) fn put(&mut self, key: Key, value: T) {
        if let Some((generation, slot)) = self.slots.get_mut(key.index as usize)
            && *generation == key.generation
            && slot.is_none()
        {
            *slot = Some(value);
        }
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, (_, value))| value.is_some())
            .map(|(index, (generation, _))| Key {
                index: u32::try_from(index).unwrap_or(u32::MAX),
                generation: *generation,
            })
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_slot_is_another_key() {
        let mut slab = Slab::new();
        let a = slab.insert("a");
        assert_eq!(slab.remove(a), Some("a"));
        let b = slab.insert("b");
        assert_eq!(a.index, b.index);
        assert_ne!(a, b);
        assert_eq!(slab.get_mut(a), None);
        assert_eq!(slab.remove(a), None);
        assert_eq!(slab.get_mut(b).copied(), Some("b"));
        assert_eq!(slab.len(), 1);
    }
}
