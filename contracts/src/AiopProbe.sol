// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {IAiop, AIOP_PRECOMPILE} from "./IAiop.sol";
import {AiopLib} from "./AiopLib.sol";

/// @title A caller contract the Rust tests drive the precompile through
/// @notice Not for production. `measure` reports the gas a call used, including a fixed
/// overhead of the CALL itself that the tests calibrate against the identity precompile.
contract AiopProbe {
    /// @notice STATICCALLs `target` with `data` and `gasLimit` gas; returns whether it succeeded,
    /// the gas it used plus a fixed overhead, and its return (or revert) data.
    function measure(address target, bytes calldata data, uint256 gasLimit)
        external
        view
        returns (bool ok, uint256 used, bytes memory ret)
    {
        assembly {
            let ptr := mload(0x40)
            calldatacopy(ptr, data.offset, data.length)
            let before := gas()
            ok := staticcall(gasLimit, target, ptr, data.length, 0, 0)
            used := sub(before, gas())
            ret := mload(0x40)
            mstore(ret, returndatasize())
            returndatacopy(add(ret, 0x20), 0, returndatasize())
            mstore(0x40, add(add(ret, 0x20), and(add(returndatasize(), 31), not(31))))
        }
    }

    /// @notice CALLs `target` with `data` and the value sent to this function.
    function callWithValue(address target, bytes calldata data) external payable returns (bool ok, bytes memory ret) {
        (ok, ret) = target.call{value: msg.value}(data);
    }

    /// @notice DELEGATECALLs `target` with `data` from a payable function (msg.value is the
    /// call's apparent value, but no ether moves).
    function delegateWithValue(address target, bytes calldata data) external payable returns (bool ok, bytes memory ret) {
        (ok, ret) = target.delegatecall(data);
    }

    /// @notice `infer` through the Solidity interface (a STATICCALL).
    function inferVia(address model, bytes calldata input) external view returns (bytes memory) {
        return IAiop(AIOP_PRECOMPILE).infer(model, input);
    }

    /// @notice `cost` then `infer` in one call: the second touch of the model is warm.
    function costThenInfer(address model, bytes calldata input) external view returns (uint256 quoted, bytes memory output) {
        quoted = IAiop(AIOP_PRECOMPILE).cost(model, input.length);
        output = IAiop(AIOP_PRECOMPILE).infer(model, input);
    }

    /// @notice `modelInfo` through the Solidity interface.
    function infoVia(address model) external view returns (IAiop.ModelInfo memory) {
        return IAiop(AIOP_PRECOMPILE).modelInfo(model);
    }

    /// @notice Deploys a model data contract with AiopLib's initcode.
    function deploy(bytes calldata model) external returns (address) {
        return AiopLib.deployModel(model);
    }

    /// @notice Deploys `model` (chunked if large) and runs it in the same transaction.
    function deployAndInfer(bytes calldata model, bytes calldata input) external returns (address handle, bytes memory output) {
        handle = AiopLib.deployAny(model);
        output = IAiop(AIOP_PRECOMPILE).infer(handle, input);
    }

    /// @notice In one transaction: creates a contract whose initcode SELFDESTRUCTs (EIP-6780:
    /// created and destroyed in the same transaction, so it is deleted), then calls `infer` on
    /// `manifest`, whose chunk `index` is expected at that address. Returns the call's result.
    function createSelfDestructThenInfer(bytes32 salt, address manifest, bytes calldata input)
        external
        returns (address created, bool ok, bytes memory ret)
    {
        // Initcode: PUSH20 0 (beneficiary) SELFDESTRUCT.
        bytes memory initcode = hex"6000ff";
        assembly {
            created := create2(0, add(initcode, 0x20), mload(initcode), salt)
        }
        (ok, ret) = AIOP_PRECOMPILE.staticcall(abi.encodeCall(IAiop.infer, (manifest, input)));
    }

    /// @notice Tries to make the data contract at `target` run (it starts with INVALID, so the
    /// call fails and the contract stays), then calls `infer` on `model`.
    function pokeThenInfer(address target, address model, bytes calldata input)
        external
        returns (bool poked, bytes memory output)
    {
        (poked,) = target.call(hex"");
        output = IAiop(AIOP_PRECOMPILE).infer(model, input);
    }
}
