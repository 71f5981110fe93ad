// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {IAiop, AIOP_PRECOMPILE} from "./IAiop.sol";

/// @title A registry of on-chain models, with an optional fee per call paid to the author
/// @notice Not consensus code: a convenience for finding models by name and paying their
/// authors. A name maps to a model handle (a model or manifest account), its id (keccak256 of
/// the model bytes, read from the precompile when registered, so it always matches the bytes),
/// its author, a version and a fee in wei per inference. Fees accrue to the author, who
/// withdraws them (pull payments: a failing author cannot block callers).
contract ModelRegistry {
    struct Entry {
        address model;
        bytes32 id;
        address author;
        uint64 version;
        uint256 feePerCall;
    }

    mapping(string => Entry) private entries;
    mapping(address => uint256) public owed;

    event Registered(string name, address indexed model, bytes32 id, address indexed author, uint64 version, uint256 feePerCall);
    event Inferred(string name, address indexed caller, uint256 feePaid);

    error NameTaken(string name, address author);
    error UnknownName(string name);
    error NotAuthor(string name, address author);
    error VersionNotNewer(uint64 current, uint64 given);
    error FeeTooLow(uint256 fee, uint256 sent);
    error NothingOwed();
    error WithdrawFailed();

    /// @notice Registers `model` under `name`, or (for its author) a newer version of it.
    function register(string calldata name, address model, uint64 version, uint256 feePerCall) external {
        Entry storage e = entries[name];
        if (e.author != address(0)) {
            if (e.author != msg.sender) revert NameTaken(name, e.author);
            if (version <= e.version) revert VersionNotNewer(e.version, version);
        }
        bytes32 id = IAiop(AIOP_PRECOMPILE).modelInfo(model).id;
        entries[name] = Entry(model, id, msg.sender, version, feePerCall);
        emit Registered(name, model, id, msg.sender, version, feePerCall);
    }

    /// @notice The entry registered under `name`.
    function lookup(string calldata name) public view returns (Entry memory e) {
        e = entries[name];
        if (e.author == address(0)) revert UnknownName(name);
    }

    /// @notice Runs the model registered under `name` on `input`, paying its fee (any excess is
    /// credited to the author as a tip).
    function infer(string calldata name, bytes calldata input) external payable returns (bytes memory output) {
        Entry memory e = lookup(name);
        if (msg.value < e.feePerCall) revert FeeTooLow(e.feePerCall, msg.value);
        owed[e.author] += msg.value;
        output = IAiop(AIOP_PRECOMPILE).infer(e.model, input);
        emit Inferred(name, msg.sender, msg.value);
    }

    /// @notice Sends the caller the fees owed to them.
    function withdraw() external {
        uint256 amount = owed[msg.sender];
        if (amount == 0) revert NothingOwed();
        owed[msg.sender] = 0;
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert WithdrawFailed();
    }
}

/// @title An example of a contract that pays for inference through the registry
contract PaidDigitReader {
    ModelRegistry public immutable registry;
    string public modelName;

    event DigitRead(address indexed caller, uint256 digit);

    constructor(ModelRegistry reg, string memory name) {
        registry = reg;
        modelName = name;
    }

    /// @notice Reads a digit from 64 int8 pixels, paying the model's fee from `msg.value`.
    function read(bytes calldata pixels) external payable returns (uint256 digit) {
        bytes memory scores = registry.infer{value: msg.value}(modelName, pixels);
        int8 best = type(int8).min;
        for (uint256 i = 0; i < scores.length; ++i) {
            if (i == 0 || int8(uint8(scores[i])) > best) {
                best = int8(uint8(scores[i]));
                digit = i;
            }
        }
        emit DigitRead(msg.sender, digit);
    }
}
