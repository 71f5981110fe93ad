// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

/// @title The contract the real-client checks (scripts/clients/) deploy
/// @notice Storage (slot 0 and a mapping at slot 1), an event with two indexed topics, views,
/// and a loop that never ends (for the RPC gas cap). Compiled once into ClientProbe.json by
/// scripts/clients/contracts/build.mjs; the checks compile nothing.
contract ClientProbe {
    uint256 public value; // slot 0
    mapping(address => uint256) public byWho; // slot keccak256(abi.encode(who, 1))

    event Stored(address indexed who, uint256 indexed value, bytes32 tag);

    function set(uint256 v) external {
        value = v;
        byWho[msg.sender] = v;
        emit Stored(msg.sender, v, keccak256(abi.encode(v)));
    }

    function get() external view returns (uint256) {
        return value;
    }

    function balanceOf(address account) external view returns (uint256) {
        return account.balance;
    }

    function now_() external view returns (uint256) {
        return block.timestamp;
    }

    /// Never returns: runs until the call's gas is spent.
    function spin() external pure returns (uint256 i) {
        unchecked {
            while (true) {
                i += 1;
            }
        }
    }
}
