//! Maglev consistent hashing as Cilium does it: the lookup table its agent builds per frontend
//! (`pkg/maglev/maglev.go`) and the tuple hash its datapath indexes it with
//! (`lb4_select_backend_id_maglev` in `bpf/lib/lb.h`, `__hash_from_tuple_v4` in `bpf/lib/hash.h`;
//! `docs/fidelity.md#cilium-maglev`).
//!
//! The table depends only on the backends' addresses, the table size and the seed, never on the
//! node, so every node picks the same backend for one 5-tuple; removing a backend moves its own
//! slots and, for a table much larger than the backend count, well under 1 % of the others.

use std::net::IpAddr;

use base64::Engine as _;

use crate::net::{Protocol, SockAddr};

/// The three seeds Cilium derives from `maglev.hashSeed` (base64 of 12 bytes, read as three
/// big-endian words): murmur3's for the table, jhash's for IPv4 and for IPv6 tuples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seeds {
    pub murmur: u32,
    pub jhash4: u32,
    pub jhash6: u32,
}

impl Seeds {
    /// The seeds of `hash_seed`, or `None` when it is not base64 of exactly 12 bytes (the
    /// agent refuses such a seed).
    pub fn from_hash_seed(hash_seed: &str) -> Option<Seeds> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(hash_seed).ok()?;
        let word = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().expect("four bytes"));
        (bytes.len() == 12).then(|| Seeds { murmur: word(0), jhash4: word(4), jhash6: word(8) })
    }
}

/// The string Cilium hashes for a backend: `[10.244.1.10:8080/TCP,State:active]`, or
/// `[[fd00::1]:80/TCP,State:active]` for IPv6 (the old `Backend.String()`, kept so that
/// tables stay the same across releases).
pub fn backend_hash_string(backend: SockAddr, proto: Protocol) -> String {
    format!("[{backend}/{proto},State:active]")
}

/// One backend as the table sees it: its hash string, its weight (Cilium gives every
/// Kubernetes backend 100) and the id the table holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableBackend<T> {
    pub hash_string: String,
    pub weight: u16,
    pub id: T,
}

/// A Maglev lookup table of `size` slots (a prime) over `backends`: Eisenbud et al.'s
/// population, round-robin over the backends sorted by hash string, each turn taking the next
/// free slot of the backend's permutation (offset and skip from murmur3), with Cilium's
/// weighted turns (a backend skips a turn while its share is ahead). Equal weights give the
/// unweighted table. Empty when there are no backends.
pub fn lookup_table<T: Copy>(backends: &[TableBackend<T>], size: u32, murmur_seed: u32) -> Vec<T> {
    if backends.is_empty() {
        return Vec::new();
    }
    let mut sorted: Vec<&TableBackend<T>> = backends.iter().collect();
    crate::order::sort_by(&mut sorted, |a, b| a.hash_string.as_bytes().cmp(b.hash_string.as_bytes()));
    let (m, l) = (u64::from(size), sorted.len());
    let perms: Vec<(u64, u64)> = sorted
        .iter()
        .map(|b| {
            let (h1, h2) = murmur3_x64_128(b.hash_string.as_bytes(), murmur_seed);
            (h1 % m, h2 % (m - 1) + 1)
        })
        .collect();
    let weight_sum: u64 = sorted.iter().map(|b| u64::from(b.weight)).sum();
    let weighted = weight_sum / l as u64 > 1;
    let mut counter: Vec<f64> = sorted.iter().map(|b| f64::from(b.weight) / l as f64).collect();
    let mut next = vec![0u64; l];
    let mut entry: Vec<Option<T>> = vec![None; size as usize];
    for n in 0..u64::from(size) {
        let mut i = (n % l as u64) as usize;
        if weighted {
            while (n + 1) * u64::from(sorted[i].weight) < counter[i] as u64 {
                i = (i + 1) % l;
            }
            counter[i] += weight_sum as f64;
        }
        let (offset, skip) = perms[i];
        loop {
            let c = ((offset + next[i] * skip) % m) as usize;
            next[i] += 1;
            if entry[c].is_none() {
                entry[c] = Some(sorted[i].id);
                break;
            }
        }
    }
    entry.into_iter().map(|e| e.expect("every slot is filled")).collect()
}

/// The slot of a connection in a table of `size` slots: jhash of the client's address, the two
/// ports and the protocol (the destination is left out, so every frontend of a service agrees).
/// With ClientIP affinity the client's port counts as 0. Cilium 1.17+'s word order: the
/// service's port in the high half.
pub fn slot(client: SockAddr, service_port: u16, proto: Protocol, affinity: bool, seeds: Seeds, size: u32) -> u32 {
    let sport = if affinity { 0 } else { client.port };
    // The datapath reads network-order ports as little-endian halves.
    let ports = (u32::from(service_port.swap_bytes()) << 16) | u32::from(sport.swap_bytes());
    let proto = u32::from(proto.number());
    let hash = match client.ip {
        IpAddr::V4(a) => jhash_3words(u32::from_le_bytes(a.octets()), ports, proto, seeds.jhash4),
        IpAddr::V6(a) => {
            let o = a.octets();
            let w = |i: usize| u32::from_le_bytes(o[i..i + 4].try_into().expect("four bytes"));
            let (mut x, mut y, mut z) = (w(0), w(4), w(8));
            jhash_mix(&mut x, &mut y, &mut z);
            x = x.wrapping_add(w(12));
            y = y.wrapping_add(ports);
            z = z.wrapping_add(proto);
            jhash_mix(&mut x, &mut y, &mut z);
            x = x.wrapping_add(seeds.jhash6);
            jhash_final(x, y, z)
        }
    };
    hash % size
}

/// MurmurHash3 x64 128 (Austin Appleby's reference, as `pkg/murmur3` implements it): the two
/// 64-bit halves, both seeded with `seed`.
pub fn murmur3_x64_128(data: &[u8], seed: u32) -> (u64, u64) {
    const C1: u64 = 0x87c3_7b91_1142_53d5;
    const C2: u64 = 0x4cf5_ad43_2745_937f;
    let (mut h1, mut h2) = (u64::from(seed), u64::from(seed));
    let mut blocks = data.chunks_exact(16);
    for b in &mut blocks {
        let k1 = u64::from_le_bytes(b[..8].try_into().expect("eight bytes"));
        let k2 = u64::from_le_bytes(b[8..].try_into().expect("eight bytes"));
        h1 ^= k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
        h1 = h1.rotate_left(27).wrapping_add(h2).wrapping_mul(5).wrapping_add(0x52dc_e729);
        h2 ^= k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
        h2 = h2.rotate_left(31).wrapping_add(h1).wrapping_mul(5).wrapping_add(0x3849_5ab5);
    }
    let tail = blocks.remainder();
    let word = |bytes: &[u8]| bytes.iter().rev().fold(0u64, |k, b| (k << 8) | u64::from(*b));
    if tail.len() > 8 {
        h2 ^= word(&tail[8..]).wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
    }
    if !tail.is_empty() {
        h1 ^= word(&tail[..tail.len().min(8)]).wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
    }
    let len = data.len() as u64;
    h1 ^= len;
    h2 ^= len;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    (h1, h2)
}

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// Linux's `jhash_3words` (`include/linux/jhash.h`, which Cilium's `bpf/lib/jhash.h` copies).
pub fn jhash_3words(a: u32, b: u32, c: u32, initval: u32) -> u32 {
    let iv = initval.wrapping_add(0xdead_beef).wrapping_add(3 << 2);
    jhash_final(a.wrapping_add(iv), b.wrapping_add(iv), c.wrapping_add(iv))
}

fn jhash_final(mut a: u32, mut b: u32, mut c: u32) -> u32 {
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(14));
    a ^= c;
    a = a.wrapping_sub(c.rotate_left(11));
    b ^= a;
    b = b.wrapping_sub(a.rotate_left(25));
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(16));
    a ^= c;
    a = a.wrapping_sub(c.rotate_left(4));
    b ^= a;
    b = b.wrapping_sub(a.rotate_left(14));
    c ^= b;
    c.wrapping_sub(b.rotate_left(24))
}

fn jhash_mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(4);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(6);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(8);
    *b = b.wrapping_add(*a);
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(16);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(19);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(4);
    *b = b.wrapping_add(*a);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeds() -> Seeds {
        Seeds::from_hash_seed(crate::cluster::CiliumConfig::DEFAULT_HASH_SEED).unwrap()
    }

    fn sock(s: &str) -> SockAddr {
        s.parse().unwrap()
    }

    /// Run-length encoding of a table: `id(count),…`, as Cilium's test writes it.
    fn rle(table: &[u32]) -> String {
        let mut out: Vec<String> = Vec::new();
        let mut i = 0;
        while i < table.len() {
            let j = (i..table.len()).find(|&j| table[j] != table[i]).unwrap_or(table.len());
            out.push(format!("{}({})", table[i], j - i));
            i = j;
        }
        out.join(",")
    }

    #[test]
    fn the_default_seed_is_cilium_s() {
        assert_eq!(seeds(), Seeds { murmur: 0x24b7_ef82, jhash4: 0x71dc_da46, jhash6: 0x9250_5688 });
        assert_eq!(Seeds::from_hash_seed("c2hvcnQ="), None, "5 bytes: refused, as the agent does");
    }

    #[test]
    fn murmur3_and_jhash_match_their_reference_values() {
        // MurmurHash3_x64_128 of the empty string with seed 0 is zero; "hello" with seed 0 is
        // the reference implementation's cbd8a7b341bd9b02 5b1e906a48ae1d19.
        assert_eq!(murmur3_x64_128(b"", 0), (0, 0));
        assert_eq!(murmur3_x64_128(b"hello", 0), (0xcbd8_a7b3_41bd_9b02, 0x5b1e_906a_48ae_1d19));
        // Offsets and skips of two of Cilium's test backends (M = 251).
        let (h1, h2) = murmur3_x64_128(b"[0.0.0.1:1/TCP,State:active]", seeds().murmur);
        assert_eq!((h1, h2), (0xe5a6_1e34_6c85_d436, 0x53ee_412c_c7f2_0636));
        assert_eq!((h1 % 251, h2 % 250 + 1), (129, 67));
        assert_eq!(jhash_3words(1, 2, 3, 0), 0xa461_58f5);
    }

    fn backend<T>(hash_string: String, weight: u16, id: T) -> TableBackend<T> {
        TableBackend { hash_string, weight, id }
    }

    fn k8s(addrs: impl IntoIterator<Item = (String, u32)>) -> Vec<TableBackend<u32>> {
        addrs.into_iter().map(|(a, id)| backend(backend_hash_string(sock(&a), Protocol::Tcp), 100, id)).collect()
    }

    #[test]
    fn the_table_is_cilium_s_for_its_own_test_backends() {
        // `TestReproducible` in `pkg/maglev/maglev_test.go`: four backends of weights 2, 13, 111
        // and 10 in a table of 251, with the default seed; the expected table as Cilium's test
        // writes it, id(run length).
        let weights = [(1, 2), (3, 13), (4, 111), (5, 10)];
        let backends: Vec<TableBackend<u32>> = weights
            .iter()
            .zip(0..)
            .map(|((n, w), id)| backend(format!("[0.0.0.{n}:{n}/TCP,State:active]"), *w, id))
            .collect();
        let table = lookup_table(&backends, 251, seeds().murmur);
        assert_eq!(
            rle(&table),
            "2(5),3(1),2(3),1(1),2(2),0(1),2(1),3(1),2(1),3(1),2(1),1(1),2(7),1(1),2(14),3(1),2(1),1(2),2(12),3(1),2(3),1(1),2(4),3(1),2(8),3(1),2(2),1(1),2(16),1(2),2(3),3(1),2(11),1(2),2(4),3(1),2(3),1(1),2(4),3(1),2(1),0(1),1(1),2(8),1(1),2(7),1(1),2(4),3(1),2(1),3(1),2(9),1(2),2(5),1(1),2(7),3(1),2(1),3(1),1(1),2(8),1(1),2(4),0(1),2(1),1(1),2(5),3(1),2(3),1(1),2(4),3(1),2(3),1(1),2(12),0(1),3(1),2(3),3(1),2(4),3(1),2(2),1(1),2(7)"
        );
        // `TestWeightedBackendWithRemoval`'s counts for the same weights in a table of 1021.
        let table = lookup_table(&backends, 1021, seeds().murmur);
        let counts: Vec<usize> = (0..4).map(|id| table.iter().filter(|t| **t == id).count()).collect();
        assert_eq!(counts, [16, 98, 832, 75]);
    }

    #[test]
    fn equal_weights_give_every_backend_its_share_to_one_slot() {
        let backends: Vec<TableBackend<u32>> = [1, 3, 4, 5]
            .iter()
            .zip(0..)
            .map(|(n, id)| backend(format!("[0.0.0.{n}:{n}/TCP,State:active]"), 100, id))
            .collect();
        let table = lookup_table(&backends, 251, seeds().murmur);
        let counts: Vec<usize> = (0..4).map(|id| table.iter().filter(|t| **t == id).count()).collect();
        assert_eq!(counts, [63, 63, 63, 62], "the 251 mod 4 extra slots go to the first backends in hash-string order");
    }

    #[test]
    fn a_kubernetes_service_s_table_is_balanced_and_reproducible() {
        let backends = k8s([10, 11, 12].map(|n| (format!("10.244.1.{n}:8080"), n)));
        assert_eq!(backends[0].hash_string, "[10.244.1.10:8080/TCP,State:active]");
        let table = lookup_table(&backends, 16381, seeds().murmur);
        let counts: Vec<usize> = [10, 11, 12].map(|id| table.iter().filter(|t| **t == id).count()).into();
        assert_eq!(counts, [5461, 5460, 5460]);
        assert_eq!(table[..16], [11, 12, 12, 11, 10, 12, 11, 12, 12, 11, 10, 12, 11, 11, 10, 11]);
        let reversed: Vec<TableBackend<u32>> = backends.iter().rev().cloned().collect();
        assert_eq!(lookup_table(&reversed, 16381, seeds().murmur), table, "insertion order does not matter");
    }

    #[test]
    fn removing_a_backend_moves_its_slots_and_under_one_percent_of_the_others() {
        let backends = k8s((1..=10).map(|n| (format!("10.0.0.{n}:8080"), n)));
        let before = lookup_table(&backends, 16381, seeds().murmur);
        let after = lookup_table(&backends[..9], 16381, seeds().murmur);
        assert!(!after.contains(&10), "no slot keeps the removed backend");
        let moved_others = before.iter().zip(&after).filter(|(b, a)| **b != 10 && b != a).count();
        assert_eq!(moved_others, 74, "0.45 % of 16381");
        assert!((moved_others as f64) < 0.01 * 16381.0);
    }

    #[test]
    fn a_tuple_hashes_to_cilium_s_slot() {
        let s = seeds();
        let slot = |c: &str, port, proto, affinity| super::slot(sock(c), port, proto, affinity, s, 16381);
        assert_eq!(slot("10.0.0.1:40000", 80, Protocol::Tcp, false), 1032);
        assert_eq!(slot("10.0.0.1:40000", 80, Protocol::Tcp, true), 2048);
        assert_eq!(slot("192.168.1.10:51234", 30080, Protocol::Tcp, false), 8187);
        assert_eq!(slot("10.0.0.1:40000", 53, Protocol::Udp, false), 12381);
        assert_eq!(slot("[fd00::1]:40000", 80, Protocol::Tcp, false), 13105);
    }
}
