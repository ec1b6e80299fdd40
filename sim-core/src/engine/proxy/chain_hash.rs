//! kube-proxy's chain names: `KUBE-SVC-` + the first 16 base32 characters
//! (RFC 4648) of `sha256(servicePortName + protocol)` (`portProtoHash`,
//! pkg/proxy/iptables/proxier.go). Chain names that match a real node make
//! the render comparable with `iptables-save`. SHA-256 is the `sha2` crate's.

use sha2::{Digest, Sha256};

/// The SHA-256 digest of `data`.
fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// The first `n` characters of the RFC 4648 base32 encoding of `data`
/// (Go's `base32.StdEncoding`), `n` ≤ 8·len/5.
pub(crate) fn base32_prefix(data: &[u8], n: usize) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(n);
    let mut acc: u64 = 0;
    let mut bits = 0u32;
    for &byte in data {
        acc = (acc << 8) | u64::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
            if out.len() == n {
                return out;
            }
        }
    }
    out
}

/// kube-proxy's 16-character chain-name hash of `input`.
pub(crate) fn chain_hash(input: &str) -> String {
    chain_hash_bytes(input.as_bytes())
}

pub(crate) fn chain_hash_bytes(input: &[u8]) -> String {
    base32_prefix(&sha256(input), 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: &[u8]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha256_fips_vectors() {
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // Two blocks.
        assert_eq!(
            hex(&sha256(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }

    #[test]
    fn sha256_padding_boundaries() {
        // 55, 56 and 64 bytes: one or two padding blocks.
        assert_eq!(
            hex(&sha256(&[b'a'; 55])),
            "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"
        );
        assert_eq!(
            hex(&sha256(&[b'a'; 56])),
            "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"
        );
        assert_eq!(
            hex(&sha256(&[b'a'; 64])),
            "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"
        );
    }

    #[test]
    fn kube_proxy_well_known_chain_names() {
        // Chains every kubeadm cluster has (kube-dns and the API Service).
        assert_eq!(
            chain_hash("kube-system/kube-dns:dnsudp"),
            "TCOU7JCQXEZGVUNU"
        );
        assert_eq!(
            chain_hash("kube-system/kube-dns:dns-tcptcp"),
            "ERIFXISQEP7F7OF4"
        );
        assert_eq!(
            chain_hash("default/kubernetes:httpstcp"),
            "NPX46M4PTMTKRN6Y"
        );
    }
}
