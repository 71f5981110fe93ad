// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

/// @dev Where tooling (viem, ethers, web3.py, wagmi) looks for Multicall3 on every chain.
address constant MULTICALL3 = 0xcA11bde05977b3631167028862bE2a173976CA11;

/// @title Batches calls into one, with the ABI and revert strings of the well-known Multicall3
/// @notice Our own implementation of Multicall3's public ABI, so that `multicall` helpers work on
/// the dev chain unchanged. The chain places the runtime bytecode (`deployedBytecode`) at
/// `MULTICALL3` in its genesis: there is no constructor, no immutable and no storage, so the code
/// behaves the same however it got there.
/// Every batch function is payable, but only `aggregate3Value` forwards ether. Ether that is not
/// forwarded (sent to another batch function, or the value of a failed call with `allowFailure`)
/// stays in this contract for good: nothing withdraws it. The sub-calls are plain CALLs made by
/// this contract: `msg.sender` in the target is `MULTICALL3`, not the original caller, so never
/// approve tokens to it.
/// Reverts: a required sub-call that fails reverts the whole batch with
/// `Error("Multicall3: call failed")`; `aggregate3Value` with a wrong total reverts with
/// `Error("Multicall3: value mismatch")`.
contract Multicall3 {
    struct Call {
        address target;
        bytes callData;
    }

    struct Call3 {
        address target;
        bool allowFailure;
        bytes callData;
    }

    struct Call3Value {
        address target;
        bool allowFailure;
        uint256 value;
        bytes callData;
    }

    struct Result {
        bool success;
        bytes returnData;
    }

    /// @notice Calls each target in order; reverts if any call fails.
    /// @return blockNumber The number of the block the calls ran in.
    /// @return returnData The return data of each call, in order.
    function aggregate(Call[] calldata calls) public payable returns (uint256 blockNumber, bytes[] memory returnData) {
        blockNumber = block.number;
        uint256 n = calls.length;
        returnData = new bytes[](n);
        for (uint256 i = 0; i < n; ++i) {
            bool success;
            (success, returnData[i]) = calls[i].target.call(calls[i].callData);
            require(success, "Multicall3: call failed");
        }
    }

    /// @notice Calls each target in order; with `requireSuccess` any failing call reverts the
    /// batch, without it a failure is recorded in its `Result`.
    /// @return returnData Whether each call succeeded and its return (or revert) data.
    function tryAggregate(bool requireSuccess, Call[] calldata calls) public payable returns (Result[] memory returnData) {
        uint256 n = calls.length;
        returnData = new Result[](n);
        for (uint256 i = 0; i < n; ++i) {
            (bool success, bytes memory ret) = calls[i].target.call(calls[i].callData);
            require(success || !requireSuccess, "Multicall3: call failed");
            returnData[i] = Result(success, ret);
        }
    }

    /// @notice `tryAggregate` that also reports the block.
    /// @return blockNumber The number of the block the calls ran in.
    /// @return blockHash `blockhash(block.number)`, as Multicall3 defines it: always zero, since
    /// the EVM does not know the hash of the block it is executing. Use `getLastBlockHash` or
    /// `getBlockHash` for a real hash.
    /// @return returnData Whether each call succeeded and its return (or revert) data.
    function tryBlockAndAggregate(bool requireSuccess, Call[] calldata calls)
        public
        payable
        returns (uint256 blockNumber, bytes32 blockHash, Result[] memory returnData)
    {
        blockNumber = block.number;
        blockHash = blockhash(block.number);
        returnData = tryAggregate(requireSuccess, calls);
    }

    /// @notice `tryBlockAndAggregate(true, calls)`: reverts if any call fails.
    /// @return blockNumber The number of the block the calls ran in.
    /// @return blockHash Always zero (see `tryBlockAndAggregate`).
    /// @return returnData Whether each call succeeded (always true) and its return data.
    function blockAndAggregate(Call[] calldata calls)
        public
        payable
        returns (uint256 blockNumber, bytes32 blockHash, Result[] memory returnData)
    {
        (blockNumber, blockHash, returnData) = tryBlockAndAggregate(true, calls);
    }

    /// @notice Calls each target in order; a failing call with `allowFailure == false` reverts
    /// the batch, others are recorded in their `Result`. The call `multicall` helpers make.
    /// @return returnData Whether each call succeeded and its return (or revert) data.
    function aggregate3(Call3[] calldata calls) public payable returns (Result[] memory returnData) {
        uint256 n = calls.length;
        returnData = new Result[](n);
        for (uint256 i = 0; i < n; ++i) {
            Call3 calldata c = calls[i];
            (bool success, bytes memory ret) = c.target.call(c.callData);
            require(success || c.allowFailure, "Multicall3: call failed");
            returnData[i] = Result(success, ret);
        }
    }

    /// @notice `aggregate3` that sends each call its `value`. `msg.value` must equal the sum of
    /// the values (checked after the calls, so a call's failure is reported first).
    /// @return returnData Whether each call succeeded and its return (or revert) data.
    function aggregate3Value(Call3Value[] calldata calls) public payable returns (Result[] memory returnData) {
        uint256 n = calls.length;
        returnData = new Result[](n);
        uint256 total = 0;
        for (uint256 i = 0; i < n; ++i) {
            Call3Value calldata c = calls[i];
            total += c.value;
            (bool success, bytes memory ret) = c.target.call{value: c.value}(c.callData);
            require(success || c.allowFailure, "Multicall3: call failed");
            returnData[i] = Result(success, ret);
        }
        require(msg.value == total, "Multicall3: value mismatch");
    }

    /// @notice The hash of block `blockNumber` (zero unless it is one of the last 256 blocks).
    function getBlockHash(uint256 blockNumber) public view returns (bytes32 blockHash) {
        blockHash = blockhash(blockNumber);
    }

    /// @notice The current block number.
    function getBlockNumber() public view returns (uint256 blockNumber) {
        blockNumber = block.number;
    }

    /// @notice The current block's coinbase (fee recipient).
    function getCurrentBlockCoinbase() public view returns (address coinbase) {
        coinbase = block.coinbase;
    }

    /// @notice The current block's DIFFICULTY opcode value: PREVRANDAO since the merge.
    function getCurrentBlockDifficulty() public view returns (uint256 difficulty) {
        difficulty = block.prevrandao;
    }

    /// @notice The current block's gas limit.
    function getCurrentBlockGasLimit() public view returns (uint256 gaslimit) {
        gaslimit = block.gaslimit;
    }

    /// @notice The current block's timestamp.
    function getCurrentBlockTimestamp() public view returns (uint256 timestamp) {
        timestamp = block.timestamp;
    }

    /// @notice The ether balance of `addr`, in wei.
    function getEthBalance(address addr) public view returns (uint256 balance) {
        balance = addr.balance;
    }

    /// @notice The hash of the previous block (zero in block 0).
    function getLastBlockHash() public view returns (bytes32 blockHash) {
        unchecked {
            blockHash = blockhash(block.number - 1);
        }
    }

    /// @notice The current block's base fee (EIP-1559).
    function getBasefee() public view returns (uint256 basefee) {
        basefee = block.basefee;
    }

    /// @notice The chain id.
    function getChainId() public view returns (uint256 chainid) {
        chainid = block.chainid;
    }
}
