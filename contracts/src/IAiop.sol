// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

/// @dev The aiop precompile's default address. A chain may configure another one.
address constant AIOP_PRECOMPILE = 0x00000000000000000000000000000000000A1000;

/// @title The aiop inference precompile
/// @notice Runs int8 neural-network inference, bit-exact on every node, at a gas cost fixed by
/// the model before it runs. All functions are read-only: call them with STATICCALL.
/// Failures: from precompile v3 on every refusal reverts with `AiopError(code, detail0,
/// detail1)` (the codes are in docs/errors.md); chains still on v1/v2 revert with
/// `Error(string)` ("aiop: ..."). Running out of gas halts.
/// A `model` address is a model data contract (code 0xFE ++ model bytes) or, from v3 on, a
/// manifest naming the chunk contracts of a larger model (docs/storage.md; AiopLib builds both).
interface IAiop {
    /// @notice Every refusal from precompile v3 on. Codes (docs/errors.md):
    /// 1 NoSelector(calldata length) · 2 UnknownSelector(selector) · 3 BadCalldata(selector, length)
    /// · 4 ValueSent(wei) · 16 NoCode(account) · 17 NotAModel(account) · 18 InlineNotAModel
    /// · 20-23 malformed manifest (manifest, version | code length | chunk count | declared length)
    /// · 24 ChunkMissing(chunk, index) · 25 NotAChunk(chunk, index) · 26 AssembledLength(declared,
    /// assembled) · 27 ModelIdMismatch(declared id, computed hash) · 32 UnsupportedFormat(version)
    /// · 48 InputLength(expected, actual) · 49 EmptyBatch · 50 BatchTooLarge(count, limit)
    /// · 256+e InvalidModel, 512+e MalformedHeader, 768+e InferenceFailed, where e is the
    /// engine's reason (1 ModelTooLarge ... 14 Kernel) and the details locate it.
    error AiopError(uint16 code, uint256 detail0, uint256 detail1);

    /// @notice What a caller needs to know to feed a model and read its output.
    struct ModelInfo {
        bytes32 id; // keccak256 of the model bytes
        uint8 inputType; // 0 = int8
        uint32[] inputShape;
        int32 inputZeroPoint;
        int32 inputScaleMultiplier; // one step is multiplier * 2^(shift - 31)
        int8 inputScaleShift;
        uint8 outputType; // 0 = int8, 1 = int32 big-endian (ArgMax indices)
        uint32[] outputShape;
        int32 outputZeroPoint;
        int32 outputScaleMultiplier;
        int8 outputScaleShift;
        uint256 inputLength; // bytes `infer` takes
        uint256 outputLength; // bytes `infer` returns
        uint256 modelLength; // bytes of the model
        uint256 ops;
        uint256 macs;
        uint256 elements;
        uint256 transcendentals;
    }

    /// @notice Runs the model at `model` on `input` (int8 bytes, row-major). Charges
    /// `cost(model, input.length)`, 2500 less for each account it reads (the model or manifest
    /// and its chunks) that was already touched in this transaction.
    function infer(address model, bytes calldata input) external view returns (bytes memory output);

    /// @notice Runs a model passed in calldata (no account access is charged).
    function inferInline(bytes calldata model, bytes calldata input) external view returns (bytes memory output);

    /// @notice The gas `infer(model, input)` charges for an input of `inputLength` bytes when
    /// the model account is cold (the first touch in the transaction).
    function cost(address model, uint256 inputLength) external view returns (uint256 gas);

    /// @notice The model's id, shapes, quantization and work counts.
    function modelInfo(address model) external view returns (ModelInfo memory info);

    /// @notice Runs the model on every input (each exactly the model's input length), loading
    /// it once: cheaper per input than separate `infer` calls (precompile v3 on; at most 256).
    function inferBatch(address model, bytes[] calldata inputs) external view returns (bytes[] memory outputs);

    /// @notice The gas `inferBatch` charges for `count` inputs of `inputLength` bytes when every
    /// account it reads is cold (precompile v3 on). `costBatch(m, n, 1) == cost(m, n)`.
    function costBatch(address model, uint256 inputLength, uint256 count) external view returns (uint256 gas);
}
