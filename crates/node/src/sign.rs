//! Signing with the keys of the unlocked dev accounts, for `personal_sign`/`eth_sign`,
//! `eth_signTypedData_v4` and `eth_signTransaction`, through alloy's local signer.
//!
//! What it must never do: sign with a key the caller did not pass (it holds no keys of its
//! own), return a key or write one anywhere, or panic on any message, typed data or
//! transaction a client can send.

use crate::error::{NodeError, Result, TxRejection};
use alloy_consensus::{SignableTransaction, TxEnvelope, TypedTransaction};
use alloy_dyn_abi::TypedData;
use alloy_primitives::{Bytes, Signature};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use k256::ecdsa::SigningKey;

fn signer(key: &SigningKey) -> PrivateKeySigner {
    PrivateKeySigner::from_signing_key(key.clone())
}

fn signing_error(e: alloy_signer::Error) -> NodeError {
    TxRejection::Signing(e.to_string()).into()
}

/// A signature as geth's `personal_sign` and `eth_signTypedData_v4` return it: 65 bytes,
/// `r || s || v` with `v` 27 or 28.
fn rsv(signature: Signature) -> Bytes {
    Bytes::copy_from_slice(&signature.as_bytes())
}

/// Signs `message` as EIP-191 (`personal_sign`, and `eth_sign` with the arguments swapped): the
/// signature of `keccak256("\x19Ethereum Signed Message:\n" || len(message) || message)`, as
/// 65 bytes `r || s || v` with `v` 27 or 28.
pub fn personal_sign(key: &SigningKey, message: &[u8]) -> Result<Bytes> {
    signer(key).sign_message_sync(message).map(rsv).map_err(signing_error)
}

/// Signs EIP-712 typed data (`eth_signTypedData_v4`): the signature of its signing hash
/// (`keccak256(0x1901 || domainSeparator || hashStruct(message))`), as 65 bytes
/// `r || s || v` with `v` 27 or 28. Typed data whose types do not resolve or whose message
/// does not match them is refused with [`TxRejection::Signing`].
pub fn typed_data_sign(key: &SigningKey, typed: &TypedData) -> Result<Bytes> {
    signer(key).sign_dynamic_typed_data_sync(typed).map(rsv).map_err(signing_error)
}

/// Signs a transaction the caller built (legacy, EIP-2930, EIP-1559, EIP-4844 or EIP-7702;
/// its chain id, nonce, fees and gas as given) and returns it signed, ready for
/// `eth_sendRawTransaction` (`encoded_2718`) or `eth_signTransaction`.
pub fn sign_transaction(key: &SigningKey, tx: TypedTransaction) -> Result<TxEnvelope> {
    let signature = signer(key).sign_hash_sync(&tx.signature_hash()).map_err(signing_error)?;
    Ok(tx.into_envelope(signature))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{DEV_CHAIN_ID, dev_accounts, parse_key};
    use alloy_consensus::{
        SignableTransaction, Transaction, TxEip1559, TxEip2930, TxEip7702, TxLegacy, transaction::SignerRecoverable,
    };
    use alloy_eips::eip7702::Authorization;
    use alloy_primitives::{Address, B256, TxKind, U256, address, b256, hex, keccak256};
    use k256::ecdsa::{RecoveryId, Signature as EcdsaSignature, VerifyingKey};

    const ANVIL_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    const ANVIL_ADDRESS: Address = address!("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");

    /// The address a 65-byte `r || s || v` signature of `prehash` recovers to, by k256 alone.
    fn recover(prehash: &[u8; 32], rsv: &[u8]) -> Address {
        assert_eq!(rsv.len(), 65);
        assert!(rsv[64] == 27 || rsv[64] == 28, "v is {}", rsv[64]);
        let signature = EcdsaSignature::from_slice(&rsv[..64]).expect("r and s");
        let recid = RecoveryId::from_byte(rsv[64] - 27).expect("recovery id");
        let key = VerifyingKey::recover_from_prehash(prehash, &signature, recid).expect("recoverable");
        Address::from_public_key(&key)
    }

    #[test]
    fn personal_sign_matches_eip191_signed_directly_with_k256() {
        let key = parse_key(ANVIL_KEY).expect("key");
        let signature = personal_sign(&key, b"hello").expect("signed");
        // EIP-191 version 0x45, spelled out: "\x19Ethereum Signed Message:\n" + "5" + "hello".
        let mut preimage = b"\x19Ethereum Signed Message:\n5".to_vec();
        preimage.extend_from_slice(b"hello");
        let prehash = keccak256(&preimage);
        assert_eq!(prehash, b256!("0x50b2c43fd39106bafbba0da34fc430e1f91e3c96ea2acee2bc34119f92b37750"));
        let (expected, recid) = key.sign_prehash_recoverable(prehash.as_slice()).expect("k256 signs");
        let mut want = expected.to_bytes().to_vec();
        want.push(27 + recid.to_byte());
        assert_eq!(signature.as_ref(), want.as_slice());
        assert_eq!(recover(&prehash.0, &signature), ANVIL_ADDRESS);
        let empty = personal_sign(&key, b"").expect("the empty message is signed too");
        assert_eq!(recover(&keccak256(b"\x19Ethereum Signed Message:\n0").0, &empty), ANVIL_ADDRESS);
    }

    /// The `Mail` example of EIP-712, with its published signing hash and the signature of
    /// `keccak256("cow")` over it.
    fn mail() -> TypedData {
        serde_json::from_value(serde_json::json!({
            "types": {
                "EIP712Domain": [
                    { "name": "name", "type": "string" },
                    { "name": "version", "type": "string" },
                    { "name": "chainId", "type": "uint256" },
                    { "name": "verifyingContract", "type": "address" }
                ],
                "Person": [
                    { "name": "name", "type": "string" },
                    { "name": "wallet", "type": "address" }
                ],
                "Mail": [
                    { "name": "from", "type": "Person" },
                    { "name": "to", "type": "Person" },
                    { "name": "contents", "type": "string" }
                ]
            },
            "primaryType": "Mail",
            "domain": {
                "name": "Ether Mail",
                "version": "1",
                "chainId": 1,
                "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"
            },
            "message": {
                "from": { "name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826" },
                "to": { "name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB" },
                "contents": "Hello, Bob!"
            }
        }))
        .expect("valid typed data")
    }

    #[test]
    fn typed_data_sign_reproduces_the_eip712_example() {
        let key = SigningKey::from_slice(keccak256(b"cow").as_slice()).expect("key");
        assert_eq!(Address::from_private_key(&key), address!("0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"));
        let typed = mail();
        let hash = typed.eip712_signing_hash().expect("hashable");
        assert_eq!(hash, b256!("0xbe609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2"));
        let signature = typed_data_sign(&key, &typed).expect("signed");
        let published = hex!(
            "4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d"
            "07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b91562"
            "1c"
        );
        assert_eq!(signature.as_ref(), published.as_slice());
        assert_eq!(recover(&hash.0, &signature), Address::from_private_key(&key));
    }

    #[test]
    fn typed_data_sign_refuses_a_message_that_does_not_match_its_types() {
        let mut typed = mail();
        typed.message = serde_json::json!({ "from": "nobody" });
        let key = parse_key(ANVIL_KEY).expect("key");
        let err = typed_data_sign(&key, &typed).expect_err("refused");
        assert!(matches!(err, NodeError::Rejected(TxRejection::Signing(_))), "{err}");
    }

    #[test]
    fn sign_transaction_signs_every_kind_for_its_sender() {
        let account = &dev_accounts()[1];
        let to = TxKind::Call(address!("0x00000000000000000000000000000000000000aa"));
        let txs: Vec<TypedTransaction> = vec![
            TxLegacy {
                chain_id: Some(DEV_CHAIN_ID),
                nonce: 1,
                gas_price: 7,
                gas_limit: 21_000,
                to,
                ..Default::default()
            }
            .into(),
            TxLegacy { chain_id: None, nonce: 2, gas_price: 7, gas_limit: 21_000, to, ..Default::default() }.into(),
            TxEip2930 { chain_id: DEV_CHAIN_ID, nonce: 3, gas_price: 7, gas_limit: 30_000, to, ..Default::default() }
                .into(),
            TxEip1559 {
                chain_id: DEV_CHAIN_ID,
                nonce: 4,
                max_fee_per_gas: 9,
                max_priority_fee_per_gas: 1,
                gas_limit: 30_000,
                to,
                value: U256::from(5),
                input: vec![1, 2, 3].into(),
                ..Default::default()
            }
            .into(),
            TxEip7702 {
                chain_id: DEV_CHAIN_ID,
                nonce: 5,
                max_fee_per_gas: 9,
                max_priority_fee_per_gas: 1,
                gas_limit: 60_000,
                to: address!("0x00000000000000000000000000000000000000aa"),
                authorization_list: vec![
                    Authorization { chain_id: U256::from(DEV_CHAIN_ID), address: Address::ZERO, nonce: 6 }
                        .into_signed(Signature::new(U256::from(1), U256::from(1), false)),
                ],
                ..Default::default()
            }
            .into(),
        ];
        for tx in txs {
            let hash = tx.signature_hash();
            let (nonce, chain_id) = (tx.nonce(), tx.chain_id());
            let envelope = sign_transaction(&account.key, tx).expect("signed");
            assert_eq!(envelope.recover_signer().expect("recoverable"), account.address, "nonce {nonce}");
            assert_eq!((envelope.nonce(), envelope.chain_id()), (nonce, chain_id));
            // The signature is over the transaction's own signing hash, by k256 alone.
            let signature = envelope.signature().as_bytes();
            assert_eq!(recover(&hash.0, &signature), account.address);
            assert_ne!(*envelope.tx_hash(), B256::ZERO);
        }
    }
}
