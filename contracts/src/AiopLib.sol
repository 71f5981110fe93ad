// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {IAiop, AIOP_PRECOMPILE} from "./IAiop.sol";

/// @title Helpers for calling the aiop precompile
library AiopLib {
    error ModelDeployFailed();
    error OutputNotInt32();
    error NoChunks();
    error TooManyChunks(uint256 count);

    /// @dev EIP-170's code-size limit, and the model bytes one chunk contract holds under it.
    uint256 internal constant MAX_CODE_BYTES = 24576;
    uint256 internal constant MAX_CHUNK_PAYLOAD = MAX_CODE_BYTES - 5;
    /// @dev Most chunks a manifest may name (docs/storage.md).
    uint256 internal constant MAX_CHUNKS = 256;

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
        deployed = deployData(modelInitcode(model));
    }

    /// @notice Initcode that deploys any data contract whose code is `runtime` (the same loader
    /// as `modelInitcode`; `aiop_precompile::data_contract_initcode`).
    function dataInitcode(bytes memory runtime) internal pure returns (bytes memory) {
        return abi.encodePacked(hex"63", uint32(runtime.length), hex"80600e6000396000f3", runtime);
    }

    /// @notice The code of a chunk contract holding `payload`: 0xFE "AIOC" ++ payload.
    function chunkCode(bytes memory payload) internal pure returns (bytes memory) {
        return abi.encodePacked(hex"fe", "AIOC", payload);
    }

    /// @notice The code of a manifest contract (docs/storage.md): 0xFE "AIOM" 0x01 ++ model id
    /// ++ model length (uint32) ++ chunk count (uint16) ++ the chunk addresses in order.
    function manifestCode(bytes32 modelId, uint32 modelLength, address[] memory chunks)
        internal
        pure
        returns (bytes memory code)
    {
        if (chunks.length == 0) revert NoChunks();
        if (chunks.length > MAX_CHUNKS) revert TooManyChunks(chunks.length);
        code = abi.encodePacked(hex"fe", "AIOM", uint8(1), modelId, modelLength, uint16(chunks.length));
        for (uint256 i = 0; i < chunks.length; ++i) {
            code = bytes.concat(code, bytes20(chunks[i]));
        }
    }

    /// @notice Deploys a chunk contract holding `payload` (at most MAX_CHUNK_PAYLOAD bytes).
    function deployChunk(bytes memory payload) internal returns (address) {
        return deployData(dataInitcode(chunkCode(payload)));
    }

    /// @notice Deploys the manifest of a model whose chunks are already deployed; its address
    /// is the model's handle for `infer`, `cost`, `modelInfo` and `inferBatch`.
    function deployManifest(bytes32 modelId, uint32 modelLength, address[] memory chunks) internal returns (address) {
        return deployData(dataInitcode(manifestCode(modelId, modelLength, chunks)));
    }

    /// @notice Deploys `model` in one transaction, as one data contract if it fits EIP-170 and
    /// as chunks plus a manifest otherwise; returns the model's handle. Large models need more
    /// gas than a block holds: `aiop model deploy` sends the chunks as separate transactions.
    function deployAny(bytes memory model) internal returns (address) {
        if (model.length < MAX_CODE_BYTES) return deployModel(model);
        uint256 count = (model.length + MAX_CHUNK_PAYLOAD - 1) / MAX_CHUNK_PAYLOAD;
        address[] memory chunks = new address[](count);
        for (uint256 i = 0; i < count; ++i) {
            uint256 start = i * MAX_CHUNK_PAYLOAD;
            uint256 end = start + MAX_CHUNK_PAYLOAD < model.length ? start + MAX_CHUNK_PAYLOAD : model.length;
            bytes memory payload = new bytes(end - start);
            for (uint256 j = 0; j < payload.length; ++j) {
                payload[j] = model[start + j];
            }
            chunks[i] = deployChunk(payload);
        }
        return deployManifest(keccak256(model), uint32(model.length), chunks);
    }

    function deployData(bytes memory initcode) private returns (address deployed) {
        assembly {
            deployed := create(0, add(initcode, 0x20), mload(initcode))
        }
        if (deployed == address(0)) revert ModelDeployFailed();
    }

    /// @notice Splits revert data from the precompile into its code and details; `ok` is false
    /// if the data is not an `AiopError` (e.g. `Error(string)` from a chain still on v1/v2).
    function decodeError(bytes memory data) internal pure returns (bool ok, uint16 code, uint256 detail0, uint256 detail1) {
        if (data.length != 100 || bytes4(data) != IAiop.AiopError.selector) return (false, 0, 0, 0);
        assembly {
            code := mload(add(data, 36))
            detail0 := mload(add(data, 68))
            detail1 := mload(add(data, 100))
        }
        ok = code <= type(uint16).max;
    }
}
