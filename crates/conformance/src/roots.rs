//! The two hashes a state test checks: the post-state root (the Merkle-Patricia root of the
//! accounts left in state, each with its storage root) and the logs hash (keccak256 of the
//! RLP list of the transaction's logs).

use alloy_primitives::{Address, B256, Log, b256, keccak256};
use alloy_trie::{HashBuilder, Nibbles, TrieAccount, root::storage_root_unhashed};
use revm::database::PlainAccount;

/// keccak256 of the RLP of an empty list: the logs hash of a transaction without logs.
pub const EMPTY_LOGS_HASH: B256 = b256!("0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347");

/// keccak256 of the RLP list of `logs`.
pub fn logs_hash(logs: &[Log]) -> B256 {
    let mut rlp = Vec::with_capacity(alloy_rlp::list_length(logs));
    alloy_rlp::encode_list(logs, &mut rlp);
    keccak256(rlp)
}

/// The state root of `accounts` (the accounts that exist: destroyed and EIP-161-cleared ones
/// must already be left out, as `CacheState::trie_account` does). Zero storage slots are not
/// in the trie.
pub fn state_root<'a>(accounts: impl IntoIterator<Item = (Address, &'a PlainAccount)>) -> B256 {
    let mut leaves: Vec<(B256, TrieAccount)> = accounts
        .into_iter()
        .map(|(address, account)| {
            let storage = account
                .storage
                .iter()
                .filter(|(_, value)| !value.is_zero())
                .map(|(slot, value)| (B256::from(*slot), *value));
            let trie_account = TrieAccount {
                nonce: account.info.nonce,
                balance: account.info.balance,
                storage_root: storage_root_unhashed(storage),
                code_hash: account.info.code_hash,
            };
            (keccak256(address), trie_account)
        })
        .collect();
    // The hash builder takes leaves in key order.
    leaves.sort_unstable_by_key(|(key, _)| *key);
    let mut builder = HashBuilder::default();
    let mut rlp = Vec::new();
    for (key, account) in leaves {
        rlp.clear();
        alloy_rlp::Encodable::encode(&account, &mut rlp);
        builder.add_leaf(Nibbles::unpack(key), &rlp);
    }
    builder.root()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Bytes, U256, address};
    use alloy_trie::EMPTY_ROOT_HASH;
    use revm::state::AccountInfo;

    #[test]
    fn no_logs_hash_to_the_empty_list_hash() {
        assert_eq!(logs_hash(&[]), EMPTY_LOGS_HASH);
        let one = Log::new_unchecked(Address::ZERO, vec![B256::ZERO], Bytes::from_static(b"x"));
        assert_ne!(logs_hash(&[one]), EMPTY_LOGS_HASH);
    }

    #[test]
    fn an_empty_state_has_the_empty_trie_root() {
        assert_eq!(state_root(std::iter::empty()), EMPTY_ROOT_HASH);
    }

    #[test]
    fn zero_slots_do_not_change_the_root() {
        let address = address!("0x1000000000000000000000000000000000000001");
        let info = AccountInfo { balance: U256::from(7), ..AccountInfo::default() };
        let plain = PlainAccount { info: info.clone(), storage: Default::default() };
        let mut with_zero = PlainAccount { info, storage: Default::default() };
        with_zero.storage.insert(U256::from(1), U256::ZERO);
        assert_eq!(state_root([(address, &plain)]), state_root([(address, &with_zero)]));
        assert_ne!(state_root([(address, &plain)]), EMPTY_ROOT_HASH);
    }
}
