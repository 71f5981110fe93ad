//! The precompile's Solidity ABI, the same interface as `contracts/src/IAiop.sol` (a test checks
//! the selectors against the compiled artifact).

alloy_sol_types::sol! {
    /// The aiop inference precompile.
    #[derive(Debug, PartialEq, Eq)]
    interface IAiop {
        /// What a caller needs to know to feed a model and read its output.
        struct ModelInfo {
            /// keccak256 of the model bytes.
            bytes32 id;
            /// Element type of the input tensor: 0 = int8.
            uint8 inputType;
            /// Shape of the input tensor (row-major).
            uint32[] inputShape;
            /// Zero point of the input tensor.
            int32 inputZeroPoint;
            /// Scale of one input step: multiplier * 2^(shift - 31).
            int32 inputScaleMultiplier;
            int8 inputScaleShift;
            /// Element type of the output tensor: 0 = int8, 1 = int32 (big-endian, ArgMax).
            uint8 outputType;
            /// Shape of the output tensor.
            uint32[] outputShape;
            int32 outputZeroPoint;
            int32 outputScaleMultiplier;
            int8 outputScaleShift;
            /// Bytes `infer` takes.
            uint256 inputLength;
            /// Bytes `infer` returns.
            uint256 outputLength;
            /// Bytes of the model.
            uint256 modelLength;
            /// Work counts from the header (the gas formula's inputs).
            uint256 ops;
            uint256 macs;
            uint256 elements;
            uint256 transcendentals;
        }

        /// Every refusal from precompile v3 on: a code of `docs/errors.md` and two numbers.
        error AiopError(uint16 code, uint256 detail0, uint256 detail1);

        /// Runs the model held in the code of `model` on `input` (int8 bytes, row-major).
        function infer(address model, bytes input) external view returns (bytes output);
        /// Runs the model passed in calldata.
        function inferInline(bytes model, bytes input) external view returns (bytes output);
        /// The gas `infer(model, input)` charges for an input of `inputLength` bytes when the
        /// model account is cold (2500 less when it is warm).
        function cost(address model, uint256 inputLength) external view returns (uint256 gas);
        /// The model's id, shapes and quantization.
        function modelInfo(address model) external view returns (ModelInfo info);
        /// Runs the model on every input, loading it once (precompile v3 on).
        function inferBatch(address model, bytes[] inputs) external view returns (bytes[] outputs);
        /// The gas `inferBatch(model, inputs)` charges for `count` inputs of `inputLength` bytes
        /// each when every account it reads is cold (precompile v3 on).
        function costBatch(address model, uint256 inputLength, uint256 count) external view returns (uint256 gas);
    }
}

pub use IAiop::{
    IAiopCalls, ModelInfo, costBatchCall, costCall, costReturn, inferBatchCall, inferCall, inferInlineCall,
    inferReturn, modelInfoCall, modelInfoReturn,
};
