// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {IAiop, AIOP_PRECOMPILE} from "./IAiop.sol";
import {AiopLib} from "./AiopLib.sol";

/// @title A keyword spotter on chain: MLPerf Tiny's DS-CNN run by the aiop precompile
/// @notice Give it the model's 490 int8 MFCC features (49 frames x 10 coefficients, the
/// benchmark's quantized input) and it returns the keyword the model hears and emits it.
/// The model is stored across accounts (a manifest and its chunks), deployed with
/// `aiop model deploy testdata/models/mlperf_kws.aiop` or pre-deployed on the dev chain.
contract KeywordSpotter {
    /// @notice The twelve classes of the benchmark, in output order.
    string[12] public keywords =
        ["down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes", "silence", "unknown"];

    /// @notice The model's handle (its manifest's address).
    address public immutable model;

    event KeywordSpotted(address indexed caller, uint256 keyword, string label, int8 score);

    error WrongFeatureCount(uint256 given);

    constructor(address kwsModel) {
        model = kwsModel;
    }

    /// @notice The keyword index (0-11) the model gives `features`, and its int8 score.
    function classify(bytes calldata features) public view returns (uint256 keyword, int8 score) {
        if (features.length != 490) revert WrongFeatureCount(features.length);
        bytes memory output = IAiop(AIOP_PRECOMPILE).infer(model, features);
        keyword = AiopLib.argmaxInt8(output);
        score = int8(uint8(output[keyword]));
    }

    /// @notice Classifies `features` and records the result as an event.
    function spot(bytes calldata features) external returns (uint256 keyword) {
        int8 score;
        (keyword, score) = classify(features);
        emit KeywordSpotted(msg.sender, keyword, keywords[keyword], score);
    }

    /// @notice The gas `classify` spends in the precompile (every account cold).
    function inferenceGas() external view returns (uint256) {
        return IAiop(AIOP_PRECOMPILE).cost(model, 490);
    }
}
