// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

/// @dev The aiop precompile's default address. A chain may configure another one.
address constant AIOP_PRECOMPILE = 0x00000000000000000000000000000000000A1000;

/// @title The aiop inference precompile
/// @notice Runs int8 neural-network inference, bit-exact on every node, at a gas cost fixed by
/// the model before it runs. Every failure reverts with `Error(string)` ("aiop: ..."), except
/// running out of gas, which halts. All functions are read-only: call them with STATICCALL.
interface IAiop {
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

    /// @notice Runs the model held in the code of `model` (0xFE ++ model bytes) on `input`
    /// (int8 bytes, row-major). Charges `cost(model, input.length)`, 2500 less when `model`
    /// was already touched in this transaction.
    function infer(address model, bytes calldata input) external view returns (bytes memory output);

    /// @notice Runs a model passed in calldata (no account access is charged).
    function inferInline(bytes calldata model, bytes calldata input) external view returns (bytes memory output);

    /// @notice The gas `infer(model, input)` charges for an input of `inputLength` bytes when
    /// the model account is cold (the first touch in the transaction).
    function cost(address model, uint256 inputLength) external view returns (uint256 gas);

    /// @notice The model's id, shapes, quantization and work counts.
    function modelInfo(address model) external view returns (ModelInfo memory info);
}
