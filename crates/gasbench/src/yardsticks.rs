//! revm's standard precompiles, called with inputs that make them do their full work (valid
//! signatures, points on the curve, a verifying pairing, EIP-7883's costliest ModExp shapes),
//! as the yardsticks our gas is measured against.

use revm::precompile::{PrecompileSpecId, Precompiles, u64_to_address};

use crate::GasBenchError;

/// One call of a standard precompile.
#[derive(Debug, Clone)]
pub struct StandardCase {
    /// The name the report shows: the precompile and its input (`sha256 (1 KiB)`).
    pub name: &'static str,
    /// The precompile's address, as a number (1 for ecrecover).
    pub address: u64,
    /// The calldata it is called with.
    pub input: Vec<u8>,
    /// Part of the quick run.
    pub quick: bool,
}

impl StandardCase {
    /// The gas the precompile charges for this input (it is a pure function of the input).
    pub fn gas(&self) -> Result<u64, GasBenchError> {
        let precompile = Precompiles::new(PrecompileSpecId::OSAKA)
            .get(&u64_to_address(self.address))
            .ok_or_else(|| GasBenchError::Case { case: self.name.into(), reason: "no such precompile".into() })?;
        let out = precompile
            .execute(&self.input, u64::MAX / 2, 0)
            .map_err(|e| GasBenchError::Case { case: self.name.into(), reason: format!("{e:?}") })?;
        if !out.status.is_success() {
            return Err(GasBenchError::Case { case: self.name.into(), reason: format!("failed: {:?}", out.status) });
        }
        Ok(out.gas_used)
    }
}

fn ecrecover_input() -> Vec<u8> {
    use k256::ecdsa::SigningKey;
    // A fixed key and message: a valid signature, so the precompile does the full recovery.
    let key = SigningKey::from_bytes(&[0x42u8; 32].into()).expect("0x42..42 is a valid secp256k1 key");
    let hash = [0x5au8; 32];
    let (signature, recovery) = key.sign_prehash_recoverable(&hash).expect("signing a 32-byte prehash");
    let mut input = Vec::with_capacity(128);
    input.extend_from_slice(&hash);
    input.extend_from_slice(&[0u8; 31]);
    input.push(27 + recovery.to_byte());
    input.extend_from_slice(&signature.to_bytes());
    input
}

fn be32(value: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[32 - value.len()..].copy_from_slice(value);
    out
}

/// G1 generator (1, 2) of alt_bn128, and its negation (1, p - 2).
fn bn254_g1() -> ([u8; 64], [u8; 64]) {
    let p = hex("30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd47");
    let mut p_minus_2 = p.clone();
    // p ends in ...47; subtracting 2 touches only the last byte.
    p_minus_2[31] -= 2;
    let mut g = [0u8; 64];
    g[31] = 1;
    g[63] = 2;
    let mut neg = [0u8; 64];
    neg[31] = 1;
    neg[32..].copy_from_slice(&p_minus_2);
    (g, neg)
}

/// The G2 generator of alt_bn128 in EIP-197 encoding (imaginary part first).
fn bn254_g2() -> Vec<u8> {
    [
        "198e9393920d483a7260bfb731fb5d25f1aa493335a9e71297e485b7aef312c2",
        "1800deef121f1e76426a00665e5c4479674322d4f75edadd46debd5cd992f6ed",
        "090689d0585ff075ec9e99ad690c3395bc4b313370b38ef355acdadcd122975b",
        "12c85ea5db8c6deb4aab71808dcb408fe3d1e7690c43d37b4ce6cc0166fa7daa",
    ]
    .iter()
    .flat_map(|h| hex(h))
    .collect()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("literal hex")).collect()
}

fn modexp_input(base_len: usize, exp: &[u8], mod_len: usize) -> Vec<u8> {
    let mut input = Vec::new();
    input.extend_from_slice(&be32(&(base_len as u64).to_be_bytes()));
    input.extend_from_slice(&be32(&(exp.len() as u64).to_be_bytes()));
    input.extend_from_slice(&be32(&(mod_len as u64).to_be_bytes()));
    input.extend((0..base_len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(7)));
    input.extend_from_slice(exp);
    // An odd modulus with the top bit set: the full-width case.
    input.extend((0..mod_len).map(|i| {
        if i == 0 {
            0xff
        } else if i + 1 == mod_len {
            0x01
        } else {
            0xa5
        }
    }));
    input
}

fn blake2f_input(rounds: u32) -> Vec<u8> {
    let mut input = Vec::with_capacity(213);
    input.extend_from_slice(&rounds.to_be_bytes());
    input.extend((0..64u32).map(|i| i as u8));
    input.extend((0..128u32).map(|i| (i * 3) as u8));
    input.extend_from_slice(&[3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    input.push(1);
    input
}

/// A point evaluation of the all-zero blob: commitment and proof are the point at infinity,
/// the value at any z is 0, and the verifier still runs its full pairing check.
fn kzg_input() -> Vec<u8> {
    use revm::precompile::kzg_point_evaluation::kzg_to_versioned_hash;
    let mut infinity = [0u8; 48];
    infinity[0] = 0xc0;
    let mut input = Vec::with_capacity(192);
    input.extend_from_slice(&kzg_to_versioned_hash(&infinity));
    let mut z = [0u8; 32];
    z[31] = 7;
    input.extend_from_slice(&z);
    input.extend_from_slice(&[0u8; 32]);
    input.extend_from_slice(&infinity);
    input.extend_from_slice(&infinity);
    input
}

/// The yardstick set. ecrecover comes first: it is the line every other case is compared to.
pub fn standard_cases() -> Vec<StandardCase> {
    let (g1, neg_g1) = bn254_g1();
    let g2 = bn254_g2();
    let mut add = g1.to_vec();
    add.extend_from_slice(&g1);
    let mut mul = g1.to_vec();
    mul.extend_from_slice(&[0xff; 32]);
    // e(G1, G2) * e(-G1, G2) = 1: a pairing that verifies, with two pairs.
    let mut pairing = g1.to_vec();
    pairing.extend_from_slice(&g2);
    pairing.extend_from_slice(&neg_g1);
    pairing.extend_from_slice(&g2);
    vec![
        StandardCase { name: "ecrecover", address: 0x01, input: ecrecover_input(), quick: true },
        StandardCase { name: "sha256 (1 KiB)", address: 0x02, input: vec![0xab; 1024], quick: true },
        StandardCase { name: "identity (1 KiB)", address: 0x04, input: vec![0xab; 1024], quick: true },
        StandardCase {
            name: "modexp (32-byte, exp 2^256-1)",
            address: 0x05,
            input: modexp_input(32, &[0xff; 32], 32),
            quick: true,
        },
        StandardCase {
            name: "modexp (256-byte modulus)",
            address: 0x05,
            input: modexp_input(256, &[0xff; 32], 256),
            quick: false,
        },
        StandardCase {
            name: "modexp (1024-byte modulus)",
            address: 0x05,
            input: modexp_input(1024, &[3], 1024),
            quick: false,
        },
        StandardCase { name: "bn254 add", address: 0x06, input: add, quick: true },
        StandardCase { name: "bn254 mul", address: 0x07, input: mul, quick: true },
        StandardCase { name: "bn254 pairing (2 pairs)", address: 0x08, input: pairing, quick: false },
        StandardCase { name: "blake2f (12 rounds)", address: 0x09, input: blake2f_input(12), quick: true },
        StandardCase { name: "blake2f (10000 rounds)", address: 0x09, input: blake2f_input(10_000), quick: false },
        StandardCase { name: "kzg point evaluation", address: 0x0a, input: kzg_input(), quick: false },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_yardstick_input_succeeds_with_its_standard_gas() {
        for case in standard_cases() {
            let gas = case.gas().unwrap_or_else(|e| panic!("{}: {e}", case.name));
            assert!(gas > 0, "{}", case.name);
            if case.name == "ecrecover" {
                assert_eq!(gas, 3000);
            }
            if case.name.starts_with("bn254 pairing") {
                assert_eq!(gas, 45_000 + 2 * 34_000);
            }
        }
    }
}
