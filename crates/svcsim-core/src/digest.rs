//! The hashes kube-proxy names its per-Service chains with: the first characters of
//! base32(sha256(…)), Go's `base32.StdEncoding` (`docs/fidelity.md#nftables-names`, and
//! `servicePortChainNameBase` in kube-proxy's iptables mode).

use sha2::{Digest, Sha256};

/// RFC 4648's base32 alphabet, the one Go's `base32.StdEncoding` uses.
const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// The first `chars` characters of base32(sha256(`parts` concatenated)).
///
/// Only a prefix is ever needed, so no padding is written.
///
/// # Panics
/// If `chars` is over 51, the characters a 256-bit digest fills without padding.
pub fn sha256_base32(parts: &[&[u8]], chars: usize) -> String {
    assert!(chars <= 256 / 5, "a SHA-256 digest fills only 51 base32 characters");
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    let digest = hasher.finalize();
    (0..chars)
        .map(|i| {
            let bit = i * 5;
            // Five bits that may straddle two bytes: read them as a big-endian 16-bit window.
            let hi = u16::from(digest[bit / 8]) << 8;
            let lo = digest.get(bit / 8 + 1).copied().map_or(0, u16::from);
            let index = ((hi | lo) >> (11 - bit % 8)) & 0x1f;
            char::from(ALPHABET[usize::from(index)])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::sha256_base32;

    /// The expected strings are RFC 4648 base32 of the digests of "" and "abc" (Python's
    /// `base64.b32encode`, the alphabet Go's `base32.StdEncoding` uses), padding dropped.
    #[test]
    fn is_rfc_4648_base32_of_the_digest() {
        assert_eq!(sha256_base32(&[], 51), "4OYMIQUY7QOBJGX36TEJS35ZEQT24QPEMSNZGTFESWMRW6CSXBK");
        assert_eq!(sha256_base32(&[b"abc"], 51), "XJ4BNP4PAHH6UQKBIDPF3LRCEOYAGYNDSYLXVHFUCD7WD4QACWW");
        assert_eq!(sha256_base32(&[b"a", b"bc"], 16), "XJ4BNP4PAHH6UQKB");
        assert_eq!(sha256_base32(&[b"abc"], 0), "");
    }
}
