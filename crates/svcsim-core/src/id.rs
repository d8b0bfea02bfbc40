//! Typed indices and the vectors they index: a `NodeId` indexes an `IdVec<NodeId, Node>` and
//! nothing else, so a pod's index can never be used to look up a node.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut, Index, IndexMut};

/// A typed index into an [`IdVec`].
pub trait Id: Copy + Ord {
    fn from_index(index: usize) -> Self;
    fn index(self) -> usize;
}

/// Declares a `u32` newtype index implementing [`Id`].
macro_rules! define_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u32);

        impl $crate::id::Id for $name {
            fn from_index(index: usize) -> Self {
                $name(u32::try_from(index).expect("fewer than 2^32 objects"))
            }
            fn index(self) -> usize {
                self.0 as usize
            }
        }
    };
}
pub(crate) use define_id;

/// A vector indexed by `I`. It derefs to a slice for iteration and `len`, and is indexed by `I`
/// (a bare `usize` indexes it by position, for tests and positional code).
pub struct IdVec<I, T> {
    raw: Vec<T>,
    _id: PhantomData<fn(I) -> I>,
}

impl<I: Id, T> IdVec<I, T> {
    pub fn new() -> IdVec<I, T> {
        IdVec { raw: Vec::new(), _id: PhantomData }
    }
    /// Appends `value` and returns its id.
    pub fn push(&mut self, value: T) -> I {
        self.raw.push(value);
        I::from_index(self.raw.len() - 1)
    }
    pub fn get(&self, id: I) -> Option<&T> {
        self.raw.get(id.index())
    }
    pub fn get_mut(&mut self, id: I) -> Option<&mut T> {
        self.raw.get_mut(id.index())
    }
    /// Every id, in order.
    pub fn ids(&self) -> impl DoubleEndedIterator<Item = I> + ExactSizeIterator + use<I, T> {
        (0..self.raw.len()).map(I::from_index)
    }
    /// (id, value) pairs, in order.
    pub fn iter_enumerated(&self) -> impl DoubleEndedIterator<Item = (I, &T)> {
        self.raw.iter().enumerate().map(|(i, v)| (I::from_index(i), v))
    }
    /// (id, value) pairs, in order, mutably.
    pub fn iter_enumerated_mut(&mut self) -> impl Iterator<Item = (I, &mut T)> {
        self.raw.iter_mut().enumerate().map(|(i, v)| (I::from_index(i), v))
    }
    /// The id the next pushed value gets.
    pub fn next_id(&self) -> I {
        I::from_index(self.raw.len())
    }
    /// The first id whose value satisfies `f`.
    pub fn position(&self, f: impl FnMut(&T) -> bool) -> Option<I> {
        self.raw.iter().position(f).map(I::from_index)
    }
    pub fn into_raw(self) -> Vec<T> {
        self.raw
    }
}

impl<I, T> Deref for IdVec<I, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.raw
    }
}

impl<I, T> DerefMut for IdVec<I, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.raw
    }
}

impl<I: Id, T> Index<I> for IdVec<I, T> {
    type Output = T;
    fn index(&self, id: I) -> &T {
        &self.raw[id.index()]
    }
}

impl<I: Id, T> IndexMut<I> for IdVec<I, T> {
    fn index_mut(&mut self, id: I) -> &mut T {
        &mut self.raw[id.index()]
    }
}

/// Positional access, for tests and code that walks the vector in order; code that holds an id
/// indexes with it.
impl<I, T> Index<usize> for IdVec<I, T> {
    type Output = T;
    fn index(&self, i: usize) -> &T {
        &self.raw[i]
    }
}

impl<I, T> IndexMut<usize> for IdVec<I, T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.raw[i]
    }
}

impl<I, T> Default for IdVec<I, T> {
    fn default() -> Self {
        IdVec { raw: Vec::new(), _id: PhantomData }
    }
}

impl<I, T: Clone> Clone for IdVec<I, T> {
    fn clone(&self) -> Self {
        IdVec { raw: self.raw.clone(), _id: PhantomData }
    }
}

impl<I, T: fmt::Debug> fmt::Debug for IdVec<I, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.raw.fmt(f)
    }
}

impl<I, T: PartialEq> PartialEq for IdVec<I, T> {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl<I, T: Eq> Eq for IdVec<I, T> {}

impl<I, T> From<Vec<T>> for IdVec<I, T> {
    fn from(raw: Vec<T>) -> Self {
        IdVec { raw, _id: PhantomData }
    }
}

impl<I, T> FromIterator<T> for IdVec<I, T> {
    fn from_iter<It: IntoIterator<Item = T>>(iter: It) -> Self {
        IdVec { raw: iter.into_iter().collect(), _id: PhantomData }
    }
}

impl<I, T> Extend<T> for IdVec<I, T> {
    fn extend<It: IntoIterator<Item = T>>(&mut self, iter: It) {
        self.raw.extend(iter)
    }
}

impl<'a, I, T> IntoIterator for &'a IdVec<I, T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.raw.iter()
    }
}

impl<'a, I, T> IntoIterator for &'a mut IdVec<I, T> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.raw.iter_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    define_id!(
        /// A test index.
        ThingId
    );

    #[test]
    fn ids_index_their_own_vector() {
        let mut v: IdVec<ThingId, &str> = IdVec::new();
        let a = v.push("a");
        let b = v.push("b");
        assert_eq!((a, b), (ThingId(0), ThingId(1)));
        assert_eq!(v[b], "b");
        assert_eq!(v.ids().collect::<Vec<_>>(), [a, b]);
        assert_eq!(v.position(|s| *s == "b"), Some(b));
        assert_eq!(v.next_id(), ThingId(2));
        assert_eq!(v.len(), 2);
    }
}
