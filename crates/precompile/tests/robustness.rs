//! Malformed calldata and corrupted models: every call ends in success, a revert with a reason,
//! or an out-of-gas halt, never a panic or a fatal error, and never charges more than it had.

mod common;

use aiop_precompile::abi;
use alloy_primitives::{Address, U256};
use alloy_sol_types::SolCall;
use common::*;

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn check(m: &Measured, gas: u64, what: &str) {
    assert!(m.gas <= gas, "{what}: charged {} of {gas}", m.gas);
    if !m.ok && !m.ret.is_empty() {
        assert!(revert_reason(&m.ret).starts_with("aiop: "), "{what}");
    }
}

#[test]
fn corrupted_models_never_panic() {
    let mut probe = Probe::new(aiop_factory());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut succeeded, mut refused) = (0, 0);
    for (name, bytes) in testdata_models().into_iter().filter(|(_, b)| b.len() < 8192) {
        for round in 0..60 {
            let mut model = bytes.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(model.len());
                model[at] ^= 1 << rng.below(8);
            }
            if round % 10 == 0 {
                model.truncate(rng.below(model.len()));
            }
            let address = Address::from_word(alloy_primitives::keccak256(&model));
            probe.chain.set_model(address, &model);
            let input_len = aiop_engine::format::ModelHeader::parse(&model)
                .map(|h| (h.input_len as usize).min(1 << 16))
                .unwrap_or(64);
            let input: Vec<u8> = (0..input_len).map(|_| rng.next() as u8).collect();
            for data in [
                abi::inferCall { model: address, input: input.clone().into() }.abi_encode(),
                abi::modelInfoCall { model: address }.abi_encode(),
                abi::costCall { model: address, inputLength: U256::from(input_len) }.abi_encode(),
                abi::inferInlineCall { model: model.clone().into(), input: input.clone().into() }.abi_encode(),
            ] {
                let m = probe.measure(data, CALL_GAS);
                check(&m, CALL_GAS, &name);
                if m.ok { succeeded += 1 } else { refused += 1 }
            }
        }
    }
    assert!(succeeded > 0 && refused > 0, "{succeeded} succeeded, {refused} refused");
}

#[test]
fn random_calldata_never_panics() {
    let mut probe = Probe::new(aiop_factory());
    let (_, mlp) = testdata_models().into_iter().find(|(n, _)| n == "digits_mlp").unwrap();
    probe.chain.set_model(model_address(0), &mlp);
    let valid = abi::inferCall { model: model_address(0), input: vec![0u8; 64].into() }.abi_encode();
    let mut rng = Rng(42);
    let selectors = [
        abi::inferCall::SELECTOR,
        abi::inferInlineCall::SELECTOR,
        abi::costCall::SELECTOR,
        abi::modelInfoCall::SELECTOR,
        [0, 0, 0, 0],
    ];
    for i in 0..300 {
        let mut data = if i % 2 == 0 {
            let mut d = valid.clone();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(d.len());
                d[at] = rng.next() as u8;
            }
            d
        } else {
            let mut d = selectors[rng.below(selectors.len())].to_vec();
            d.extend((0..rng.below(200)).map(|_| rng.next() as u8));
            d
        };
        if i % 7 == 0 {
            data.truncate(rng.below(data.len() + 1));
        }
        let gas = if i % 5 == 0 { rng.below(10_000) as u64 } else { CALL_GAS };
        let m = probe.measure(data, gas);
        check(&m, gas, "random calldata");
    }
}
