//! Stable sorting through one compiled sort routine, shared by every element type.
//!
//! The standard library's `sort_by` is generic: each element type sorted anywhere puts another
//! 3–4 KB copy of driftsort into the wasm bundle, and collecting into a `BTreeMap`/`BTreeSet`
//! sorts too. The functions here sort a permutation of `u32` indices with a `dyn` comparison
//! instead, so the bundle carries the routine once; only a small permutation step is generic.
//! They are for the simulation's setup and rendering paths (tens of thousands of items at most),
//! not for the per-packet loop.
//!
//! To build a sorted set or map, `extend` an empty one: that inserts one by one, while
//! `collect` sorts its input first.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// The set of `items`, built by inserting them one by one (`collect` would sort them first).
pub fn set<T: Ord>(items: impl IntoIterator<Item = T>) -> BTreeSet<T> {
    let mut set = BTreeSet::new();
    set.extend(items);
    set
}

/// The map of `entries`, built by inserting them one by one (`collect` would sort them first);
/// a later entry for the same key replaces an earlier one, as with `collect`.
pub fn map<K: Ord, V>(entries: impl IntoIterator<Item = (K, V)>) -> BTreeMap<K, V> {
    let mut map = BTreeMap::new();
    map.extend(entries);
    map
}

/// Sorts `v` by `compare`, stably: equal elements keep their order, as with `slice::sort_by`.
pub fn sort_by<T>(v: &mut [T], compare: impl Fn(&T, &T) -> Ordering) {
    let mut perm = stable_order(v.len(), &|a, b| compare(&v[a], &v[b]));
    permute(v, &mut perm);
}

/// Sorts `v` by the key `key` returns, stably, like `slice::sort_by_key`.
pub fn sort_by_key<T, K: Ord>(v: &mut [T], key: impl Fn(&T) -> K) {
    sort_by(v, |a, b| key(a).cmp(&key(b)));
}

/// Sorts `v` by a key computed once per element, stably, like `slice::sort_by_cached_key`.
pub fn sort_by_cached_key<T, K: Ord>(v: &mut [T], key: impl Fn(&T) -> K) {
    let keys: Vec<K> = v.iter().map(key).collect();
    let mut perm = stable_order(v.len(), &|a, b| keys[a].cmp(&keys[b]));
    permute(v, &mut perm);
}

/// Sorts `v` in its natural order, stably, like `slice::sort`.
pub fn sort<T: Ord>(v: &mut [T]) {
    sort_by(v, T::cmp);
}

/// The indices `0..n` in the order `compare` gives them, stably: the one instantiation of the
/// standard library's sort that the functions above share.
///
/// Panics if `n` exceeds `u32::MAX`, which no scenario approaches.
#[inline(never)]
fn stable_order(n: usize, compare: &dyn Fn(usize, usize) -> Ordering) -> Vec<u32> {
    let n = u32::try_from(n).expect("fewer than 2^32 items to sort");
    let mut perm: Vec<u32> = (0..n).collect();
    // Ties broken by position make the unstable sort stable; it compiles smaller than driftsort.
    perm.sort_unstable_by(|&a, &b| compare(a as usize, b as usize).then(a.cmp(&b)));
    perm
}

/// Rearranges `v` so that its element `i` is the one that was at `perm[i]`, in place, one cycle
/// of the permutation at a time. Leaves `perm` as the identity.
fn permute<T>(v: &mut [T], perm: &mut [u32]) {
    for start in 0..v.len() {
        let mut at = start;
        // Invariant: the element that was at `start` now sits at `at`, and every position
        // visited before `at` holds its final element.
        loop {
            let from = perm[at] as usize;
            perm[at] = at as u32;
            if from == start {
                break;
            }
            v.swap(at, from);
            at = from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_like_the_standard_library_and_stably() {
        // Pairs sorted by their first half only: the second half shows stability.
        let mut rng = crate::rng::SimRng::new(7);
        for len in [0usize, 1, 2, 3, 17, 64, 500] {
            let v: Vec<(u8, usize)> = (0..len).map(|i| (rng.below(5) as u8, i)).collect();
            let mut want = v.clone();
            want.sort_by_key(|p| p.0);
            let mut got = v.clone();
            sort_by_key(&mut got, |p| p.0);
            assert_eq!(got, want, "len {len}");
            let mut cached = v.clone();
            sort_by_cached_key(&mut cached, |p| p.0.to_string());
            assert_eq!(cached, want, "len {len}");
            let mut natural = v;
            sort(&mut natural);
            want.sort();
            assert_eq!(natural, want, "len {len}");
        }
    }
}
