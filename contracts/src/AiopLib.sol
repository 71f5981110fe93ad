// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {IAiop, AIOP_PRECOMPILE} from "./IAiop.sol";

/// @title Helpers for calling the aiop precompile
library AiopLib {
    error ModelDeployFailed();
    error OutputNotInt32();

    /// @notice Runs the model at `model` on `input` through the precompile at the default address.
    function infer(address model, bytes memory input) internal view returns (bytes memory) {
        return IAiop(AIOP_PRECOMPILE).infer(model, input);
    }

    /// @notice The gas `infer` charges for `model` with an input of `inputLength` bytes (cold).
    function cost(address model, uint256 inputLength) internal view returns (uint256) {
        return IAiop(AIOP_PRECOMPILE).cost(model, inputLength);
    }

    /// @notice Packs int8 values into the byte layout `infer` takes (two's complement, one byte each).
    function packInt8(int8[] memory values) internal pure returns (bytes memory packed) {
        packed = new bytes(values.length);
        for (uint256 i = 0; i < values.length; ++i) {
            packed[i] = bytes1(uint8(values[i]));
        }
    }

    /// @notice Unpacks an int8 output into values.
    function unpackInt8(bytes memory output) internal pure returns (int8[] memory values) {
        values = new int8[](output.length);
        for (uint256 i = 0; i < output.length; ++i) {
            values[i] = int8(uint8(output[i]));
        }
    }

    /// @notice Unpacks an int32 output (big-endian, four bytes each; ArgMax models) into values.
    function unpackInt32(bytes memory output) internal pure returns (int32[] memory values) {
        if (output.length % 4 != 0) revert OutputNotInt32();
        values = new int32[](output.length / 4);
        for (uint256 i = 0; i < values.length; ++i) {
            uint32 v = (uint32(uint8(output[4 * i])) << 24) | (uint32(uint8(output[4 * i + 1])) << 16)
                | (uint32(uint8(output[4 * i + 2])) << 8) | uint32(uint8(output[4 * i + 3]));
            values[i] = int32(v);
        }
    }

    /// @notice Index of the largest int8 value in `output` (the first one on ties).
    function argmaxInt8(bytes memory output) internal pure returns (uint256 best) {
        int8 bestValue = type(int8).min;
        for (uint256 i = 0; i < output.length; ++i) {
            int8 v = int8(uint8(output[i]));
            if (i == 0 || v > bestValue) {
                bestValue = v;
                best = i;
            }
        }
    }

    /// @notice Initcode that deploys `model` as a model data contract: its code becomes
    /// 0xFE ++ model (0xFE is INVALID, so the contract cannot run). Same bytes as
    /// `aiop_precompile::model_deploy_initcode`.
    function modelInitcode(bytes memory model) internal pure returns (bytes memory) {
        // PUSH4 len, DUP1, PUSH1 14, PUSH1 0, CODECOPY, PUSH1 0, RETURN, then the runtime.
        return abi.encodePacked(hex"63", uint32(model.length + 1), hex"80600e6000396000f3", hex"fe", model);
    }

    /// @notice Deploys `model` as a model data contract and returns its address (the model's handle).
    function deployModel(bytes memory model) internal returns (address deployed) {
        bytes memory initcode = modelInitcode(model);
        assembly {
            deployed := create(0, add(initcode, 0x20), mload(initcode))
        }
        if (deployed == address(0)) revert ModelDeployFailed();
    }
}
