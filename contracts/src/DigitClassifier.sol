// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {AiopLib} from "./AiopLib.sol";

/// @title Classifies an 8x8 handwritten digit on-chain with the aiop precompile
/// @notice `model` is the address of a deployed digits model (testdata/models/digits_mlp.aiop or
/// digits_cnn.aiop): 64 int8 pixels in, 10 int8 class scores out.
contract DigitClassifier {
    /// @notice The model data contract this classifier uses.
    address public immutable model;

    /// @notice A digit was classified: `digit` is the class with the highest score.
    event Classified(address indexed caller, uint8 digit, bytes scores);

    error NotEightByEight(uint256 length);

    constructor(address model_) {
        model = model_;
    }

    /// @notice Classifies `pixels` (64 int8 bytes, row-major, already quantized to the model's
    /// input scale) and emits `Classified`.
    function classify(bytes calldata pixels) external returns (uint8 digit) {
        if (pixels.length != 64) revert NotEightByEight(pixels.length);
        bytes memory scores = AiopLib.infer(model, pixels);
        digit = uint8(AiopLib.argmaxInt8(scores));
        emit Classified(msg.sender, digit, scores);
    }

    /// @notice Same as `classify` for an int8 array, without the event.
    function predict(int8[] calldata pixels) external view returns (uint8 digit) {
        return uint8(AiopLib.argmaxInt8(AiopLib.infer(model, AiopLib.packInt8(pixels))));
    }
}
